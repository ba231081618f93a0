/*
 * cpu_random.c -- the CPU kernel of TY_OP_RANDOM. Element i of the
 * (contiguous) output is a pure function of (key, i) through the Philox
 * stream, so every backend and every thread count gives the same draws.
 */
#include "cpu.h"

#include <math.h>

#define RANDOM_BLOCK 256
#define RANDOM_GRAIN 16384


typedef struct random_job {
    int kind;
    ty_key key;
    double value, value2;
    char *out;
    ty_dtype dtype;
} random_job;

static inline float word_unit(uint32_t w) { return ty__word_to_unit_float(w); }

/* Standard normal CDF. */
static double normal_cdf(double x)
{
    return 0.5 * erfc(-x * 0.70710678118654752440);
}

/* Stores n floats (float-computed draws) into out at pos. */
static void store_floats(const random_job *job, int64_t pos, int64_t n, const float *v)
{
    switch (job->dtype) {
    case TY_FLOAT32:
        for (int64_t i = 0; i < n; i++) ((float *)job->out)[pos + i] = v[i];
        break;
    case TY_FLOAT16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)job->out)[pos + i] = ty_float_to_half(v[i]);
        break;
    case TY_BFLOAT16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)job->out)[pos + i] = ty_float_to_bfloat(v[i]);
        break;
    default:
        for (int64_t i = 0; i < n; i++) ty__store_f64(job->out, job->dtype, pos + i, v[i]);
        break;
    }
}

/* Words first .. first + n - 1 of key's stream, one Philox block per 4. */
static void random_words(ty_key key, uint64_t first, int64_t n, uint32_t *dst)
{
    uint32_t block[4];
    uint64_t j = first;
    int64_t i = 0;
    while (i < n) {
        uint64_t b = j / 4;
        uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), 0, 0};
        ty__philox(key.w, ctr, block);
        for (unsigned r = (unsigned)(j % 4); r < 4 && i < n; r++, i++, j++) dst[i] = block[r];
    }
}

static void uniform_block(const random_job *job, int64_t pos, int64_t n, const uint32_t *w)
{
    if (job->dtype == TY_FLOAT64) {
        double lo = job->value, hi = job->value2;
        for (int64_t i = 0; i < n; i++)
            ((double *)job->out)[pos + i] = lo + (hi - lo) * (double)word_unit(w[i]);
        return;
    }
    float lo = (float)job->value, span = (float)(job->value2 - job->value);
    float v[RANDOM_BLOCK];
    for (int64_t i = 0; i < n; i++) v[i] = fmaf(span, word_unit(w[i]), lo);
    store_floats(job, pos, n, v);
}

/* Box-Muller on word pairs (2i, 2i+1); float math for float outputs
 * (draws agree across backends within a tolerance, not bit for bit). */
static void normal_block(const random_job *job, int64_t pos, int64_t n, const uint32_t *w)
{
    if (job->dtype == TY_FLOAT64) {
        for (int64_t i = 0; i < n; i++) {
            double u1 = ((w[2 * i] >> 8) + 1) * (1.0 / 16777216.0);
            double u2 = word_unit(w[2 * i + 1]);
            double z = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
            ((double *)job->out)[pos + i] = job->value + job->value2 * z;
        }
        return;
    }
    float mean = (float)job->value, stddev = (float)job->value2;
    float v[RANDOM_BLOCK];
    for (int64_t i = 0; i < n; i++) {
        float u1 = (float)((w[2 * i] >> 8) + 1) * (1.0f / 16777216.0f);
        float u2 = word_unit(w[2 * i + 1]);
        float z = sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795865f * u2);
        v[i] = mean + stddev * z;
    }
    store_floats(job, pos, n, v);
}

static void random_chunk(void *ctx, int64_t begin, int64_t end)
{
    const random_job *job = ctx;
    const bool two_words = job->kind == TY_RANDOM_NORMAL || job->kind == TY_RANDOM_RANDINT;
    uint32_t w[2 * RANDOM_BLOCK];
    for (int64_t pos = begin; pos < end; pos += RANDOM_BLOCK) {
        int64_t n = end - pos < RANDOM_BLOCK ? end - pos : RANDOM_BLOCK;
        if (two_words) random_words(job->key, 2 * (uint64_t)pos, 2 * n, w);
        else random_words(job->key, (uint64_t)pos, n, w);
        switch (job->kind) {
        case TY_RANDOM_BITS:
            for (int64_t i = 0; i < n; i++)
                ty__store_i64(job->out, job->dtype, pos + i, (int64_t)w[i]);
            break;
        case TY_RANDOM_UNIFORM:
            uniform_block(job, pos, n, w);
            break;
        case TY_RANDOM_NORMAL:
            normal_block(job, pos, n, w);
            break;
        case TY_RANDOM_RANDINT: {
            int64_t lo = (int64_t)job->value, hi = (int64_t)job->value2;
            uint64_t range = (uint64_t)hi - (uint64_t)lo + 1;   /* 0: all of 2^64 */
            for (int64_t i = 0; i < n; i++) {
                uint64_t r = (uint64_t)w[2 * i] << 32 | w[2 * i + 1];
                if (range) r %= range;
                ty__store_i64(job->out, job->dtype, pos + i, (int64_t)((uint64_t)lo + r));
            }
            break;
        }
        case TY_RANDOM_TRUNCATED_NORMAL: {
            double lo = job->value, hi = job->value2;
            double plo = normal_cdf(lo), phi = normal_cdf(hi);
            for (int64_t i = 0; i < n; i++) {
                double u = word_unit(w[i]);
                double p = plo + (phi - plo) * u;
                double z = 1.4142135623730951 * cpu_erfinv(2 * p - 1);
                z = z < lo ? lo : z > hi ? hi : z;
                ty__store_f64(job->out, job->dtype, pos + i, z);
            }
            break;
        }
        case TY_RANDOM_BERNOULLI:
            for (int64_t i = 0; i < n; i++) {
                ty__store_i64(job->out, job->dtype, pos + i, word_unit(w[i]) < job->value);
            }
            break;
        default:
            return;
        }
    }
}

int cpu_random(ty_array *out)
{
    const ty_params *p = &out->node->params;
    switch (p->kind) {
    case TY_RANDOM_BITS: case TY_RANDOM_UNIFORM: case TY_RANDOM_NORMAL:
    case TY_RANDOM_RANDINT: case TY_RANDOM_TRUNCATED_NORMAL: case TY_RANDOM_BERNOULLI:
        break;
    default:
        return ty__error("[random] unknown distribution %d", p->kind);
    }
    if (out->size == 0) return 0;
    random_job job = {p->kind, p->key, p->value, p->value2, (char *)out->buffer->data,
                      out->dtype};
    pool_parallel_for(out->size, RANDOM_GRAIN, random_chunk, &job);
    return 0;
}
