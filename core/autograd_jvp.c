/* autograd_jvp.c -- forward-mode (JVP) rules, one per primitive.
 *
 * ty__jvp_rule(out, in_tangents, &t) writes the tangent of `out` given the
 * tangents of its node's inputs (NULL = zero), or NULL when it is zero. Every
 * rule is built from public, differentiable ops, so forward-over-reverse and
 * reverse-over-forward compose.
 *
 * Conventions
 *   - A tangent is zero (NULL) when out is not a float (comparisons, argmax,
 *     argsort, integer arithmetic, ...), and the tangent of an input whose
 *     dtype is not a float is taken as zero (an integer does not vary).
 *   - Piecewise-constant ops (sign, floor, ceil, round, trunc, floor_divide,
 *     isnan/isinf, logical ops, creation, random) have zero tangents.
 *   - The result is cast to out's dtype (inputs of a node may have different
 *     dtypes: add(float32, float64) has its inputs uncast).
 *   - Elementwise nodes have their inputs already broadcast to out's shape
 *     (BROADCAST_TO views), matmul inputs already broadcast and cast.
 *   - Choices at non-differentiable points: relu'(0) = 0; abs'(0) = 0
 *     (t * sign(x)); maximum/minimum give the tangent of the first operand on
 *     ties; max/min reductions average the tangents of the tied maxima.
 *   - prod: the tangent sum_i t_i * prod_{j != i} x_j, with the exclusive
 *     products formed by a forward and a reverse exclusive cumprod over the
 *     reduced axes (moved last and flattened): exact at zeros, no division.
 *   - cumprod: dy_i = sum_{j <= i} t_j * prod_{k <= i, k != j} x_k (k >= i
 *     for reverse scans), exact at zeros, formed as an (N, N) matrix per row
 *     (cumprod of x with the j-th entry replaced by 1, masked to the
 *     triangle) and contracted with the tangent by matmul. When the axis is
 *     long (the matrices would exceed 2^22 elements) it falls back to
 *     y * cumsum(t / x), which is exact wherever x has no zeros.
 *   - pow: d/da = b * a^(b-1) (0 where b == 0), d/db = out * log(a)
 *     (0 where a == 0).
 *   - Custom-VJP views (TY_VIEW_CUSTOM) forward the tangent of the output
 *     they view: forward mode ignores the custom VJP. Stop-gradient views
 *     give zero.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "autograd_scope.h"

/* ---------------------------------------------------------------- scope
 * Temporaries of one rule: every array made through K() is released when
 * the rule ends; after the first failure K() makes nothing more (the
 * expression is not evaluated), so the first error message stays. */

typedef ty__scope scope;

#define K(expr) (S.failed ? NULL : ty__scope_keep(&S, (expr)))

/* Ends a rule: writes r (a temporary of the scope, or NULL for zero) cast to
 * out's dtype as an owned reference. */
static int finish(scope *s, ty_array *out, ty_array *r, ty_array **out_tangent)
{
    ty_array *res = NULL;
    if (!s->failed && r) {
        res = ty__cast(r, out->dtype);
        if (!res) s->failed = true;
        else if (!ty__same_shape(res, out->ndim, out->shape)) {
            char b0[TY_SHAPE_BUF], b1[TY_SHAPE_BUF];
            ty__error("[jvp] %s: tangent of shape %s for an output of shape %s",
                      ty_op_name(out->node->op), ty__shp(res, b0), ty__shp(out, b1));
            ty_release(res);
            res = NULL;
            s->failed = true;
        }
    }
    ty__scope_release(s);
    if (s->failed) return -1;
    *out_tangent = res;
    return 0;
}

/* A 0-d constant in dtype on a's device. */
static ty_array *cst(ty_array *a, double v, ty_dtype dtype)
{
    return ty_full(0, NULL, v, dtype, a->device);
}

/* Zeros shaped like a in dtype. */
static ty_array *zeros_as(ty_array *a, ty_dtype dtype)
{
    return ty_zeros(a->ndim, a->shape, dtype, a->device);
}

/* ---------------------------------------------------------------- helpers */

/* x as a mask-multiplier: the bool m cast to dtype. */
static ty_array *as_dtype(ty_array *m, ty_dtype dtype) { return ty__cast(m, dtype); }

/* out's shape with the reduced axes kept as 1 (for broadcasting it back). */
static ty_array *keepdims_view(ty_array *out, ty_array *x, const ty_params *p)
{
    if (p->keepdims) return ty_retain(out);
    int64_t shape[TY_MAX_DIMS];
    for (int d = 0, k = 0; d < x->ndim; d++) {
        bool reduced = k < p->naxes && p->axes[k] == d;
        if (reduced) k++;
        shape[d] = reduced ? 1 : x->shape[d];
    }
    return ty_reshape(out, x->ndim, shape);
}

/* ---------------------------------------------------------------- unary */

static int unary_rule(ty_array *out, ty_array *t, ty_array **out_tangent)
{
    scope S = {0};
    ty_op op = out->node->op;
    ty_array *x = out->node->inputs[0];
    ty_dtype dt = out->dtype;
    ty_array *r = NULL;
#define C(v) K(cst(out, (v), dt))
    switch (op) {
    case TY_OP_NEG: r = K(ty_neg(t)); break;
    case TY_OP_ABS: r = K(ty_mul(t, K(ty_sign(x)))); break;
    case TY_OP_EXP: r = K(ty_mul(t, out)); break;
    case TY_OP_LOG: r = K(ty_div(t, x)); break;
    case TY_OP_LOG1P: r = K(ty_div(t, K(ty_add(x, C(1))))); break;
    case TY_OP_EXPM1: r = K(ty_mul(t, K(ty_add(out, C(1))))); break;
    case TY_OP_SQRT: r = K(ty_div(K(ty_mul(t, C(0.5))), out)); break;
    case TY_OP_RSQRT: /* d x^-1/2 = -1/2 x^-3/2 = -1/2 out^3 */
        r = K(ty_mul(K(ty_mul(t, C(-0.5))), K(ty_mul(K(ty_square(out)), out))));
        break;
    case TY_OP_SQUARE: r = K(ty_mul(t, K(ty_mul(x, C(2))))); break;
    case TY_OP_RECIPROCAL: r = K(ty_neg(K(ty_mul(t, K(ty_square(out)))))); break;
    case TY_OP_SIN: r = K(ty_mul(t, K(ty_cos(x)))); break;
    case TY_OP_COS: r = K(ty_neg(K(ty_mul(t, K(ty_sin(x)))))); break;
    case TY_OP_TAN: r = K(ty_mul(t, K(ty_add(C(1), K(ty_square(out)))))); break;
    case TY_OP_TANH: r = K(ty_mul(t, K(ty_sub(C(1), K(ty_square(out)))))); break;
    case TY_OP_SIGMOID: r = K(ty_mul(t, K(ty_mul(out, K(ty_sub(C(1), out)))))); break;
    case TY_OP_RELU: r = K(ty_where(K(ty_gt(x, C(0))), t, C(0))); break;
    case TY_OP_GELU: { /* x Phi(x): Phi(x) + x phi(x) */
        ty_array *phi_cdf = K(ty_mul(C(0.5), K(ty_add(C(1), K(ty_erf(K(ty_mul(x,
                              C(0.70710678118654752440)))))))));
        ty_array *pdf = K(ty_mul(C(0.39894228040143267794),
                                 K(ty_exp(K(ty_mul(K(ty_square(x)), C(-0.5)))))));
        r = K(ty_mul(t, K(ty_add(phi_cdf, K(ty_mul(x, pdf))))));
        break;
    }
    case TY_OP_GELU_TANH: { /* 0.5 x (1 + tanh u), u = c (x + 0.044715 x^3) */
        const double c = 0.79788456080286535588;
        ty_array *x2 = K(ty_square(x));
        ty_array *u = K(ty_mul(C(c), K(ty_add(x, K(ty_mul(K(ty_mul(x2, x)), C(0.044715)))))));
        ty_array *th = K(ty_tanh(u));
        ty_array *du = K(ty_mul(C(c), K(ty_add(C(1), K(ty_mul(x2, C(3 * 0.044715)))))));
        ty_array *a = K(ty_mul(C(0.5), K(ty_add(C(1), th))));
        ty_array *b = K(ty_mul(K(ty_mul(C(0.5), x)),
                               K(ty_mul(K(ty_sub(C(1), K(ty_square(th)))), du))));
        r = K(ty_mul(t, K(ty_add(a, b))));
        break;
    }
    case TY_OP_SILU: { /* x s(x): s (1 + x (1 - s)) */
        ty_array *s = K(ty_sigmoid(x));
        r = K(ty_mul(t, K(ty_mul(s, K(ty_add(C(1), K(ty_mul(x, K(ty_sub(C(1), s))))))))));
        break;
    }
    case TY_OP_SOFTPLUS: r = K(ty_mul(t, K(ty_sigmoid(x)))); break;
    case TY_OP_ERF: /* 2/sqrt(pi) exp(-x^2) */
        r = K(ty_mul(t, K(ty_mul(C(1.12837916709551257390),
                                 K(ty_exp(K(ty_neg(K(ty_square(x))))))))));
        break;
    case TY_OP_ERFINV: /* sqrt(pi)/2 exp(out^2) */
        r = K(ty_mul(t, K(ty_mul(C(0.88622692545275801365), K(ty_exp(K(ty_square(out))))))));
        break;
    case TY_OP_ASIN: r = K(ty_mul(t, K(ty_rsqrt(K(ty_sub(C(1), K(ty_square(x)))))))); break;
    case TY_OP_ACOS:
        r = K(ty_neg(K(ty_mul(t, K(ty_rsqrt(K(ty_sub(C(1), K(ty_square(x))))))))));
        break;
    case TY_OP_ATAN: r = K(ty_div(t, K(ty_add(C(1), K(ty_square(x)))))); break;
    case TY_OP_SINH: r = K(ty_mul(t, K(ty_cosh(x)))); break;
    case TY_OP_COSH: r = K(ty_mul(t, K(ty_sinh(x)))); break;
    case TY_OP_LOG2: r = K(ty_div(t, K(ty_mul(x, C(0.69314718055994530942))))); break;
    case TY_OP_LOG10: r = K(ty_div(t, K(ty_mul(x, C(2.30258509299404568402))))); break;
    case TY_OP_EXP2: r = K(ty_mul(t, K(ty_mul(out, C(0.69314718055994530942))))); break;
    default: /* piecewise constant: sign, floor, ceil, round, trunc, ... */
        r = NULL;
        break;
    }
#undef C
    return finish(&S, out, r, out_tangent);
}

/* ---------------------------------------------------------------- binary */

static int binary_rule(ty_array *out, ty_array *ta, ty_array *tb, ty_array **out_tangent)
{
    scope S = {0};
    ty_op op = out->node->op;
    ty_array *a = out->node->inputs[0], *b = out->node->inputs[1];
    ty_dtype dt = out->dtype;
    ty_array *r = NULL;
#define C(v) K(cst(out, (v), dt))
    switch (op) {
    case TY_OP_ADD:
        r = ta && tb ? K(ty_add(ta, tb)) : (ta ? ta : tb);
        break;
    case TY_OP_SUB:
        r = ta && tb ? K(ty_sub(ta, tb)) : (ta ? ta : K(ty_neg(tb)));
        break;
    case TY_OP_MUL: {
        ty_array *x = ta ? K(ty_mul(ta, b)) : NULL;
        ty_array *y = tb ? K(ty_mul(a, tb)) : NULL;
        r = x && y ? K(ty_add(x, y)) : (x ? x : y);
        break;
    }
    case TY_OP_DIV: { /* (ta - tb * out) / b */
        ty_array *num = ta && tb ? K(ty_sub(ta, K(ty_mul(tb, out))))
                                 : (ta ? ta : K(ty_neg(K(ty_mul(tb, out)))));
        r = K(ty_div(num, b));
        break;
    }
    case TY_OP_POW: {
        ty_array *x = NULL, *y = NULL;
        if (ta) { /* b a^(b-1), 0 where b == 0 */
            ty_array *d = K(ty_mul(b, K(ty_pow(a, K(ty_sub(b, C(1)))))));
            x = K(ty_mul(ta, K(ty_where(K(ty_eq(b, C(0))), C(0), d))));
        }
        if (tb) { /* out log a, 0 where a == 0 */
            ty_array *d = K(ty_mul(out, K(ty_log(a))));
            y = K(ty_mul(tb, K(ty_where(K(ty_eq(a, C(0))), C(0), d))));
        }
        r = x && y ? K(ty_add(x, y)) : (x ? x : y);
        break;
    }
    case TY_OP_MAXIMUM: case TY_OP_MINIMUM: {
        /* the winner's tangent; ties go to the first operand */
        ty_array *first = K(op == TY_OP_MAXIMUM ? ty_ge(a, b) : ty_le(a, b));
        ty_array *z = C(0);
        r = K(ty_where(first, ta ? ta : z, tb ? tb : z));
        break;
    }
    case TY_OP_REMAINDER: { /* a - b floor(a / b) */
        ty_array *y = tb ? K(ty_mul(tb, K(ty_floor_divide(a, b)))) : NULL;
        r = ta && y ? K(ty_sub(ta, y)) : (ta ? ta : K(ty_neg(y)));
        break;
    }
    case TY_OP_ATAN2: { /* (b ta - a tb) / (a^2 + b^2) */
        ty_array *x = ta ? K(ty_mul(b, ta)) : NULL;
        ty_array *y = tb ? K(ty_mul(a, tb)) : NULL;
        ty_array *num = x && y ? K(ty_sub(x, y)) : (x ? x : K(ty_neg(y)));
        r = K(ty_div(num, K(ty_add(K(ty_square(a)), K(ty_square(b))))));
        break;
    }
    default: /* floor_divide, comparisons, logical ops */
        r = NULL;
        break;
    }
#undef C
    return finish(&S, out, r, out_tangent);
}

/* ---------------------------------------------------------------- reductions */

/* x's reduced axes (params) moved last and merged: (kept..., N). */
static ty_array *reduced_last(ty_array *x, const ty_params *p)
{
    int perm[TY_MAX_DIMS], n = 0, k = 0;
    int64_t shape[TY_MAX_DIMS], rn = 1;
    int nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (k < p->naxes && p->axes[k] == d) {
            k++;
            continue;
        }
        perm[n++] = d;
        shape[nd++] = x->shape[d];
    }
    for (int i = 0; i < p->naxes; i++) {
        perm[n++] = p->axes[i];
        rn *= x->shape[p->axes[i]];
    }
    shape[nd++] = rn;
    ty_array *tr = ty_transpose(x, perm);
    ty_array *r = tr ? ty_reshape(tr, nd, shape) : NULL;
    return ty__drop(r, 1, tr);
}

/* Slice of the last axis [lo, hi) of x. */
static ty_array *slice_last(ty_array *x, int64_t lo, int64_t hi)
{
    int64_t start[TY_MAX_DIMS] = {0}, stop[TY_MAX_DIMS], step[TY_MAX_DIMS];
    if (x->ndim < 1 || x->ndim > TY_MAX_DIMS) return ty__error_null("[jvp] bad rank");
    for (int d = 0; d < x->ndim; d++) {
        stop[d] = x->shape[d];
        step[d] = 1;
    }
    start[x->ndim - 1] = lo;
    stop[x->ndim - 1] = hi;
    return ty_slice(x, start, stop, step);
}

/* x padded on the last axis with one 1 before (or after). */
static ty_array *pad_one_last(ty_array *x, bool after)
{
    int64_t before[TY_MAX_DIMS] = {0}, aft[TY_MAX_DIMS] = {0};
    if (x->ndim < 1 || x->ndim > TY_MAX_DIMS) return ty__error_null("[jvp] bad rank");
    for (int d = 0; d < x->ndim; d++) {
        bool last = d == x->ndim - 1;
        before[d] = last && !after;
        aft[d] = last && after;
    }
    return ty_pad(x, before, aft, 1.0);
}

static int prod_rule(ty_array *out, ty_array *t, ty_array **out_tangent)
{
    scope S = {0};
    const ty_params *p = &out->node->params;
    ty_array *x = out->node->inputs[0];
    ty_array *xr = K(reduced_last(x, p));
    ty_array *tr = K(reduced_last(t, p));
    ty_array *r = NULL;
    if (!S.failed) {
        int64_t n = xr->shape[xr->ndim - 1];
        if (n == 0) return finish(&S, out, NULL, out_tangent);
        /* [1, x0, x0 x1, ...] and [..., x_{n-2} x_{n-1}, x_{n-1}, 1] */
        ty_array *fw = K(slice_last(K(ty_cumprod(K(pad_one_last(xr, false)), -1, false)),
                                    0, n));
        ty_array *bw = K(slice_last(K(ty_cumprod(K(pad_one_last(xr, true)), -1, true)),
                                    1, n + 1));
        ty_array *s = K(ty_sum(K(ty_mul(tr, K(ty_mul(fw, bw)))), (int[]){-1}, 1, false));
        r = K(ty_reshape(s, out->ndim, out->shape));
    }
    return finish(&S, out, r, out_tangent);
}

static int maxmin_rule(ty_array *out, ty_array *t, ty_array **out_tangent)
{
    scope S = {0};
    const ty_params *p = &out->node->params;
    ty_array *x = out->node->inputs[0];
    ty_array *ok = K(keepdims_view(out, x, p));
    ty_array *mask = K(as_dtype(K(ty_eq(x, ok)), out->dtype));
    ty_array *num = K(ty_sum(K(ty_mul(t, mask)), p->axes, p->naxes, p->keepdims));
    ty_array *cnt = K(ty_sum(mask, p->axes, p->naxes, p->keepdims));
    ty_array *r = p->naxes ? K(ty_div(num, cnt)) : K(ty_mul(t, mask));
    return finish(&S, out, r, out_tangent);
}

/* Largest (N, N) matrix set used by the exact cumprod rule. */
#define CUMPROD_EXACT_LIMIT ((int64_t)1 << 22)

static int cumprod_rule(ty_array *out, ty_array *t, ty_array **out_tangent)
{
    scope S = {0};
    const ty_params *p = &out->node->params;
    ty_array *x = out->node->inputs[0];
    int ax = p->axis, nd = x->ndim;
    int64_t n = x->shape[ax];
    ty_array *r = NULL;
    if (n == 0 || x->size == 0) return finish(&S, out, NULL, out_tangent);
    if (x->size / n * n * n > CUMPROD_EXACT_LIMIT || nd >= TY_MAX_DIMS) {
        /* y * cumsum(t / x): exact where x has no zeros */
        r = K(ty_mul(out, K(ty_cumsum(K(ty_div(t, x)), ax, p->reverse))));
        return finish(&S, out, r, out_tangent);
    }
    /* move the axis last: (..., n) */
    int perm[TY_MAX_DIMS], inv[TY_MAX_DIMS], k = 0;
    for (int d = 0; d < nd; d++)
        if (d != ax) perm[k++] = d;
    perm[k] = ax;
    for (int d = 0; d < nd; d++) inv[perm[d]] = d;
    ty_array *xt = K(ty_transpose(x, perm));
    ty_array *tt = K(ty_transpose(t, perm));
    /* X[..., j, k] = x_k, with 1 where k == j */
    ty_array *xe = K(ty_expand_dims(xt, -2));                        /* (..., 1, n) */
    ty_array *eye = K(ty_eye(n, n, 0, TY_BOOL, x->device));
    ty_array *one = K(cst(x, 1, x->dtype));
    ty_array *X = K(ty_where(eye, one, xe));                         /* (..., n, n) */
    ty_array *P = K(ty_cumprod(X, -1, p->reverse));
    /* the triangle k >= j (k <= j reversed): upper (lower) with the diagonal */
    ty_array *ar = K(ty_arange(0, 1, n, TY_INT32, x->device));
    ty_array *col = K(ty_expand_dims(ar, 0));                       /* (1, n): k */
    ty_array *row = K(ty_expand_dims(ar, 1));                       /* (n, 1): j */
    ty_array *tri = K(as_dtype(K(p->reverse ? ty_le(col, row) : ty_ge(col, row)), x->dtype));
    ty_array *M = K(ty_mul(P, tri));
    ty_array *te = K(ty_expand_dims(tt, -2));                        /* (..., 1, n): j */
    ty_array *prod = K(ty_matmul(te, M));                            /* (..., 1, n): k */
    ty_array *sq = K(ty_squeeze(prod, (int[]){-2}, 1));
    r = K(ty_transpose(sq, inv));
    return finish(&S, out, r, out_tangent);
}

/* ---------------------------------------------------------------- the rule */

int ty__jvp_rule(ty_array *out, ty_array *const *in_tangents, ty_array **out_tangent)
{
    *out_tangent = NULL;
    if (!out || !out->node) return 0;
    ty_node *n = out->node;
    const ty_params *p = &n->params;
    /* tangents of non-float inputs are zero */
    ty_array *tin[TY_MAX_INPUTS_INLINE + 1] = {0};
    for (int i = 0; i < n->ninputs && i <= TY_MAX_INPUTS_INLINE; i++)
        tin[i] = in_tangents[i] && ty_dtype_is_float(n->inputs[i]->dtype) ? in_tangents[i]
                                                                            : NULL;
    ty_array *t0 = tin[0];
    bool float_out = ty_dtype_is_float(out->dtype);
    scope S = {0};
    ty_array *r = NULL;

    switch (n->op) {
    /* ---- no tangent: creation, random, non-differentiable results */
    case TY_OP_NONE:
    case TY_OP_FULL: case TY_OP_ARANGE: case TY_OP_LINSPACE: case TY_OP_EYE:
    case TY_OP_RANDOM:
    case TY_OP_SIGN: case TY_OP_FLOOR: case TY_OP_CEIL: case TY_OP_ROUND: case TY_OP_TRUNC:
    case TY_OP_LOGICAL_NOT: case TY_OP_ISNAN: case TY_OP_ISINF:
    case TY_OP_FLOOR_DIVIDE:
    case TY_OP_EQ: case TY_OP_NE: case TY_OP_LT: case TY_OP_LE: case TY_OP_GT: case TY_OP_GE:
    case TY_OP_LOGICAL_AND: case TY_OP_LOGICAL_OR:
    case TY_OP_ALL: case TY_OP_ANY:
    case TY_OP_ARGMAX: case TY_OP_ARGMIN: case TY_OP_ARGSORT:
        return 0;
    case TY_OP_COUNT:
        return ty__error("[jvp] unknown op %d", (int)n->op);
    case TY_OP_CONV: case TY_OP_POOL: case TY_OP_POOL_GRAD:
        return ty__jvp_conv_rule(out, in_tangents, out_tangent);
    case TY_OP_NORMALIZE: case TY_OP_ATTENTION: case TY_OP_SOFTMAX_CROSS_ENTROPY:
        return ty__jvp_nn_rule(out, in_tangents, out_tangent);
    case TY_OP_OPTIM_UPDATE:
        return 0;

    /* ---- elementwise */
    case TY_OP_NEG: case TY_OP_ABS: case TY_OP_EXP: case TY_OP_LOG: case TY_OP_LOG1P:
    case TY_OP_EXPM1: case TY_OP_SQRT: case TY_OP_RSQRT: case TY_OP_SQUARE:
    case TY_OP_RECIPROCAL: case TY_OP_SIN: case TY_OP_COS: case TY_OP_TAN: case TY_OP_TANH:
    case TY_OP_SIGMOID: case TY_OP_RELU: case TY_OP_GELU: case TY_OP_GELU_TANH:
    case TY_OP_SILU: case TY_OP_SOFTPLUS: case TY_OP_ERF: case TY_OP_ERFINV:
    case TY_OP_ASIN: case TY_OP_ACOS: case TY_OP_ATAN: case TY_OP_SINH: case TY_OP_COSH:
    case TY_OP_LOG2: case TY_OP_LOG10: case TY_OP_EXP2:
        if (!float_out || !t0) return 0;
        return unary_rule(out, t0, out_tangent);
    case TY_OP_ADD: case TY_OP_SUB: case TY_OP_MUL: case TY_OP_DIV: case TY_OP_POW:
    case TY_OP_MAXIMUM: case TY_OP_MINIMUM: case TY_OP_REMAINDER: case TY_OP_ATAN2:
        if (!float_out || (!tin[0] && !tin[1])) return 0;
        return binary_rule(out, tin[0], tin[1], out_tangent);
    case TY_OP_WHERE: {
        ty_array *ta = tin[1], *tb = tin[2];
        if (!float_out || (!ta && !tb)) return 0;
        ty_array *z = K(cst(out, 0, out->dtype));
        r = K(ty_where(n->inputs[0], ta ? ta : z, tb ? tb : z));
        break;
    }
    case TY_OP_ASTYPE:
        if (!float_out || !t0) return 0;
        r = t0;   /* finish casts it */
        break;

    /* ---- reductions and scans */
    case TY_OP_SUM:
        if (!float_out || !t0) return 0;
        r = K(ty_sum(t0, p->axes, p->naxes, p->keepdims));
        break;
    case TY_OP_PROD:
        if (!float_out || !t0) return 0;
        return prod_rule(out, t0, out_tangent);
    case TY_OP_MAX: case TY_OP_MIN:
        if (!float_out || !t0) return 0;
        return maxmin_rule(out, t0, out_tangent);
    case TY_OP_CUMSUM:
        if (!float_out || !t0) return 0;
        r = K(ty_cumsum(t0, p->axis, p->reverse));
        break;
    case TY_OP_CUMPROD:
        if (!float_out || !t0) return 0;
        return cumprod_rule(out, t0, out_tangent);
    case TY_OP_SOFTMAX: { /* out (t - sum(out t)) */
        if (!float_out || !t0) return 0;
        ty_array *s = K(ty_sum(K(ty_mul(out, t0)), (int[]){p->axis}, 1, true));
        r = K(ty_mul(out, K(ty_sub(t0, s))));
        break;
    }
    case TY_OP_LOG_SOFTMAX: { /* t - sum(softmax t) */
        if (!float_out || !t0) return 0;
        ty_array *s = K(ty_sum(K(ty_mul(K(ty_exp(out)), t0)), (int[]){p->axis}, 1, true));
        r = K(ty_sub(t0, s));
        break;
    }

    /* ---- linear algebra */
    case TY_OP_MATMUL: {
        if (!float_out || (!tin[0] && !tin[1])) return 0;
        ty_array *x = tin[0] ? K(ty_matmul(tin[0], n->inputs[1])) : NULL;
        ty_array *y = tin[1] ? K(ty_matmul(n->inputs[0], tin[1])) : NULL;
        r = x && y ? K(ty_add(x, y)) : (x ? x : y);
        break;
    }

    /* ---- views */
    case TY_OP_RESHAPE:
        if (p->kind == TY_VIEW_STOP) return 0;
        /* plain, traced and custom-VJP views: the tangent of input 0 */
        if (!float_out || !t0) return 0;
        r = K(ty_reshape(t0, out->ndim, out->shape));
        break;
    case TY_OP_TRANSPOSE:
        if (!float_out || !t0) return 0;
        r = K(ty_transpose(t0, p->axes));
        break;
    case TY_OP_BROADCAST_TO:
        if (!float_out || !t0) return 0;
        r = K(ty_broadcast_to(t0, out->ndim, out->shape));
        break;
    case TY_OP_SLICE:
        if (!float_out || !t0) return 0;
        r = K(ty_slice(t0, p->start, p->stop, p->step));
        break;

    /* ---- data movement */
    case TY_OP_COPY:
        if (!float_out || !t0) return 0;
        r = t0;
        break;
    case TY_OP_CONCATENATE: {
        if (!float_out) return 0;
        bool any = false;
        for (int i = 0; i < n->ninputs; i++)
            any = any || (in_tangents[i] && ty_dtype_is_float(n->inputs[i]->dtype));
        if (!any) return 0;
        ty_array **parts = calloc((size_t)n->ninputs, sizeof *parts);
        if (!parts) return ty__error("[jvp] out of host memory");
        int i = 0;
        for (; i < n->ninputs; i++) {
            ty_array *ti = in_tangents[i] && ty_dtype_is_float(n->inputs[i]->dtype)
                               ? in_tangents[i] : NULL;
            parts[i] = ti ? ty__cast(ti, out->dtype) : zeros_as(n->inputs[i], out->dtype);
            if (!parts[i]) break;
        }
        ty_array *c = i == n->ninputs ? ty_concatenate(parts, n->ninputs, p->axis) : NULL;
        while (i--) ty_release(parts[i]);
        free(parts);
        r = K(c);
        break;
    }
    case TY_OP_PAD:
        if (!float_out || !t0) return 0;
        r = K(ty_pad(t0, p->start, p->stop, 0.0));
        break;
    case TY_OP_TAKE:
        if (!float_out || !t0) return 0;
        r = K(ty_take(t0, n->inputs[1], p->axis, p->index_base));
        break;
    case TY_OP_TAKE_ALONG_AXIS:
        if (!float_out || !t0) return 0;
        r = K(ty_take_along_axis(t0, n->inputs[1], p->axis, p->index_base));
        break;
    case TY_OP_SCATTER_ADD: {
        ty_array *ta = tin[0], *ts = tin[2];
        if (!float_out || (!ta && !ts)) return 0;
        if (!ts) {
            r = ta;
            break;
        }
        ty_array *base = ta ? K(ty__cast(ta, out->dtype)) : K(zeros_as(out, out->dtype));
        r = K(ty_scatter_add(base, p->axis, n->inputs[1], ts, p->index_base));
        break;
    }
    case TY_OP_SLICE_UPDATE: {
        ty_array *ta = tin[0], *tv = tin[1];
        if (!float_out || (!ta && !tv)) return 0;
        ty_array *base = ta ? K(ty__cast(ta, out->dtype)) : K(zeros_as(out, out->dtype));
        ty_array *v = tv ? tv : K(cst(out, 0, out->dtype));
        r = K(ty_slice_update(base, v, p->start, p->stop, p->step));
        break;
    }
    case TY_OP_SORT: {
        if (!float_out || !t0) return 0;
        ty_array *order = K(ty_argsort(n->inputs[0], p->axis, p->descending, 0));
        r = K(ty_take_along_axis(t0, order, p->axis, 0));
        break;
    }
    }
    return finish(&S, out, r, out_tangent);
}
