/*
 * ops_nn.c -- constructors of the nn primitives normalize, attention and
 * softmax_cross_entropy (kernels: cpu_nn.c, vk_kernels_nn.c; rules:
 * autograd_nn.c).
 *
 * Node layouts (params, see internal.h):
 *   normalize:  inputs {x}, then weight when kind & 1, then bias when
 *               kind & 2 (each broadcast, as a view, to x's shape:
 *               y = normalize(x) * weight + bias); naxes/axes the normalised
 *               axes (sorted); hp[0] eps; flag rms. Output: x's shape, the
 *               float dtype of x, weight and bias promoted.
 *   attention:  inputs {q, k, v} or {q, k, v, mask} with q, k, v of one float
 *               dtype and mask broadcast (a view) to (..., Lq, Lk); hp[0]
 *               scale; flag causal; kind 1 when the mask is bool (keep),
 *               0 when it is added. Output (..., Lq, Dv).
 *   softmax_cross_entropy: inputs {logits (..., C) float, labels (...)
 *               integer}; index_base; flag has_ignore; k ignore_index.
 *               Output (...), logits' dtype.
 */
#include <math.h>
#include <string.h>

#include "ops.h"

static ty_dtype float_of(ty_dtype t)
{
    return ty_dtype_is_float(t) ? t : TY_FLOAT32;
}

ty_array *ty_normalize(ty_array *x, int naxes, const int *axes, double eps, bool rms)
{
    return ty_normalize_affine(x, naxes, axes, eps, rms, NULL, NULL);
}

ty_array *ty_normalize_affine(ty_array *x, int naxes, const int *axes, double eps, bool rms,
                              ty_array *weight, ty_array *bias)
{
    ty_array *in[3] = {x, weight, bias};
    int nin = 0;
    ty_array *chk[3];
    for (int i = 0; i < 3; i++)
        if (i == 0 || in[i]) chk[nin++] = in[i];
    if (ty__check_inputs("normalize", chk, nin) != 0) return NULL;
    char sx[TY_SHAPE_BUF], sw[TY_SHAPE_BUF];
    if (naxes <= 0 || !axes)
        return ty__error_null("[normalize] at least one axis is required, x is %s",
                              ty__shp(x, sx));
    if (!(eps >= 0) || isinf(eps))
        return ty__error_null("[normalize] eps must be a non-negative number, got %g", eps);
    ty_params p = {0};
    p.naxes = ty__resolve_axes("normalize", axes, naxes, x->ndim, p.axes);
    if (p.naxes < 0) return NULL;
    p.hp[0] = eps;
    p.flag = rms;
    ty_dtype dt = x->dtype;
    for (int i = 1; i < 3; i++) {
        if (!in[i]) continue;
        const char *what = i == 1 ? "weight" : "bias";
        bool ok = in[i]->ndim <= x->ndim;
        for (int d = 0; ok && d < in[i]->ndim; d++) {
            int64_t s = in[i]->shape[d];
            ok = s == 1 || s == x->shape[x->ndim - in[i]->ndim + d];
        }
        if (!ok)
            return ty__error_null("[normalize] %s %s does not broadcast to x %s", what,
                                  ty__shp(in[i], sw), ty__shp(x, sx));
        dt = ty_promote(dt, in[i]->dtype);
        p.kind |= i;
    }
    dt = float_of(dt);
    ty_array *ins[3] = {NULL, NULL, NULL};
    int n = 0;
    bool failed = false;
    for (int i = 0; i < 3; i++) {
        if (!in[i]) continue;
        ty_array *c = in[i]->dtype == dt ? ty_retain(in[i]) : ty_astype(in[i], dt);
        ty_array *b = c && i > 0 ? ty_broadcast_to(c, x->ndim, x->shape) : c;
        if (c && b != c) ty_release(c);
        ins[n++] = b;
        if (!b) failed = true;
    }
    ty_array *r = NULL;
    if (!failed)
        r = ty__array_new_node(TY_OP_NORMALIZE, n, ins, &p, x->ndim, x->shape, dt, x->device);
    for (int i = 0; i < n; i++) ty_release(ins[i]);
    return r;
}

ty_array *ty_attention(ty_array *q, ty_array *k, ty_array *v, ty_array *mask, double scale,
                       bool causal)
{
    ty_array *in[4] = {q, k, v, mask};
    if (ty__check_inputs("attention", in, mask ? 4 : 3) != 0) return NULL;
    char sq[TY_SHAPE_BUF], sk[TY_SHAPE_BUF], sv[TY_SHAPE_BUF], sm[TY_SHAPE_BUF];
    if (q->ndim < 2 || k->ndim != q->ndim || v->ndim != q->ndim)
        return ty__error_null("[attention] q, k, v must have the same rank (at least 2): "
                              "q %s, k %s, v %s", ty__shp(q, sq), ty__shp(k, sk),
                              ty__shp(v, sv));
    int nd = q->ndim;
    for (int d = 0; d < nd - 2; d++) {
        if (k->shape[d] != q->shape[d] || v->shape[d] != q->shape[d])
            return ty__error_null("[attention] leading axes of q, k, v differ: q %s, k %s, "
                                  "v %s", ty__shp(q, sq), ty__shp(k, sk), ty__shp(v, sv));
    }
    if (k->shape[nd - 1] != q->shape[nd - 1])
        return ty__error_null("[attention] q and k must have the same last axis: q %s, k %s",
                              ty__shp(q, sq), ty__shp(k, sk));
    if (v->shape[nd - 2] != k->shape[nd - 2])
        return ty__error_null("[attention] k and v must have the same number of keys: "
                              "k %s, v %s", ty__shp(k, sk), ty__shp(v, sv));
    if (!isfinite(scale)) return ty__error_null("[attention] scale must be finite");
    ty_dtype dt = float_of(ty_promote(ty_promote(q->dtype, k->dtype), v->dtype));
    int64_t lq = q->shape[nd - 2], lk = k->shape[nd - 2];
    int64_t sshape[TY_MAX_DIMS];
    memcpy(sshape, q->shape, sizeof(int64_t) * (size_t)nd);
    sshape[nd - 1] = lk;
    ty_array *ins[4] = {NULL, NULL, NULL, NULL};
    ins[0] = q->dtype == dt ? ty_retain(q) : ty_astype(q, dt);
    ins[1] = k->dtype == dt ? ty_retain(k) : ty_astype(k, dt);
    ins[2] = v->dtype == dt ? ty_retain(v) : ty_astype(v, dt);
    int n = 3;
    ty_params p = {0};
    p.hp[0] = scale;
    p.flag = causal;
    if (mask) {
        if (mask->ndim > nd) {
            ty_release(ins[0]); ty_release(ins[1]); ty_release(ins[2]);
            return ty__error_null("[attention] mask %s does not broadcast to the scores %s",
                                  ty__shp(mask, sm), ty__shape_str(nd, sshape, sq, sizeof sq));
        }
        for (int d = 0; d < mask->ndim; d++) {
            int64_t m = mask->shape[d], s = sshape[nd - mask->ndim + d];
            if (m != 1 && m != s) {
                ty_release(ins[0]); ty_release(ins[1]); ty_release(ins[2]);
                return ty__error_null("[attention] mask %s does not broadcast to the scores "
                                      "%s", ty__shp(mask, sm),
                                      ty__shape_str(nd, sshape, sq, sizeof sq));
            }
        }
        p.kind = mask->dtype == TY_BOOL;
        ty_array *mc = NULL;
        if (mask->dtype == TY_BOOL || mask->dtype == dt) mc = ty_retain(mask);
        else mc = ty_astype(mask, dt);
        ins[3] = mc ? ty_broadcast_to(mc, nd, sshape) : NULL;
        ty_release(mc);
        n = 4;
    }
    ty_array *r = NULL;
    if (ins[0] && ins[1] && ins[2] && (n == 3 || ins[3])) {
        int64_t oshape[TY_MAX_DIMS];
        memcpy(oshape, q->shape, sizeof(int64_t) * (size_t)nd);
        oshape[nd - 1] = v->shape[nd - 1];
        (void)lq;
        r = ty__array_new_node(TY_OP_ATTENTION, n, ins, &p, nd, oshape, dt, q->device);
    }
    for (int i = 0; i < 4; i++) ty_release(ins[i]);
    return r;
}

ty_array *ty_softmax_cross_entropy(ty_array *logits, ty_array *labels, int index_base,
                                   bool has_ignore, int64_t ignore_index)
{
    ty_array *in[2] = {logits, labels};
    if (ty__check_inputs("softmax_cross_entropy", in, 2) != 0) return NULL;
    char sl[TY_SHAPE_BUF], sy[TY_SHAPE_BUF];
    if (logits->ndim < 1)
        return ty__error_null("[softmax_cross_entropy] logits must have a class axis, got %s",
                              ty__shp(logits, sl));
    if (!ty_dtype_is_integer(labels->dtype))
        return ty__error_null("[softmax_cross_entropy] labels must be integers, got %s "
                              "labels %s", ty_dtype_name(labels->dtype), ty__shp(labels, sy));
    bool ok = labels->ndim == logits->ndim - 1;
    for (int d = 0; ok && d < labels->ndim; d++) ok = labels->shape[d] == logits->shape[d];
    if (!ok)
        return ty__error_null("[softmax_cross_entropy] labels %s must have the shape of "
                              "logits %s without its last axis", ty__shp(labels, sy),
                              ty__shp(logits, sl));
    if (logits->shape[logits->ndim - 1] == 0)
        return ty__error_null("[softmax_cross_entropy] logits %s have no classes",
                              ty__shp(logits, sl));
    ty_dtype dt = float_of(logits->dtype);
    ty_params p = {0};
    p.index_base = index_base;
    p.flag = has_ignore;
    p.k = ignore_index;
    p.axis = logits->ndim - 1;
    ty_array *ins[2];
    ins[0] = logits->dtype == dt ? ty_retain(logits) : ty_astype(logits, dt);
    if (!ins[0]) return NULL;
    ins[1] = labels;
    ty_array *r = ty__array_new_node(TY_OP_SOFTMAX_CROSS_ENTROPY, 2, ins, &p, labels->ndim,
                                     labels->shape, dt, logits->device);
    ty_release(ins[0]);
    return r;
}
