/* test_autograd_vjp.c -- the VJP rule of every primitive (core/autograd_vjp.c)
 * checked against central finite differences in float64 on the CPU, at
 * random points, with broadcasting and reductions over several axes; second
 * derivatives (the VJP of the VJP) checked the same way; zero gradients of
 * the non-differentiable ops; tie-breaking conventions. */
#include <stdint.h>
#include <stdlib.h>

#include "test.h"

static const ty_device cpu = {TY_CPU, 0};

typedef ty_array *(*build_fn)(ty_array *const *x, const void *ctx);

/* Domains the random inputs are mapped into. */
enum {
    D_ANY,       /* standard normal */
    D_POS,       /* |z| + 0.5 */
    D_AWAY,      /* sign(z) (|z| + 0.5): away from 0 */
    D_UNIT,      /* 0.9 tanh(z): inside (-1, 1) */
    D_ZEROS,     /* normal, with every 7th element (from 2) exactly 0 */
    D_TIES       /* small integers (many exact ties) */
};

typedef struct spec {
    int ndim;
    int64_t d[TY_MAX_DIMS];
    int domain;
} spec;

#define NDIMS_(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define SP(dom, ...) {NDIMS_(__VA_ARGS__), {__VA_ARGS__}, (dom)}
#define SCALAR(dom) {0, {0}, (dom)}

static int64_t spec_size(const spec *s)
{
    int64_t n = 1;
    for (int d = 0; d < s->ndim; d++) n *= s->d[d];
    return n;
}

static double *random_host(uint64_t seed, int64_t n)
{
    int64_t shape[1] = {n};
    ty_array *r = ty_random_normal(ty_random_key(seed), 1, shape, 0, 1, TY_FLOAT64, cpu);
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (!r || ty_copy_to(r, v, TY_FLOAT64) != 0) {
        free(v);
        v = NULL;
    }
    ty_release(r);
    return v;
}

static double *make_values(const spec *s, uint64_t seed)
{
    int64_t n = spec_size(s);
    double *v = random_host(seed, n);
    if (!v) return NULL;
    for (int64_t i = 0; i < n; i++) {
        double z = v[i];
        switch (s->domain) {
        case D_POS: v[i] = fabs(z) + 0.5; break;
        case D_AWAY: v[i] = (z < 0 ? -1 : 1) * (fabs(z) + 0.5); break;
        case D_UNIT: v[i] = 0.9 * tanh(z); break;
        case D_ZEROS: v[i] = i % 7 == 2 ? 0.0 : z; break;
        case D_TIES: v[i] = floor(z * 1.5); break;
        default: break;
        }
    }
    return v;
}

static ty_array *host_array(const double *v, const spec *s)
{
    return ty_from_data(v, TY_FLOAT64, s->ndim, s->d, cpu);
}

/* sum(fn(x) * w) evaluated on the host; NAN on error. */
static double loss_at(build_fn fn, const void *ctx, double *const *vals, const spec *sp,
                      int nin, const double *w, int64_t nw)
{
    ty_array *x[4] = {0};
    for (int i = 0; i < nin; i++) x[i] = host_array(vals[i], &sp[i]);
    ty_array *out = fn(x, ctx);
    double r = NAN;
    if (out && ty_size(out) == nw && ty_dtype_of(out) == TY_FLOAT64) {
        double *o = malloc(sizeof(double) * (size_t)(nw ? nw : 1));
        if (ty_copy_to(out, o, TY_FLOAT64) == 0) {
            r = 0;
            for (int64_t j = 0; j < nw; j++) r += o[j] * w[j];
        }
        free(o);
    }
    ty_release(out);
    for (int i = 0; i < nin; i++) ty_release(x[i]);
    return r;
}

static uint64_t case_seed = 1000;
static int64_t fd_checks;              /* finite differences compared */

/* Checks ty_vjp of fn at a random point (inputs shaped by sp) against central
 * differences of sum(fn(x) * w) for a random cotangent w. */
static bool check_vjp_at(const char *what, build_fn fn, const void *ctx, int nin,
                         const spec *sp, double tol, double *const *vals)
{
    bool bad = false;
    ty_array *x[4] = {0}, *g[4] = {0};
    for (int i = 0; i < nin; i++) x[i] = host_array(vals[i], &sp[i]);
    ty_array *out = fn(x, ctx);
    if (!out) {
        fprintf(stderr, "  %s: %s: building failed [%s]\n", test_current, what,
                ty_error_message());
        bad = true;
        goto done;
    }
    int64_t nw = ty_size(out);
    double *w = random_host(case_seed++, nw);
    ty_array *W = ty_from_data(w, TY_FLOAT64, ty_ndim(out), ty_shape(out), cpu);
    int rc = ty_vjp(&out, &W, 1, x, nin, g);
    ty_release(W);
    if (rc != 0) {
        fprintf(stderr, "  %s: %s: ty_vjp failed [%s]\n", test_current, what,
                ty_error_message());
        bad = true;
        free(w);
        goto done;
    }
    for (int i = 0; i < nin && !bad; i++) {
        int64_t n = spec_size(&sp[i]);
        double *ga = malloc(sizeof(double) * (size_t)(n ? n : 1));
        if (ty_size(g[i]) != n || ty_dtype_of(g[i]) != TY_FLOAT64 ||
            ty_ndim(g[i]) != sp[i].ndim || ty_copy_to(g[i], ga, TY_FLOAT64) != 0) {
            fprintf(stderr, "  %s: %s: gradient %d has the wrong shape/dtype or failed "
                    "[%s]\n", test_current, what, i, ty_error_message());
            bad = true;
            free(ga);
            break;
        }
        for (int64_t j = 0; j < n; j++) {
            double keep = vals[i][j], eps = 1e-6 * (1 + fabs(keep));
            vals[i][j] = keep + eps;
            double lp = loss_at(fn, ctx, vals, sp, nin, w, nw);
            vals[i][j] = keep - eps;
            double lm = loss_at(fn, ctx, vals, sp, nin, w, nw);
            vals[i][j] = keep;
            double fd = (lp - lm) / (2 * eps);
            fd_checks++;
            if (!(fabs(ga[j] - fd) <= tol * (1 + fabs(fd)))) {
                fprintf(stderr, "  %s: %s: d/dx%d[%lld] = %.10g, finite difference %.10g\n",
                        test_current, what, i, (long long)j, ga[j], fd);
                bad = true;
                break;
            }
        }
        free(ga);
    }
    free(w);
done:
    ty_release(out);
    for (int i = 0; i < nin; i++) {
        ty_release(x[i]);
        ty_release(g[i]);
    }
    if (bad) test_current_failed = 1;
    return !bad;
}

/* fn's gradients (for a fixed random cotangent), flattened and concatenated:
 * a function of the same inputs, to check second derivatives. */
typedef struct grad_ctx {
    build_fn fn;
    const void *ctx;
    int nin;
    uint64_t seed;
} grad_ctx;

static ty_array *grads_of(ty_array *const *x, const void *vctx)
{
    const grad_ctx *c = vctx;
    ty_array *out = c->fn(x, c->ctx);
    if (!out) return NULL;
    ty_array *W = ty_random_normal(ty_random_key(c->seed), ty_ndim(out), ty_shape(out), 0, 1,
                                   TY_FLOAT64, cpu);
    ty_array *g[4] = {0}, *flat[4] = {0}, *r = NULL;
    if (W && ty_vjp(&out, &W, 1, x, c->nin, g) == 0) {
        int i = 0;
        for (; i < c->nin; i++)
            if (!(flat[i] = ty_reshape(g[i], 1, (int64_t[]){-1}))) break;
        if (i == c->nin) r = ty_concatenate(flat, c->nin, 0);
    }
    for (int i = 0; i < c->nin; i++) {
        ty_release(g[i]);
        ty_release(flat[i]);
    }
    ty_release(W);
    ty_release(out);
    return r;
}

/* First and second order checks of fn at a random point. */
static void check_order(const char *what, build_fn fn, const void *ctx, int nin,
                        const spec *sp, bool second)
{
    double *vals[4] = {0};
    for (int i = 0; i < nin; i++) vals[i] = make_values(&sp[i], case_seed++);
    bool ok = check_vjp_at(what, fn, ctx, nin, sp, 1e-6, vals);
    if (second && ok) {
        grad_ctx gc = {fn, ctx, nin, case_seed++};
        char buf[160];
        snprintf(buf, sizeof buf, "%s (second order)", what);
        check_vjp_at(buf, grads_of, &gc, nin, sp, 1e-5, vals);
    }
    for (int i = 0; i < nin; i++) free(vals[i]);
}

static void check(const char *what, build_fn fn, const void *ctx, int nin, const spec *sp)
{
    check_order(what, fn, ctx, nin, sp, true);
}

/* Checks that every gradient of fn at a random point is exactly zero. */
static void check_zero(const char *what, build_fn fn, const void *ctx, int nin,
                       const spec *sp)
{
    ty_array *x[4] = {0}, *g[4] = {0};
    double *vals[4] = {0};
    for (int i = 0; i < nin; i++) {
        vals[i] = make_values(&sp[i], case_seed++);
        x[i] = host_array(vals[i], &sp[i]);
    }
    ty_array *out = fn(x, ctx);
    int rc = out ? ty_vjp(&out, NULL, 1, x, nin, g) : -1;
    if (rc != 0) {
        fprintf(stderr, "  %s: %s: failed [%s]\n", test_current, what, ty_error_message());
        test_current_failed = 1;
    }
    for (int i = 0; i < nin && rc == 0; i++) {
        int64_t n = spec_size(&sp[i]);
        double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
        if (ty_size(g[i]) != n || ty_copy_to(g[i], v, TY_FLOAT64) != 0) {
            fprintf(stderr, "  %s: %s: gradient %d failed\n", test_current, what, i);
            test_current_failed = 1;
        } else {
            for (int64_t j = 0; j < n; j++)
                if (v[j] != 0) {
                    fprintf(stderr, "  %s: %s: gradient %d[%lld] = %g, expected 0\n",
                            test_current, what, i, (long long)j, v[j]);
                    test_current_failed = 1;
                    break;
                }
        }
        free(v);
    }
    ty_release(out);
    for (int i = 0; i < nin; i++) {
        ty_release(x[i]);
        ty_release(g[i]);
        free(vals[i]);
    }
}

/* Gradient of sum(fn(x) * 1) at given values, compared with expected. */
static void check_grad_values(const char *what, build_fn fn, const void *ctx, int nin,
                              const spec *sp, double *const *vals, double *const *expected)
{
    ty_array *x[4] = {0}, *g[4] = {0};
    for (int i = 0; i < nin; i++) x[i] = host_array(vals[i], &sp[i]);
    ty_array *out = fn(x, ctx);
    int rc = out ? ty_vjp(&out, NULL, 1, x, nin, g) : -1;
    if (rc != 0) {
        fprintf(stderr, "  %s: %s: failed [%s]\n", test_current, what, ty_error_message());
        test_current_failed = 1;
    }
    for (int i = 0; i < nin && rc == 0; i++)
        test_expect_values(g[i], expected[i], spec_size(&sp[i]), 1e-12, __FILE__, __LINE__);
    ty_release(out);
    for (int i = 0; i < nin; i++) {
        ty_release(x[i]);
        ty_release(g[i]);
    }
}

/* ---------------------------------------------------------------- builders */

static ty_array *b_unary(ty_array *const *x, const void *ctx)
{
    return ty_unary(*(const ty_op *)ctx, x[0]);
}

static ty_array *b_binary(ty_array *const *x, const void *ctx)
{
    return ty_binary(*(const ty_op *)ctx, x[0], x[1]);
}

typedef struct red_ctx {
    ty_op op;
    int naxes;
    int axes[TY_MAX_DIMS];
    bool keepdims;
} red_ctx;

static ty_array *b_reduce(ty_array *const *x, const void *ctx)
{
    const red_ctx *c = ctx;
    return ty_reduce(c->op, x[0], c->naxes ? c->axes : NULL, c->naxes, c->keepdims);
}

typedef struct axis_ctx {
    int axis;
    bool flag;
} axis_ctx;

static ty_array *b_cumsum(ty_array *const *x, const void *ctx)
{
    const axis_ctx *c = ctx;
    return ty_cumsum(x[0], c->axis, c->flag);
}

static ty_array *b_cumprod(ty_array *const *x, const void *ctx)
{
    const axis_ctx *c = ctx;
    return ty_cumprod(x[0], c->axis, c->flag);
}

static ty_array *b_softmax(ty_array *const *x, const void *ctx)
{
    return ty_softmax(x[0], ((const axis_ctx *)ctx)->axis);
}

static ty_array *b_log_softmax(ty_array *const *x, const void *ctx)
{
    return ty_log_softmax(x[0], ((const axis_ctx *)ctx)->axis);
}

static ty_array *b_sort(ty_array *const *x, const void *ctx)
{
    const axis_ctx *c = ctx;
    return ty_sort(x[0], c->axis, c->flag);
}

static ty_array *b_matmul(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return ty_matmul(x[0], x[1]);
}

static ty_array *b_where(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    /* condition from the data itself (a constant: comparisons pass nothing) */
    ty_array *z = ty_scalar(0.3, TY_FLOAT64, cpu);
    ty_array *c = ty_gt(x[0], z);
    ty_array *r = ty_where(c, x[1], x[2]);
    ty_release(z);
    ty_release(c);
    return r;
}

static ty_array *b_reshape(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return ty_reshape(x[0], 3, (int64_t[]){4, 3, 2});
}

static ty_array *b_transpose(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return ty_transpose(x[0], (int[]){2, 0, 1});
}

static ty_array *b_broadcast(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return ty_broadcast_to(x[0], 4, (int64_t[]){2, 3, 4, 5});
}

static ty_array *b_slice(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    /* (5,6): rows 4,2,0 (negative step), columns 1,3 */
    return ty_slice(x[0], (int64_t[]){4, 1}, (int64_t[]){-1, 5}, (int64_t[]){-2, 2});
}

static ty_array *b_contiguous(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    ty_array *t = ty_transpose(x[0], NULL);
    ty_array *r = t ? ty_contiguous(t) : NULL;
    ty_release(t);
    return r;
}

static ty_array *b_concat(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return ty_concatenate(x, 3, 1);
}

static ty_array *b_stack(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return ty_stack(x, 2, 1);
}

static ty_array *b_split_mul(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    ty_array *p[3] = {0};
    if (ty_split(x[0], 0, (int64_t[]){1, 3}, 2, 1, p, 3) != 3) return NULL;
    ty_array *m = ty_mul(p[0], p[2]);
    ty_array *r = m ? ty_add(m, ty_shape(p[1])[1] ? p[1] : p[0]) : NULL;
    for (int i = 0; i < 3; i++) ty_release(p[i]);
    ty_release(m);
    return r;
}

static ty_array *b_pad(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return ty_pad(x[0], (int64_t[]){1, 0}, (int64_t[]){2, 3}, 0.5);
}

static ty_array *b_squeeze_expand(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    ty_array *s = ty_squeeze(x[0], NULL, 0);
    ty_array *e = s ? ty_expand_dims(s, 0) : NULL;
    ty_array *r = e ? ty_flatten(e, 1, 2) : NULL;
    ty_release(s);
    ty_release(e);
    return r;
}

static ty_array *b_repeat_tile(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    ty_array *a = ty_repeat(x[0], 2, 1);
    ty_array *r = a ? ty_tile(a, (int64_t[]){2, 1}, 2) : NULL;
    ty_release(a);
    return r;
}

static ty_array *b_flip(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return ty_flip(x[0], (int[]){0, 2}, 2);
}

static ty_array *idx_array(int ndim, const int64_t *shape, const int64_t *v)
{
    return ty_from_data(v, TY_INT64, ndim, shape, cpu);
}

typedef struct take_ctx {
    int axis;
    int base;
} take_ctx;

static ty_array *b_take(ty_array *const *x, const void *ctx)
{
    const take_ctx *c = ctx;
    /* repeated and negative indices, 2-d index array */
    int64_t v[6] = {0, 2, -1, 2, 1, 0};
    for (int i = 0; i < 6; i++)
        if (v[i] >= 0) v[i] += c->base;
    ty_array *idx = idx_array(2, (int64_t[]){2, 3}, v);
    ty_array *r = idx ? ty_take(x[0], idx, c->axis, c->base) : NULL;
    ty_release(idx);
    return r;
}

static ty_array *b_take_along(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    /* x (3,4); idx (1,5) broadcast along axis 0, gathers along axis 1 */
    ty_array *idx = idx_array(2, (int64_t[]){1, 5}, (int64_t[]){3, 0, 3, -2, 1});
    ty_array *r = idx ? ty_take_along_axis(x[0], idx, 1, 0) : NULL;
    ty_release(idx);
    return r;
}

static ty_array *b_scatter_add(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    /* a (4,5); idx (3,2) along axis 0 (smaller than a off the axis), src (3,2) */
    ty_array *idx = idx_array(2, (int64_t[]){3, 2}, (int64_t[]){0, 3, 2, 3, 0, -1});
    ty_array *r = idx ? ty_scatter_add(x[0], 0, idx, x[1], 0) : NULL;
    ty_release(idx);
    return r;
}

static ty_array *b_scatter_add_bcast(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    /* src (1,3) broadcast to idx (2,3), scattering along axis 1 of a (2,4) */
    ty_array *idx = idx_array(2, (int64_t[]){2, 3}, (int64_t[]){1, 1, 3, 0, 2, 0});
    ty_array *r = idx ? ty_scatter_add(x[0], 1, idx, x[1], 0) : NULL;
    ty_release(idx);
    return r;
}

static ty_array *b_slice_update(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    /* a (4,5); region rows 3,1 (step -2), columns 0..3 step 2 -> (2,2); v (2,1)
     * broadcast; then a product so the gradient depends on the values */
    ty_array *u = ty_slice_update(x[0], x[1], (int64_t[]){3, 0}, (int64_t[]){0, 4},
                                  (int64_t[]){-2, 2});
    ty_array *r = u ? ty_mul(u, x[0]) : NULL;
    ty_release(u);
    return r;
}

static ty_array *b_topk(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    ty_array *v = NULL;
    if (ty_topk(x[0], 2, 1, true, 0, &v, NULL) != 0) return NULL;
    return v;
}

static ty_array *b_astype_chain(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    /* float64 -> float32 -> float64: the cast of the cotangent on the way back */
    ty_array *f = ty_astype(x[0], TY_FLOAT32);
    ty_array *s = f ? ty_sum(f, NULL, 0, false) : NULL;
    ty_array *r = s ? ty_astype(s, TY_FLOAT64) : NULL;
    ty_release(f);
    ty_release(s);
    return r;
}

static ty_array *b_mixed_dtype(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    /* float32 * float64 -> float64: the float32 side is cast back */
    ty_array *f = ty_astype(x[0], TY_FLOAT32);
    ty_array *m = f ? ty_mul(f, x[1]) : NULL;
    ty_release(f);
    return m;
}

static ty_array *b_mean(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return ty_mean(x[0], (int[]){0, 2}, 2, false);
}

static ty_array *b_var(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return ty_var(x[0], (int[]){1}, 1, true, 1);
}

static ty_array *b_std(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return ty_std(x[0], NULL, 0, false, 0);
}

static ty_array *b_logsumexp(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return ty_logsumexp(x[0], (int[]){-1, 0}, 2, false);
}

static ty_array *b_clip(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    ty_array *lo = ty_scalar(-0.5, TY_FLOAT64, cpu), *hi = ty_scalar(0.7, TY_FLOAT64, cpu);
    ty_array *r = ty_clip(x[0], lo, hi);
    ty_release(lo);
    ty_release(hi);
    return r;
}

static ty_array *b_stop(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    /* x * stop_gradient(x): gradient x (not 2x) */
    ty_array *s = ty_stop_gradient(x[0]);
    ty_array *r = s ? ty_mul(x[0], s) : NULL;
    ty_release(s);
    return r;
}

/* Non-differentiable results, cast to float64. */
static ty_array *b_cast_result(ty_array *r)
{
    ty_array *c = r ? ty_astype(r, TY_FLOAT64) : NULL;
    ty_release(r);
    return c;
}

static ty_array *b_compare(ty_array *const *x, const void *ctx)
{
    return b_cast_result(ty_binary(*(const ty_op *)ctx, x[0], x[1]));
}

static ty_array *b_argmax(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return b_cast_result(ty_argmax(x[0], 1, false, 0));
}

static ty_array *b_argmin(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return b_cast_result(ty_argmin(x[0], 0, true, 1));
}

static ty_array *b_argsort(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    return b_cast_result(ty_argsort(x[0], 1, false, 0));
}

static ty_array *b_all_any(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    ty_array *a = ty_any(x[0], (int[]){0}, 1, false);
    ty_array *b = ty_all(x[0], (int[]){0}, 1, false);
    ty_array *l = a && b ? ty_logical_or(a, b) : NULL;
    ty_release(a);
    ty_release(b);
    return b_cast_result(l);
}

static ty_array *b_int_path(ty_array *const *x, const void *ctx)
{
    (void)ctx;
    /* through an integer cast: no gradient */
    ty_array *i = ty_astype(x[0], TY_INT32);
    return b_cast_result(i);
}

/* ---------------------------------------------------------------- tests */

TEST(vjp_unary)
{
    static const struct { ty_op op; int domain; } ops[] = {
        {TY_OP_NEG, D_ANY}, {TY_OP_ABS, D_AWAY}, {TY_OP_EXP, D_ANY}, {TY_OP_LOG, D_POS},
        {TY_OP_LOG1P, D_POS}, {TY_OP_EXPM1, D_ANY}, {TY_OP_SQRT, D_POS},
        {TY_OP_RSQRT, D_POS}, {TY_OP_SQUARE, D_ANY}, {TY_OP_RECIPROCAL, D_AWAY},
        {TY_OP_SIN, D_ANY}, {TY_OP_COS, D_ANY}, {TY_OP_TAN, D_UNIT}, {TY_OP_TANH, D_ANY},
        {TY_OP_SIGMOID, D_ANY}, {TY_OP_RELU, D_AWAY}, {TY_OP_GELU, D_ANY},
        {TY_OP_GELU_TANH, D_ANY}, {TY_OP_SILU, D_ANY}, {TY_OP_SOFTPLUS, D_ANY},
        {TY_OP_ERF, D_ANY}, {TY_OP_ERFINV, D_UNIT}, {TY_OP_ASIN, D_UNIT},
        {TY_OP_ACOS, D_UNIT}, {TY_OP_ATAN, D_ANY}, {TY_OP_SINH, D_ANY},
        {TY_OP_COSH, D_ANY}, {TY_OP_LOG2, D_POS}, {TY_OP_LOG10, D_POS},
        {TY_OP_EXP2, D_ANY},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        spec sp[1] = {SP(ops[i].domain, 3, 4)};
        check(ty_op_name(ops[i].op), b_unary, &ops[i].op, 1, sp);
    }
}

TEST(vjp_binary_broadcast)
{
    static const struct { ty_op op; int da, db; } ops[] = {
        {TY_OP_ADD, D_ANY, D_ANY}, {TY_OP_SUB, D_ANY, D_ANY}, {TY_OP_MUL, D_ANY, D_ANY},
        {TY_OP_DIV, D_ANY, D_AWAY}, {TY_OP_POW, D_POS, D_ANY},
        {TY_OP_MAXIMUM, D_ANY, D_ANY}, {TY_OP_MINIMUM, D_ANY, D_ANY},
        {TY_OP_REMAINDER, D_ANY, D_AWAY}, {TY_OP_ATAN2, D_AWAY, D_AWAY},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        /* (3,1,4) with (2,4) -> (3,2,4); then a scalar with a vector */
        spec sp[2] = {SP(ops[i].da, 3, 1, 4), SP(ops[i].db, 2, 4)};
        check(ty_op_name(ops[i].op), b_binary, &ops[i].op, 2, sp);
        spec sp2[2] = {SCALAR(ops[i].da), SP(ops[i].db, 5)};
        check(ty_op_name(ops[i].op), b_binary, &ops[i].op, 2, sp2);
    }
}

TEST(vjp_pow_edges)
{
    /* a = 0 with b > 1 and b = 0, a < 0 with an integer exponent: the
     * gradient to a is b a^(b-1) (0 where b = 0); to b it is 0 where a <= 0 */
    spec sp[2] = {SP(D_ANY, 4), SP(D_ANY, 4)};
    double a[4] = {0, 0, -2, 3}, b[4] = {2, 0, 3, 0};
    double ea[4] = {0, 0, 12, 0}, eb[4] = {0, 0, 0, log(3.0)};
    ty_op op = TY_OP_POW;
    check_grad_values("pow edges", b_binary, &op, 2, sp, (double *[]){a, b},
                      (double *[]){ea, eb});
}

TEST(vjp_where)
{
    spec sp[3] = {SP(D_ANY, 3, 4), SP(D_ANY, 4), SP(D_ANY, 3, 1)};
    check("where", b_where, NULL, 3, sp);
}

TEST(vjp_reductions)
{
    static const ty_op ops[] = {TY_OP_SUM, TY_OP_PROD, TY_OP_MAX, TY_OP_MIN};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const char *name = ty_op_name(ops[i]);
        spec sp[1] = {SP(D_ANY, 3, 4, 5)};
        red_ctx c1 = {ops[i], 2, {0, 2}, false};
        check(name, b_reduce, &c1, 1, sp);
        red_ctx c2 = {ops[i], 2, {-1, 1}, true};
        check(name, b_reduce, &c2, 1, sp);
        red_ctx c3 = {ops[i], 0, {0}, false};
        spec small[1] = {SP(D_ANY, 2, 3)};
        check(name, b_reduce, &c3, 1, small);
        red_ctx c4 = {ops[i], 1, {1}, true};
        check(name, b_reduce, &c4, 1, sp);
        spec scalar[1] = {SCALAR(D_ANY)};
        check(name, b_reduce, &c3, 1, scalar);
    }
}

TEST(vjp_prod_with_zeros)
{
    /* exact, no division: one zero per reduced row, and two zeros in one */
    spec sp[1] = {SP(D_ZEROS, 4, 5)};
    red_ctx c = {TY_OP_PROD, 1, {1}, false};
    check("prod zeros", b_reduce, &c, 1, sp);
    spec sp2[1] = {SP(D_ZEROS, 3, 6)};
    red_ctx c2 = {TY_OP_PROD, 1, {0}, true};
    check("prod zeros axis 0", b_reduce, &c2, 1, sp2);
    /* two zeros in one product: first order still exact */
    spec sp3[1] = {SP(D_ZEROS, 10)};
    red_ctx c3 = {TY_OP_PROD, 0, {0}, false};
    check_order("prod two zeros", b_reduce, &c3, 1, sp3, false);
}

TEST(vjp_max_ties)
{
    /* ties share the cotangent equally */
    spec sp[1] = {SP(D_ANY, 2, 3)};
    double x[6] = {1, 3, 3, 5, 2, 5}, e[6] = {0, 0.5, 0.5, 0.5, 0, 0.5};
    red_ctx c = {TY_OP_MAX, 1, {1}, false};
    check_grad_values("max ties", b_reduce, &c, 1, sp, (double *[]){x}, (double *[]){e});
    double y[6] = {1, 1, 1, 0, 2, 0}, f[6] = {1.0 / 3, 1.0 / 3, 1.0 / 3, 0.5, 0, 0.5};
    red_ctx m = {TY_OP_MIN, 1, {1}, false};
    check_grad_values("min ties", b_reduce, &m, 1, sp, (double *[]){y}, (double *[]){f});
    /* maximum/minimum ties: half each */
    spec s2[2] = {SP(D_ANY, 3), SP(D_ANY, 3)};
    double a[3] = {1, 2, 3}, b[3] = {1, 5, 0};
    double ea[3] = {0.5, 0, 1}, eb[3] = {0.5, 1, 0};
    ty_op op = TY_OP_MAXIMUM;
    check_grad_values("maximum ties", b_binary, &op, 2, s2, (double *[]){a, b},
                      (double *[]){ea, eb});
    double na[3] = {0.5, 1, 0}, nb[3] = {0.5, 0, 1};
    op = TY_OP_MINIMUM;
    check_grad_values("minimum ties", b_binary, &op, 2, s2, (double *[]){a, b},
                      (double *[]){na, nb});
}

TEST(vjp_scans)
{
    spec sp[1] = {SP(D_ANY, 3, 5)};
    for (int rev = 0; rev < 2; rev++)
        for (int axis = 0; axis < 2; axis++) {
            axis_ctx c = {axis, rev};
            check("cumsum", b_cumsum, &c, 1, sp);
            check("cumprod", b_cumprod, &c, 1, sp);
        }
    /* cumprod through exact zeros (one per scan along axis 1: exact to
     * second order), forward and reverse */
    spec z[1] = {SP(D_ZEROS, 4, 5)};
    for (int rev = 0; rev < 2; rev++) {
        axis_ctx c = {1, rev};
        check("cumprod zeros", b_cumprod, &c, 1, z);
    }
    /* two zeros in one scan: first order exact */
    spec z2[1] = {SP(D_ZEROS, 12)};
    for (int rev = 0; rev < 2; rev++) {
        axis_ctx c = {0, rev};
        check_order("cumprod two zeros", b_cumprod, &c, 1, z2, false);
    }
}

TEST(vjp_softmax)
{
    spec sp[1] = {SP(D_ANY, 3, 4)};
    for (int axis = -1; axis < 1; axis++) {
        axis_ctx c = {axis, false};
        check("softmax", b_softmax, &c, 1, sp);
        check("log_softmax", b_log_softmax, &c, 1, sp);
    }
}

TEST(vjp_matmul)
{
    spec a[2] = {SP(D_ANY, 2, 3, 4), SP(D_ANY, 4, 5)};
    check("batched @ matrix", b_matmul, NULL, 2, a);
    spec b[2] = {SP(D_ANY, 2, 1, 3, 4), SP(D_ANY, 3, 4, 2)};
    check("broadcast batches", b_matmul, NULL, 2, b);
    spec c[2] = {SP(D_ANY, 3, 4), SP(D_ANY, 4)};
    check("matrix @ vector", b_matmul, NULL, 2, c);
    spec d[2] = {SP(D_ANY, 4), SP(D_ANY, 4)};
    check("vector @ vector", b_matmul, NULL, 2, d);
}

TEST(vjp_views)
{
    spec s234[1] = {SP(D_ANY, 2, 3, 4)};
    check("reshape", b_reshape, NULL, 1, s234);
    check("transpose", b_transpose, NULL, 1, s234);
    check("flip", b_flip, NULL, 1, s234);
    spec sb[1] = {SP(D_ANY, 3, 1, 5)};
    check("broadcast_to", b_broadcast, NULL, 1, sb);
    spec s56[1] = {SP(D_ANY, 5, 6)};
    check("slice", b_slice, NULL, 1, s56);
    check("contiguous", b_contiguous, NULL, 1, s56);
    spec sq[1] = {SP(D_ANY, 1, 3, 1, 4)};
    check("squeeze/expand_dims/flatten", b_squeeze_expand, NULL, 1, sq);
    spec st[1] = {SP(D_ANY, 2, 3)};
    check("repeat/tile", b_repeat_tile, NULL, 1, st);
}

TEST(vjp_joining)
{
    spec c[3] = {SP(D_ANY, 2, 1, 3), SP(D_ANY, 2, 4, 3), SP(D_ANY, 2, 2, 3)};
    check("concatenate", b_concat, NULL, 3, c);
    spec s[2] = {SP(D_ANY, 3, 2), SP(D_ANY, 3, 2)};
    check("stack", b_stack, NULL, 2, s);
    spec sp[1] = {SP(D_ANY, 2, 5)};
    check("split", b_split_mul, NULL, 1, sp);
    spec p[1] = {SP(D_ANY, 3, 2)};
    check("pad", b_pad, NULL, 1, p);
}

TEST(vjp_indexing)
{
    spec t[1] = {SP(D_ANY, 2, 3, 4)};
    take_ctx c0 = {1, 0}, c1 = {0, 1}, c2 = {2, 0};
    spec t0[1] = {SP(D_ANY, 3, 2)};
    check("take axis 1", b_take, &c0, 1, t);
    check("take axis 0 (base 1)", b_take, &c1, 1, t0);
    check("take axis 2", b_take, &c2, 1, t);
    spec ta[1] = {SP(D_ANY, 3, 4)};
    check("take_along_axis", b_take_along, NULL, 1, ta);
    spec sa[2] = {SP(D_ANY, 4, 5), SP(D_ANY, 3, 2)};
    check("scatter_add", b_scatter_add, NULL, 2, sa);
    spec sb[2] = {SP(D_ANY, 2, 4), SP(D_ANY, 1, 3)};
    check("scatter_add broadcast src", b_scatter_add_bcast, NULL, 2, sb);
    spec su[2] = {SP(D_ANY, 4, 5), SP(D_ANY, 2, 1)};
    check("slice_update", b_slice_update, NULL, 2, su);
}

TEST(vjp_sort)
{
    spec sp[1] = {SP(D_ANY, 3, 5)};
    for (int desc = 0; desc < 2; desc++)
        for (int axis = 0; axis < 2; axis++) {
            axis_ctx c = {axis, desc};
            check("sort", b_sort, &c, 1, sp);
        }
    check("topk", b_topk, NULL, 1, sp);
}

TEST(vjp_compositions)
{
    spec s[1] = {SP(D_ANY, 3, 4, 2)};
    check("mean", b_mean, NULL, 1, s);
    check("var", b_var, NULL, 1, s);
    check("std", b_std, NULL, 1, s);
    check("logsumexp", b_logsumexp, NULL, 1, s);
    check("clip", b_clip, NULL, 1, s);
    /* x * stop_gradient(x): the gradient is x, not 2x */
    spec v[1] = {SP(D_ANY, 3)};
    double x[3] = {0.5, -2, 3};
    check_grad_values("stop_gradient", b_stop, NULL, 1, v, (double *[]){x}, (double *[]){x});
}

TEST(vjp_dtypes)
{
    /* float64 -> float32 -> float64: gradient ones, cast back to float64 */
    spec sp[1] = {SP(D_ANY, 5)};
    double x[5] = {1, 2, 3, 4, 5}, e[5] = {1, 1, 1, 1, 1};
    check_grad_values("astype chain", b_astype_chain, NULL, 1, sp, (double *[]){x},
                      (double *[]){e});
    double a[3] = {1, 2, 3}, b[3] = {0.5, -1, 4};
    ty_array *xs[2] = {ty_from_data(a, TY_FLOAT64, 1, (int64_t[]){3}, cpu),
                       ty_from_data(b, TY_FLOAT64, 1, (int64_t[]){3}, cpu)};
    ty_array *out = b_mixed_dtype(xs, NULL), *g[2] = {0};
    CHECK(out && ty_vjp(&out, NULL, 1, xs, 2, g) == 0);
    if (g[0] && g[1]) {
        CHECK(ty_dtype_of(g[0]) == TY_FLOAT64 && ty_dtype_of(g[1]) == TY_FLOAT64);
        CHECK_VALUES(g[0], 1e-12, 0.5, -1, 4);
        CHECK_VALUES(g[1], 1e-12, 1, 2, 3);
    }
    /* float32 inputs: gradients come back float32 */
    ty_array *f = ty_astype(xs[0], TY_FLOAT32), *gf = NULL;
    ty_array *sq = f ? ty_square(f) : NULL;
    CHECK(sq && ty_vjp(&sq, NULL, 1, &f, 1, &gf) == 0);
    if (gf) {
        CHECK(ty_dtype_of(gf) == TY_FLOAT32);
        CHECK_VALUES(gf, 1e-6, 2, 4, 6);
    }
    ty_release(gf);
    ty_release(sq);
    ty_release(f);
    ty_release(out);
    for (int i = 0; i < 2; i++) {
        ty_release(xs[i]);
        ty_release(g[i]);
    }
}

TEST(vjp_zero_gradients)
{
    spec s1[1] = {SP(D_ANY, 3, 4)};
    static const ty_op unary[] = {TY_OP_SIGN, TY_OP_FLOOR, TY_OP_CEIL, TY_OP_ROUND,
                                  TY_OP_TRUNC};
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++)
        check_zero(ty_op_name(unary[i]), b_unary, &unary[i], 1, s1);
    spec s2[2] = {SP(D_ANY, 3, 4), SP(D_AWAY, 4)};
    static const ty_op binary[] = {TY_OP_EQ, TY_OP_NE, TY_OP_LT, TY_OP_LE, TY_OP_GT,
                                   TY_OP_GE, TY_OP_LOGICAL_AND, TY_OP_LOGICAL_OR};
    for (size_t i = 0; i < sizeof binary / sizeof binary[0]; i++)
        check_zero(ty_op_name(binary[i]), b_compare, &binary[i], 2, s2);
    ty_op fd = TY_OP_FLOOR_DIVIDE;
    check_zero("floor_divide", b_binary, &fd, 2, s2);
    check_zero("argmax", b_argmax, NULL, 1, s1);
    check_zero("argmin", b_argmin, NULL, 1, s1);
    check_zero("argsort", b_argsort, NULL, 1, s1);
    check_zero("all/any", b_all_any, NULL, 1, s1);
    check_zero("astype int32", b_int_path, NULL, 1, s1);
}

static ty_array *b_unary_flag(ty_array *const *x, const void *ctx)
{
    return b_cast_result(ty_unary(*(const ty_op *)ctx, x[0]));
}

TEST(vjp_zero_gradients_flags)
{
    spec s1[1] = {SP(D_ANY, 3, 4)};
    static const ty_op flags[] = {TY_OP_ISNAN, TY_OP_ISINF, TY_OP_LOGICAL_NOT};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        check_zero(ty_op_name(flags[i]), b_unary_flag, &flags[i], 1, s1);
}

TEST(vjp_second_derivatives_known)
{
    /* d2/dx2 sin = -sin, d2/dx2 x^3 = 6x */
    double v[3] = {0.3, -1.2, 2.0};
    ty_array *x = ty_from_data(v, TY_FLOAT64, 1, (int64_t[]){3}, cpu);
    ty_array *s = ty_sin(x), *g = NULL, *h = NULL;
    CHECK(ty_vjp(&s, NULL, 1, &x, 1, &g) == 0);
    CHECK(g && ty_vjp(&g, NULL, 1, &x, 1, &h) == 0);
    if (h) CHECK_VALUES(h, 1e-12, -sin(0.3), -sin(-1.2), -sin(2.0));
    ty_release(g);
    ty_release(h);
    ty_array *three = ty_scalar(3, TY_FLOAT64, cpu);
    ty_array *c = ty_pow(x, three);
    g = h = NULL;
    CHECK(ty_vjp(&c, NULL, 1, &x, 1, &g) == 0);
    CHECK(g && ty_vjp(&g, NULL, 1, &x, 1, &h) == 0);
    if (h) CHECK_VALUES(h, 1e-12, 6 * 0.3, 6 * -1.2, 6 * 2.0);
    ty_release(g);
    ty_release(h);
    ty_release(c);
    ty_release(three);
    ty_release(s);
    ty_release(x);
}

/* The same gradients on the CPU and on Vulkan (float32), where available. */
static void compare_devices(const char *what, build_fn fn, const void *ctx, int nin,
                            const spec *sp, ty_device vk)
{
    double *vals[4] = {0};
    ty_array *x[2][4] = {{0}}, *g[2][4] = {{0}}, *out[2] = {0};
    ty_device dev[2] = {cpu, vk};
    for (int i = 0; i < nin; i++) vals[i] = make_values(&sp[i], case_seed++);
    double *w = NULL;
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < nin; i++) {
            ty_array *h = host_array(vals[i], &sp[i]);
            ty_array *f = h ? ty_astype(h, TY_FLOAT32) : NULL;
            x[k][i] = f ? ty_to_device(f, dev[k]) : NULL;
            ty_release(h);
            ty_release(f);
        }
        out[k] = fn(x[k], ctx);
        if (!out[k]) break;
        if (!w) w = random_host(case_seed++, ty_size(out[k]));
        ty_array *Wh = ty_from_data(w, TY_FLOAT64, ty_ndim(out[k]), ty_shape(out[k]), cpu);
        ty_array *Wf = Wh ? ty_astype(Wh, TY_FLOAT32) : NULL;
        ty_array *W = Wf ? ty_to_device(Wf, dev[k]) : NULL;
        int rc = W ? ty_vjp(&out[k], &W, 1, x[k], nin, g[k]) : -1;
        ty_release(Wh);
        ty_release(Wf);
        ty_release(W);
        if (rc != 0) break;
    }
    bool bad = false;
    for (int i = 0; i < nin; i++) {
        double *a = g[0][i] ? test_values(g[0][i]) : NULL;
        double *b = g[1][i] ? test_values(g[1][i]) : NULL;
        if (!a || !b) {
            fprintf(stderr, "  %s: %s: failed [%s]\n", test_current, what, ty_error_message());
            bad = true;
        }
        for (int64_t j = 0; a && b && j < spec_size(&sp[i]); j++)
            if (!(fabs(a[j] - b[j]) <= 1e-4 * (1 + fabs(a[j])))) {
                fprintf(stderr, "  %s: %s: d/dx%d[%lld] is %.7g on the CPU, %.7g on Vulkan\n",
                        test_current, what, i, (long long)j, a[j], b[j]);
                bad = true;
                break;
            }
        free(a);
        free(b);
        if (bad) break;
    }
    if (bad) test_current_failed = 1;
    for (int k = 0; k < 2; k++) {
        ty_release(out[k]);
        for (int i = 0; i < nin; i++) {
            ty_release(x[k][i]);
            ty_release(g[k][i]);
        }
    }
    for (int i = 0; i < nin; i++) free(vals[i]);
    free(w);
}

TEST(vjp_cpu_vs_vulkan)
{
    ty_device vk = {TY_VULKAN, 0};
    if (!ty_device_available(vk)) return;
    static const struct { ty_op op; int domain; } un[] = {
        {TY_OP_EXP, D_ANY}, {TY_OP_LOG, D_POS}, {TY_OP_SQRT, D_POS}, {TY_OP_TANH, D_ANY},
        {TY_OP_SIGMOID, D_ANY}, {TY_OP_RELU, D_AWAY}, {TY_OP_GELU, D_ANY},
        {TY_OP_GELU_TANH, D_ANY}, {TY_OP_SILU, D_ANY}, {TY_OP_SOFTPLUS, D_ANY},
        {TY_OP_ERFINV, D_UNIT}, {TY_OP_ABS, D_AWAY}, {TY_OP_ATAN, D_ANY},
    };
    for (size_t i = 0; i < sizeof un / sizeof un[0]; i++) {
        spec sp[1] = {SP(un[i].domain, 3, 4)};
        compare_devices(ty_op_name(un[i].op), b_unary, &un[i].op, 1, sp, vk);
    }
    static const struct { ty_op op; int da, db; } bin[] = {
        {TY_OP_MUL, D_ANY, D_ANY}, {TY_OP_DIV, D_ANY, D_AWAY}, {TY_OP_POW, D_POS, D_ANY},
        {TY_OP_MAXIMUM, D_ANY, D_ANY}, {TY_OP_REMAINDER, D_ANY, D_AWAY},
        {TY_OP_ATAN2, D_AWAY, D_AWAY},
    };
    for (size_t i = 0; i < sizeof bin / sizeof bin[0]; i++) {
        spec sp[2] = {SP(bin[i].da, 3, 1, 4), SP(bin[i].db, 2, 4)};
        compare_devices(ty_op_name(bin[i].op), b_binary, &bin[i].op, 2, sp, vk);
    }
    static const ty_op red[] = {TY_OP_SUM, TY_OP_PROD, TY_OP_MAX, TY_OP_MIN};
    for (size_t i = 0; i < sizeof red / sizeof red[0]; i++) {
        spec sp[1] = {SP(D_ANY, 3, 4, 5)};
        red_ctx c = {red[i], 2, {0, 2}, false};
        compare_devices(ty_op_name(red[i]), b_reduce, &c, 1, sp, vk);
    }
    spec s35[1] = {SP(D_ANY, 3, 5)}, z[1] = {SP(D_ZEROS, 4, 5)};
    axis_ctx c1 = {1, false}, c0 = {0, true};
    compare_devices("cumsum", b_cumsum, &c0, 1, s35, vk);
    compare_devices("cumprod", b_cumprod, &c1, 1, s35, vk);
    compare_devices("cumprod zeros", b_cumprod, &c0, 1, z, vk);
    compare_devices("softmax", b_softmax, &c1, 1, s35, vk);
    compare_devices("log_softmax", b_log_softmax, &c0, 1, s35, vk);
    compare_devices("sort", b_sort, &c1, 1, s35, vk);
    spec mm[2] = {SP(D_ANY, 2, 3, 4), SP(D_ANY, 4, 5)};
    compare_devices("matmul", b_matmul, NULL, 2, mm, vk);
    spec s234[1] = {SP(D_ANY, 2, 3, 4)}, sb[1] = {SP(D_ANY, 3, 1, 5)};
    spec s56[1] = {SP(D_ANY, 5, 6)}, st[1] = {SP(D_ANY, 2, 3)};
    compare_devices("transpose", b_transpose, NULL, 1, s234, vk);
    compare_devices("flip", b_flip, NULL, 1, s234, vk);
    compare_devices("broadcast_to", b_broadcast, NULL, 1, sb, vk);
    compare_devices("slice", b_slice, NULL, 1, s56, vk);
    compare_devices("repeat/tile", b_repeat_tile, NULL, 1, st, vk);
    spec c[3] = {SP(D_ANY, 2, 1, 3), SP(D_ANY, 2, 4, 3), SP(D_ANY, 2, 2, 3)};
    compare_devices("concatenate", b_concat, NULL, 3, c, vk);
    spec p[1] = {SP(D_ANY, 3, 2)};
    compare_devices("pad", b_pad, NULL, 1, p, vk);
}

void suite_vjp(void)
{
    RUN(vjp_unary);
    RUN(vjp_binary_broadcast);
    RUN(vjp_pow_edges);
    RUN(vjp_where);
    RUN(vjp_reductions);
    RUN(vjp_prod_with_zeros);
    RUN(vjp_max_ties);
    RUN(vjp_scans);
    RUN(vjp_softmax);
    RUN(vjp_matmul);
    RUN(vjp_views);
    RUN(vjp_joining);
    RUN(vjp_indexing);
    RUN(vjp_sort);
    RUN(vjp_compositions);
    RUN(vjp_dtypes);
    RUN(vjp_zero_gradients);
    RUN(vjp_zero_gradients_flags);
    RUN(vjp_second_derivatives_known);
    RUN(vjp_cpu_vs_vulkan);
    if (getenv("TY_TEST_VERBOSE"))
        fprintf(stderr, "suite_vjp: %lld finite differences compared\n", (long long)fd_checks);
}
