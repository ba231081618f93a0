/*
 * autograd_nn.c -- VJP and JVP rules of normalize, attention and
 * softmax_cross_entropy, built from public ops only (so they can be
 * differentiated again). Node layouts: core/ops_nn.c.
 *
 *   normalize (y = the normalised x, r = 1/sqrt(var + eps), means over the
 *     axes): dx = r (g - mean(g) - y mean(g y)), rms: dx = r (g - y mean(g y));
 *     the map is self-adjoint, so the JVP is the same formula on the tangent.
 *     With weight w and bias b (out = y w + b; y recomputed by a plain
 *     normalize node): dx = the above applied to g w, dw = g y, db = g (in
 *     x's shape: the broadcast views' own rules reduce them); JVP
 *     w N'(tx) + tw y + tb.
 *   attention: the probabilities P are recomputed from q, k and the masks
 *     with public ops (matmul, where, softmax; rows with no kept key give
 *     P = 0), then dP = g v^T, dS = P (dP - sum(dP P)), dq = scale dS k,
 *     dk = scale dS^T q, dv = P^T g, d(float mask) = dS. JVP: dS from the
 *     tangents, dP = P (dS - sum(P dS)), dout = dP v + P dv.
 *   softmax_cross_entropy: dlogits = (softmax(logits) - onehot(label)) g,
 *     zero on ignored rows; JVP sum((softmax - onehot) t) per row.
 */
#include <math.h>
#include <stdlib.h>

#include "autograd_scope.h"

typedef ty__scope scope;

#define T(expr) (S->failed ? NULL : ty__scope_keep(S, (expr)))

static ty_array *k(scope *S, double v) { return T(ty_full(0, NULL, v, S->dtype, S->device)); }
static ty_array *mul(scope *S, ty_array *a, ty_array *b) { return T(ty_mul(a, b)); }
static ty_array *sub(scope *S, ty_array *a, ty_array *b) { return T(ty_sub(a, b)); }
static ty_array *add(scope *S, ty_array *a, ty_array *b) { return T(ty_add(a, b)); }
static ty_array *tr(scope *S, ty_array *a) { return T(ty_swapaxes(a, -1, -2)); }
static ty_array *mm(scope *S, ty_array *a, ty_array *b) { return T(ty_matmul(a, b)); }
static ty_array *sum_last(scope *S, ty_array *a)
{
    int ax = -1;
    return T(ty_sum(a, &ax, 1, true));
}

/* An owned reference to x cast to in's dtype (NULL for non-float inputs). */
static ty_array *give(scope *S, ty_array *x, ty_array *in)
{
    if (S->failed || !x || !ty_dtype_is_float(in->dtype)) return NULL;
    ty_array *r = ty_astype(x, in->dtype);
    if (!r) S->failed = true;
    return r;
}

/* ---------------------------------------------------------------- normalize */

/* r = 1/sqrt(var + eps) (or 1/sqrt(mean(x^2) + eps)), keepdims. */
static ty_array *norm_r(scope *S, ty_array *out)
{
    const ty_params *p = &out->node->params;
    ty_array *x = out->node->inputs[0];
    ty_array *v;
    if (p->flag) v = T(ty_mean(T(ty_mul(x, x)), p->axes, p->naxes, true));
    else v = T(ty_var(x, p->axes, p->naxes, true, 0));
    return T(ty_rsqrt(add(S, v, k(S, p->hp[0]))));
}

/* The normalised x without the affine part (out itself when there is none). */
static ty_array *norm_y(scope *S, ty_array *out)
{
    const ty_params *p = &out->node->params;
    if (!p->kind) return out;
    return T(ty_normalize(out->node->inputs[0], p->naxes, p->axes, p->hp[0], p->flag));
}

/* r (t - mean(t) - y mean(t y)) (no mean(t) for rms). */
static ty_array *norm_apply(scope *S, ty_array *out, ty_array *y, ty_array *t)
{
    const ty_params *p = &out->node->params;
    ty_array *r = norm_r(S, out);
    ty_array *c = T(ty_mean(mul(S, t, y), p->axes, p->naxes, true));
    ty_array *u = sub(S, t, mul(S, y, c));
    if (!p->flag) u = sub(S, u, T(ty_mean(t, p->axes, p->naxes, true)));
    return mul(S, r, u);
}

/* The inputs weight and bias of a normalize node (NULL when absent). */
static void norm_affine(ty_array *out, ty_array **w, ty_array **b, int *iw, int *ib)
{
    const ty_node *n = out->node;
    int i = 1;
    *w = *b = NULL;
    *iw = *ib = -1;
    if (n->params.kind & 1) { *iw = i; *w = n->inputs[i++]; }
    if (n->params.kind & 2) { *ib = i; *b = n->inputs[i++]; }
}

/* ---------------------------------------------------------------- attention */

/* The probabilities P (..., Lq, Lk) of an attention node, recomputed. */
static ty_array *att_probs(scope *S, ty_array *out)
{
    const ty_node *n = out->node;
    ty_array *q = n->inputs[0], *kk = n->inputs[1];
    ty_array *mask = n->ninputs > 3 ? n->inputs[3] : NULL;
    bool mask_bool = n->params.kind == 1, causal = n->params.flag;
    int nd = q->ndim;
    int64_t lq = q->shape[nd - 2], lk = kk->shape[nd - 2];
    ty_array *s = mul(S, mm(S, q, tr(S, kk)), k(S, n->params.hp[0]));
    if (mask && !mask_bool) s = add(S, s, mask);
    ty_array *keepm = NULL;
    if (causal) {
        ty_array *ri = T(ty_reshape(T(ty_arange((double)(lk - lq), 1, lq, TY_INT32, S->device)),
                                    2, (int64_t[]){lq, 1}));
        ty_array *cj = T(ty_reshape(T(ty_arange(0, 1, lk, TY_INT32, S->device)), 2,
                                    (int64_t[]){1, lk}));
        keepm = T(ty_le(cj, ri));
    }
    if (mask && mask_bool) keepm = keepm ? T(ty_logical_and(keepm, mask)) : mask;
    if (keepm) s = T(ty_where(keepm, s, k(S, -INFINITY)));
    if (!mask && !causal) return T(ty_softmax(s, -1));
    int ax = -1;
    ty_array *m = T(ty_max(s, &ax, 1, true));
    ty_array *valid = T(ty_gt(m, k(S, -INFINITY)));
    ty_array *ps = T(ty_softmax(T(ty_where(valid, s, k(S, 0))), -1));
    return T(ty_where(valid, ps, k(S, 0)));
}

/* ---------------------------------------------------------------- cross-entropy */

/* softmax(logits) - onehot(labels), in out's dtype. */
static ty_array *ce_diff(scope *S, ty_array *out)
{
    const ty_node *n = out->node;
    ty_array *x = n->inputs[0], *y = n->inputs[1];
    int64_t c = x->shape[x->ndim - 1];
    ty_array *p = T(ty_softmax(x, -1));
    ty_array *oh = T(ty_one_hot(y, c, S->dtype, n->params.index_base));
    return sub(S, p, oh);
}

/* where(labels != ignore_index, a, 0) (a no-op without ignore_index). */
static ty_array *ce_mask(scope *S, ty_array *out, ty_array *a, bool expand)
{
    const ty_node *n = out->node;
    if (!n->params.flag) return a;
    ty_array *y = n->inputs[1];
    ty_array *ig = T(ty_full(0, NULL, (double)n->params.k, y->dtype, S->device));
    ty_array *valid = T(ty_ne(y, ig));
    if (expand) valid = T(ty_expand_dims(valid, -1));
    return T(ty_where(valid, a, k(S, 0)));
}

/* ---------------------------------------------------------------- entry points */

int ty__vjp_nn_rule(ty_array *out, ty_array *g, ty_array **in_grads)
{
    ty_node *n = out->node;
    for (int i = 0; i < n->ninputs; i++) in_grads[i] = NULL;
    scope *S = malloc(sizeof *S);
    if (!S) return ty__error("[vjp] out of host memory");
    ty__scope_init(S, out);
    switch (n->op) {
    case TY_OP_NORMALIZE: {
        ty_array *w, *b;
        int iw, ib;
        norm_affine(out, &w, &b, &iw, &ib);
        ty_array *y = norm_y(S, out);
        in_grads[0] = give(S, norm_apply(S, out, y, w ? mul(S, g, w) : g), n->inputs[0]);
        if (w) in_grads[iw] = give(S, mul(S, g, y), w);
        if (b) in_grads[ib] = give(S, g, b);
        break;
    }
    case TY_OP_ATTENTION: {
        ty_array *q = n->inputs[0], *kk = n->inputs[1], *v = n->inputs[2];
        ty_array *P = att_probs(S, out);
        ty_array *dP = mm(S, g, tr(S, v));
        ty_array *dS = mul(S, P, sub(S, dP, sum_last(S, mul(S, dP, P))));
        ty_array *sc = k(S, n->params.hp[0]);
        in_grads[0] = give(S, mul(S, mm(S, dS, kk), sc), q);
        in_grads[1] = give(S, mul(S, mm(S, tr(S, dS), q), sc), kk);
        in_grads[2] = give(S, mm(S, tr(S, P), g), v);
        if (n->ninputs > 3 && n->params.kind != 1) in_grads[3] = give(S, dS, n->inputs[3]);
        break;
    }
    case TY_OP_SOFTMAX_CROSS_ENTROPY: {
        ty_array *gg = ce_mask(S, out, T(ty_expand_dims(g, -1)), true);
        in_grads[0] = give(S, mul(S, ce_diff(S, out), gg), n->inputs[0]);
        break;
    }
    default:
        S->failed = true;
        ty__error("[vjp] not an nn op: %s", ty_op_name(n->op));
        break;
    }
    int rc = S->failed ? -1 : 0;
    ty__scope_release(S);
    free(S);
    if (rc != 0)
        for (int i = 0; i < n->ninputs; i++) {
            ty_release(in_grads[i]);
            in_grads[i] = NULL;
        }
    return rc;
}

/* A tangent in out's dtype (NULL stays NULL). */
static ty_array *tan_of(scope *S, ty_array *t)
{
    if (!t) return NULL;
    if (ty_dtype_of(t) == S->dtype) return t;
    return T(ty_astype(t, S->dtype));
}

int ty__jvp_nn_rule(ty_array *out, ty_array *const *in_tangents, ty_array **out_tangent)
{
    ty_node *n = out->node;
    *out_tangent = NULL;
    scope *S = malloc(sizeof *S);
    if (!S) return ty__error("[jvp] out of host memory");
    ty__scope_init(S, out);
    ty_array *r = NULL;
    switch (n->op) {
    case TY_OP_NORMALIZE: {
        ty_array *w, *b;
        int iw, ib;
        norm_affine(out, &w, &b, &iw, &ib);
        ty_array *t = tan_of(S, in_tangents[0]);
        ty_array *tw = w ? tan_of(S, in_tangents[iw]) : NULL;
        ty_array *tb = b ? tan_of(S, in_tangents[ib]) : NULL;
        if (!t && !tw && !tb) break;
        ty_array *y = t || tw ? norm_y(S, out) : NULL;
        if (t) {
            r = norm_apply(S, out, y, t);
            if (w) r = mul(S, r, w);
        }
        if (tw) {
            ty_array *e = mul(S, tw, y);
            r = r ? add(S, r, e) : e;
        }
        if (tb) r = r ? add(S, r, tb) : tb;
        break;
    }
    case TY_OP_ATTENTION: {
        ty_array *q = n->inputs[0], *kk = n->inputs[1], *v = n->inputs[2];
        ty_array *tq = tan_of(S, in_tangents[0]), *tk = tan_of(S, in_tangents[1]);
        ty_array *tv = tan_of(S, in_tangents[2]);
        ty_array *tm = n->ninputs > 3 && n->params.kind != 1 ? tan_of(S, in_tangents[3]) : NULL;
        if (!tq && !tk && !tv && !tm) break;
        ty_array *P = att_probs(S, out);
        if (tq || tk || tm) {
            ty_array *dS = NULL;
            ty_array *sc = k(S, n->params.hp[0]);
            if (tq) dS = mul(S, mm(S, tq, tr(S, kk)), sc);
            if (tk) {
                ty_array *e = mul(S, mm(S, q, tr(S, tk)), sc);
                dS = dS ? add(S, dS, e) : e;
            }
            if (tm) dS = dS ? add(S, dS, tm) : T(ty_broadcast_to(tm, ty_ndim(P), ty_shape(P)));
            /* masked entries: P is 0 there; keep inf/nan of dS out of it */
            ty_array *pos = T(ty_gt(P, k(S, 0)));
            dS = T(ty_where(pos, dS, k(S, 0)));
            ty_array *dP = mul(S, P, sub(S, dS, sum_last(S, mul(S, P, dS))));
            r = mm(S, dP, v);
        }
        if (tv) {
            ty_array *e = mm(S, P, tv);
            r = r ? add(S, r, e) : e;
        }
        break;
    }
    case TY_OP_SOFTMAX_CROSS_ENTROPY: {
        ty_array *t = tan_of(S, in_tangents[0]);
        if (!t) break;
        int ax = -1;
        ty_array *s = T(ty_sum(mul(S, ce_diff(S, out), t), &ax, 1, false));
        r = ce_mask(S, out, s, false);
        break;
    }
    default:
        S->failed = true;
        ty__error("[jvp] not an nn op: %s", ty_op_name(n->op));
        break;
    }
    int rc = S->failed ? -1 : 0;
    if (rc == 0 && r) {
        *out_tangent = ty_astype(r, out->dtype);
        if (!*out_tangent) rc = -1;
    }
    ty__scope_release(S);
    free(S);
    return rc;
}
