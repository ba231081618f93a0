/*
 * autograd_vjp.c -- the VJP rule of every primitive (ty__vjp_rule).
 *
 * Every rule is built from public ty_* ops only, so the cotangents it builds
 * are ordinary lazy graphs that can be differentiated again (higher order).
 *
 * Conventions (see internal.h):
 *   - g has out's shape and dtype; in_grads[i] gets input i's shape and
 *     dtype (computed in out's dtype, then cast), or NULL when no gradient
 *     flows: integer/bool inputs, indices, conditions, integer outputs and
 *     the non-differentiable ops (comparisons, logical ops, isnan/isinf,
 *     sign, floor/ceil/round/trunc, floor_divide, argmax/argmin, argsort,
 *     all/any, creation, random). The framework treats NULL as zero.
 *   - Elementwise nodes have inputs already broadcast to the output's shape
 *     by BROADCAST_TO view nodes, so broadcasting is undone in one place:
 *     the BROADCAST_TO rule (sum over the broadcast axes, reshape back).
 *
 * Choices at non-differentiable points:
 *   - maximum/minimum: where a == b the cotangent is split half/half between
 *     the two inputs (the sum of the two is the cotangent, as for the
 *     subgradient of the symmetric function).
 *   - max/min reductions: the cotangent is divided equally among the
 *     positions equal to the result (ties share it).
 *   - relu: zero at x == 0; abs: sign(x), zero at 0.
 *   - pow: d/da uses b * a^(b-1), and is 0 where b == 0; d/db = out * log(a)
 *     where a > 0 and 0 elsewhere (log is taken of a guarded argument, so
 *     second derivatives stay finite there too).
 *   - prod reduction: g * (product of the other elements), computed exactly
 *     (no division) from exclusive cumulative products in both directions.
 *   - cumprod: the division form sum_{i>=k} g_i y_i / x_k where x_k != 0;
 *     at the first zero of a scan the exact value (exclusive product before
 *     it times the reverse cumsum of g times the products after it); after
 *     the first zero the gradient is 0 (exact). Second derivatives are exact
 *     except at points with two or more zeros in one scan.
 *   - sort: the cotangent is scattered back through argsort of the input
 *     (stable, so ties keep their order).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd_scope.h"

/* ---------------------------------------------------------------- scope
 * Temporaries of one rule, released together. Every op goes through T(),
 * which skips the op once something failed (so the first error message is
 * kept) and records the result. */

typedef ty__scope scope;

#define T(expr) (S->failed ? NULL : ty__scope_keep(S, (expr)))

/* A 0-d constant of out's dtype. */
static ty_array *k(scope *S, double v) { return T(ty_full(0, NULL, v, S->dtype, S->device)); }
static ty_array *add(scope *S, ty_array *a, ty_array *b) { return T(ty_add(a, b)); }
static ty_array *sub(scope *S, ty_array *a, ty_array *b) { return T(ty_sub(a, b)); }
static ty_array *mul(scope *S, ty_array *a, ty_array *b) { return T(ty_mul(a, b)); }
static ty_array *dv(scope *S, ty_array *a, ty_array *b) { return T(ty_div(a, b)); }
static ty_array *mulk(scope *S, ty_array *a, double v) { return mul(S, a, k(S, v)); }
static ty_array *addk(scope *S, ty_array *a, double v) { return add(S, a, k(S, v)); }
/* v - a */
static ty_array *ksub(scope *S, double v, ty_array *a) { return sub(S, k(S, v), a); }
static ty_array *sq(scope *S, ty_array *a) { return mul(S, a, a); }
/* A bool mask as 0/1 of out's dtype. */
static ty_array *as_float(scope *S, ty_array *m) { return T(ty_astype(m, S->dtype)); }
/* where(c, a, 0) and where(c, 0, a). */
static ty_array *keep_where(scope *S, ty_array *c, ty_array *a)
{
    return T(ty_where(c, a, k(S, 0)));
}
static ty_array *zero_where(scope *S, ty_array *c, ty_array *a)
{
    return T(ty_where(c, k(S, 0), a));
}

/* Input i of out's node, cast to out's dtype. */
static ty_array *in_x(scope *S, ty_array *out, int i)
{
    return T(ty_astype(out->node->inputs[i], S->dtype));
}

/* The gradient x (in out's dtype) for input `in`: an owned reference cast to
 * the input's dtype, or NULL when the input is not a float (or on failure,
 * with S->failed set). */
static ty_array *give(scope *S, ty_array *x, ty_array *in)
{
    if (S->failed || !ty_dtype_is_float(in->dtype)) return NULL;
    ty_array *r = ty_astype(x, in->dtype);
    if (!r) S->failed = true;
    return r;
}

/* ---------------------------------------------------------------- shape helpers */

static void slice_all(const ty_array *a, int64_t *start, int64_t *stop, int64_t *step)
{
    for (int d = 0; d < a->ndim; d++) {
        start[d] = 0;
        stop[d] = a->shape[d];
        step[d] = 1;
    }
}

/* x (a reduction's result, or its cotangent) reshaped to the keepdims shape
 * of `in` over the axes and broadcast to in's shape. */
static ty_array *expand_back(scope *S, ty_array *x, ty_array *in, const int *axes, int naxes)
{
    int64_t kshape[TY_MAX_DIMS];
    for (int d = 0; d < in->ndim; d++) kshape[d] = in->shape[d];
    for (int i = 0; i < naxes; i++) kshape[axes[i]] = 1;
    ty_array *r = T(ty_reshape(x, in->ndim, kshape));
    return T(ty_broadcast_to(r, in->ndim, in->shape));
}

/* Exclusive cumulative product of x along axis (forward: prod_{j<i};
 * reverse: prod_{j>i}), built from cumprod, pad and slice. */
static ty_array *excl_cumprod(scope *S, ty_array *x, int axis, bool reverse)
{
    int64_t before[TY_MAX_DIMS] = {0}, after[TY_MAX_DIMS] = {0};
    int64_t start[TY_MAX_DIMS], stop[TY_MAX_DIMS], step[TY_MAX_DIMS];
    int64_t n = x->shape[axis];
    ty_array *c = T(ty_cumprod(x, axis, reverse));
    if (reverse) after[axis] = 1;
    else before[axis] = 1;
    ty_array *p = T(ty_pad(c, before, after, 1.0));
    if (!p) return NULL;
    slice_all(p, start, stop, step);
    start[axis] = reverse ? 1 : 0;
    stop[axis] = reverse ? n + 1 : n;
    return T(ty_slice(p, start, stop, step));
}

/* ---------------------------------------------------------------- unary */

/* d out / d x for the differentiable unary ops, in terms of x and y = out;
 * NULL (without failing) for the ones with no gradient. */
static ty_array *unary_derivative(scope *S, ty_op op, ty_array *x, ty_array *y, bool *none)
{
    *none = false;
    switch (op) {
    case TY_OP_NEG: return k(S, -1);
    case TY_OP_ABS: return T(ty_sign(x));
    case TY_OP_EXP: return y;
    case TY_OP_LOG: return T(ty_reciprocal(x));
    case TY_OP_LOG1P: return T(ty_reciprocal(addk(S, x, 1)));
    case TY_OP_EXPM1: return addk(S, y, 1);
    case TY_OP_SQRT: return dv(S, k(S, 0.5), y);
    case TY_OP_RSQRT: return mulk(S, mul(S, y, sq(S, y)), -0.5);
    case TY_OP_SQUARE: return mulk(S, x, 2);
    case TY_OP_RECIPROCAL: return T(ty_neg(sq(S, y)));
    case TY_OP_SIN: return T(ty_cos(x));
    case TY_OP_COS: return T(ty_neg(T(ty_sin(x))));
    case TY_OP_TAN: return addk(S, sq(S, y), 1);
    case TY_OP_TANH: return ksub(S, 1, sq(S, y));
    case TY_OP_SIGMOID: return mul(S, y, ksub(S, 1, y));
    case TY_OP_RELU: return as_float(S, T(ty_gt(x, k(S, 0))));
    case TY_OP_GELU: {
        /* Phi(x) + x phi(x) */
        ty_array *phi_big = mulk(S, addk(S, T(ty_erf(mulk(S, x, M_SQRT1_2))), 1), 0.5);
        ty_array *phi = mulk(S, T(ty_exp(mulk(S, sq(S, x), -0.5))), 0.39894228040143267794);
        return add(S, phi_big, mul(S, x, phi));
    }
    case TY_OP_GELU_TANH: {
        /* f = x/2 (1 + t), t = tanh(c (x + a x^3)):
         * f' = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 a x^2) */
        const double c = 0.79788456080286535588, a = 0.044715;
        ty_array *x2 = sq(S, x);
        ty_array *inner = mulk(S, mul(S, x, addk(S, mulk(S, x2, a), 1)), c);
        ty_array *t = T(ty_tanh(inner));
        ty_array *left = mulk(S, addk(S, t, 1), 0.5);
        ty_array *dinner = mulk(S, addk(S, mulk(S, x2, 3 * a), 1), c);
        ty_array *right = mul(S, mulk(S, x, 0.5), mul(S, ksub(S, 1, sq(S, t)), dinner));
        return add(S, left, right);
    }
    case TY_OP_SILU: {
        /* s (1 + x (1 - s)) */
        ty_array *s = T(ty_sigmoid(x));
        return mul(S, s, addk(S, mul(S, x, ksub(S, 1, s)), 1));
    }
    case TY_OP_SOFTPLUS: return T(ty_sigmoid(x));
    case TY_OP_ERF: return mulk(S, T(ty_exp(T(ty_neg(sq(S, x))))), 1.12837916709551257390);
    case TY_OP_ERFINV: return mulk(S, T(ty_exp(sq(S, y))), 0.88622692545275801365);
    case TY_OP_ASIN: return T(ty_rsqrt(ksub(S, 1, sq(S, x))));
    case TY_OP_ACOS: return T(ty_neg(T(ty_rsqrt(ksub(S, 1, sq(S, x))))));
    case TY_OP_ATAN: return T(ty_reciprocal(addk(S, sq(S, x), 1)));
    case TY_OP_SINH: return T(ty_cosh(x));
    case TY_OP_COSH: return T(ty_sinh(x));
    case TY_OP_LOG2: return T(ty_reciprocal(mulk(S, x, M_LN2)));
    case TY_OP_LOG10: return T(ty_reciprocal(mulk(S, x, M_LN10)));
    case TY_OP_EXP2: return mulk(S, y, M_LN2);
    case TY_OP_SIGN: case TY_OP_FLOOR: case TY_OP_CEIL: case TY_OP_ROUND:
    case TY_OP_TRUNC: case TY_OP_LOGICAL_NOT: case TY_OP_ISNAN: case TY_OP_ISINF:
        *none = true;
        return NULL;
    default:
        *none = true;
        return NULL;
    }
}

static void rule_unary(scope *S, ty_array *out, ty_array *g, ty_array **in_grads)
{
    ty_array *in = out->node->inputs[0];
    if (!ty_dtype_is_float(in->dtype)) return;
    bool none = false;
    if (out->node->op == TY_OP_NEG) {
        in_grads[0] = give(S, T(ty_neg(g)), in);
        return;
    }
    ty_array *x = in_x(S, out, 0);
    ty_array *d = S->failed ? NULL : unary_derivative(S, out->node->op, x, out, &none);
    if (S->failed || none) return;
    in_grads[0] = give(S, mul(S, g, d), in);
}

/* ---------------------------------------------------------------- binary */

static void rule_binary(scope *S, ty_array *out, ty_array *g, ty_array **in_grads)
{
    ty_node *n = out->node;
    ty_array *ia = n->inputs[0], *ib = n->inputs[1];
    bool fa = ty_dtype_is_float(ia->dtype), fb = ty_dtype_is_float(ib->dtype);
    if (!fa && !fb) return;
    ty_array *a = in_x(S, out, 0), *b = in_x(S, out, 1);
    ty_array *ga = NULL, *gb = NULL;
    switch (n->op) {
    case TY_OP_ADD:
        ga = gb = g;
        break;
    case TY_OP_SUB:
        ga = g;
        gb = T(ty_neg(g));
        break;
    case TY_OP_MUL:
        ga = mul(S, g, b);
        gb = mul(S, g, a);
        break;
    case TY_OP_DIV:
        ga = dv(S, g, b);
        gb = T(ty_neg(mul(S, ga, out)));
        break;
    case TY_OP_POW: {
        /* d/da = b a^(b-1) (0 where b == 0); d/db = out log(a) where a > 0 */
        if (fa) {
            ty_array *d = mul(S, b, T(ty_pow(a, addk(S, b, -1))));
            ga = mul(S, g, zero_where(S, T(ty_eq(b, k(S, 0))), d));
        }
        if (fb) {
            ty_array *pos = T(ty_gt(a, k(S, 0)));
            ty_array *la = T(ty_log(T(ty_where(pos, a, k(S, 1)))));
            gb = keep_where(S, pos, mul(S, g, mul(S, out, la)));
        }
        break;
    }
    case TY_OP_MAXIMUM:
    case TY_OP_MINIMUM: {
        /* share of a: 1 where a wins, 1/2 on ties, 0 where b wins */
        ty_array *win = T(n->op == TY_OP_MAXIMUM ? ty_gt(a, b) : ty_lt(a, b));
        ty_array *tie = T(ty_eq(a, b));
        ty_array *share = add(S, as_float(S, win), mulk(S, as_float(S, tie), 0.5));
        ga = mul(S, g, share);
        gb = sub(S, g, ga);
        break;
    }
    case TY_OP_REMAINDER:
        /* a - b floor(a / b) */
        ga = g;
        gb = T(ty_neg(mul(S, g, T(ty_floor_divide(a, b)))));
        break;
    case TY_OP_ATAN2: {
        /* atan2(a, b): d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2) */
        ty_array *r = dv(S, g, add(S, sq(S, a), sq(S, b)));
        ga = mul(S, r, b);
        gb = T(ty_neg(mul(S, r, a)));
        break;
    }
    default:   /* floor_divide, comparisons, logical ops: no gradient */
        return;
    }
    if (fa && ga) in_grads[0] = give(S, ga, ia);
    if (fb && gb) in_grads[1] = give(S, gb, ib);
}

/* ---------------------------------------------------------------- reductions */

static void rule_reduce(scope *S, ty_array *out, ty_array *g, ty_array **in_grads)
{
    ty_node *n = out->node;
    ty_array *in = n->inputs[0];
    const ty_params *p = &n->params;
    if (!ty_dtype_is_float(in->dtype)) return;
    ty_array *gb = expand_back(S, g, in, p->axes, p->naxes);
    if (p->naxes == 0 || n->op == TY_OP_SUM) {   /* over no axes: the identity */
        in_grads[0] = give(S, gb, in);
        return;
    }
    ty_array *x = in_x(S, out, 0);
    if (n->op == TY_OP_MAX || n->op == TY_OP_MIN) {
        ty_array *ob = expand_back(S, out, in, p->axes, p->naxes);
        ty_array *mask = as_float(S, T(ty_eq(x, ob)));
        ty_array *count = T(ty_sum(mask, p->axes, p->naxes, true));
        in_grads[0] = give(S, dv(S, mul(S, gb, mask), count), in);
        return;
    }
    /* prod: g * (product of the others) = g * L * R along the reduced axes,
     * moved to the end and flattened into one. */
    if (in->size == 0) {
        in_grads[0] = give(S, T(ty_zeros_like(x)), in);
        return;
    }
    int perm[TY_MAX_DIMS], inv[TY_MAX_DIMS], nk = 0;
    bool reduced[TY_MAX_DIMS] = {0};
    for (int i = 0; i < p->naxes; i++) reduced[p->axes[i]] = true;
    int64_t flat[TY_MAX_DIMS], nred = 1;
    for (int d = 0; d < in->ndim; d++)
        if (!reduced[d]) {
            flat[nk] = in->shape[d];
            perm[nk++] = d;
        }
    for (int i = 0; i < p->naxes; i++) {
        perm[nk + i] = p->axes[i];
        nred *= in->shape[p->axes[i]];
    }
    flat[nk] = nred;
    for (int d = 0; d < in->ndim; d++) inv[perm[d]] = d;
    ty_array *xt = T(ty_transpose(x, perm));
    ty_array *xf = xt ? T(ty_reshape(xt, nk + 1, flat)) : NULL;
    ty_array *others = xf ? mul(S, excl_cumprod(S, xf, nk, false),
                                excl_cumprod(S, xf, nk, true)) : NULL;
    ty_array *ot = xt ? T(ty_reshape(others, xt->ndim, xt->shape)) : NULL;
    ty_array *o = T(ty_transpose(ot, inv));
    in_grads[0] = give(S, mul(S, gb, o), in);
}

/* cumprod along axis, forward direction (reverse is handled by flipping). */
static ty_array *cumprod_grad(scope *S, ty_array *x, ty_array *y, ty_array *g, int axis)
{
    ty_array *zero = T(ty_eq(x, k(S, 0)));
    ty_array *zf = as_float(S, zero);
    ty_array *excl = sub(S, T(ty_cumsum(zf, axis, false)), zf);   /* zeros before j */
    ty_array *none_before = T(ty_eq(excl, k(S, 0)));
    ty_array *first = T(ty_logical_and(zero, none_before));
    /* division form where x != 0 */
    ty_array *xs = T(ty_where(zero, k(S, 1), x));
    ty_array *divf = dv(S, T(ty_cumsum(mul(S, g, y), axis, true)), xs);
    /* at the first zero z: prod_{j<z} x_j * sum_{i>=z} g_i prod_{z<j<=i} x_j */
    ty_array *x1 = T(ty_where(none_before, k(S, 1), x));
    ty_array *after = T(ty_cumsum(mul(S, g, T(ty_cumprod(x1, axis, false))), axis, true));
    ty_array *at_zero = keep_where(S, first, mul(S, excl_cumprod(S, x, axis, false), after));
    return T(ty_where(zero, at_zero, divf));
}

static ty_array *flip_axis(scope *S, ty_array *a, int axis)
{
    return T(ty_flip(a, &axis, 1));
}

static void rule_scan(scope *S, ty_array *out, ty_array *g, ty_array **in_grads)
{
    ty_node *n = out->node;
    ty_array *in = n->inputs[0];
    int axis = n->params.axis;
    bool rev = n->params.reverse;
    if (!ty_dtype_is_float(in->dtype)) return;
    if (n->op == TY_OP_CUMSUM) {
        in_grads[0] = give(S, T(ty_cumsum(g, axis, !rev)), in);
        return;
    }
    ty_array *x = in_x(S, out, 0);
    if (!rev) {
        in_grads[0] = give(S, cumprod_grad(S, x, out, g, axis), in);
        return;
    }
    ty_array *r = cumprod_grad(S, flip_axis(S, x, axis), flip_axis(S, out, axis),
                               flip_axis(S, g, axis), axis);
    in_grads[0] = give(S, flip_axis(S, r, axis), in);
}

static void rule_softmax(scope *S, ty_array *out, ty_array *g, ty_array **in_grads)
{
    ty_node *n = out->node;
    ty_array *in = n->inputs[0];
    int axis = n->params.axis;
    if (!ty_dtype_is_float(in->dtype)) return;
    ty_array *r;
    if (n->op == TY_OP_SOFTMAX) {
        /* out (g - sum(g out)) */
        ty_array *s = T(ty_sum(mul(S, g, out), &axis, 1, true));
        r = mul(S, out, sub(S, g, s));
    } else {
        /* g - exp(out) sum(g) */
        ty_array *s = T(ty_sum(g, &axis, 1, true));
        r = sub(S, g, mul(S, T(ty_exp(out)), s));
    }
    in_grads[0] = give(S, r, in);
}

/* ---------------------------------------------------------------- the rest */

static void rule_matmul(scope *S, ty_array *out, ty_array *g, ty_array **in_grads)
{
    ty_array *a = out->node->inputs[0], *b = out->node->inputs[1];
    /* inputs share out's dtype and batch dims (ndim >= 2) */
    ty_array *bt = T(ty_swapaxes(b, -1, -2)), *at = T(ty_swapaxes(a, -1, -2));
    in_grads[0] = give(S, T(ty_matmul(g, bt)), a);
    in_grads[1] = give(S, T(ty_matmul(at, g)), b);
}

static void rule_view(scope *S, ty_array *out, ty_array *g, ty_array **in_grads)
{
    ty_node *n = out->node;
    ty_array *in = n->inputs[0];
    const ty_params *p = &n->params;
    ty_array *r = NULL;
    switch (n->op) {
    case TY_OP_RESHAPE:
        if (p->kind == TY_VIEW_STOP) return;
        if (p->kind == TY_VIEW_CUSTOM) {
            ty__error("[vjp] a custom VJP node reached the generic rules");
            S->failed = true;
            return;
        }
        r = T(ty_reshape(g, in->ndim, in->shape));
        break;
    case TY_OP_TRANSPOSE: {
        int inv[TY_MAX_DIMS];
        for (int d = 0; d < out->ndim; d++) inv[p->axes[d]] = d;
        r = T(ty_transpose(g, inv));
        break;
    }
    case TY_OP_BROADCAST_TO: {
        /* sum over the new leading axes and the axes where in had size 1 */
        int axes[TY_MAX_DIMS], na = 0, lead = out->ndim - in->ndim;
        for (int d = 0; d < out->ndim; d++)
            if (d < lead || (in->shape[d - lead] == 1 && out->shape[d] != 1)) axes[na++] = d;
        ty_array *s = na ? T(ty_sum(g, axes, na, true)) : g;
        r = T(ty_reshape(s, in->ndim, in->shape));
        break;
    }
    case TY_OP_SLICE: {
        ty_array *z = T(ty_zeros(in->ndim, in->shape, S->dtype, S->device));
        r = T(ty_slice_update(z, g, p->start, p->stop, p->step));
        break;
    }
    case TY_OP_COPY:
        r = g;
        break;
    case TY_OP_PAD: {
        int64_t start[TY_MAX_DIMS], stop[TY_MAX_DIMS], step[TY_MAX_DIMS];
        for (int d = 0; d < in->ndim; d++) {
            start[d] = p->start[d];
            stop[d] = p->start[d] + in->shape[d];
            step[d] = 1;
        }
        r = T(ty_slice(g, start, stop, step));
        break;
    }
    default:
        return;
    }
    in_grads[0] = give(S, r, in);
}

static void rule_concatenate(scope *S, ty_array *out, ty_array *g, ty_array **in_grads)
{
    ty_node *n = out->node;
    int axis = n->params.axis;
    int64_t start[TY_MAX_DIMS], stop[TY_MAX_DIMS], step[TY_MAX_DIMS], off = 0;
    slice_all(out, start, stop, step);
    for (int i = 0; i < n->ninputs && !S->failed; i++) {
        ty_array *in = n->inputs[i];
        start[axis] = off;
        stop[axis] = off + in->shape[axis];
        off = stop[axis];
        if (!ty_dtype_is_float(in->dtype)) continue;
        in_grads[i] = give(S, T(ty_slice(g, start, stop, step)), in);
    }
}

static void rule_index(scope *S, ty_array *out, ty_array *g, ty_array **in_grads)
{
    ty_node *n = out->node;
    const ty_params *p = &n->params;
    int axis = p->axis, base = p->index_base;
    ty_array *a = n->inputs[0], *idx = n->inputs[1];
    switch (n->op) {
    case TY_OP_TAKE: {
        /* g viewed as a.shape[:axis] + (N,) + a.shape[axis+1:], indices
         * flattened and broadcast to it, scattered into zeros of a */
        int64_t gshape[TY_MAX_DIMS], ishape[TY_MAX_DIMS], nidx = idx->size;
        for (int d = 0; d < a->ndim; d++) {
            gshape[d] = d == axis ? nidx : a->shape[d];
            ishape[d] = d == axis ? nidx : 1;
        }
        ty_array *gr = T(ty_reshape(g, a->ndim, gshape));
        ty_array *ir = T(ty_reshape(idx, a->ndim, ishape));
        ty_array *ib = T(ty_broadcast_to(ir, a->ndim, gshape));
        ty_array *z = T(ty_zeros(a->ndim, a->shape, S->dtype, S->device));
        in_grads[0] = give(S, T(ty_scatter_add(z, axis, ib, gr, base)), a);
        break;
    }
    case TY_OP_TAKE_ALONG_AXIS: {
        ty_array *z = T(ty_zeros(a->ndim, a->shape, S->dtype, S->device));
        in_grads[0] = give(S, T(ty_scatter_add(z, axis, idx, g, base)), a);
        break;
    }
    case TY_OP_SCATTER_ADD: {
        /* inputs: a, idx, src (shaped like idx, which may be smaller than a
         * off the axis: src[i] lands at the same coordinates there) */
        ty_array *src = n->inputs[2];
        in_grads[0] = give(S, g, a);
        if (!ty_dtype_is_float(src->dtype)) break;
        int64_t start[TY_MAX_DIMS], stop[TY_MAX_DIMS], step[TY_MAX_DIMS];
        slice_all(g, start, stop, step);
        for (int d = 0; d < g->ndim; d++)
            if (d != axis) stop[d] = idx->shape[d];
        ty_array *gs = T(ty_slice(g, start, stop, step));
        in_grads[2] = give(S, T(ty_take_along_axis(gs, idx, axis, base)), src);
        break;
    }
    case TY_OP_SLICE_UPDATE: {
        /* inputs: a, v (shaped like the region) */
        ty_array *v = n->inputs[1];
        in_grads[0] = give(S, T(ty_slice_update(g, k(S, 0), p->start, p->stop, p->step)), a);
        in_grads[1] = give(S, T(ty_slice(g, p->start, p->stop, p->step)), v);
        break;
    }
    default:
        break;
    }
}

static void rule_sort(scope *S, ty_array *out, ty_array *g, ty_array **in_grads)
{
    ty_node *n = out->node;
    ty_array *in = n->inputs[0];
    int axis = n->params.axis;
    ty_array *perm = T(ty_argsort(in, axis, n->params.descending, 0));
    ty_array *z = T(ty_zeros(in->ndim, in->shape, S->dtype, S->device));
    in_grads[0] = give(S, T(ty_scatter_add(z, axis, perm, g, 0)), in);
}

static void rule_where(scope *S, ty_array *out, ty_array *g, ty_array **in_grads)
{
    ty_array **in = out->node->inputs;
    if (ty_dtype_is_float(in[1]->dtype)) in_grads[1] = give(S, keep_where(S, in[0], g), in[1]);
    if (ty_dtype_is_float(in[2]->dtype)) in_grads[2] = give(S, zero_where(S, in[0], g), in[2]);
}

/* ---------------------------------------------------------------- dispatch */

static int rule(scope *S, ty_array *out, ty_array *g, ty_array **in_grads)
{
    switch (out->node->op) {
    case TY_OP_NONE:
        return ty__error("[vjp] the array has no graph node");
    /* creation and random: no inputs */
    case TY_OP_FULL: case TY_OP_ARANGE: case TY_OP_LINSPACE: case TY_OP_EYE:
    case TY_OP_RANDOM:
        return 0;
#define UNARY_CASE_(NAME, name) case TY_OP_##NAME:
    TY_UNARY_OPS(UNARY_CASE_)
#undef UNARY_CASE_
        rule_unary(S, out, g, in_grads);
        return 0;
#define BINARY_CASE_(NAME, name) case TY_OP_##NAME:
    TY_BINARY_OPS(BINARY_CASE_)
#undef BINARY_CASE_
        rule_binary(S, out, g, in_grads);
        return 0;
    case TY_OP_WHERE:
        rule_where(S, out, g, in_grads);
        return 0;
    case TY_OP_ASTYPE: {
        ty_array *in = out->node->inputs[0];
        in_grads[0] = give(S, g, in);
        return 0;
    }
    case TY_OP_SUM: case TY_OP_PROD: case TY_OP_MAX: case TY_OP_MIN:
        rule_reduce(S, out, g, in_grads);
        return 0;
    case TY_OP_ALL: case TY_OP_ANY: case TY_OP_ARGMAX: case TY_OP_ARGMIN:
    case TY_OP_ARGSORT:
        return 0;
    case TY_OP_CUMSUM: case TY_OP_CUMPROD:
        rule_scan(S, out, g, in_grads);
        return 0;
    case TY_OP_SOFTMAX: case TY_OP_LOG_SOFTMAX:
        rule_softmax(S, out, g, in_grads);
        return 0;
    case TY_OP_MATMUL:
        rule_matmul(S, out, g, in_grads);
        return 0;
    case TY_OP_RESHAPE: case TY_OP_TRANSPOSE: case TY_OP_BROADCAST_TO: case TY_OP_SLICE:
    case TY_OP_COPY: case TY_OP_PAD:
        rule_view(S, out, g, in_grads);
        return 0;
    case TY_OP_CONCATENATE:
        rule_concatenate(S, out, g, in_grads);
        return 0;
    case TY_OP_TAKE: case TY_OP_TAKE_ALONG_AXIS: case TY_OP_SCATTER_ADD:
    case TY_OP_SLICE_UPDATE:
        rule_index(S, out, g, in_grads);
        return 0;
    case TY_OP_SORT:
        rule_sort(S, out, g, in_grads);
        return 0;
    case TY_OP_CONV: case TY_OP_POOL: case TY_OP_POOL_GRAD:
        return ty__vjp_conv_rule(out, g, in_grads);
    case TY_OP_NORMALIZE: case TY_OP_ATTENTION: case TY_OP_SOFTMAX_CROSS_ENTROPY:
        return ty__vjp_nn_rule(out, g, in_grads);
    case TY_OP_OPTIM_UPDATE:
        return ty__error("[vjp] optim_update is not differentiable");
    case TY_OP_COUNT:
        break;
    }
    return ty__error("[vjp] no rule for op %d", (int)out->node->op);
}

int ty__vjp_rule(ty_array *out, ty_array *g, ty_array **in_grads)
{
    if (!out || !g) return ty__error("[vjp] argument is NULL");
    if (!out->node) return ty__error("[vjp] the array has no graph node (evaluated "
                                     "without retaining the graph)");
    ty_node *n = out->node;
    for (int i = 0; i < n->ninputs; i++) in_grads[i] = NULL;
    /* an integer or bool result carries no gradient */
    if (!ty_dtype_is_float(out->dtype)) return 0;
    scope *S = malloc(sizeof *S);
    if (!S) return ty__error("[vjp] out of host memory");
    ty__scope_init(S, out);
    ty_array *gc = T(ty_astype(g, out->dtype));
    int rc = gc ? rule(S, out, gc, in_grads) : -1;
    if (S->failed) rc = -1;
    ty__scope_release(S);
    free(S);
    if (rc != 0)
        for (int i = 0; i < n->ninputs; i++) {
            ty_release(in_grads[i]);
            in_grads[i] = NULL;
        }
    return rc;
}
