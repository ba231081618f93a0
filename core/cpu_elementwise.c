/*
 * cpu_elementwise.c -- CPU kernels of the elementwise ops: creation (full,
 * arange, linspace, eye), unary, binary, where, astype and copy.
 *
 * The general path splits the output into chunks run on the thread pool;
 * a chunk goes block by block: each input block is gathered from its
 * strided view into doubles (float domain) or int64 (integer domain), the op
 * runs over the block with the switch outside the loop, and the result is
 * stored converted to the output dtype. Contiguous float32 work on the hot
 * ops skips the conversions.
 */
#include "cpu.h"

#include <math.h>
#include <string.h>

#define EW_BLOCK 512                   /* elements per gathered block */
#define EW_GRAIN 32768                 /* elements per parallel chunk (at least) */

/* ---------------------------------------------------------------- views */

/* An evaluated input seen through its strides, adjacent dims coalesced and
 * size-1 dims dropped (iteration order stays row-major of its shape). */
typedef struct ew_view {
    const char *data;
    ty_dtype dtype;
    int64_t offset;
    int ndim;
    int64_t shape[TY_MAX_DIMS];
    int64_t strides[TY_MAX_DIMS];
} ew_view;

typedef struct ew_cursor {
    int64_t idx[TY_MAX_DIMS];
    int64_t pos;                       /* element offset into data */
} ew_cursor;

static void view_init(ew_view *v, const ty_array *a)
{
    v->data = (const char *)a->buffer->data;
    v->dtype = a->dtype;
    v->offset = a->offset;
    int nd = 0;
    for (int k = 0; k < a->ndim; k++) {
        if (a->shape[k] == 1) continue;
        if (nd > 0 && v->strides[nd - 1] == a->strides[k] * a->shape[k]) {
            v->shape[nd - 1] *= a->shape[k];
            v->strides[nd - 1] = a->strides[k];
        } else {
            v->shape[nd] = a->shape[k];
            v->strides[nd] = a->strides[k];
            nd++;
        }
    }
    v->ndim = nd;
}

/* Row-major contiguous from the offset on (or a single element). */
static bool view_contiguous(const ew_view *v)
{
    return v->ndim == 0 || (v->ndim == 1 && v->strides[0] == 1);
}

/* One element repeated (a broadcast scalar, or a single element). */
static bool view_scalar(const ew_view *v)
{
    return v->ndim == 0 || (v->ndim == 1 && v->strides[0] == 0);
}

static void cursor_init(const ew_view *v, ew_cursor *c, int64_t linear)
{
    c->pos = v->offset;
    for (int k = v->ndim - 1; k >= 0; k--) {
        c->idx[k] = linear % v->shape[k];
        linear /= v->shape[k];
        c->pos += c->idx[k] * v->strides[k];
    }
}

/* Moves the cursor `run` elements on; run never crosses the last axis. */
static void cursor_advance(const ew_view *v, ew_cursor *c, int64_t run)
{
    int k = v->ndim - 1;
    c->idx[k] += run;
    c->pos += run * v->strides[k];
    while (k > 0 && c->idx[k] == v->shape[k]) {
        c->pos -= v->shape[k] * v->strides[k];
        c->idx[k] = 0;
        k--;
        c->idx[k]++;
        c->pos += v->strides[k];
    }
}

/* ---------------------------------------------------------------- load/store */

#define LOAD_RUN(T, conv)                                                     \
    do {                                                                      \
        const T *src_ = (const T *)data + pos;                               \
        if (stride == 1) {                                                    \
            for (int64_t i = 0; i < n; i++) dst[i] = conv(src_[i]);           \
        } else {                                                              \
            for (int64_t i = 0; i < n; i++) dst[i] = conv(src_[i * stride]);  \
        }                                                                     \
    } while (0)

#define CONV_PLAIN(x) (x)
#define CONV_BOOL(x) ((x) != 0)

static double f64_from_f64(double x) { return x; }

/* Float to int64: NaN -> 0, truncation toward zero, saturation. */
static inline int64_t f64_to_i64(double v)
{
    if (isnan(v)) return 0;
    if (v >= 9223372036854775808.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

static void load_run_f64(const void *data, ty_dtype dtype, int64_t pos, int64_t stride,
                         int64_t n, double *dst)
{
    switch (dtype) {
    case TY_BOOL: LOAD_RUN(uint8_t, CONV_BOOL); break;
    case TY_UINT8: LOAD_RUN(uint8_t, CONV_PLAIN); break;
    case TY_INT32: LOAD_RUN(int32_t, CONV_PLAIN); break;
    case TY_INT64: LOAD_RUN(int64_t, (double)); break;
    case TY_FLOAT16: LOAD_RUN(uint16_t, ty_half_to_float); break;
    case TY_BFLOAT16: LOAD_RUN(uint16_t, ty_bfloat_to_float); break;
    case TY_FLOAT32: LOAD_RUN(float, CONV_PLAIN); break;
    case TY_FLOAT64: LOAD_RUN(double, f64_from_f64); break;
    case TY_DTYPE_COUNT: break;
    }
}

static inline int64_t i64_from_half(uint16_t h) { return f64_to_i64(ty_half_to_float(h)); }
static inline int64_t i64_from_bfloat(uint16_t h)
{
    return f64_to_i64(ty_bfloat_to_float(h));
}

static void load_run_i64(const void *data, ty_dtype dtype, int64_t pos, int64_t stride,
                         int64_t n, int64_t *dst)
{
    switch (dtype) {
    case TY_BOOL: LOAD_RUN(uint8_t, CONV_BOOL); break;
    case TY_UINT8: LOAD_RUN(uint8_t, CONV_PLAIN); break;
    case TY_INT32: LOAD_RUN(int32_t, CONV_PLAIN); break;
    case TY_INT64: LOAD_RUN(int64_t, CONV_PLAIN); break;
    case TY_FLOAT16: LOAD_RUN(uint16_t, i64_from_half); break;
    case TY_BFLOAT16: LOAD_RUN(uint16_t, i64_from_bfloat); break;
    case TY_FLOAT32: LOAD_RUN(float, f64_to_i64); break;
    case TY_FLOAT64: LOAD_RUN(double, f64_to_i64); break;
    case TY_DTYPE_COUNT: break;
    }
}

/* Gathers the next n elements of v at cursor c as doubles. */
static void gather_f64(const ew_view *v, ew_cursor *c, int64_t n, double *dst)
{
    if (v->ndim == 0) {
        double x = ty__load_f64(v->data, v->dtype, v->offset);
        for (int64_t i = 0; i < n; i++) dst[i] = x;
        return;
    }
    int last = v->ndim - 1;
    while (n > 0) {
        int64_t run = v->shape[last] - c->idx[last];
        if (run > n) run = n;
        load_run_f64(v->data, v->dtype, c->pos, v->strides[last], run, dst);
        cursor_advance(v, c, run);
        dst += run;
        n -= run;
    }
}

static void gather_i64(const ew_view *v, ew_cursor *c, int64_t n, int64_t *dst)
{
    if (v->ndim == 0) {
        int64_t x = ty__load_i64(v->data, v->dtype, v->offset);
        for (int64_t i = 0; i < n; i++) dst[i] = x;
        return;
    }
    int last = v->ndim - 1;
    while (n > 0) {
        int64_t run = v->shape[last] - c->idx[last];
        if (run > n) run = n;
        load_run_i64(v->data, v->dtype, c->pos, v->strides[last], run, dst);
        cursor_advance(v, c, run);
        dst += run;
        n -= run;
    }
}

/* double -> float rounded to odd, so the later rounding to half/bfloat is
 * the correctly rounded direct conversion (24 bits >= 11 + 2). */
static inline float f32_round_odd(double v)
{
    float f = (float)v;
    if ((double)f == v || v != v) return f;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if (fabs((double)f) > fabs(v)) u--;
    u |= 1;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Stores n doubles into contiguous data at element pos, converted. */
static void store_block_f64(void *data, ty_dtype dtype, int64_t pos, int64_t n,
                            const double *src)
{
    switch (dtype) {
    case TY_FLOAT32: {
        float *dst = (float *)data + pos;
        for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i];
        break;
    }
    case TY_FLOAT64: memcpy((double *)data + pos, src, sizeof(double) * (size_t)n); break;
    case TY_BOOL: {
        uint8_t *dst = (uint8_t *)data + pos;
        for (int64_t i = 0; i < n; i++) dst[i] = src[i] != 0;
        break;
    }
    case TY_INT64: {
        int64_t *dst = (int64_t *)data + pos;
        for (int64_t i = 0; i < n; i++) dst[i] = f64_to_i64(src[i]);
        break;
    }
    case TY_FLOAT16: {
        uint16_t *dst = (uint16_t *)data + pos;
        for (int64_t i = 0; i < n; i++) dst[i] = ty_float_to_half(f32_round_odd(src[i]));
        break;
    }
    case TY_BFLOAT16: {
        uint16_t *dst = (uint16_t *)data + pos;
        for (int64_t i = 0; i < n; i++) dst[i] = ty_float_to_bfloat(f32_round_odd(src[i]));
        break;
    }
    default:
        for (int64_t i = 0; i < n; i++) ty__store_f64(data, dtype, pos + i, src[i]);
        break;
    }
}

/* Stores n int64 into contiguous data at pos; integer targets wrap. */
static void store_block_i64(void *data, ty_dtype dtype, int64_t pos, int64_t n,
                            const int64_t *src)
{
    switch (dtype) {
    case TY_BOOL: {
        uint8_t *dst = (uint8_t *)data + pos;
        for (int64_t i = 0; i < n; i++) dst[i] = src[i] != 0;
        break;
    }
    case TY_UINT8: {
        uint8_t *dst = (uint8_t *)data + pos;
        for (int64_t i = 0; i < n; i++) dst[i] = (uint8_t)src[i];
        break;
    }
    case TY_INT32: {
        int32_t *dst = (int32_t *)data + pos;
        for (int64_t i = 0; i < n; i++) dst[i] = (int32_t)(uint32_t)src[i];
        break;
    }
    case TY_INT64: memcpy((int64_t *)data + pos, src, sizeof(int64_t) * (size_t)n); break;
    case TY_FLOAT32: {
        float *dst = (float *)data + pos;
        for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i];
        break;
    }
    default:
        for (int64_t i = 0; i < n; i++) ty__store_i64(data, dtype, pos + i, src[i]);
        break;
    }
}

/* ---------------------------------------------------------------- math */

/* Inverse error function, to ~1e-15: Giles' single-precision approximation
 * ("Approximating the erfinv function", GPU Gems 2010) refined by Newton
 * steps on erf (or on erfc in the tails, where 1 - |x| is exact).
 * erfinv(+-1) = +-inf; |x| > 1 or NaN gives NaN. */
double cpu_erfinv(double x)
{
    if (isnan(x) || x < -1 || x > 1) return NAN;
    if (x == 1) return INFINITY;
    if (x == -1) return -INFINITY;
    double a = fabs(x);
    double w = -log((1 - a) * (1 + a)), p;
    if (w < 5) {
        w -= 2.5;
        p = 2.81022636e-08;
        p = 3.43273939e-07 + p * w;
        p = -3.5233877e-06 + p * w;
        p = -4.39150654e-06 + p * w;
        p = 0.00021858087 + p * w;
        p = -0.00125372503 + p * w;
        p = -0.00417768164 + p * w;
        p = 0.246640727 + p * w;
        p = 1.50140941 + p * w;
    } else {
        w = sqrt(w) - 3;
        p = -0.000200214257;
        p = 0.000100950558 + p * w;
        p = 0.00134934322 + p * w;
        p = -0.00367342844 + p * w;
        p = 0.00573950773 + p * w;
        p = -0.0076224613 + p * w;
        p = 0.00943887047 + p * w;
        p = 1.00167406 + p * w;
        p = 2.83297682 + p * w;
    }
    double y = p * a;
    const double two_over_sqrt_pi = 1.1283791670955126;
    double q = 1 - a, log_q = log(q);
    for (int it = 0; it < 8; it++) {
        double d = two_over_sqrt_pi * exp(-y * y), dy;
        if (a <= 0.5) {
            dy = -(erf(y) - a) / d;
        } else {                       /* Newton on log(erfc(y)) = log(q) */
            double c = erfc(y);
            if (c == 0 || d == 0) break;
            dy = (log(c) - log_q) * c / d;
        }
        y += dy;
        if (fabs(dy) <= 1e-16 * fabs(y)) break;
    }
    return x < 0 ? -y : y;
}

static inline double sigmoid_f64(double v)
{
    if (v >= 0) return 1 / (1 + exp(-v));
    double e = exp(v);
    return e / (1 + e);
}

static inline double max_f64(double a, double b) { return (a > b || a != a) ? a : b; }
static inline double min_f64(double a, double b) { return (a < b || a != a) ? a : b; }

static inline int64_t wrap_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}
static inline int64_t wrap_sub(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}
static inline int64_t wrap_mul(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a * (uint64_t)b);
}

/* Python floor division; x // 0 -> 0, INT64_MIN // -1 wraps. */
static inline int64_t floor_div_i64(int64_t a, int64_t b)
{
    if (b == 0) return 0;
    if (b == -1) return wrap_sub(0, a);
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

/* Python remainder (sign of the divisor); x % 0 -> 0. */
static inline int64_t remainder_i64(int64_t a, int64_t b)
{
    if (b == 0 || b == -1) return 0;
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

static inline double remainder_f64(double a, double b)
{
    double r = fmod(a, b);
    if (r != 0) {
        if ((r < 0) != (b < 0)) r += b;
    } else {
        r = copysign(0.0, b);
    }
    return r;
}

/* Integer power by squaring (wrapping); negative exponents give 0 except
 * for bases 1 and -1. */
static inline int64_t pow_i64(int64_t base, int64_t e)
{
    if (e < 0) {
        if (base == 1) return 1;
        if (base == -1) return (e & 1) ? -1 : 1;
        return 0;
    }
    uint64_t r = 1, b = (uint64_t)base;
    while (e) {
        if (e & 1) r *= b;
        b *= b;
        e >>= 1;
    }
    return (int64_t)r;
}

/* y[i] = expr over the block, with v = x[i] of type T. */
#define MAP1_T(T, expr)                                                       \
    for (int64_t i = 0; i < n; i++) {                                         \
        T v = x[i];                                                           \
        y[i] = (expr);                                                        \
    }                                                                         \
    break
#define MAP1(expr) MAP1_T(double, expr)

static void unary_f64(ty_op op, const double *x, double *y, int64_t n)
{
    const double sqrt_half = 0.70710678118654752440;
    const double gelu_c = 0.79788456080286535588;     /* sqrt(2/pi) */
    switch (op) {
    case TY_OP_NEG: MAP1(-v);
    case TY_OP_ABS: MAP1(fabs(v));
    case TY_OP_SIGN: MAP1(v > 0 ? 1.0 : v < 0 ? -1.0 : v);
    case TY_OP_EXP: MAP1(exp(v));
    case TY_OP_LOG: MAP1(log(v));
    case TY_OP_LOG1P: MAP1(log1p(v));
    case TY_OP_EXPM1: MAP1(expm1(v));
    case TY_OP_SQRT: MAP1(sqrt(v));
    case TY_OP_RSQRT: MAP1(1 / sqrt(v));
    case TY_OP_SQUARE: MAP1(v * v);
    case TY_OP_RECIPROCAL: MAP1(1 / v);
    case TY_OP_SIN: MAP1(sin(v));
    case TY_OP_COS: MAP1(cos(v));
    case TY_OP_TAN: MAP1(tan(v));
    case TY_OP_TANH: MAP1(tanh(v));
    case TY_OP_SIGMOID: MAP1(sigmoid_f64(v));
    case TY_OP_RELU: MAP1(v < 0 ? 0.0 : v);
    case TY_OP_GELU: MAP1(0.5 * v * (1 + erf(v * sqrt_half)));
    case TY_OP_GELU_TANH: MAP1(0.5 * v * (1 + tanh(gelu_c * (v + 0.044715 * v * v * v))));
    case TY_OP_SILU: MAP1(v * sigmoid_f64(v));
    case TY_OP_SOFTPLUS: MAP1((v > 0 ? v : 0.0) + log1p(exp(-fabs(v))));
    case TY_OP_ERF: MAP1(erf(v));
    case TY_OP_ERFINV: MAP1(cpu_erfinv(v));
    case TY_OP_FLOOR: MAP1(floor(v));
    case TY_OP_CEIL: MAP1(ceil(v));
    case TY_OP_ROUND: MAP1(nearbyint(v));
    case TY_OP_LOGICAL_NOT: MAP1(v == 0 ? 1.0 : 0.0);
    case TY_OP_ISNAN: MAP1(isnan(v) ? 1.0 : 0.0);
    case TY_OP_ISINF: MAP1(isinf(v) ? 1.0 : 0.0);
    case TY_OP_ASIN: MAP1(asin(v));
    case TY_OP_ACOS: MAP1(acos(v));
    case TY_OP_ATAN: MAP1(atan(v));
    case TY_OP_SINH: MAP1(sinh(v));
    case TY_OP_COSH: MAP1(cosh(v));
    case TY_OP_LOG2: MAP1(log2(v));
    case TY_OP_LOG10: MAP1(log10(v));
    case TY_OP_EXP2: MAP1(exp2(v));
    case TY_OP_TRUNC: MAP1(trunc(v));
    default: MAP1(v - v + NAN);
    }
}


#undef MAP1
#define MAP1(expr) MAP1_T(int64_t, expr)

static void unary_i64(ty_op op, const int64_t *x, int64_t *y, int64_t n)
{
    switch (op) {
    case TY_OP_NEG: MAP1(wrap_sub(0, v));
    case TY_OP_ABS: MAP1(v < 0 ? wrap_sub(0, v) : v);
    case TY_OP_SIGN: MAP1((v > 0) - (v < 0));
    case TY_OP_SQUARE: MAP1(wrap_mul(v, v));
    case TY_OP_RELU: MAP1(v < 0 ? 0 : v);
    case TY_OP_LOGICAL_NOT: MAP1(v == 0);
    case TY_OP_ISNAN: case TY_OP_ISINF: MAP1(0 * v);
    default: MAP1(v);                  /* floor, ceil, round, trunc */
    }
}
#undef MAP1
#undef MAP1_T

/* y[i] = expr over the block, with u = a[i], v = b[i] of type T. */
#define MAP2_T(T, expr)                                                       \
    for (int64_t i = 0; i < n; i++) {                                         \
        T u = a[i], v = b[i];                                                 \
        y[i] = (expr);                                                        \
    }                                                                         \
    break
#define MAP2(expr) MAP2_T(double, expr)

static void binary_f64(ty_op op, const double *a, const double *b, double *y, int64_t n)
{
    switch (op) {
    case TY_OP_ADD: MAP2(u + v);
    case TY_OP_SUB: MAP2(u - v);
    case TY_OP_MUL: MAP2(u * v);
    case TY_OP_DIV: MAP2(u / v);
    case TY_OP_FLOOR_DIVIDE: MAP2(floor(u / v));
    case TY_OP_POW: MAP2(pow(u, v));
    case TY_OP_MAXIMUM: MAP2(max_f64(u, v));
    case TY_OP_MINIMUM: MAP2(min_f64(u, v));
    case TY_OP_REMAINDER: MAP2(remainder_f64(u, v));
    case TY_OP_ATAN2: MAP2(atan2(u, v));
    case TY_OP_EQ: MAP2(u == v);
    case TY_OP_NE: MAP2(u != v);
    case TY_OP_LT: MAP2(u < v);
    case TY_OP_LE: MAP2(u <= v);
    case TY_OP_GT: MAP2(u > v);
    case TY_OP_GE: MAP2(u >= v);
    case TY_OP_LOGICAL_AND: MAP2(u != 0 && v != 0);
    case TY_OP_LOGICAL_OR: MAP2(u != 0 || v != 0);
    default: MAP2(u + v + NAN);
    }
}

#undef MAP2
#define MAP2(expr) MAP2_T(int64_t, expr)

static void binary_i64(ty_op op, const int64_t *a, const int64_t *b, int64_t *y,
                       int64_t n)
{
    switch (op) {
    case TY_OP_ADD: MAP2(wrap_add(u, v));
    case TY_OP_SUB: MAP2(wrap_sub(u, v));
    case TY_OP_MUL: MAP2(wrap_mul(u, v));
    case TY_OP_FLOOR_DIVIDE: MAP2(floor_div_i64(u, v));
    case TY_OP_POW: MAP2(pow_i64(u, v));
    case TY_OP_MAXIMUM: MAP2(u > v ? u : v);
    case TY_OP_MINIMUM: MAP2(u < v ? u : v);
    case TY_OP_REMAINDER: MAP2(remainder_i64(u, v));
    case TY_OP_EQ: MAP2(u == v);
    case TY_OP_NE: MAP2(u != v);
    case TY_OP_LT: MAP2(u < v);
    case TY_OP_LE: MAP2(u <= v);
    case TY_OP_GT: MAP2(u > v);
    case TY_OP_GE: MAP2(u >= v);
    case TY_OP_LOGICAL_AND: MAP2(u != 0 && v != 0);
    case TY_OP_LOGICAL_OR: MAP2(u != 0 || v != 0);
    default: MAP2(0 * (u + v));        /* div, atan2: never in this domain */
    }
}
#undef MAP2
#undef MAP2_T

/* ---------------------------------------------------------------- general path */

typedef enum ew_kind { EW_UNARY, EW_BINARY, EW_WHERE, EW_CONVERT } ew_kind;

typedef struct ew_job {
    ew_kind kind;
    ty_op op;
    int nin;
    ew_view in[3];
    char *out;
    ty_dtype out_dtype;
    bool int_domain;
} ew_job;

typedef union ew_block {
    double f[EW_BLOCK];
    int64_t i[EW_BLOCK];
} ew_block;

static void ew_chunk(void *ctx, int64_t begin, int64_t end)
{
    const ew_job *job = ctx;
    ew_block buf[3], res;
    ew_cursor cur[3];
    for (int k = 0; k < job->nin; k++) cursor_init(&job->in[k], &cur[k], begin);
    for (int64_t pos = begin; pos < end; pos += EW_BLOCK) {
        int64_t n = end - pos < EW_BLOCK ? end - pos : EW_BLOCK;
        if (job->kind == EW_WHERE) {
            gather_f64(&job->in[0], &cur[0], n, buf[0].f);
            if (job->int_domain) {
                gather_i64(&job->in[1], &cur[1], n, buf[1].i);
                gather_i64(&job->in[2], &cur[2], n, buf[2].i);
                for (int64_t i = 0; i < n; i++)
                    res.i[i] = buf[0].f[i] != 0 ? buf[1].i[i] : buf[2].i[i];
                store_block_i64(job->out, job->out_dtype, pos, n, res.i);
            } else {
                gather_f64(&job->in[1], &cur[1], n, buf[1].f);
                gather_f64(&job->in[2], &cur[2], n, buf[2].f);
                for (int64_t i = 0; i < n; i++)
                    res.f[i] = buf[0].f[i] != 0 ? buf[1].f[i] : buf[2].f[i];
                store_block_f64(job->out, job->out_dtype, pos, n, res.f);
            }
            continue;
        }
        if (job->int_domain) {
            for (int k = 0; k < job->nin; k++) gather_i64(&job->in[k], &cur[k], n, buf[k].i);
            const int64_t *r = buf[0].i;
            if (job->kind == EW_UNARY) {
                unary_i64(job->op, buf[0].i, res.i, n);
                r = res.i;
            } else if (job->kind == EW_BINARY) {
                binary_i64(job->op, buf[0].i, buf[1].i, res.i, n);
                r = res.i;
            }
            store_block_i64(job->out, job->out_dtype, pos, n, r);
        } else {
            for (int k = 0; k < job->nin; k++) gather_f64(&job->in[k], &cur[k], n, buf[k].f);
            const double *r = buf[0].f;
            if (job->kind == EW_UNARY) {
                unary_f64(job->op, buf[0].f, res.f, n);
                r = res.f;
            } else if (job->kind == EW_BINARY) {
                binary_f64(job->op, buf[0].f, buf[1].f, res.f, n);
                r = res.f;
            }
            store_block_f64(job->out, job->out_dtype, pos, n, r);
        }
    }
}

static void ew_run(ew_job *job, ty_array *out, ew_kind kind, int nin)
{
    job->kind = kind;
    job->op = out->node->op;
    job->nin = nin;
    for (int k = 0; k < nin; k++) view_init(&job->in[k], out->node->inputs[k]);
    job->out = (char *)out->buffer->data;
    job->out_dtype = out->dtype;
    pool_parallel_for(out->size, EW_GRAIN, ew_chunk, job);
}

/* ---------------------------------------------------------------- float32 fast paths */

typedef struct f32_job {
    ty_op op;
    const float *a, *b;
    int64_t sa, sb;                    /* 1: contiguous, 0: broadcast scalar */
    float *y;
} f32_job;

static inline float sigmoid_f32(float v)
{
    if (v >= 0) return 1.0f / (1.0f + expf(-v));
    float e = expf(v);
    return e / (1.0f + e);
}

#define F32_MAP1(expr)                                                        \
    for (int64_t i = begin; i < end; i++) {                                   \
        float v = a[i];                                                       \
        y[i] = (expr);                                                        \
    }                                                                         \
    break

static bool f32_unary_fast(ty_op op)
{
    switch (op) {
    case TY_OP_NEG: case TY_OP_ABS: case TY_OP_EXP: case TY_OP_SQRT: case TY_OP_SQUARE:
    case TY_OP_TANH: case TY_OP_SIGMOID: case TY_OP_RELU:
        return true;
    default:
        return false;
    }
}

static void f32_unary_chunk(void *ctx, int64_t begin, int64_t end)
{
    const f32_job *job = ctx;
    const float *a = job->a;
    float *y = job->y;
    switch (job->op) {
    case TY_OP_NEG: F32_MAP1(-v);
    case TY_OP_ABS: F32_MAP1(fabsf(v));
    case TY_OP_EXP: F32_MAP1(expf(v));
    case TY_OP_SQRT: F32_MAP1(sqrtf(v));
    case TY_OP_SQUARE: F32_MAP1(v * v);
    case TY_OP_TANH: F32_MAP1(tanhf(v));
    case TY_OP_SIGMOID: F32_MAP1(sigmoid_f32(v));
    case TY_OP_RELU: F32_MAP1(v < 0 ? 0.0f : v);
    default: break;
    }
}
#undef F32_MAP1

/* One loop per stride pattern, so the contiguous ones vectorise. */
#define F32_MAP2(expr)                                                        \
    if (sa && sb) {                                                           \
        for (int64_t i = begin; i < end; i++) {                               \
            float u = a[i], v = b[i];                                         \
            y[i] = (expr);                                                    \
        }                                                                     \
    } else if (sa) {                                                          \
        const float v = b[0];                                                 \
        for (int64_t i = begin; i < end; i++) {                               \
            float u = a[i];                                                   \
            y[i] = (expr);                                                    \
        }                                                                     \
    } else if (sb) {                                                          \
        const float u = a[0];                                                 \
        for (int64_t i = begin; i < end; i++) {                               \
            float v = b[i];                                                   \
            y[i] = (expr);                                                    \
        }                                                                     \
    } else {                                                                  \
        const float u = a[0], v = b[0];                                       \
        for (int64_t i = begin; i < end; i++) y[i] = (expr);                  \
    }                                                                         \
    break

static bool f32_binary_fast(ty_op op)
{
    switch (op) {
    case TY_OP_ADD: case TY_OP_SUB: case TY_OP_MUL: case TY_OP_DIV:
    case TY_OP_MAXIMUM: case TY_OP_MINIMUM:
        return true;
    default:
        return false;
    }
}

static void f32_binary_chunk(void *ctx, int64_t begin, int64_t end)
{
    const f32_job *job = ctx;
    const float *a = job->a, *b = job->b;
    const bool sa = job->sa != 0, sb = job->sb != 0;
    float *y = job->y;
    switch (job->op) {
    case TY_OP_ADD: F32_MAP2(u + v);
    case TY_OP_SUB: F32_MAP2(u - v);
    case TY_OP_MUL: F32_MAP2(u * v);
    case TY_OP_DIV: F32_MAP2(u / v);
    case TY_OP_MAXIMUM: F32_MAP2((u > v || u != u) ? u : v);
    case TY_OP_MINIMUM: F32_MAP2((u < v || u != u) ? u : v);
    default: break;
    }
}
#undef F32_MAP2

/* Pointer to the first element of a float32 view. */
static const float *view_f32(const ew_view *v)
{
    return (const float *)v->data + v->offset;
}

/* ---------------------------------------------------------------- kernels */

#define CASE_OP_(NAME, name) case TY_OP_##NAME:

static bool is_unary_op(ty_op op)
{
    switch (op) {
    TY_UNARY_OPS(CASE_OP_)
        return true;
    default:
        return false;
    }
}

static bool is_binary_op(ty_op op)
{
    switch (op) {
    TY_BINARY_OPS(CASE_OP_)
        return true;
    default:
        return false;
    }
}

int cpu_unary(ty_array *out)
{
    ty_op op = out->node->op;
    if (!is_unary_op(op)) return ty__error("[cpu] %s is not a unary op", ty_op_name(op));
    if (out->size == 0) return 0;
    const ty_array *x = out->node->inputs[0];
    ew_job job;
    view_init(&job.in[0], x);
    if (out->dtype == TY_FLOAT32 && x->dtype == TY_FLOAT32 && f32_unary_fast(op) &&
        view_contiguous(&job.in[0])) {
        f32_job fj = {op, view_f32(&job.in[0]), NULL, 1, 0, (float *)out->buffer->data};
        pool_parallel_for(out->size, EW_GRAIN, f32_unary_chunk, &fj);
        return 0;
    }
    job.int_domain = !ty_dtype_is_float(out->dtype) && !ty_dtype_is_float(x->dtype) &&
                     ty__unary_int_capable(op);
    ew_run(&job, out, EW_UNARY, 1);
    return 0;
}

int cpu_binary(ty_array *out)
{
    ty_op op = out->node->op;
    if (!is_binary_op(op)) return ty__error("[cpu] %s is not a binary op", ty_op_name(op));
    if (out->size == 0) return 0;
    const ty_array *a = out->node->inputs[0], *b = out->node->inputs[1];
    ew_job job;
    view_init(&job.in[0], a);
    view_init(&job.in[1], b);
    if (out->dtype == TY_FLOAT32 && a->dtype == TY_FLOAT32 && b->dtype == TY_FLOAT32 &&
        f32_binary_fast(op)) {
        const ew_view *va = &job.in[0], *vb = &job.in[1];
        bool a_ok = view_contiguous(va) || view_scalar(va);
        bool b_ok = view_contiguous(vb) || view_scalar(vb);
        if (a_ok && b_ok) {
            f32_job fj = {op, view_f32(va), view_f32(vb), !view_scalar(va),
                          !view_scalar(vb), (float *)out->buffer->data};
            pool_parallel_for(out->size, EW_GRAIN, f32_binary_chunk, &fj);
            return 0;
        }
    }
    job.int_domain = !ty_dtype_is_float(out->dtype) && !ty_dtype_is_float(a->dtype) &&
                     !ty_dtype_is_float(b->dtype) && op != TY_OP_DIV && op != TY_OP_ATAN2;
    ew_run(&job, out, EW_BINARY, 2);
    return 0;
}

int cpu_where(ty_array *out)
{
    if (out->size == 0) return 0;
    const ty_array *a = out->node->inputs[1], *b = out->node->inputs[2];
    ew_job job;
    job.int_domain = !ty_dtype_is_float(out->dtype) && !ty_dtype_is_float(a->dtype) &&
                     !ty_dtype_is_float(b->dtype);
    ew_run(&job, out, EW_WHERE, 3);
    return 0;
}

int cpu_astype(ty_array *out)
{
    if (out->size == 0) return 0;
    const ty_array *x = out->node->inputs[0];
    if (x->dtype == out->dtype) return cpu_copy(out);
    ew_job job;
    job.int_domain = !ty_dtype_is_float(out->dtype) && !ty_dtype_is_float(x->dtype);
    ew_run(&job, out, EW_CONVERT, 1);
    return 0;
}

/* ---------------------------------------------------------------- copy */

typedef struct copy_job {
    ew_view in;
    char *out;
    size_t esize;
} copy_job;

#define COPY_RUN(T)                                                           \
    do {                                                                      \
        const T *s_ = (const T *)job->in.data + c.pos;                       \
        T *d_ = (T *)job->out + pos;                                          \
        for (int64_t i = 0; i < run; i++) d_[i] = s_[i * stride];             \
    } while (0)

/* Copies elements [begin, end) of the input's row-major order, bit-exact. */
static void copy_chunk(void *ctx, int64_t begin, int64_t end)
{
    const copy_job *job = ctx;
    const size_t es = job->esize;
    if (job->in.ndim == 0) {
        const char *src = job->in.data + job->in.offset * (int64_t)es;
        for (int64_t i = begin; i < end; i++) memcpy(job->out + i * (int64_t)es, src, es);
        return;
    }
    ew_cursor c;
    cursor_init(&job->in, &c, begin);
    int last = job->in.ndim - 1;
    int64_t stride = job->in.strides[last];
    for (int64_t pos = begin; pos < end;) {
        int64_t run = job->in.shape[last] - c.idx[last];
        if (run > end - pos) run = end - pos;
        if (stride == 1) {
            memcpy(job->out + pos * (int64_t)es, job->in.data + c.pos * (int64_t)es,
                   (size_t)run * es);
        } else {
            switch (es) {
            case 1: COPY_RUN(uint8_t); break;
            case 2: COPY_RUN(uint16_t); break;
            case 4: COPY_RUN(uint32_t); break;
            default: COPY_RUN(uint64_t); break;
            }
        }
        cursor_advance(&job->in, &c, run);
        pos += run;
    }
}
#undef COPY_RUN

int cpu_copy(ty_array *out)
{
    if (out->size == 0) return 0;
    const ty_array *x = out->node->inputs[0];
    if (x->size != out->size)
        return ty__error("[copy] input has %lld elements, output %lld",
                         (long long)x->size, (long long)out->size);
    if (x->dtype != out->dtype) {
        ew_job job;
        job.int_domain = !ty_dtype_is_float(out->dtype) && !ty_dtype_is_float(x->dtype);
        ew_run(&job, out, EW_CONVERT, 1);
        return 0;
    }
    copy_job job;
    view_init(&job.in, x);
    job.out = (char *)out->buffer->data;
    job.esize = ty_dtype_size(out->dtype);
    pool_parallel_for(out->size, EW_GRAIN, copy_chunk, &job);
    return 0;
}

/* ---------------------------------------------------------------- creation */

typedef struct creation_job {
    ty_op op;
    ty_params p;
    char *out;
    ty_dtype dtype;
    int64_t n;
} creation_job;

static void creation_chunk(void *ctx, int64_t begin, int64_t end)
{
    const creation_job *job = ctx;
    double buf[EW_BLOCK];
    for (int64_t pos = begin; pos < end; pos += EW_BLOCK) {
        int64_t n = end - pos < EW_BLOCK ? end - pos : EW_BLOCK;
        if (job->op == TY_OP_ARANGE) {
            for (int64_t i = 0; i < n; i++)
                buf[i] = job->p.value + (double)(pos + i) * job->p.value2;
        } else {                       /* linspace */
            double a = job->p.value, b = job->p.value2;
            double den = (double)(job->n - 1);
            for (int64_t i = 0; i < n; i++) {
                int64_t k = pos + i;
                buf[i] = k == job->n - 1 ? b : a + (b - a) * (double)k / den;
            }
            if (job->n == 1) buf[0] = a;
        }
        store_block_f64(job->out, job->dtype, pos, n, buf);
    }
}

static void fill_chunk(void *ctx, int64_t begin, int64_t end)
{
    const creation_job *job = ctx;
    size_t es = ty_dtype_size(job->dtype);
    char *dst = job->out + begin * (int64_t)es;
    char one[8];
    ty__store_f64(one, job->dtype, 0, job->p.value);
    switch (es) {
    case 1: memset(dst, one[0], (size_t)(end - begin)); break;
    case 2: {
        uint16_t v;
        memcpy(&v, one, 2);
        for (int64_t i = 0; i < end - begin; i++) ((uint16_t *)dst)[i] = v;
        break;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, one, 4);
        for (int64_t i = 0; i < end - begin; i++) ((uint32_t *)dst)[i] = v;
        break;
    }
    default: {
        uint64_t v;
        memcpy(&v, one, 8);
        for (int64_t i = 0; i < end - begin; i++) ((uint64_t *)dst)[i] = v;
        break;
    }
    }
}

int cpu_creation(ty_array *out)
{
    ty_op op = out->node->op;
    if (out->size == 0) return 0;
    creation_job job = {op, out->node->params, (char *)out->buffer->data, out->dtype,
                        out->size};
    switch (op) {
    case TY_OP_FULL:
        pool_parallel_for(out->size, EW_GRAIN * 4, fill_chunk, &job);
        return 0;
    case TY_OP_ARANGE:
    case TY_OP_LINSPACE:
        pool_parallel_for(out->size, EW_GRAIN, creation_chunk, &job);
        return 0;
    case TY_OP_EYE: {
        if (out->ndim != 2) return ty__error("[eye] output must be 2-d");
        int64_t rows = out->shape[0], cols = out->shape[1], k = job.p.k;
        memset(out->buffer->data, 0, (size_t)out->size * ty_dtype_size(out->dtype));
        for (int64_t i = 0; i < rows; i++) {
            int64_t j = i + k;
            if (j >= 0 && j < cols) ty__store_f64(out->buffer->data, out->dtype,
                                                  i * cols + j, 1.0);
        }
        return 0;
    }
    default:
        return ty__error("[cpu] %s is not a creation op", ty_op_name(op));
    }
}
