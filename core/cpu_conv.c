/*
 * cpu_conv.c -- CPU kernels of conv (im2col + OpenBLAS gemm) and pooling
 * (pool, max_pool_select, pool_grad). Node contracts: core/ops_conv.c.
 *
 * Convolution, per group: the output block (Og x cols) of a chunk of
 * columns (samples x output positions) is W_g (Og x Cg*K) @ col (Cg*K x
 * cols), with col built by im2col on the thread pool and one large gemm per
 * chunk (OpenBLAS threads it). Spatial axes are handled as 3 (missing leading
 * axes of size 1); im2col runs whole output rows with the valid range of the
 * last axis precomputed, so the inner loop has no division. float16 and
 * bfloat16 compute in float32, float64 in double.
 *
 * Pooling runs one plane (all leading axes flattened) per task.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

#define POOL_SELECT 2                  /* params.kind of max_pool_select */
/* Elements of one im2col chunk (floats or doubles). */
#define COL_LIMIT (2 << 20)

/* ---------------------------------------------------------------- staging */

/* A contiguous copy of a (or a borrowed pointer to its data when it is
 * already contiguous in the compute type), as float (f64 false) or double. */
typedef struct cbuf {
    void *p;
    bool owned;
} cbuf;

static int stage(const ty_array *a, bool f64, cbuf *out)
{
    ty_dtype want = f64 ? TY_FLOAT64 : TY_FLOAT32;
    out->owned = false;
    if (a->dtype == want && ty__is_contiguous(a)) {
        out->p = ty__elem_ptr(a, a->offset);
        return 0;
    }
    size_t es = f64 ? sizeof(double) : sizeof(float);
    out->p = malloc(es * (size_t)(a->size > 0 ? a->size : 1));
    if (!out->p) return ty__error("[conv] out of memory");
    out->owned = true;
    if (a->size == 0) return 0;
    int nd = a->ndim;
    int64_t idx[TY_MAX_DIMS] = {0};
    int64_t inner = nd > 0 ? a->shape[nd - 1] : 1, is = nd > 0 ? a->strides[nd - 1] : 0;
    int64_t nrows = a->size / inner;
    const void *data = a->buffer->data;
    for (int64_t r = 0; r < nrows; r++) {
        int64_t off = a->offset;
        for (int d = 0; d < nd - 1; d++) off += idx[d] * a->strides[d];
        if (f64) {
            double *dst = (double *)out->p + r * inner;
            if (a->dtype == TY_FLOAT64)
                for (int64_t j = 0; j < inner; j++) dst[j] = ((const double *)data)[off + j * is];
            else
                for (int64_t j = 0; j < inner; j++) dst[j] = ty__load_f64(data, a->dtype, off + j * is);
        } else {
            float *dst = (float *)out->p + r * inner;
            switch (a->dtype) {
            case TY_FLOAT32:
                for (int64_t j = 0; j < inner; j++) dst[j] = ((const float *)data)[off + j * is];
                break;
            case TY_FLOAT16:
                for (int64_t j = 0; j < inner; j++)
                    dst[j] = ty_half_to_float(((const uint16_t *)data)[off + j * is]);
                break;
            case TY_BFLOAT16:
                for (int64_t j = 0; j < inner; j++)
                    dst[j] = ty_bfloat_to_float(((const uint16_t *)data)[off + j * is]);
                break;
            default:
                for (int64_t j = 0; j < inner; j++)
                    dst[j] = (float)ty__load_f64(data, a->dtype, off + j * is);
                break;
            }
        }
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < a->shape[d]) break;
            idx[d] = 0;
        }
    }
    return 0;
}

static void unstage(cbuf *b)
{
    if (b->owned) free(b->p);
    b->p = NULL;
}

/* Stores n floats at element offset `at` of out (float16/bfloat16/float32). */
static void store_floats(ty_array *out, int64_t at, const float *src, int64_t n)
{
    void *d = out->buffer->data;
    switch (out->dtype) {
    case TY_FLOAT16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)d)[at + i] = ty_float_to_half(src[i]);
        break;
    case TY_BFLOAT16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)d)[at + i] = ty_float_to_bfloat(src[i]);
        break;
    default:
        memcpy((float *)d + at, src, sizeof(float) * (size_t)n);
        break;
    }
}

/* ---------------------------------------------------------------- conv */

/* One cached im2col block of at most SCRATCH_KEEP bytes, reused across
 * calls (a fresh multi-megabyte malloc costs a page fault per page every
 * time); a concurrent caller finds it taken and allocates its own. */
static void *scratch_cache;
static size_t scratch_cache_size;
static int scratch_busy;

#define SCRATCH_KEEP (16u << 20)        /* larger blocks are not kept */

static void *scratch_take(size_t nbytes)
{
    if (nbytes > SCRATCH_KEEP) return malloc(nbytes);
    if (__atomic_exchange_n(&scratch_busy, 1, __ATOMIC_ACQUIRE) == 0) {
        if (scratch_cache_size >= nbytes) return scratch_cache;
        free(scratch_cache);
        scratch_cache = malloc(nbytes);
        scratch_cache_size = scratch_cache ? nbytes : 0;
        if (scratch_cache) return scratch_cache;
        __atomic_store_n(&scratch_busy, 0, __ATOMIC_RELEASE);
        return NULL;
    }
    return malloc(nbytes);
}

static void scratch_give(void *p)
{
    if (p && p == scratch_cache) __atomic_store_n(&scratch_busy, 0, __ATOMIC_RELEASE);
    else free(p);
}


typedef struct conv_geom {
    int64_t N, C, O, G, Cg, Og;
    int64_t in[3], k[3], out[3];       /* padded to 3 axes (leading 1s) */
    int64_t s[3], d[3], id[3], lo[3];
    bool flip;
    int64_t inVol, K, P, CgK;
    int outer;                         /* first real spatial axis (3 - nsp) */
    int64_t inner;                     /* output positions per outer index */
} conv_geom;

typedef struct conv_ctx {
    const conv_geom *g;
    bool f64;
    const void *x;                     /* staged input (N, C, *in) */
    void *col;                         /* (CgK x cols) */
    int64_t cols;                      /* columns of this chunk */
    int64_t group;
    bool patch;                        /* col is (cols x CgK), patch-major */
    /* chunk: samples n0.. (whole samples, unit = P columns) or one sample
     * n0 and outer rows [r0, r1) */
    int64_t n0, nsamp, r0, r1;
} conv_ctx;

/* First o with o*s + base >= 0, and first o with o*s + base >= lim (for
 * id == 1): the valid output range of one kernel tap along an axis. */
static void valid_range(int64_t base, int64_t s, int64_t lim, int64_t nout, int64_t *a,
                        int64_t *b)
{
    int64_t lo = base >= 0 ? 0 : (-base + s - 1) / s;
    int64_t hi = lim - base <= 0 ? 0 : (lim - base + s - 1) / s;
    if (lo > nout) lo = nout;
    if (hi > nout) hi = nout;
    if (hi < lo) hi = lo;
    *a = lo;
    *b = hi;
}

/* Input index along an axis for output o and kernel tap base (dilated
 * coordinate o*s + base), or -1 when it falls in padding or between
 * dilated input elements. */
static inline int64_t in_index(int64_t o, int64_t s, int64_t base, int64_t id, int64_t in)
{
    int64_t u = o * s + base;
    if (u < 0) return -1;
    if (id != 1) {
        if (u % id) return -1;
        u /= id;
    }
    return u < in ? u : -1;
}

#define DEFINE_IM2COL(T, NAME)                                                            \
    /* Rows of channel c (all K taps) for sample n, columns [c0, c0 + ncols) of the   \
     * chunk holding output rows [r0, r1) of the outer axis. */                         \
    static void NAME(const conv_ctx *cx, int64_t n, int64_t c, int64_t colbase,         \
                     int64_t r0, int64_t r1)                                            \
    {                                                                                    \
        const conv_geom *g = cx->g;                                                      \
        const T *xc = (const T *)cx->x + (n * g->C + cx->group * g->Cg + c) * g->inVol;   \
        T *col = cx->col;                                                                \
        int64_t lo0 = 0, hi0 = g->out[0], lo1 = 0, hi1 = g->out[1];                      \
        if (g->outer == 0) lo0 = r0, hi0 = r1;                                           \
        else if (g->outer == 1) lo1 = r0, hi1 = r1;                                      \
        int64_t lo2 = 0, hi2 = g->out[2];                                                \
        if (g->outer == 2) lo2 = r0, hi2 = r1;                                           \
        int64_t w2 = hi2 - lo2;                                                          \
        for (int64_t k0 = 0; k0 < g->k[0]; k0++) {                                        \
            int64_t e0 = g->flip ? g->k[0] - 1 - k0 : k0;                                \
            int64_t b0 = e0 * g->d[0] - g->lo[0];                                        \
            for (int64_t k1 = 0; k1 < g->k[1]; k1++) {                                    \
                int64_t e1 = g->flip ? g->k[1] - 1 - k1 : k1;                            \
                int64_t b1 = e1 * g->d[1] - g->lo[1];                                    \
                for (int64_t k2 = 0; k2 < g->k[2]; k2++) {                                \
                    int64_t e2 = g->flip ? g->k[2] - 1 - k2 : k2;                        \
                    int64_t b2 = e2 * g->d[2] - g->lo[2];                                \
                    int64_t row = ((c * g->k[0] + k0) * g->k[1] + k1) * g->k[2] + k2;     \
                    T *dst = col + row * cx->cols + colbase;                             \
                    int64_t va, vb;                                                      \
                    if (g->id[2] == 1) valid_range(b2, g->s[2], g->in[2], hi2, &va, &vb); \
                    else va = vb = 0;                                                    \
                    if (va < lo2) va = lo2;                                              \
                    if (vb < va) vb = va;                                                \
                    for (int64_t o0 = lo0; o0 < hi0; o0++) {                              \
                        int64_t i0 = in_index(o0, g->s[0], b0, g->id[0], g->in[0]);      \
                        for (int64_t o1 = lo1; o1 < hi1; o1++, dst += w2) {               \
                            int64_t i1 = i0 < 0 ? -1                                     \
                                                : in_index(o1, g->s[1], b1, g->id[1],    \
                                                           g->in[1]);                    \
                            if (i1 < 0) {                                                \
                                memset(dst, 0, sizeof(T) * (size_t)w2);                  \
                                continue;                                                \
                            }                                                            \
                            const T *src = xc + (i0 * g->in[1] + i1) * g->in[2];         \
                            if (g->id[2] != 1) {                                         \
                                for (int64_t o2 = lo2; o2 < hi2; o2++) {                 \
                                    int64_t i2 = in_index(o2, g->s[2], b2, g->id[2],     \
                                                          g->in[2]);                     \
                                    dst[o2 - lo2] = i2 < 0 ? (T)0 : src[i2];             \
                                }                                                        \
                                continue;                                                \
                            }                                                            \
                            int64_t o2 = lo2;                                            \
                            for (; o2 < va; o2++) dst[o2 - lo2] = (T)0;                  \
                            if (g->s[2] == 1) {                                          \
                                if (vb > va)                                             \
                                    memcpy(dst + (va - lo2), src + va + b2,              \
                                           sizeof(T) * (size_t)(vb - va));               \
                                o2 = vb;                                                 \
                            } else {                                                     \
                                const T *sp = src + b2;                                  \
                                int64_t st = g->s[2];                                    \
                                for (; o2 < vb; o2++) dst[o2 - lo2] = sp[o2 * st];       \
                            }                                                            \
                            for (; o2 < hi2; o2++) dst[o2 - lo2] = (T)0;                 \
                        }                                                                \
                    }                                                                    \
                }                                                                        \
            }                                                                            \
        }                                                                                \
    }

DEFINE_IM2COL(float, im2col_f32)
DEFINE_IM2COL(double, im2col_f64)

/* The patch-major layout (cols x CgK: one row of taps per output position),
 * for large kernels over few outputs (e.g. the weight gradient): runs over
 * the last kernel axis are contiguous input rows. */
#define DEFINE_IM2COL_T(T, NAME)                                                          \
    static void NAME(const conv_ctx *cx, int64_t n, int64_t c, int64_t colbase,         \
                     int64_t r0, int64_t r1)                                            \
    {                                                                                    \
        const conv_geom *g = cx->g;                                                      \
        const T *xc = (const T *)cx->x + (n * g->C + cx->group * g->Cg + c) * g->inVol;   \
        int64_t lo0 = 0, hi0 = g->out[0], lo1 = 0, hi1 = g->out[1];                      \
        int64_t lo2 = 0, hi2 = g->out[2];                                                \
        if (g->outer == 0) lo0 = r0, hi0 = r1;                                           \
        else if (g->outer == 1) lo1 = r0, hi1 = r1;                                      \
        else lo2 = r0, hi2 = r1;                                                         \
        T *dst = (T *)cx->col + colbase * g->CgK + c * g->K;                             \
        bool fast = !g->flip && g->d[2] == 1 && g->id[2] == 1;                           \
        for (int64_t o0 = lo0; o0 < hi0; o0++)                                            \
            for (int64_t o1 = lo1; o1 < hi1; o1++)                                        \
                for (int64_t o2 = lo2; o2 < hi2; o2++, dst += g->CgK) {                   \
                    T *row = dst;                                                        \
                    int64_t b2 = o2 * g->s[2] - g->lo[2];                                \
                    int64_t ka = b2 >= 0 ? 0 : -b2, kb = g->in[2] - b2;                  \
                    if (kb > g->k[2]) kb = g->k[2];                                      \
                    if (kb < ka) kb = ka;                                                \
                    if (ka > g->k[2]) ka = kb = g->k[2];                                 \
                    for (int64_t k0 = 0; k0 < g->k[0]; k0++) {                            \
                        int64_t e0 = g->flip ? g->k[0] - 1 - k0 : k0;                    \
                        int64_t i0 = in_index(o0, g->s[0], e0 * g->d[0] - g->lo[0],      \
                                              g->id[0], g->in[0]);                       \
                        for (int64_t k1 = 0; k1 < g->k[1]; k1++, row += g->k[2]) {        \
                            int64_t e1 = g->flip ? g->k[1] - 1 - k1 : k1;                \
                            int64_t i1 = i0 < 0 ? -1                                     \
                                                : in_index(o1, g->s[1],                  \
                                                           e1 * g->d[1] - g->lo[1],      \
                                                           g->id[1], g->in[1]);          \
                            if (i1 < 0) {                                                \
                                memset(row, 0, sizeof(T) * (size_t)g->k[2]);             \
                                continue;                                                \
                            }                                                            \
                            const T *src = xc + (i0 * g->in[1] + i1) * g->in[2];         \
                            if (fast) {                                                  \
                                for (int64_t k2 = 0; k2 < ka; k2++) row[k2] = (T)0;      \
                                if (kb > ka)                                             \
                                    memcpy(row + ka, src + b2 + ka,                      \
                                           sizeof(T) * (size_t)(kb - ka));               \
                                for (int64_t k2 = kb; k2 < g->k[2]; k2++) row[k2] = (T)0; \
                                continue;                                                \
                            }                                                            \
                            for (int64_t k2 = 0; k2 < g->k[2]; k2++) {                    \
                                int64_t e2 = g->flip ? g->k[2] - 1 - k2 : k2;            \
                                int64_t i2 = in_index(o2, g->s[2], e2 * g->d[2] - g->lo[2], \
                                                      g->id[2], g->in[2]);               \
                                row[k2] = i2 < 0 ? (T)0 : src[i2];                       \
                            }                                                            \
                        }                                                                \
                    }                                                                    \
                }                                                                        \
    }

DEFINE_IM2COL_T(float, im2colT_f32)
DEFINE_IM2COL_T(double, im2colT_f64)

/* Task i of a chunk: sample n0 + i / Cg, channel i % Cg. */
static void im2col_task(void *ctx, int64_t begin, int64_t end)
{
    const conv_ctx *cx = ctx;
    const conv_geom *g = cx->g;
    for (int64_t t = begin; t < end; t++) {
        int64_t si = t / g->Cg, c = t % g->Cg;
        int64_t colbase = si * (cx->r1 - cx->r0) * g->inner;
        if (cx->patch) {
            if (cx->f64) im2colT_f64(cx, cx->n0 + si, c, colbase, cx->r0, cx->r1);
            else im2colT_f32(cx, cx->n0 + si, c, colbase, cx->r0, cx->r1);
        } else if (cx->f64) {
            im2col_f64(cx, cx->n0 + si, c, colbase, cx->r0, cx->r1);
        } else {
            im2col_f32(cx, cx->n0 + si, c, colbase, cx->r0, cx->r1);
        }
    }
}

/* Packs the weight (O, Cg, *k) contiguous in the compute type. */
int cpu_conv(ty_array *out)
{
    const ty_array *x = out->node->inputs[0], *w = out->node->inputs[1];
    const ty_params *pp = &out->node->params;
    int nsp = pp->nsp;
    conv_geom g;
    memset(&g, 0, sizeof g);
    g.N = x->shape[0];
    g.C = x->shape[1];
    g.O = w->shape[0];
    g.G = pp->conv.groups;
    g.Cg = g.C / g.G;
    g.Og = g.O / g.G;
    g.flip = pp->conv.flip;
    g.outer = 3 - nsp;
    for (int a = 0; a < 3; a++) {
        int d = a - g.outer;
        bool real = d >= 0;
        g.in[a] = real ? x->shape[2 + d] : 1;
        g.k[a] = real ? w->shape[2 + d] : 1;
        g.out[a] = real ? out->shape[2 + d] : 1;
        g.s[a] = real ? pp->conv.stride[d] : 1;
        g.d[a] = real ? pp->conv.dilation[d] : 1;
        g.id[a] = real ? pp->conv.in_dilation[d] : 1;
        g.lo[a] = real ? pp->conv.pad_lo[d] : 0;
    }
    g.inVol = g.in[0] * g.in[1] * g.in[2];
    g.K = g.k[0] * g.k[1] * g.k[2];
    g.P = g.out[0] * g.out[1] * g.out[2];
    g.CgK = g.Cg * g.K;
    g.inner = g.P / g.out[g.outer];
    if (out->size == 0) return 0;
    if (g.CgK > INT32_MAX || g.P > INT32_MAX || g.Og > INT32_MAX)
        return ty__error("[conv] dimensions too large for BLAS");
    bool f64 = out->dtype == TY_FLOAT64, direct = f64 || out->dtype == TY_FLOAT32;
    size_t es = f64 ? sizeof(double) : sizeof(float);
    cbuf xs, ws;
    if (stage(x, f64, &xs) != 0) return -1;
    if (stage(w, f64, &ws) != 0) {
        unstage(&xs);
        return -1;
    }
    /* pointwise (1x1, stride 1, no padding): the staged input is already the
     * column matrix of each sample, (Cg x P) with leading dimension P */
    bool pointwise = g.K == 1;
    for (int a = 0; a < 3; a++)
        if (g.s[a] != 1 || g.id[a] != 1 || g.lo[a] != 0 || g.out[a] != g.in[a])
            pointwise = false;
    if (pointwise) {
        float *tmp = direct ? NULL : malloc(sizeof(float) * (size_t)(g.Og * g.P));
        if (!direct && !tmp) {
            unstage(&xs);
            unstage(&ws);
            return ty__error("[conv] out of memory");
        }
        for (int64_t n = 0; n < g.N; n++) {
            for (int64_t grp = 0; grp < g.G; grp++) {
                size_t woff = (size_t)(grp * g.Og * g.Cg), xoff = (size_t)((n * g.C + grp * g.Cg) * g.P);
                size_t ooff = (size_t)((n * g.O + grp * g.Og) * g.P);
                if (f64)
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g.Og, (int)g.P,
                                (int)g.Cg, 1.0, (const double *)ws.p + woff, (int)g.Cg,
                                (const double *)xs.p + xoff, (int)g.P, 0.0,
                                (double *)out->buffer->data + ooff, (int)g.P);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g.Og, (int)g.P,
                                (int)g.Cg, 1.0f, (const float *)ws.p + woff, (int)g.Cg,
                                (const float *)xs.p + xoff, (int)g.P, 0.0f,
                                direct ? (float *)out->buffer->data + ooff : tmp, (int)g.P);
                if (!direct) store_floats(out, (int64_t)ooff, tmp, g.Og * g.P);
            }
        }
        free(tmp);
        unstage(&xs);
        unstage(&ws);
        return 0;
    }
    /* chunking: whole samples when one sample's columns fit, else rows of the
     * outer axis of one sample */
    int64_t per_sample = g.CgK * g.P;
    /* few output positions (weight gradients): the gemm reads all of W per
     * chunk, so chunks take more samples */
    int64_t limit = g.P < 64 ? 4 * COL_LIMIT : COL_LIMIT;
    int64_t nb = per_sample > 0 ? limit / per_sample : g.N;
    if (nb > g.N) nb = g.N;
    int64_t rows_per = g.out[g.outer];
    if (nb < 1) {
        nb = 1;
        rows_per = COL_LIMIT / (g.CgK * g.inner);
        if (rows_per < 1) rows_per = 1;
    }
    int64_t max_cols = nb * (rows_per < g.out[g.outer] ? rows_per : g.out[g.outer]) * g.inner;
    void *col = scratch_take(es * (size_t)(g.CgK * max_cols));
    void *ybuf = NULL;
    /* per-sample gemms write out directly when a sample has enough columns */
    bool need_y = !direct || (nb > 1 && g.P < 64);
    if (need_y) ybuf = malloc((size_t)(f64 ? 8 : 4) * (size_t)(g.Og * max_cols));
    if (!col || (need_y && !ybuf)) {
        scratch_give(col);
        free(ybuf);
        unstage(&xs);
        unstage(&ws);
        return ty__error("[conv] out of memory");
    }
    conv_ctx cx = {.g = &g, .f64 = f64, .x = xs.p, .col = col};
    /* patch-major when the runs along the last kernel axis are longer than
     * the runs along the last output axis */
    cx.patch = g.k[2] > (g.outer == 2 ? rows_per : g.out[2]) && g.d[2] == 1 && g.id[2] == 1 &&
               !g.flip;
    for (int64_t grp = 0; grp < g.G; grp++) {
        cx.group = grp;
        const char *wg = (const char *)ws.p + (size_t)(grp * g.Og * g.CgK) * es;
        for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
            int64_t ns = g.N - n0 < nb ? g.N - n0 : nb;
            for (int64_t r0 = 0; r0 < g.out[g.outer]; r0 += rows_per) {
                int64_t r1 = r0 + rows_per < g.out[g.outer] ? r0 + rows_per : g.out[g.outer];
                cx.n0 = n0;
                cx.nsamp = ns;
                cx.r0 = r0;
                cx.r1 = r1;
                cx.cols = ns * (r1 - r0) * g.inner;
                int64_t ntask = ns * g.Cg;
                int64_t grain = 65536 / (g.K * (r1 - r0) * g.inner + 1) + 1;
                pool_parallel_for(ntask, grain, im2col_task, &cx);
                /* y (Og x cols) = W_g (Og x CgK) @ col (CgK x cols): one gemm per
                 * sample straight into out, or one for the chunk into ybuf */
                int64_t ocol = r0 * g.inner;               /* column in a sample */
                int64_t wcols = (r1 - r0) * g.inner;       /* columns per sample */
                CBLAS_TRANSPOSE tb = cx.patch ? CblasTrans : CblasNoTrans;
                int ldb = cx.patch ? (int)g.CgK : (int)cx.cols;
                int64_t nmul = need_y ? 1 : ns;
                for (int64_t si = 0; si < nmul; si++) {
                    void *dst;
                    int ldc, ncol = need_y ? (int)cx.cols : (int)wcols;
                    const char *b = (const char *)col +
                                    (size_t)(cx.patch ? si * wcols * g.CgK : si * wcols) * es;
                    if (!need_y) {
                        dst = (char *)out->buffer->data +
                              (size_t)(((n0 + si) * g.O + grp * g.Og) * g.P + ocol) * es;
                        ldc = (int)g.P;
                    } else {
                        dst = ybuf;
                        ldc = (int)cx.cols;
                    }
                    if (f64)
                        cblas_dgemm(CblasRowMajor, CblasNoTrans, tb, (int)g.Og, ncol,
                                    (int)g.CgK, 1.0, (const double *)wg, (int)g.CgK,
                                    (const double *)b, ldb, 0.0, dst, ldc);
                    else
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, (int)g.Og, ncol,
                                    (int)g.CgK, 1.0f, (const float *)wg, (int)g.CgK,
                                    (const float *)b, ldb, 0.0f, dst, ldc);
                }
                if (need_y) {
                    int64_t w = wcols;
                    for (int64_t si = 0; si < ns; si++) {
                        for (int64_t o = 0; o < g.Og; o++) {
                            int64_t at = ((n0 + si) * g.O + grp * g.Og + o) * g.P + ocol;
                            const char *src = (const char *)ybuf +
                                              (size_t)(o * cx.cols + si * w) * es;
                            if (direct)
                                memcpy((char *)out->buffer->data + (size_t)at * es, src,
                                       es * (size_t)w);
                            else
                                store_floats(out, at, (const float *)src, w);
                        }
                    }
                }
            }
        }
    }
    scratch_give(col);
    free(ybuf);
    unstage(&xs);
    unstage(&ws);
    return 0;
}

/* ---------------------------------------------------------------- pooling */

typedef struct pool_geom {
    int64_t L;                         /* planes (leading axes) */
    int64_t in[3], out[3], k[3], s[3], d[3], lo[3], hi[3];
    int64_t inVol, outVol;
    int kind;
    bool count_include_pad;
} pool_geom;

static void pool_geom_init(pool_geom *g, const ty_array *x, const int64_t *pooled,
                           const ty_params *pp)
{
    int nsp = pp->nsp, lead = x->ndim - nsp, off = 3 - nsp;
    g->L = 1;
    for (int d = 0; d < lead; d++) g->L *= x->shape[d];
    for (int a = 0; a < 3; a++) {
        int d = a - off;
        bool real = d >= 0;
        g->in[a] = real ? x->shape[lead + d] : 1;
        g->out[a] = real ? pooled[lead + d] : 1;
        g->k[a] = real ? pp->pool.kernel[d] : 1;
        g->s[a] = real ? pp->pool.stride[d] : 1;
        g->d[a] = real ? pp->pool.dilation[d] : 1;
        g->lo[a] = real ? pp->pool.pad_lo[d] : 0;
        g->hi[a] = real ? pp->pool.pad_hi[d] : 0;
    }
    g->inVol = g->in[0] * g->in[1] * g->in[2];
    g->outVol = g->out[0] * g->out[1] * g->out[2];
    g->kind = pp->kind;
    g->count_include_pad = pp->pool.count_include_pad;
}

typedef struct pool_ctx {
    const pool_geom *g;
    bool f64;
    const void *x, *t;                 /* staged inputs (t: select's values, or g) */
    void *y;                           /* output, compute type, contiguous */
} pool_ctx;

/* For max pooling: index (in the plane) of the first maximum of the window
 * at output (o0, o1, o2), -1 if the window holds no input element. For
 * average pooling: the window's bounds and divisor. */
#define DEFINE_POOL(T, NAME)                                                             \
    static int64_t NAME##_argmax(const pool_geom *g, const T *xp, int64_t o0, int64_t o1, \
                                 int64_t o2)                                             \
    {                                                                                    \
        int64_t best = -1;                                                               \
        T bv = 0;                                                                        \
        for (int64_t k0 = 0; k0 < g->k[0]; k0++) {                                        \
            int64_t i0 = o0 * g->s[0] - g->lo[0] + k0 * g->d[0];                         \
            if (i0 < 0 || i0 >= g->in[0]) continue;                                      \
            for (int64_t k1 = 0; k1 < g->k[1]; k1++) {                                    \
                int64_t i1 = o1 * g->s[1] - g->lo[1] + k1 * g->d[1];                     \
                if (i1 < 0 || i1 >= g->in[1]) continue;                                  \
                const T *row = xp + (i0 * g->in[1] + i1) * g->in[2];                     \
                int64_t i2 = o2 * g->s[2] - g->lo[2];                                    \
                for (int64_t k2 = 0; k2 < g->k[2]; k2++, i2 += g->d[2]) {                 \
                    if (i2 < 0 || i2 >= g->in[2]) continue;                              \
                    T v = row[i2];                                                       \
                    if (best < 0 || v > bv || (v != v && bv == bv)) {                    \
                        bv = v;                                                          \
                        best = (i0 * g->in[1] + i1) * g->in[2] + i2;                     \
                    }                                                                    \
                }                                                                        \
            }                                                                            \
        }                                                                                \
        return best;                                                                     \
    }                                                                                    \
    /* The average window: [a, b) per axis clipped to the input; *div its divisor. */    \
    static void NAME##_avg_window(const pool_geom *g, int64_t o0, int64_t o1, int64_t o2,   \
                                  int64_t *a, int64_t *b, double *div)                   \
    {                                                                                    \
        int64_t o[3] = {o0, o1, o2};                                                     \
        int64_t full = 1, real = 1;                                                      \
        for (int ax = 0; ax < 3; ax++) {                                                 \
            int64_t st = o[ax] * g->s[ax] - g->lo[ax];                                   \
            int64_t en = st + g->k[ax];                                                  \
            if (en > g->in[ax] + g->hi[ax]) en = g->in[ax] + g->hi[ax];                  \
            full *= en - st;                                                             \
            if (st < 0) st = 0;                                                          \
            if (en > g->in[ax]) en = g->in[ax];                                          \
            a[ax] = st;                                                                  \
            b[ax] = en > st ? en : st;                                                   \
            real *= b[ax] - a[ax];                                                       \
        }                                                                                \
        *div = (double)(g->count_include_pad ? full : real);                             \
    }                                                                                    \
    static void NAME##_plane(const pool_ctx *c, int64_t l, int op)                        \
    {                                                                                    \
        const pool_geom *g = c->g;                                                       \
        const T *xp = (const T *)c->x + l * g->inVol;                                    \
        T *yp = (T *)c->y + l * (op == TY_OP_POOL_GRAD ? g->inVol : g->outVol);          \
        const T *tp = c->t ? (const T *)c->t +                                           \
                                 l * (op == TY_OP_POOL_GRAD ? g->outVol : g->inVol)      \
                           : NULL;                                                       \
        if (op == TY_OP_POOL_GRAD) memset(yp, 0, sizeof(T) * (size_t)g->inVol);          \
        int64_t oi = 0;                                                                  \
        for (int64_t o0 = 0; o0 < g->out[0]; o0++)                                        \
            for (int64_t o1 = 0; o1 < g->out[1]; o1++)                                    \
                for (int64_t o2 = 0; o2 < g->out[2]; o2++, oi++) {                        \
                    if (g->kind != TY_POOL_AVG) {                                        \
                        int64_t m = NAME##_argmax(g, xp, o0, o1, o2);                    \
                        if (op == TY_OP_POOL_GRAD) {                                     \
                            if (m >= 0) yp[m] += tp[oi];                                 \
                        } else if (g->kind == POOL_SELECT) {                             \
                            yp[oi] = m >= 0 ? tp[m] : (T)0;                              \
                        } else {                                                         \
                            yp[oi] = m >= 0 ? xp[m] : (T)-INFINITY;                      \
                        }                                                                \
                        continue;                                                        \
                    }                                                                    \
                    int64_t a[3], b[3];                                                  \
                    double div;                                                          \
                    NAME##_avg_window(g, o0, o1, o2, a, b, &div);                        \
                    if (op == TY_OP_POOL_GRAD) {                                         \
                        T v = div > 0 ? (T)(tp[oi] / div) : (T)0;                        \
                        for (int64_t i0 = a[0]; i0 < b[0]; i0++)                          \
                            for (int64_t i1 = a[1]; i1 < b[1]; i1++) {                    \
                                T *r = yp + (i0 * g->in[1] + i1) * g->in[2];             \
                                for (int64_t i2 = a[2]; i2 < b[2]; i2++) r[i2] += v;     \
                            }                                                            \
                    } else {                                                             \
                        double s = 0;                                                    \
                        for (int64_t i0 = a[0]; i0 < b[0]; i0++)                          \
                            for (int64_t i1 = a[1]; i1 < b[1]; i1++) {                    \
                                const T *r = xp + (i0 * g->in[1] + i1) * g->in[2];       \
                                for (int64_t i2 = a[2]; i2 < b[2]; i2++) s += r[i2];     \
                            }                                                            \
                        yp[oi] = div > 0 ? (T)(s / div) : (T)0;                          \
                    }                                                                    \
                }                                                                        \
    }

DEFINE_POOL(float, pool_f32)
DEFINE_POOL(double, pool_f64)

typedef struct pool_task_ctx {
    pool_ctx c;
    int op;
} pool_task_ctx;

static void pool_task(void *ctx, int64_t begin, int64_t end)
{
    const pool_task_ctx *pc = ctx;
    for (int64_t l = begin; l < end; l++) {
        if (pc->c.f64) pool_f64_plane(&pc->c, l, pc->op);
        else pool_f32_plane(&pc->c, l, pc->op);
    }
}

int cpu_pool(ty_array *out)
{
    ty_node *n = out->node;
    const ty_array *x = n->inputs[0];
    const ty_array *t = n->ninputs > 1 ? n->inputs[1] : NULL;
    int op = n->op;
    const int64_t *pooled = op == TY_OP_POOL_GRAD ? t->shape : out->shape;
    pool_geom g;
    pool_geom_init(&g, x, pooled, &n->params);
    if (out->size == 0) return 0;
    bool f64 = out->dtype == TY_FLOAT64, direct = f64 || out->dtype == TY_FLOAT32;
    cbuf xs = {0}, ts = {0};
    if (stage(x, f64, &xs) != 0) return -1;
    if (t && stage(t, f64, &ts) != 0) {
        unstage(&xs);
        return -1;
    }
    void *y = direct ? out->buffer->data : malloc(sizeof(float) * (size_t)out->size);
    if (!y) {
        unstage(&xs);
        unstage(&ts);
        return ty__error("[pool] out of memory");
    }
    pool_task_ctx pc = {{&g, f64, xs.p, ts.p, y}, op};
    int64_t work = (g.outVol * g.k[0] * g.k[1] * g.k[2]) + g.inVol;
    pool_parallel_for(g.L, 32768 / (work + 1) + 1, pool_task, &pc);
    if (!direct) {
        store_floats(out, 0, y, out->size);
        free(y);
    }
    unstage(&xs);
    unstage(&ts);
    return 0;
}
