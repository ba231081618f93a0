/*
 * cpu_optim.c -- CPU kernel of optim_update (formulas and hp layouts in
 * core/ops_optim.c). The output (1 + nstate, n) is written row by row: new
 * parameter, then the new states. Elements are split into chunks on the
 * thread pool; each chunk loads a block of every input (fast path for
 * contiguous float32, else a strided gather through ty__load_f64), updates
 * it in float32 (float64 for float64 parameters) and stores the rows.
 */
#include "cpu.h"

#include <math.h>
#if defined(__SSE__)
#include <immintrin.h>
#endif

#define OPT_BLOCK 256
#define OPT_GRAIN 16384

/* One update of element values: p, g and s[0..nstate) in, new values out
 * (in place). Same arithmetic as kernels/optim.comp. */
#define DEFINE_UPDATE(NAME, T, SQRT, FABS)                                    \
    static inline void NAME(int kind, const T *h, int nstate, T *p_, T g, T *s0, \
                            T *s1, T *s2)                                      \
    {                                                                         \
        T p = *p_;                                                            \
        switch (kind) {                                                       \
        case TY_OPTIM_SGD: {                                                  \
            T lr = h[0], mom = h[1], damp = h[2], wd = h[3];                  \
            g = g + wd * p;                                                   \
            T d = g;                                                          \
            if (nstate > 0) {                                                 \
                T buf = h[5] != 0 ? g : mom * *s0 + (1 - damp) * g;          \
                *s0 = buf;                                                   \
                d = h[4] != 0 ? g + mom * buf : buf;                          \
            }                                                                 \
            p = p - lr * d;                                                   \
            break;                                                            \
        }                                                                     \
        case TY_OPTIM_ADAM: {                                                 \
            T b1 = h[1], b2 = h[2], eps = h[3];                               \
            /* h[10]: decay factor of p (AdamW), h[11]: L2 coefficient, set  \
             * by cpu_optim_update; branch-free so the loop vectorizes */     \
            p = p * h[10];                                                    \
            g = g + h[11] * p;                                                \
            T m = b1 * *s0 + (1 - b1) * g;                                   \
            T v = b2 * *s1 + (1 - b2) * g * g;                               \
            *s0 = m;                                                         \
            *s1 = v;                                                         \
            T vh = v;                                                         \
            if (nstate > 2) {                                                 \
                vh = *s2 > v ? *s2 : v;                                     \
                *s2 = vh;                                                    \
            }                                                                 \
            T denom = SQRT(vh) / h[7] + eps;                                  \
            denom = h[9] != 0 ? 1 : denom;                /* plain: h[8] 0 */ \
            p = p - (h[6] * m + h[8] * g) / denom;                            \
            break;                                                            \
        }                                                                     \
        case TY_OPTIM_RMSPROP: {                                              \
            T lr = h[0], alpha = h[1], eps = h[2], wd = h[3], mom = h[4];     \
            g = g + wd * p;                                                   \
            T sq = alpha * *s0 + (1 - alpha) * g * g;                        \
            *s0 = sq;                                                        \
            T avg;                                                            \
            if (h[5] != 0) {                                                  \
                T *gp = mom > 0 ? s2 : s1;                                    \
                T ga = alpha * *gp + (1 - alpha) * g;                         \
                *gp = ga;                                                     \
                avg = SQRT(sq - ga * ga) + eps;                               \
            } else {                                                          \
                avg = SQRT(sq) + eps;                                         \
            }                                                                 \
            if (mom > 0) {                                                    \
                T buf = mom * *s1 + g / avg;                                 \
                *s1 = buf;                                                   \
                p = p - lr * buf;                                             \
            } else {                                                          \
                p = p - lr * g / avg;                                         \
            }                                                                 \
            break;                                                            \
        }                                                                     \
        case TY_OPTIM_ADAGRAD: {                                              \
            T clr = h[0], eps = h[1], wd = h[2];                              \
            g = g + wd * p;                                                   \
            T sum = *s0 + g * g;                                             \
            *s0 = sum;                                                       \
            p = p - clr * g / (SQRT(sum) + eps);                              \
            break;                                                            \
        }                                                                     \
        case TY_OPTIM_ADADELTA: {                                             \
            T lr = h[0], rho = h[1], eps = h[2], wd = h[3];                   \
            g = g + wd * p;                                                   \
            T sq = rho * *s0 + (1 - rho) * g * g;                            \
            T d = SQRT(*s1 + eps) / SQRT(sq + eps) * g;                      \
            *s0 = sq;                                                        \
            *s1 = rho * *s1 + (1 - rho) * d * d;                            \
            p = p - lr * d;                                                   \
            break;                                                            \
        }                                                                     \
        case TY_OPTIM_ADAMAX: {                                               \
            T b1 = h[1], b2 = h[2], eps = h[3], wd = h[4], clr = h[5];        \
            g = g + wd * p;                                                   \
            T m = b1 * *s0 + (1 - b1) * g;                                   \
            T a = b2 * *s1, b = FABS(g) + eps;                               \
            T u = a > b ? a : b;                                              \
            *s0 = m;                                                         \
            *s1 = u;                                                         \
            p = p - clr * m / u;                                              \
            break;                                                            \
        }                                                                     \
        case TY_OPTIM_LION: {                                                 \
            T lr = h[0], b1 = h[1], b2 = h[2], wd = h[3];                     \
            p = p * (1 - lr * wd);                                            \
            T c = b1 * *s0 + (1 - b1) * g;                                   \
            T sg = (T)(c > 0) - (T)(c < 0);                                   \
            p = p - lr * sg;                                                  \
            *s0 = b2 * *s0 + (1 - b2) * g;                                  \
            break;                                                            \
        }                                                                     \
        default: break;                                                       \
        }                                                                     \
        *p_ = p;                                                              \
    }

DEFINE_UPDATE(update_f32, float, sqrtf, fabsf)
DEFINE_UPDATE(update_f64, double, sqrt, fabs)

typedef struct opt_ctx {
    ty_array *out;
    int nin;                           /* 2 + nstate */
    int kind;
    float hf[TY_OPTIM_MAX_HP];
    double hd[TY_OPTIM_MAX_HP];
    int mode[5];                       /* per input: 0 strided, 1 contiguous f32, 2 one value */
    int64_t n;                         /* elements of param */
} opt_ctx;

/* Element offset (into the buffer) of row-major position i of input a. */
static int64_t elem_offset(const ty_array *a, int64_t i)
{
    int64_t off = a->offset;
    for (int d = a->ndim - 1; d >= 0; d--) {
        int64_t c = i % a->shape[d];
        i /= a->shape[d];
        off += c * a->strides[d];
    }
    return off;
}

/* Loads elements [begin, begin+len) of input k (row-major over its shape). */
#define DEFINE_LOAD(NAME, T)                                                  \
    static void NAME(const opt_ctx *c, int k, int64_t begin, int64_t len, T *dst) \
    {                                                                         \
        const ty_array *a = c->out->node->inputs[k];                          \
        if (c->mode[k] == 1) {                                                \
            const float *src = (const float *)a->buffer->data + a->offset + begin; \
            for (int64_t i = 0; i < len; i++) dst[i] = (T)src[i];             \
        } else if (c->mode[k] == 2) {                                         \
            T x = (T)ty__load_f64(a->buffer->data, a->dtype, a->offset);      \
            for (int64_t i = 0; i < len; i++) dst[i] = x;                     \
        } else {                                                              \
            for (int64_t i = 0; i < len; i++)                                 \
                dst[i] = (T)ty__load_f64(a->buffer->data, a->dtype,           \
                                         elem_offset(a, begin + i));          \
        }                                                                     \
    }
DEFINE_LOAD(load_f32, float)
DEFINE_LOAD(load_f64, double)

/* The update over a block, the kind a constant in each loop (so the
 * compiler specialises update_*). */
#define BLOCK_LOOP_NS(T, FN, K, NS)                                            \
    for (int64_t i = 0; i < len; i++)                                         \
        FN(K, hl, NS, b[0] + i, b[1][i], b[2] + i, b[3] + i, b[4] + i);
#define BLOCK_LOOP(T, FN, K)                                                  \
    if (ns == 0) { BLOCK_LOOP_NS(T, FN, K, 0) }                               \
    else if (ns == 1) { BLOCK_LOOP_NS(T, FN, K, 1) }                          \
    else if (ns == 2) { BLOCK_LOOP_NS(T, FN, K, 2) }                          \
    else { BLOCK_LOOP_NS(T, FN, K, 3) }
#define DEFINE_BLOCK(NAME, T, FN)                                             \
    static void NAME(int kind, const T *h, int ns, int64_t len, T (*b)[OPT_BLOCK]) \
    {                                                                         \
        T hl[TY_OPTIM_MAX_HP];                                                \
        for (int k = 0; k < TY_OPTIM_MAX_HP; k++) hl[k] = h[k];               \
        switch (kind) {                                                       \
        case TY_OPTIM_SGD: BLOCK_LOOP(T, FN, TY_OPTIM_SGD) break;             \
        case TY_OPTIM_ADAM: BLOCK_LOOP(T, FN, TY_OPTIM_ADAM) break;           \
        case TY_OPTIM_RMSPROP: BLOCK_LOOP(T, FN, TY_OPTIM_RMSPROP) break;     \
        case TY_OPTIM_ADAGRAD: BLOCK_LOOP(T, FN, TY_OPTIM_ADAGRAD) break;     \
        case TY_OPTIM_ADADELTA: BLOCK_LOOP(T, FN, TY_OPTIM_ADADELTA) break;   \
        case TY_OPTIM_ADAMAX: BLOCK_LOOP(T, FN, TY_OPTIM_ADAMAX) break;       \
        case TY_OPTIM_LION: BLOCK_LOOP(T, FN, TY_OPTIM_LION) break;           \
        default: break;                                                       \
        }                                                                     \
    }
DEFINE_BLOCK(block_f32, float, update_f32)
DEFINE_BLOCK(block_f64, double, update_f64)

/* x[i] = sqrtf(x[i]). sqrtf in a loop does not vectorize while errno may be
 * set (no -fno-math-errno here), so SSE does it four at a time. */
static void sqrt_block_f32(float *x, int64_t n)
{
    int64_t i = 0;
#if defined(__SSE__)
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(x + i, _mm_sqrt_ps(_mm_loadu_ps(x + i)));
#endif
    for (; i < n; i++) x[i] = sqrtf(x[i]);
}

/* The float32 Adam step in three vectorizable passes (the arithmetic of
 * update_f32, in the same order, so results are identical). */
static void adam_block_f32(const float *h, int ns, int64_t len, float (*b)[OPT_BLOCK])
{
    float *P = b[0], *G = b[1], *M = b[2], *V = b[3], *X = b[4];
    float den[OPT_BLOCK];
    float b1 = h[1], b2 = h[2], eps = h[3], dec = h[10], l2 = h[11];
    for (int64_t i = 0; i < len; i++) {
        float p = P[i] * dec;
        float g = G[i] + l2 * p;
        float m = b1 * M[i] + (1 - b1) * g;
        float v = b2 * V[i] + (1 - b2) * g * g;
        P[i] = p;
        G[i] = g;
        M[i] = m;
        V[i] = v;
        den[i] = v;
    }
    if (ns > 2) {
        for (int64_t i = 0; i < len; i++) {
            float vh = X[i] > V[i] ? X[i] : V[i];
            X[i] = vh;
            den[i] = vh;
        }
    }
    sqrt_block_f32(den, len);
    float sm = h[6], sg = h[8], sb = h[7];
    bool plain = h[9] != 0;
    for (int64_t i = 0; i < len; i++) {
        float denom = den[i] / sb + eps;
        denom = plain ? 1 : denom;
        P[i] = P[i] - (sm * M[i] + sg * G[i]) / denom;
    }
}

static void opt_chunk(void *ctx, int64_t begin, int64_t end)
{
    const opt_ctx *c = ctx;
    ty_array *out = c->out;
    int nin = c->nin, ns = nin - 2;
    int64_t n = c->n;
    void *o = out->buffer->data;
    if (out->dtype == TY_FLOAT64) {
        double b[5][OPT_BLOCK];
        for (int64_t b0 = begin; b0 < end; b0 += OPT_BLOCK) {
            int64_t len = end - b0 < OPT_BLOCK ? end - b0 : OPT_BLOCK;
            for (int k = 0; k < nin; k++) load_f64(c, k, b0, len, b[k]);
            block_f64(c->kind, c->hd, ns, len, b);
            double *od = o;
            for (int64_t i = 0; i < len; i++) od[b0 + i] = b[0][i];
            for (int k = 0; k < ns; k++)
                for (int64_t i = 0; i < len; i++) od[(k + 1) * n + b0 + i] = b[2 + k][i];
        }
        return;
    }
    float b[5][OPT_BLOCK];
    for (int64_t b0 = begin; b0 < end; b0 += OPT_BLOCK) {
        int64_t len = end - b0 < OPT_BLOCK ? end - b0 : OPT_BLOCK;
        for (int k = 0; k < nin; k++) load_f32(c, k, b0, len, b[k]);
        if (c->kind == TY_OPTIM_ADAM) adam_block_f32(c->hf, ns, len, b);
        else block_f32(c->kind, c->hf, ns, len, b);
        for (int r = 0; r <= ns; r++) {
            const float *src = b[r == 0 ? 0 : r + 1];
            int64_t base = (int64_t)r * n + b0;
            if (out->dtype == TY_FLOAT32) {
                float *of = (float *)o + base;
                for (int64_t i = 0; i < len; i++) of[i] = src[i];
            } else {
                for (int64_t i = 0; i < len; i++) ty__store_f64(o, out->dtype, base + i, src[i]);
            }
        }
    }
}

/* Every stride 0 (or one element). */
static bool one_value(const ty_array *a)
{
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != 1 && a->strides[d] != 0) return false;
    return true;
}

int cpu_optim_update(ty_array *out)
{
    ty_node *node = out->node;
    opt_ctx c = {0};
    c.out = out;
    c.nin = node->ninputs;
    c.kind = node->params.kind;
    c.n = node->inputs[0]->size;
    for (int i = 0; i < TY_OPTIM_MAX_HP; i++) c.hd[i] = node->params.hp[i];
    if (c.kind == TY_OPTIM_ADAM) {     /* derived, see update_f32 */
        const double *h = node->params.hp;
        c.hd[10] = h[5] != 0 ? 1 - h[0] * h[4] : 1;
        c.hd[11] = h[5] != 0 ? 0 : h[4];
        if (h[9] != 0) c.hd[8] = 0;
    }
    for (int i = 0; i < TY_OPTIM_MAX_HP; i++) c.hf[i] = (float)c.hd[i];
    for (int k = 0; k < c.nin; k++) {
        const ty_array *a = node->inputs[k];
        c.mode[k] = a->dtype == TY_FLOAT32 && ty__is_contiguous(a) ? 1 : one_value(a) ? 2 : 0;
    }
    if (c.n == 0) return 0;
    pool_parallel_for(c.n, OPT_GRAIN, opt_chunk, &c);
    return 0;
}
