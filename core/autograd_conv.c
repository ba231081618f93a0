/*
 * autograd_conv.c -- VJP/JVP rules of conv, pool (incl. max_pool_select) and
 * pool_grad, built from public ops only (so they differentiate again).
 *
 * conv: out[n,o,p] = sum_{c,k} x[n, c, (p*s + ke*d - lo)/id] w[o,c,k] (ke = k,
 * or K-1-k when flipped; taps between dilated input elements read 0).
 *   dx = conv(g, w with O and C/groups swapped per group, stride id,
 *        dilation d, input dilation s, pad_lo d*(K-1) - lo, pad_hi making
 *        the output the input's size, flip toggled);
 *   dw = conv(x as (C/groups, groups*N, *in), g as (O, N, *out),
 *        stride d, dilation s, input dilation id, pad_lo lo, pad_hi making
 *        the output K), transposed to (O, C/groups, *k) (and flipped back
 *        when the forward flipped);
 *   JVP: conv(tx, w) + conv(x, tw) (bilinear).
 * pool: VJP pool_grad; JVP avg -> pool of t, max -> max_pool_select(x, t).
 * max_pool_select(x, t): linear in t: VJP pool_grad(x, g, max); JVP select.
 * pool_grad(x, g): linear in g: VJP avg -> pool(avg) of gg, max ->
 * max_pool_select(x, gg); JVP pool_grad(x, tg). Derivatives wrt x of the
 * max routing are zero (piecewise constant).
 */
#include <string.h>

#include "internal.h"

#define POOL_SELECT 2

static ty_array *drop(ty_array *r, ty_array *a, ty_array *b, ty_array *c)
{
    ty_release(a);
    ty_release(b);
    ty_release(c);
    return r;
}

/* w (O, Cg, *k) -> (C, Og, *k): per group, output and input channels
 * swapped. */
static ty_array *swap_weight(ty_array *w, int G)
{
    if (G == 1) return ty_swapaxes(w, 0, 1);
    int nd = w->ndim;
    int64_t O = w->shape[0], Cg = w->shape[1], Og = O / G;
    int64_t s5[TY_MAX_DIMS];
    s5[0] = G;
    s5[1] = Og;
    s5[2] = Cg;
    for (int d = 2; d < nd; d++) s5[d + 1] = w->shape[d];
    ty_array *r = ty_reshape(w, nd + 1, s5);
    if (!r) return NULL;
    ty_array *t = ty_swapaxes(r, 1, 2);
    ty_release(r);
    if (!t) return NULL;
    int64_t s4[TY_MAX_DIMS];
    s4[0] = G * Cg;
    s4[1] = Og;
    for (int d = 2; d < nd; d++) s4[d] = w->shape[d];
    ty_array *out = ty_reshape(t, nd, s4);
    ty_release(t);
    return out;
}

/* a (N, G*Cg, *sp) -> (Cg, G*N, *sp) */
static ty_array *group_major(ty_array *a, int G)
{
    int nd = a->ndim;
    int64_t N = a->shape[0], C = a->shape[1], Cg = C / G;
    if (G == 1) return ty_swapaxes(a, 0, 1);
    int64_t s5[TY_MAX_DIMS];
    s5[0] = N;
    s5[1] = G;
    s5[2] = Cg;
    for (int d = 2; d < nd; d++) s5[d + 1] = a->shape[d];
    ty_array *r = ty_reshape(a, nd + 1, s5);
    if (!r) return NULL;
    int perm[TY_MAX_DIMS];
    perm[0] = 2;
    perm[1] = 1;
    perm[2] = 0;
    for (int d = 3; d <= nd; d++) perm[d] = d;
    ty_array *t = ty_transpose(r, perm);
    ty_release(r);
    if (!t) return NULL;
    int64_t s4[TY_MAX_DIMS];
    s4[0] = Cg;
    s4[1] = G * N;
    for (int d = 2; d < nd; d++) s4[d] = a->shape[d];
    ty_array *out = ty_reshape(t, nd, s4);
    ty_release(t);
    return out;
}

/* g (N, G*Og, *sp) -> (G*Og, N, *sp) */
static ty_array *swap01(ty_array *a)
{
    return ty_swapaxes(a, 0, 1);
}

static ty_array *conv_dx(ty_array *x, ty_array *w, ty_array *g, const ty_conv_opts *c, int nsp)
{
    ty_conv_opts o;
    memset(&o, 0, sizeof o);
    o.groups = c->groups;
    o.flip = !c->flip;
    for (int d = 0; d < nsp; d++) {
        int64_t in = x->shape[2 + d], K = w->shape[2 + d], os = g->shape[2 + d];
        o.stride[d] = c->in_dilation[d];
        o.dilation[d] = c->dilation[d];
        o.in_dilation[d] = c->stride[d];
        o.pad_lo[d] = c->dilation[d] * (K - 1) - c->pad_lo[d];
        int64_t gd = (os - 1) * c->stride[d] + 1;
        o.pad_hi[d] = c->in_dilation[d] * (in - 1) + 1 + c->dilation[d] * (K - 1) - gd -
                      o.pad_lo[d];
    }
    ty_array *ws = swap_weight(w, c->groups);
    if (!ws) return NULL;
    ty_array *r = ty_conv_general(g, ws, &o);
    ty_release(ws);
    return r;
}

static ty_array *conv_dw(ty_array *x, ty_array *w, ty_array *g, const ty_conv_opts *c, int nsp)
{
    ty_conv_opts o;
    memset(&o, 0, sizeof o);
    o.groups = c->groups;
    for (int d = 0; d < nsp; d++) {
        int64_t in = x->shape[2 + d], K = w->shape[2 + d], os = g->shape[2 + d];
        o.stride[d] = c->dilation[d];
        o.dilation[d] = c->stride[d];
        o.in_dilation[d] = c->in_dilation[d];
        o.pad_lo[d] = c->pad_lo[d];
        int64_t ind = (in - 1) * c->in_dilation[d] + 1;
        o.pad_hi[d] = c->dilation[d] * (K - 1) + c->stride[d] * (os - 1) + 1 - ind -
                      c->pad_lo[d];
    }
    ty_array *xs = group_major(x, c->groups);
    ty_array *gs = xs ? swap01(g) : NULL;
    ty_array *r = gs ? ty_conv_general(xs, gs, &o) : NULL;   /* (Cg, O, *k) */
    ty_array *t = r ? ty_swapaxes(r, 0, 1) : NULL;
    drop(NULL, xs, gs, r);
    if (!t || !c->flip) return t;
    int axes[TY_MAX_SPATIAL];
    for (int d = 0; d < nsp; d++) axes[d] = 2 + d;
    ty_array *f = ty_flip(t, axes, nsp);
    ty_release(t);
    return f;
}

int ty__vjp_conv_rule(ty_array *out, ty_array *g, ty_array **in_grads)
{
    ty_node *n = out->node;
    const ty_params *p = &n->params;
    ty_array *x = n->inputs[0];
    switch (n->op) {
    case TY_OP_CONV: {
        ty_array *w = n->inputs[1];
        in_grads[0] = conv_dx(x, w, g, &p->conv, p->nsp);
        if (!in_grads[0]) return -1;
        in_grads[1] = conv_dw(x, w, g, &p->conv, p->nsp);
        return in_grads[1] ? 0 : -1;
    }
    case TY_OP_POOL:
        if (p->kind == POOL_SELECT) {
            in_grads[1] = ty_pool_grad(x, g, p->nsp, TY_POOL_MAX, &p->pool);
            return in_grads[1] ? 0 : -1;
        }
        in_grads[0] = ty_pool_grad(x, g, p->nsp, (ty_pool_kind)p->kind, &p->pool);
        return in_grads[0] ? 0 : -1;
    case TY_OP_POOL_GRAD:
        if (p->kind == TY_POOL_AVG) in_grads[1] = ty_pool(g, p->nsp, TY_POOL_AVG, &p->pool);
        else in_grads[1] = ty_max_pool_select(x, g, p->nsp, &p->pool);
        return in_grads[1] ? 0 : -1;
    default:
        return ty__error("[vjp] not a conv/pool node");
    }
}

int ty__jvp_conv_rule(ty_array *out, ty_array *const *in_tangents, ty_array **out_tangent)
{
    ty_node *n = out->node;
    const ty_params *p = &n->params;
    ty_array *x = n->inputs[0];
    ty_array *t0 = in_tangents[0], *t1 = n->ninputs > 1 ? in_tangents[1] : NULL;
    *out_tangent = NULL;
    switch (n->op) {
    case TY_OP_CONV: {
        ty_array *a = NULL, *b = NULL;
        if (t0) {
            ty_array *tc = ty_astype(t0, out->dtype);
            a = tc ? ty_conv_general(tc, n->inputs[1], &p->conv) : NULL;
            ty_release(tc);
            if (!a) return -1;
        }
        if (t1) {
            ty_array *tc = ty_astype(t1, out->dtype);
            b = tc ? ty_conv_general(x, tc, &p->conv) : NULL;
            ty_release(tc);
            if (!b) {
                ty_release(a);
                return -1;
            }
        }
        if (a && b) {
            *out_tangent = ty_add(a, b);
            drop(NULL, a, b, NULL);
            return *out_tangent ? 0 : -1;
        }
        *out_tangent = a ? a : b;
        return 0;
    }
    case TY_OP_POOL:
        if (p->kind == POOL_SELECT) {
            if (!t1) return 0;
            *out_tangent = ty_max_pool_select(x, t1, p->nsp, &p->pool);
        } else {
            if (!t0) return 0;
            if (p->kind == TY_POOL_AVG) {
                ty_array *tc = ty_astype(t0, out->dtype);
                *out_tangent = tc ? ty_pool(tc, p->nsp, TY_POOL_AVG, &p->pool) : NULL;
                ty_release(tc);
            } else {
                *out_tangent = ty_max_pool_select(x, t0, p->nsp, &p->pool);
            }
        }
        return *out_tangent ? 0 : -1;
    case TY_OP_POOL_GRAD:
        if (!t1) return 0;
        *out_tangent = ty_pool_grad(x, t1, p->nsp, (ty_pool_kind)p->kind, &p->pool);
        return *out_tangent ? 0 : -1;
    default:
        return ty__error("[jvp] not a conv/pool node");
    }
}
