/* test_autograd_jvp.c -- forward-mode rules (core/autograd_jvp.c) checked
 * through ty_jvp against central finite differences in float64 on the CPU,
 * at random points along random tangents, with broadcasting and reductions
 * over several axes; non-differentiable ops give zero (NULL) tangents. */
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"                 /* ty__jvp_rule */
#include "test.h"

static const ty_device cpu = {TY_CPU, 0};

/* Arrays made in a test, released after it. */
static ty_array *held[1024];
static int nheld;

static ty_array *hold(ty_array *a)
{
    if (a && nheld < (int)(sizeof held / sizeof held[0])) held[nheld++] = a;
    else if (a) ty_release(a);
    return a;
}

static void release_held(void)
{
    while (nheld > 0) ty_release(held[--nheld]);
}

#define RUN_T(name) do { RUN(name); release_held(); } while (0)
#define SH(...) (const int64_t[]){__VA_ARGS__}
#define NSH(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

static uint64_t seed = 4242;

/* An evaluated float64 array: normal(0, 1), or uniform [lo, hi) if lo < hi. */
static ty_array *rnd_(int nd, const int64_t *shape, double lo, double hi)
{
    ty_key k = ty_random_key(seed++);
    ty_array *a = lo < hi ? ty_random_uniform(k, nd, shape, lo, hi, TY_FLOAT64, cpu)
                          : ty_random_normal(k, nd, shape, 0, 1, TY_FLOAT64, cpu);
    if (a) ty_eval(&a, 1);
    return hold(a);
}
#define RND(...) rnd_(NSH(__VA_ARGS__), SH(__VA_ARGS__), 0, 0)
#define RND0() rnd_(0, NULL, 0, 0)
#define UNI(lo, hi, ...) rnd_(NSH(__VA_ARGS__), SH(__VA_ARGS__), (lo), (hi))

static ty_array *i64(int nd, const int64_t *shape, const int64_t *v)
{
    return hold(ty_from_data(v, TY_INT64, nd, shape, cpu));
}

/* ---------------------------------------------------------------- the check */

typedef ty_array *(*fn_t)(ty_array *const *x, const void *ctx);

#define EPS 1e-6
#define ALL 0xffffu

/* The JVP of f at x (n inputs) along random tangents of the inputs in mask
 * (bit i: input i), against (f(x + eps t) - f(x - eps t)) / (2 eps). */
static void check_jvp_(fn_t f, const void *ctx, int n, ty_array *const *x, unsigned mask,
                       double tol, const char *what, const char *file, int line)
{
    ty_array *t[8] = {0}, *xp[8] = {0}, *xm[8] = {0};
    ty_array *eps = hold(ty_scalar(EPS, TY_FLOAT64, cpu));
    for (int i = 0; i < n; i++) {
        if (mask & (1u << i)) {
            t[i] = rnd_(ty_ndim(x[i]), ty_shape(x[i]), 0, 0);
            ty_array *d = hold(ty_mul(t[i], eps));
            xp[i] = hold(ty_add(x[i], d));
            xm[i] = hold(ty_sub(x[i], d));
        } else {
            xp[i] = xm[i] = x[i];
        }
    }
    ty_array *out = hold(f(x, ctx));
    ty_array *jt = NULL;
    int rc = out ? ty_jvp(&out, 1, x, t, n, &jt) : -1;
    hold(jt);
    ty_array *fp = hold(f(xp, ctx)), *fm = hold(f(xm, ctx));
    if (rc != 0 || !jt || !fp || !fm) {
        fprintf(stderr, "  %s:%d: %s: %s: failed [%s]\n", file, line, test_current, what,
                ty_error_message());
        test_current_failed = 1;
        return;
    }
    if (ty_ndim(jt) != ty_ndim(out) || ty_size(jt) != ty_size(out) ||
        ty_dtype_of(jt) != ty_dtype_of(out)) {
        char s0[64], s1[64];
        fprintf(stderr, "  %s:%d: %s: %s: tangent %s %s for output %s %s\n", file, line,
                test_current, what, ty_shape_string(jt, s0, sizeof s0),
                ty_dtype_name(ty_dtype_of(jt)), ty_shape_string(out, s1, sizeof s1),
                ty_dtype_name(ty_dtype_of(out)));
        test_current_failed = 1;
        return;
    }
    double *vj = test_values(jt), *vp = test_values(fp), *vm = test_values(fm);
    double worst = 0, got = 0, want = 0;
    int64_t at = -1;
    bool nonzero = false;
    for (int64_t i = 0; vj && vp && vm && i < ty_size(out); i++) {
        double fd = (vp[i] - vm[i]) / (2 * EPS);
        double err = fabs(vj[i] - fd) / (1 + fabs(fd));
        nonzero = nonzero || fd != 0;
        if (!(err <= worst)) {
            worst = err, got = vj[i], want = fd, at = i;
        }
    }
    if (!vj || !vp || !vm || !(worst <= tol)) {
        fprintf(stderr, "  %s:%d: %s: %s: element %lld: jvp %.12g, finite difference %.12g "
                "(rel. error %.3g) [%s]\n", file, line, test_current, what, (long long)at,
                got, want, worst, ty_error_message());
        test_current_failed = 1;
    } else if (mask && !nonzero && ty_size(out) > 0) {
        fprintf(stderr, "  %s:%d: %s: %s: the finite difference is zero everywhere "
                "(a vacuous check)\n", file, line, test_current, what);
        test_current_failed = 1;
    }
    free(vj);
    free(vp);
    free(vm);
}

#define CHECK_JVP(f, ctx, mask, ...) do { ty_array *const x_[] = {__VA_ARGS__}; \
    check_jvp_((f), (ctx), (int)(sizeof x_ / sizeof x_[0]), x_, (mask), 1e-6, #f, \
               __FILE__, __LINE__); } while (0)

/* The tangent of out's node from the given input tangents, through the rule
 * directly: NULL means zero. */
static ty_array *rule(ty_array *out, ty_array *const *tangents, int *rc)
{
    ty_array *r = NULL;
    *rc = ty__jvp_rule(out, tangents, &r);
    return hold(r);
}

/* ---------------------------------------------------------------- functions */

static ty_array *f_unary(ty_array *const *x, const void *c)
{
    return ty_unary(*(const ty_op *)c, x[0]);
}

static ty_array *f_binary(ty_array *const *x, const void *c)
{
    return ty_binary(*(const ty_op *)c, x[0], x[1]);
}

typedef struct red_spec {
    int kind;                          /* a ty_op, or one of the R_ below */
    int axes[4];
    int naxes;
    bool keepdims;
} red_spec;

enum { R_MEAN = 1000, R_VAR, R_STD, R_LOGSUMEXP };

static ty_array *f_reduce(ty_array *const *x, const void *c)
{
    const red_spec *s = c;
    switch (s->kind) {
    case R_MEAN: return ty_mean(x[0], s->axes, s->naxes, s->keepdims);
    case R_VAR: return ty_var(x[0], s->axes, s->naxes, s->keepdims, 1);
    case R_STD: return ty_std(x[0], s->axes, s->naxes, s->keepdims, 0);
    case R_LOGSUMEXP: return ty_logsumexp(x[0], s->axes, s->naxes, s->keepdims);
    default: return ty_reduce((ty_op)s->kind, x[0], s->axes, s->naxes, s->keepdims);
    }
}

typedef struct scan_spec {
    ty_op op;
    int axis;
    bool reverse;
} scan_spec;

static ty_array *f_scan(ty_array *const *x, const void *c)
{
    const scan_spec *s = c;
    switch (s->op) {
    case TY_OP_CUMSUM: return ty_cumsum(x[0], s->axis, s->reverse);
    case TY_OP_CUMPROD: return ty_cumprod(x[0], s->axis, s->reverse);
    case TY_OP_SOFTMAX: return ty_softmax(x[0], s->axis);
    case TY_OP_LOG_SOFTMAX: return ty_log_softmax(x[0], s->axis);
    case TY_OP_SORT: return ty_sort(x[0], s->axis, s->reverse);
    default: return NULL;
    }
}

static ty_array *f_matmul(ty_array *const *x, const void *c)
{
    (void)c;
    return ty_matmul(x[0], x[1]);
}

static ty_array *f_where(ty_array *const *x, const void *c)
{
    ty_array *cond = ty_gt((ty_array *)c, x[0]);
    ty_array *r = cond ? ty_where(cond, x[0], x[1]) : NULL;
    ty_release(cond);
    return r;
}

static ty_array *f_clip(ty_array *const *x, const void *c)
{
    (void)c;
    return ty_clip(x[0], x[1], x[2]);
}

/* ---------------------------------------------------------------- elementwise */

TEST(jvp_unary_ops_match_finite_differences)
{
    static const ty_op normal_ops[] = {
        TY_OP_NEG, TY_OP_ABS, TY_OP_EXP, TY_OP_EXPM1, TY_OP_SQUARE, TY_OP_SIN, TY_OP_COS,
        TY_OP_TANH, TY_OP_SIGMOID, TY_OP_RELU, TY_OP_GELU, TY_OP_GELU_TANH, TY_OP_SILU,
        TY_OP_SOFTPLUS, TY_OP_ERF, TY_OP_ATAN, TY_OP_SINH, TY_OP_COSH, TY_OP_EXP2};
    static const ty_op positive_ops[] = {TY_OP_LOG, TY_OP_SQRT, TY_OP_RSQRT,
                                         TY_OP_RECIPROCAL, TY_OP_LOG2, TY_OP_LOG10,
                                         TY_OP_LOG1P};
    static const ty_op unit_ops[] = {TY_OP_ASIN, TY_OP_ACOS, TY_OP_ERFINV, TY_OP_TAN};
    for (size_t i = 0; i < sizeof normal_ops / sizeof normal_ops[0]; i++) {
        ty_array *x = RND(3, 4);
        check_jvp_(f_unary, &normal_ops[i], 1, &x, ALL, 1e-6, ty_op_name(normal_ops[i]),
                   __FILE__, __LINE__);
    }
    for (size_t i = 0; i < sizeof positive_ops / sizeof positive_ops[0]; i++) {
        ty_array *x = UNI(0.3, 3, 2, 5);
        check_jvp_(f_unary, &positive_ops[i], 1, &x, ALL, 1e-6,
                   ty_op_name(positive_ops[i]), __FILE__, __LINE__);
    }
    for (size_t i = 0; i < sizeof unit_ops / sizeof unit_ops[0]; i++) {
        ty_array *x = UNI(-0.9, 0.9, 7);
        check_jvp_(f_unary, &unit_ops[i], 1, &x, ALL, 1e-6, ty_op_name(unit_ops[i]),
                   __FILE__, __LINE__);
    }
    /* log1p on negative inputs above -1 */
    static const ty_op lp = TY_OP_LOG1P;
    CHECK_JVP(f_unary, &lp, ALL, UNI(-0.8, 0, 6));
}

TEST(jvp_binary_ops_broadcast_and_match_finite_differences)
{
    static const ty_op both_normal[] = {TY_OP_ADD, TY_OP_SUB, TY_OP_MUL, TY_OP_MAXIMUM,
                                        TY_OP_MINIMUM, TY_OP_ATAN2};
    for (size_t i = 0; i < sizeof both_normal / sizeof both_normal[0]; i++)
        for (unsigned mask = 1; mask <= 3; mask++) {
            ty_array *x[2] = {RND(3, 1, 4), RND(2, 4)};
            check_jvp_(f_binary, &both_normal[i], 2, x, mask, 1e-6,
                       ty_op_name(both_normal[i]), __FILE__, __LINE__);
        }
    static const ty_op div = TY_OP_DIV, pw = TY_OP_POW, rem = TY_OP_REMAINDER;
    for (unsigned mask = 1; mask <= 3; mask++) {
        CHECK_JVP(f_binary, &div, mask, RND(2, 3), UNI(0.5, 2, 3));
        CHECK_JVP(f_binary, &div, mask, RND(4, 1), UNI(-2, -0.5, 2, 1, 3));
        CHECK_JVP(f_binary, &pw, mask, UNI(0.5, 2, 3, 4), RND(4));
        CHECK_JVP(f_binary, &pw, mask, UNI(0.5, 2, 1, 4), UNI(-2, 2, 3, 1));
        CHECK_JVP(f_binary, &rem, mask, UNI(-5, 5, 3, 4), UNI(0.7, 2, 4));
        CHECK_JVP(f_binary, &rem, mask, UNI(-5, 5, 3, 4), UNI(-2, -0.7, 3, 1));
    }
    /* a 0-d operand */
    static const ty_op mul = TY_OP_MUL;
    CHECK_JVP(f_binary, &mul, ALL, RND(2, 3), RND0());
}

TEST(jvp_where_clip_and_mixed_inputs)
{
    ty_array *c = RND(3, 4);
    for (unsigned mask = 1; mask <= 3; mask++) CHECK_JVP(f_where, c, mask, RND(3, 4), RND(4));
    for (unsigned mask = 1; mask <= 7; mask++)
        CHECK_JVP(f_clip, NULL, mask, RND(3, 4), UNI(-1, -0.2, 4), UNI(0.2, 1, 3, 1));
}

TEST(jvp_pow_at_special_points)
{
    /* d/db a^b at a == 0 is 0; d/da a^b with b == 0 is 0 */
    ty_array *a = hold(ty_from_data((double[]){0, 2, 0}, TY_FLOAT64, 1, SH(3), cpu));
    ty_array *b = hold(ty_from_data((double[]){2, 0, 0}, TY_FLOAT64, 1, SH(3), cpu));
    ty_array *out = hold(ty_pow(a, b));
    ty_array *ones = hold(ty_ones(1, SH(3), TY_FLOAT64, cpu));
    ty_array *in[2] = {a, b}, *t[2] = {ones, ones}, *jt = NULL;
    CHECK(ty_jvp(&out, 1, in, t, 2, &jt) == 0);
    hold(jt);
    /* d(0^2) = 2*0*1 + 0 = 0; d(2^0) = 0 + 1*log 2; d(0^0) = 0 */
    CHECK_VALUES(jt, 1e-12, 0, log(2.0), 0);
}

TEST(jvp_maximum_ties_go_to_the_first_operand)
{
    ty_array *a = hold(ty_from_data((double[]){1, 2, 3}, TY_FLOAT64, 1, SH(3), cpu));
    ty_array *b = hold(ty_from_data((double[]){1, 5, 3}, TY_FLOAT64, 1, SH(3), cpu));
    ty_array *ta = hold(ty_from_data((double[]){10, 20, 30}, TY_FLOAT64, 1, SH(3), cpu));
    ty_array *tb = hold(ty_from_data((double[]){-1, -2, -3}, TY_FLOAT64, 1, SH(3), cpu));
    ty_array *mx = hold(ty_maximum(a, b)), *mn = hold(ty_minimum(a, b));
    ty_array *in[2] = {a, b}, *t[2] = {ta, tb}, *j1 = NULL, *j2 = NULL;
    CHECK(ty_jvp(&mx, 1, in, t, 2, &j1) == 0);
    CHECK(ty_jvp(&mn, 1, in, t, 2, &j2) == 0);
    CHECK_VALUES(hold(j1), 0, 10, -2, 30);
    CHECK_VALUES(hold(j2), 0, 10, 20, 30);
}

TEST(jvp_astype_casts_the_tangent_and_integers_have_none)
{
    ty_array *x = RND(5);
    ty_array *f32 = hold(ty_astype(x, TY_FLOAT32));
    ty_array *back = hold(ty_astype(f32, TY_FLOAT64));
    ty_array *t = RND(5), *jt = NULL;
    CHECK(ty_jvp(&back, 1, &x, &t, 1, &jt) == 0);
    hold(jt);
    CHECK(jt && ty_dtype_of(jt) == TY_FLOAT64);
    double *vj = test_values(jt), *vt = test_values(t);
    for (int i = 0; vj && vt && i < 5; i++) CHECK_NEAR(vj[i], vt[i], 1e-6);
    free(vj);
    free(vt);
    /* through an integer: zero */
    ty_array *xi = hold(ty_astype(x, TY_INT32));
    ty_array *xf = hold(ty_astype(xi, TY_FLOAT64));
    int rc;
    CHECK(rule(xi, &t, &rc) == NULL && rc == 0);
    ty_array *ti = hold(ty_zeros(1, SH(5), TY_INT32, cpu));
    CHECK(rule(xf, &ti, &rc) == NULL && rc == 0);
    ty_array *jz = NULL;
    CHECK(ty_jvp(&xf, 1, &x, &t, 1, &jz) == 0);
    CHECK_VALUES(hold(jz), 0, 0, 0, 0, 0, 0);
}

TEST(jvp_float32_keeps_the_dtype)
{
    ty_array *x = hold(ty_astype(RND(4), TY_FLOAT32));
    ty_array *t = hold(ty_ones(1, SH(4), TY_FLOAT32, cpu));
    ty_array *y = hold(ty_exp(x)), *jt = NULL;
    CHECK(ty_jvp(&y, 1, &x, &t, 1, &jt) == 0);
    hold(jt);
    CHECK(jt && ty_dtype_of(jt) == TY_FLOAT32);
    double *vj = test_values(jt), *vy = test_values(y);
    for (int i = 0; vj && vy && i < 4; i++) CHECK_NEAR(vj[i], vy[i], 1e-6);
    free(vj);
    free(vy);
}

/* ---------------------------------------------------------------- reductions */

TEST(jvp_reductions_over_several_axes)
{
    static const int kinds[] = {TY_OP_SUM, TY_OP_PROD, TY_OP_MAX, TY_OP_MIN,
                                R_MEAN, R_VAR, R_STD, R_LOGSUMEXP};
    static const struct { int axes[4]; int naxes; } sets[] = {
        {{0}, 0}, {{1}, 1}, {{0, 2}, 2}, {{-1}, 1}, {{2, 0, 1}, 3}, {{1, 3}, 2}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++)
            for (int kd = 0; kd < 2; kd++) {
                red_spec spec = {kinds[k], {0}, sets[s].naxes, kd};
                memcpy(spec.axes, sets[s].axes, sizeof spec.axes);
                ty_array *x = kinds[k] == TY_OP_PROD ? UNI(-1.5, 1.5, 2, 3, 2, 2)
                                                     : RND(2, 3, 2, 2);
                char what[64];
                snprintf(what, sizeof what, "kind %d, axes set %zu, keepdims %d", kinds[k],
                         s, kd);
                check_jvp_(f_reduce, &spec, 1, &x, ALL, 1e-6, what, __FILE__, __LINE__);
            }
    /* 0-d input */
    red_spec sum0 = {TY_OP_SUM, {0}, 0, false}, prod0 = {TY_OP_PROD, {0}, 0, false};
    CHECK_JVP(f_reduce, &sum0, ALL, RND0());
    CHECK_JVP(f_reduce, &prod0, ALL, RND0());
}

TEST(jvp_prod_is_exact_at_zeros)
{
    /* one and two zeros in a row: prod_{j != i} x_j, no division */
    ty_array *x = hold(ty_from_data((double[]){0, 2, 3, 0, 0, 5, 1, 2, 3}, TY_FLOAT64, 2,
                                    SH(3, 3), cpu));
    red_spec s = {TY_OP_PROD, {1}, 1, false};
    CHECK_JVP(f_reduce, &s, ALL, x);
    ty_array *t = hold(ty_ones(2, SH(3, 3), TY_FLOAT64, cpu));
    ty_array *y = hold(ty_prod(x, (int[]){1}, 1, false)), *jt = NULL;
    CHECK(ty_jvp(&y, 1, &x, &t, 1, &jt) == 0);
    CHECK_VALUES(hold(jt), 1e-12, 6, 0, 11);
}

TEST(jvp_max_averages_over_ties)
{
    ty_array *x = hold(ty_from_data((double[]){1, 3, 3, 2, 2, 0}, TY_FLOAT64, 2, SH(2, 3),
                                    cpu));
    ty_array *t = hold(ty_from_data((double[]){1, 2, 4, 8, 16, 32}, TY_FLOAT64, 2, SH(2, 3),
                                    cpu));
    ty_array *y = hold(ty_max(x, (int[]){1}, 1, false)), *jt = NULL;
    CHECK(ty_jvp(&y, 1, &x, &t, 1, &jt) == 0);
    CHECK_VALUES(hold(jt), 1e-12, 3, 12);
    ty_array *z = hold(ty_min(x, NULL, 0, true)), *jz = NULL;
    CHECK(ty_jvp(&z, 1, &x, &t, 1, &jz) == 0);
    CHECK(jz && ty_ndim(jz) == 2);
    CHECK_VALUES(hold(jz), 1e-12, 32);
}

TEST(jvp_scans_and_softmax)
{
    static const ty_op ops[] = {TY_OP_CUMSUM, TY_OP_CUMPROD, TY_OP_SOFTMAX,
                                TY_OP_LOG_SOFTMAX, TY_OP_SORT};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        for (int axis = -1; axis < 3; axis++)
            for (int rev = 0; rev < 2; rev++) {
                scan_spec s = {ops[k], axis, rev};
                ty_array *x = ops[k] == TY_OP_CUMPROD ? UNI(-1.5, 1.5, 3, 4, 5)
                                                      : RND(3, 4, 5);
                char what[64];
                snprintf(what, sizeof what, "%s axis %d reverse %d", ty_op_name(ops[k]),
                         axis, rev);
                check_jvp_(f_scan, &s, 1, &x, ALL, 1e-6, what, __FILE__, __LINE__);
            }
    /* 0-d and 1-d */
    scan_spec cp = {TY_OP_CUMPROD, 0, false}, sm = {TY_OP_SOFTMAX, 0, false};
    CHECK_JVP(f_scan, &cp, ALL, RND0());
    CHECK_JVP(f_scan, &sm, ALL, RND(6));
}

TEST(jvp_cumprod_is_exact_at_zeros_and_long_axes_fall_back)
{
    ty_array *x = hold(ty_from_data((double[]){2, 0, 3, 0, 5, 1.5, 0, 0},
                                    TY_FLOAT64, 2, SH(2, 4), cpu));
    for (int rev = 0; rev < 2; rev++) {
        scan_spec s = {TY_OP_CUMPROD, 1, rev};
        CHECK_JVP(f_scan, &s, ALL, x);
    }
    ty_array *t = hold(ty_ones(2, SH(2, 4), TY_FLOAT64, cpu));
    ty_array *y = hold(ty_cumprod(x, 1, false)), *jt = NULL;
    CHECK(ty_jvp(&y, 1, &x, &t, 1, &jt) == 0);
    /* row 0: x = 2,0,3,0 -> 1, 2, 6, 0;  row 1: 5,1.5,0,0 -> 1, 6.5, 7.5, 0 */
    CHECK_VALUES(hold(jt), 1e-12, 1, 2, 6, 0, 1, 6.5, 7.5, 0);
    /* a long axis takes the y * cumsum(t / x) path */
    scan_spec s = {TY_OP_CUMPROD, 0, false}, r = {TY_OP_CUMPROD, 0, true};
    CHECK_JVP(f_scan, &s, ALL, UNI(0.99, 1.01, 2100));
    CHECK_JVP(f_scan, &r, ALL, UNI(0.99, 1.01, 2100));
}

/* ---------------------------------------------------------------- matmul */

TEST(jvp_matmul_with_batches_and_vectors)
{
    for (unsigned mask = 1; mask <= 3; mask++) {
        CHECK_JVP(f_matmul, NULL, mask, RND(3, 4), RND(4, 5));
        CHECK_JVP(f_matmul, NULL, mask, RND(2, 1, 3, 4), RND(5, 4, 2));
        CHECK_JVP(f_matmul, NULL, mask, RND(4), RND(2, 4, 5));
        CHECK_JVP(f_matmul, NULL, mask, RND(3, 4), RND(4));
        CHECK_JVP(f_matmul, NULL, mask, RND(4), RND(4));
    }
}

/* ---------------------------------------------------------------- views */

static ty_array *f_views(ty_array *const *x, const void *c)
{
    int which = *(const int *)c;
    ty_array *a = x[0];                                           /* (2,3,4) */
    ty_array *v = NULL, *tmp = NULL, *r = NULL;
    switch (which) {
    case 0: v = ty_reshape(a, 2, SH(6, 4)); break;
    case 1: v = ty_transpose(a, (int[]){2, 0, 1}); break;
    case 2:
        tmp = ty_reshape(a, 4, SH(2, 3, 1, 4));
        v = tmp ? ty_broadcast_to(tmp, 5, SH(2, 2, 3, 5, 4)) : NULL;
        break;
    case 3: v = ty_slice(a, SH(1, 0, 3), SH(2, 3, -1), SH(1, 2, -2)); break;
    case 4: v = ty_flip(a, (int[]){0, 2}, 2); break;
    case 5:
        tmp = ty_expand_dims(a, 1);
        v = tmp ? ty_squeeze(tmp, NULL, 0) : NULL;
        break;
    case 6: v = ty_swapaxes(a, 0, 2); break;
    case 7: v = ty_repeat(a, 3, 1); break;
    case 8: v = ty_tile(a, SH(2, 1, 2), 3); break;
    case 9: {
        ty_array *parts[3];
        if (ty_split(a, 0, SH(1, 3), 2, 2, parts, 3) == 3) {
            v = ty_retain(parts[1]);
            for (int i = 0; i < 3; i++) ty_release(parts[i]);
        }
        break;
    }
    case 10:
        tmp = ty_transpose(a, NULL);
        v = tmp ? ty_contiguous(tmp) : NULL;
        break;
    case 11: v = ty_pad(a, SH(1, 0, 2), SH(0, 2, 1), 3.0); break;
    case 12: v = ty_flatten(a, 1, 2); break;
    }
    /* a nonlinear op after the view, so its tangent is used */
    r = v ? ty_sin(v) : NULL;
    ty_release(v);
    ty_release(tmp);
    return r;
}

TEST(jvp_views_and_data_movement)
{
    for (int which = 0; which <= 12; which++) {
        ty_array *x = RND(2, 3, 4);
        char what[32];
        snprintf(what, sizeof what, "view %d", which);
        check_jvp_(f_views, &which, 1, &x, ALL, 1e-6, what, __FILE__, __LINE__);
    }
}

static ty_array *f_concat(ty_array *const *x, const void *c)
{
    ty_array *in[4] = {x[0], (ty_array *)c, x[1], x[2]};
    return ty_concatenate(in, 4, 1);
}

static ty_array *f_stack(ty_array *const *x, const void *c)
{
    (void)c;
    return ty_stack(x, 2, -1);
}

TEST(jvp_concatenate_and_stack)
{
    ty_array *k = RND(2, 2, 3);
    for (unsigned mask = 1; mask <= 7; mask++)
        CHECK_JVP(f_concat, k, mask, RND(2, 1, 3), RND(2, 4, 3), RND(2, 3, 3));
    for (unsigned mask = 1; mask <= 3; mask++) CHECK_JVP(f_stack, NULL, mask, RND(3, 2), RND(3, 2));
    /* all tangents zero: the rule gives NULL */
    ty_array *in[2] = {RND(2), RND(3)};
    ty_array *cat = hold(ty_concatenate(in, 2, 0));
    ty_array *none[2] = {NULL, NULL};
    int rc;
    CHECK(rule(cat, none, &rc) == NULL && rc == 0);
}

/* ---------------------------------------------------------------- indexing */

typedef struct idx_spec {
    int kind;
    ty_array *idx;
    int axis;
    int base;
} idx_spec;

static ty_array *f_index(ty_array *const *x, const void *c)
{
    const idx_spec *s = c;
    switch (s->kind) {
    case 0: return ty_take(x[0], s->idx, s->axis, s->base);
    case 1: return ty_take_along_axis(x[0], s->idx, s->axis, s->base);
    case 2: return ty_scatter_add(x[0], s->axis, s->idx, x[1], s->base);
    default: return NULL;
    }
}

typedef struct upd_spec {
    int64_t start[3], stop[3], step[3];
} upd_spec;

static ty_array *f_slice_update(ty_array *const *x, const void *c)
{
    const upd_spec *s = c;
    return ty_slice_update(x[0], x[1], s->start, s->stop, s->step);
}

static ty_array *f_topk(ty_array *const *x, const void *c)
{
    (void)c;
    ty_array *v = NULL;
    if (ty_topk(x[0], 2, 1, true, 0, &v, NULL) != 0) return NULL;
    return v;
}

TEST(jvp_take_scatter_and_slice_update)
{
    idx_spec take0 = {0, i64(1, SH(4), (int64_t[]){2, -1, 0, 2}), 1, 0};
    CHECK_JVP(f_index, &take0, ALL, RND(3, 4, 2));
    idx_spec take1 = {0, i64(2, SH(2, 2), (int64_t[]){1, 3, 3, 2}), 0, 1};
    CHECK_JVP(f_index, &take1, ALL, RND(3, 4));
    idx_spec along = {1, i64(2, SH(1, 3), (int64_t[]){3, 0, 3}), 1, 0};
    CHECK_JVP(f_index, &along, ALL, RND(5, 4));
    idx_spec scat = {2, i64(2, SH(2, 3), (int64_t[]){1, 3, 1, 2, 2, 4}), 1, 1};
    for (unsigned mask = 1; mask <= 3; mask++) {
        CHECK_JVP(f_index, &scat, mask, RND(3, 4), RND(2, 3));
    }
    upd_spec u = {{0, 3, 0}, {2, -1, 4}, {1, -2, 2}};
    for (unsigned mask = 1; mask <= 3; mask++) {
        CHECK_JVP(f_slice_update, &u, mask, RND(2, 5, 4), RND(2, 2, 2));
        CHECK_JVP(f_slice_update, &u, mask, RND(2, 5, 4), RND(1, 2));   /* broadcast */
    }
    CHECK_JVP(f_topk, NULL, ALL, RND(3, 5));
}

/* ---------------------------------------------------------------- graph marks */

static int dummy_vjp(void *ctx, ty_array *g, ty_array **grads)
{
    (void)ctx;
    grads[0] = ty_retain(g);
    return 0;
}

static ty_array *f_stop(ty_array *const *x, const void *c)
{
    (void)c;
    ty_array *s = ty_stop_gradient(x[0]);
    ty_array *r = s ? ty_mul(x[0], s) : NULL;
    ty_release(s);
    return r;
}

TEST(jvp_stop_gradient_and_custom_vjp)
{
    /* d(x * stop(x)) = t * x */
    ty_array *x = RND(4), *t = RND(4);
    ty_array *y = hold(f_stop(&x, NULL)), *jt = NULL;
    CHECK(ty_jvp(&y, 1, &x, &t, 1, &jt) == 0);
    hold(jt);
    double *vj = test_values(jt), *vx = test_values(x), *vt = test_values(t);
    for (int i = 0; vj && vx && vt && i < 4; i++) CHECK_NEAR(vj[i], vt[i] * vx[i], 1e-12);
    free(vj);
    free(vx);
    free(vt);
    ty_array *s = hold(ty_stop_gradient(x));
    int rc;
    CHECK(rule(s, &t, &rc) == NULL && rc == 0);
    /* a custom VJP view forwards the tangent of the output it views */
    ty_array *e = hold(ty_exp(x));
    ty_array *cv = hold(ty_custom_vjp(e, &x, 1, dummy_vjp, NULL, NULL));
    ty_array *te = hold(ty_mul(t, e));
    ty_array *ins[2] = {te, t};
    ty_array *r = rule(cv, ins, &rc);
    CHECK(rc == 0 && r && ty_size(r) == 4);
    double *vr = test_values(r), *ve = test_values(te);
    for (int i = 0; vr && ve && i < 4; i++) CHECK_NEAR(vr[i], ve[i], 1e-12);
    free(vr);
    free(ve);
}

/* ---------------------------------------------------------------- no tangent */

TEST(jvp_non_differentiable_ops_give_no_tangent)
{
    ty_array *x = RND(3, 4), *y = RND(3, 4), *t = RND(3, 4);
    ty_array *tt[2] = {t, t};
    static const ty_op unary[] = {TY_OP_SIGN, TY_OP_FLOOR, TY_OP_CEIL, TY_OP_ROUND,
                                  TY_OP_TRUNC, TY_OP_LOGICAL_NOT, TY_OP_ISNAN, TY_OP_ISINF};
    static const ty_op binary[] = {TY_OP_FLOOR_DIVIDE, TY_OP_EQ, TY_OP_NE, TY_OP_LT,
                                   TY_OP_LE, TY_OP_GT, TY_OP_GE, TY_OP_LOGICAL_AND,
                                   TY_OP_LOGICAL_OR};
    int rc;
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++) {
        ty_array *o = hold(ty_unary(unary[i], x));
        CHECK(rule(o, &t, &rc) == NULL && rc == 0);
        ty_array *jt = NULL;
        CHECK(ty_jvp(&o, 1, &x, &t, 1, &jt) == 0);
        hold(jt);
        double *v = test_values(jt);
        for (int k = 0; v && k < 12; k++) CHECK(v[k] == 0);
        free(v);
    }
    for (size_t i = 0; i < sizeof binary / sizeof binary[0]; i++) {
        ty_array *o = hold(ty_binary(binary[i], x, y));
        CHECK(rule(o, tt, &rc) == NULL && rc == 0);
    }
    ty_array *o;
    o = hold(ty_argmax(x, 1, false, 0));
    CHECK(rule(o, &t, &rc) == NULL && rc == 0);
    o = hold(ty_argmin(x, 0, true, 1));
    CHECK(rule(o, &t, &rc) == NULL && rc == 0);
    o = hold(ty_argsort(x, 1, false, 0));
    CHECK(rule(o, &t, &rc) == NULL && rc == 0);
    o = hold(ty_all(x, NULL, 0, false));
    CHECK(rule(o, &t, &rc) == NULL && rc == 0);
    o = hold(ty_any(x, (int[]){1}, 1, false));
    CHECK(rule(o, &t, &rc) == NULL && rc == 0);
    o = hold(ty_random_normal(ty_random_key(1), 2, SH(3, 4), 0, 1, TY_FLOAT64, cpu));
    CHECK(rule(o, NULL, &rc) == NULL && rc == 0);
    o = hold(ty_full(2, SH(3, 4), 2, TY_FLOAT64, cpu));
    CHECK(rule(o, NULL, &rc) == NULL && rc == 0);
    /* integer arithmetic */
    ty_array *xi = hold(ty_astype(x, TY_INT32));
    ty_array *ti = hold(ty_astype(t, TY_INT32));
    ty_array *ti2[2] = {ti, ti};
    o = hold(ty_add(xi, xi));
    CHECK(rule(o, ti2, &rc) == NULL && rc == 0);
    /* a zero tangent everywhere: NULL */
    ty_array *none[3] = {NULL, NULL, NULL};
    o = hold(ty_mul(x, y));
    CHECK(rule(o, none, &rc) == NULL && rc == 0);
    o = hold(ty_exp(x));
    CHECK(rule(o, none, &rc) == NULL && rc == 0);
    /* through ty_jvp with no tangents: zeros */
    ty_array *jt = NULL;
    CHECK(ty_jvp(&o, 1, &x, NULL, 1, &jt) == 0);
    hold(jt);
    CHECK(jt && ty_size(jt) == 12);
}

TEST(jvp_composite_network)
{
    /* a small MLP layer with softmax cross-entropy-like pieces */
    ty_array *w = RND(4, 3), *b = RND(3), *xin = RND(5, 4);
    ty_array *h = hold(ty_matmul(xin, w));
    ty_array *hb = hold(ty_add(h, b));
    ty_array *a = hold(ty_tanh(hb));
    ty_array *ls = hold(ty_log_softmax(a, -1));
    ty_array *loss = hold(ty_mean(ls, NULL, 0, false));
    ty_array *tw = RND(4, 3), *tb = RND(3), *in[2] = {w, b}, *t[2] = {tw, tb}, *jt = NULL;
    CHECK(ty_jvp(&loss, 1, in, t, 2, &jt) == 0);
    hold(jt);
    /* the same by finite differences */
    double fv[2];
    for (int s = 0; s < 2; s++) {
        ty_array *sg = hold(ty_scalar(s ? -EPS : EPS, TY_FLOAT64, cpu));
        ty_array *w2 = hold(ty_add(w, hold(ty_mul(tw, sg))));
        ty_array *b2 = hold(ty_add(b, hold(ty_mul(tb, sg))));
        ty_array *h2 = hold(ty_add(hold(ty_matmul(xin, w2)), b2));
        ty_array *l2 = hold(ty_mean(hold(ty_log_softmax(hold(ty_tanh(h2)), -1)), NULL, 0,
                                    false));
        fv[s] = NAN;
        CHECK(ty_item(l2, &fv[s]) == 0);
    }
    double j = NAN;
    CHECK(ty_item(jt, &j) == 0);
    CHECK_NEAR(j, (fv[0] - fv[1]) / (2 * EPS), 1e-6);
}


/* ---------------------------------------------------------------- forward over reverse */

/* The gradient of the scalar f at x (one input), by ty_vjp. */
static ty_array *grad_of(fn_t f, const void *ctx, ty_array *x)
{
    ty_array *y = f(&x, ctx), *g = NULL;
    if (!y || ty_vjp(&y, NULL, 1, &x, 1, &g) != 0) g = NULL;
    ty_release(y);
    return g;
}

/* Hessian-vector product: the JVP of the gradient (forward over reverse)
 * against central differences of the gradient. */
static void check_hvp_(fn_t f, const void *ctx, ty_array *x, const char *what,
                       const char *file, int line)
{
    ty_array *v = rnd_(ty_ndim(x), ty_shape(x), 0, 0);
    ty_array *eps = hold(ty_scalar(EPS, TY_FLOAT64, cpu));
    ty_array *d = hold(ty_mul(v, eps));
    ty_array *xp = hold(ty_add(x, d)), *xm = hold(ty_sub(x, d));
    ty_array *g = hold(grad_of(f, ctx, x)), *hv = NULL;
    int rc = g ? ty_jvp(&g, 1, &x, &v, 1, &hv) : -1;
    hold(hv);
    ty_array *gp = hold(grad_of(f, ctx, xp)), *gm = hold(grad_of(f, ctx, xm));
    double *vh = rc == 0 && hv ? test_values(hv) : NULL;
    double *vp = gp ? test_values(gp) : NULL, *vm = gm ? test_values(gm) : NULL;
    double worst = 0;
    int64_t at = -1;
    for (int64_t i = 0; vh && vp && vm && i < ty_size(x); i++) {
        double fd = (vp[i] - vm[i]) / (2 * EPS), err = fabs(vh[i] - fd) / (1 + fabs(fd));
        if (!(err <= worst)) worst = err, at = i;
    }
    if (!vh || !vp || !vm || !(worst <= 1e-6)) {
        fprintf(stderr, "  %s:%d: %s: %s: worst element %lld, rel. error %.3g [%s]\n", file,
                line, test_current, what, (long long)at, worst, ty_error_message());
        test_current_failed = 1;
    }
    free(vh);
    free(vp);
    free(vm);
}

static ty_array *f_scalar(ty_array *const *x, const void *c)
{
    int which = *(const int *)c;
    ty_array *a = x[0], *t[8] = {0}, *r = NULL;
    switch (which) {
    case 0: /* sum(sin(x) x^3) */
        t[0] = ty_sin(a);
        t[1] = t[0] ? ty_mul(t[0], t[2] = ty_pow(a, t[3] = ty_scalar(3, TY_FLOAT64, cpu)))
                    : NULL;
        r = t[1] ? ty_sum(t[1], NULL, 0, false) : NULL;
        break;
    case 1: /* softmax cross-entropy against a fixed target row */
        t[0] = ty_log_softmax(a, -1);
        t[1] = ty_softmax(t[3] = ty_cos(a), 0);
        t[2] = t[0] && t[1] ? ty_mul(t[0], t[1]) : NULL;
        r = t[2] ? ty_sum(t[2], NULL, 0, false) : NULL;
        break;
    case 2: /* prod, cumprod, max, logsumexp, sort */
        t[0] = ty_prod(a, (int[]){1}, 1, false);
        t[1] = ty_cumprod(a, 0, true);
        t[2] = ty_logsumexp(a, (int[]){0}, 1, false);
        t[3] = ty_sort(t[5] = ty_tanh(a), 1, false);
        t[4] = ty_max(t[6] = ty_mul(a, a), NULL, 0, false);
        if (t[0] && t[1] && t[2] && t[3] && t[4]) {
            ty_array *s0 = ty_sum(t[0], NULL, 0, false), *s1 = ty_sum(t[1], NULL, 0, false);
            ty_array *s2 = ty_sum(t[2], NULL, 0, false);
            ty_array *w = ty_arange(1, 1, ty_dim(a, 1), TY_FLOAT64, cpu);
            ty_array *s3 = ty_sum(t[7] = ty_mul(t[3], w), NULL, 0, false);
            ty_array *u = ty_add(s0, s1), *u2 = ty_add(u, s2), *u3 = ty_add(u2, s3);
            r = ty_add(u3, t[4]);
            ty_array *tmp[] = {s0, s1, s2, w, s3, u, u2, u3};
            for (int i = 0; i < 8; i++) ty_release(tmp[i]);
        }
        break;
    case 3: /* an MLP layer: mean(gelu(x @ x^T) * sigmoid(x)[:, :rows]) */
        t[0] = ty_transpose(a, NULL);
        t[1] = ty_matmul(a, t[0]);
        t[2] = ty_gelu_tanh(t[1]);
        t[3] = ty_var(t[2], (int[]){0}, 1, false, 0);
        t[4] = ty_std(a, (int[]){1}, 1, false, 0);
        if (t[3] && t[4]) {
            ty_array *s = ty_sum(t[3], NULL, 0, false), *q = ty_sum(t[4], NULL, 0, false);
            r = ty_add(s, q);
            ty_release(s);
            ty_release(q);
        }
        break;
    }
    for (int i = 0; i < 8; i++) ty_release(t[i]);
    return r;
}

TEST(jvp_of_vjp_gives_hessian_vector_products)
{
    for (int which = 0; which < 4; which++) {
        ty_array *x = which == 2 ? UNI(-1.5, 1.5, 3, 4) : RND(3, 4);
        char what[32];
        snprintf(what, sizeof what, "function %d", which);
        check_hvp_(f_scalar, &which, x, what, __FILE__, __LINE__);
    }
}

void suite_jvp(void)
{
    RUN_T(jvp_unary_ops_match_finite_differences);
    RUN_T(jvp_binary_ops_broadcast_and_match_finite_differences);
    RUN_T(jvp_where_clip_and_mixed_inputs);
    RUN_T(jvp_pow_at_special_points);
    RUN_T(jvp_maximum_ties_go_to_the_first_operand);
    RUN_T(jvp_astype_casts_the_tangent_and_integers_have_none);
    RUN_T(jvp_float32_keeps_the_dtype);
    RUN_T(jvp_reductions_over_several_axes);
    RUN_T(jvp_prod_is_exact_at_zeros);
    RUN_T(jvp_max_averages_over_ties);
    RUN_T(jvp_scans_and_softmax);
    RUN_T(jvp_cumprod_is_exact_at_zeros_and_long_axes_fall_back);
    RUN_T(jvp_matmul_with_batches_and_vectors);
    RUN_T(jvp_views_and_data_movement);
    RUN_T(jvp_concatenate_and_stack);
    RUN_T(jvp_take_scatter_and_slice_update);
    RUN_T(jvp_stop_gradient_and_custom_vjp);
    RUN_T(jvp_non_differentiable_ops_give_no_tangent);
    RUN_T(jvp_composite_network);
    RUN_T(jvp_of_vjp_gives_hessian_vector_products);
}
