/*
 * ops_conv.c -- constructors of the convolution and pooling primitives:
 * conv (TY_OP_CONV), pool (TY_OP_POOL), pool_grad (TY_OP_POOL_GRAD) and
 * max_pool_select (a TY_OP_POOL node of kind POOL_SELECT with inputs x, t).
 *
 * Node contracts (read by cpu_conv.c, vk_kernels_conv.c, autograd_conv.c):
 *   conv: inputs x (N, C, *in), w (O, C/groups, *k), one float dtype;
 *     params.nsp, params.conv with every default resolved (stride, dilation,
 *     in_dilation >= 1, groups >= 1; pads may be negative: cropping).
 *   pool: input x (..., *in); out (..., *pooled). params.kind a
 *     ty_pool_kind or POOL_SELECT; params.pool resolved (stride, dilation
 *     >= 1). POOL_SELECT: inputs x and t (x's shape), out pooled.
 *   pool_grad: inputs x (..., *in) and g (..., *pooled); out like x.
 */
#include <string.h>

#include "ops.h"

#define POOL_SELECT 2                  /* params.kind of max_pool_select */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

ty_array *ty_conv_general(ty_array *x, ty_array *w, const ty_conv_opts *opts)
{
    ty_array *in[2] = {x, w};
    if (ty__check_inputs("conv", in, 2) != 0) return NULL;
    char sx[TY_SHAPE_BUF], sw[TY_SHAPE_BUF];
    ty__shp(x, sx);
    ty__shp(w, sw);
    int nsp = x->ndim - 2;
    if (nsp < 1 || nsp > TY_MAX_SPATIAL)
        return ty__error_null("[conv] input must be (N,C,*spatial) with 1 to 3 spatial "
                              "axes, got %s (weight %s)", sx, sw);
    if (w->ndim != x->ndim)
        return ty__error_null("[conv] weight must be (O,C/groups,*kernel) with %d spatial "
                              "axes like the input: input %s, weight %s", nsp, sx, sw);
    if (!ty_dtype_is_float(x->dtype) || !ty_dtype_is_float(w->dtype))
        return ty__error_null("[conv] input and weight must be float arrays, got %s and %s "
                              "(input %s, weight %s)", ty_dtype_name(x->dtype),
                              ty_dtype_name(w->dtype), sx, sw);
    if (x->dtype != w->dtype)
        return ty__error_null("[conv] input and weight dtypes differ: %s and %s (input %s, "
                              "weight %s)", ty_dtype_name(x->dtype), ty_dtype_name(w->dtype),
                              sx, sw);
    ty_conv_opts o;
    if (opts) o = *opts;
    else memset(&o, 0, sizeof o);
    int groups = o.groups <= 0 ? 1 : o.groups;
    o.groups = groups;
    int64_t C = x->shape[1], O = w->shape[0];
    if (C % groups != 0 || O % groups != 0)
        return ty__error_null("[conv] groups=%d must divide the input channels %lld and the "
                              "output channels %lld: input %s, weight %s", groups,
                              (long long)C, (long long)O, sx, sw);
    if (w->shape[1] != C / groups)
        return ty__error_null("[conv] weight expects %lld input channels per group, the input "
                              "has %lld (groups=%d): input %s, weight %s",
                              (long long)w->shape[1], (long long)(C / groups), groups, sx, sw);
    int64_t shape[TY_MAX_DIMS];
    shape[0] = x->shape[0];
    shape[1] = O;
    for (int d = 0; d < nsp; d++) {
        if (o.stride[d] < 0 || o.dilation[d] < 0 || o.in_dilation[d] < 0)
            return ty__error_null("[conv] strides and dilations must be positive: input %s, "
                                  "weight %s", sx, sw);
        if (o.stride[d] == 0) o.stride[d] = 1;
        if (o.dilation[d] == 0) o.dilation[d] = 1;
        if (o.in_dilation[d] == 0) o.in_dilation[d] = 1;
        int64_t in = x->shape[2 + d], k = w->shape[2 + d];
        if (k < 1)
            return ty__error_null("[conv] empty kernel: input %s, weight %s", sx, sw);
        int64_t ind = in > 0 ? (in - 1) * o.in_dilation[d] + 1 : 0;
        int64_t span = ind + o.pad_lo[d] + o.pad_hi[d] - o.dilation[d] * (k - 1) - 1;
        if (in < 1 || span < 0)
            return ty__error_null("[conv] the kernel (dilated) is larger than the padded "
                                  "input: input %s, weight %s", sx, sw);
        shape[2 + d] = floor_div(span, o.stride[d]) + 1;
    }
    for (int d = nsp; d < TY_MAX_SPATIAL; d++) {
        o.stride[d] = o.dilation[d] = o.in_dilation[d] = 1;
        o.pad_lo[d] = o.pad_hi[d] = 0;
    }
    ty_params p;
    memset(&p, 0, sizeof p);
    p.nsp = nsp;
    p.conv = o;
    return ty__array_new_node(TY_OP_CONV, 2, in, &p, x->ndim, shape, x->dtype, x->device);
}

/* Resolves pooling options for x's last nsp axes and computes the pooled
 * shape into shape (x's ndim entries). */
static int pool_resolve(const char *op, ty_array *x, int nsp, ty_pool_kind kind,
                        const ty_pool_opts *opts, ty_pool_opts *o, int64_t *shape)
{
    char sx[TY_SHAPE_BUF];
    ty__shp(x, sx);
    if (nsp < 1 || nsp > TY_MAX_SPATIAL || x->ndim < nsp)
        return ty__error("[%s] cannot pool %d spatial axes of an input %s", op, nsp, sx);
    if (!ty_dtype_is_float(x->dtype))
        return ty__error("[%s] input must be a float array, got %s %s", op,
                         ty_dtype_name(x->dtype), sx);
    if (!opts) return ty__error("[%s] kernel size is required", op);
    *o = *opts;
    int lead = x->ndim - nsp;
    for (int d = 0; d < lead; d++) shape[d] = x->shape[d];
    for (int d = 0; d < nsp; d++) {
        int64_t k = o->kernel[d];
        if (k < 1) return ty__error("[%s] kernel sizes must be positive (input %s)", op, sx);
        if (o->stride[d] == 0) o->stride[d] = k;
        if (o->dilation[d] == 0) o->dilation[d] = 1;
        if (o->stride[d] < 0 || o->dilation[d] < 0 || o->pad_lo[d] < 0 || o->pad_hi[d] < 0)
            return ty__error("[%s] strides, dilations and paddings must be non-negative "
                             "(input %s)", op, sx);
        if (kind == TY_POOL_AVG && o->dilation[d] != 1)
            return ty__error("[%s] average pooling has no dilation (input %s)", op, sx);
        int64_t half = k / 2;                                  /* as PyTorch */
        if (o->pad_lo[d] > half || o->pad_hi[d] > half)
            return ty__error("[%s] padding should be at most half the kernel size, "
                             "got padding %lld for kernel %lld (input %s)", op,
                             (long long)(o->pad_lo[d] > o->pad_hi[d] ? o->pad_lo[d]
                                                                     : o->pad_hi[d]),
                             (long long)k, sx);
        int64_t in = x->shape[lead + d], s = o->stride[d];
        int64_t span = in + o->pad_lo[d] + o->pad_hi[d] - o->dilation[d] * (k - 1) - 1;
        if (span < 0)
            return ty__error("[%s] the kernel (size %lld, dilation %lld) is larger than the "
                             "padded input %s", op, (long long)k, (long long)o->dilation[d],
                             sx);
        int64_t out = floor_div(span + (o->ceil_mode ? s - 1 : 0), s) + 1;
        if (o->ceil_mode && (out - 1) * s >= in + o->pad_lo[d]) out--;
        shape[lead + d] = out;
    }
    for (int d = nsp; d < TY_MAX_SPATIAL; d++) {
        o->kernel[d] = o->stride[d] = o->dilation[d] = 1;
        o->pad_lo[d] = o->pad_hi[d] = 0;
    }
    return 0;
}

ty_array *ty_pool(ty_array *x, int nsp, ty_pool_kind kind, const ty_pool_opts *opts)
{
    if (ty__check_inputs("pool", &x, 1) != 0) return NULL;
    if (kind != TY_POOL_MAX && kind != TY_POOL_AVG)
        return ty__error_null("[pool] unknown pooling kind %d", (int)kind);
    ty_params p;
    memset(&p, 0, sizeof p);
    int64_t shape[TY_MAX_DIMS];
    if (pool_resolve(kind == TY_POOL_MAX ? "max_pool" : "avg_pool", x, nsp, kind, opts,
                     &p.pool, shape) != 0)
        return NULL;
    p.nsp = nsp;
    p.kind = kind;
    return ty__array_new_node(TY_OP_POOL, 1, &x, &p, x->ndim, shape, x->dtype, x->device);
}

ty_array *ty_pool_grad(ty_array *x, ty_array *g, int nsp, ty_pool_kind kind,
                       const ty_pool_opts *opts)
{
    ty_array *in[2] = {x, g};
    if (ty__check_inputs("pool_grad", in, 2) != 0) return NULL;
    if (kind != TY_POOL_MAX && kind != TY_POOL_AVG)
        return ty__error_null("[pool_grad] unknown pooling kind %d", (int)kind);
    ty_params p;
    memset(&p, 0, sizeof p);
    int64_t shape[TY_MAX_DIMS];
    if (pool_resolve("pool_grad", x, nsp, kind, opts, &p.pool, shape) != 0) return NULL;
    char sx[TY_SHAPE_BUF], sg[TY_SHAPE_BUF];
    if (!ty__same_shape(g, x->ndim, shape))
        return ty__error_null("[pool_grad] cotangent %s does not match the pooled shape of "
                              "the input %s", ty__shp(g, sg), ty__shp(x, sx));
    ty_array *gc = ty__cast(g, x->dtype);
    if (!gc) return NULL;
    p.nsp = nsp;
    p.kind = kind;
    ty_array *ops[2] = {x, gc};
    ty_array *r = ty__array_new_node(TY_OP_POOL_GRAD, 2, ops, &p, x->ndim, x->shape, x->dtype,
                                     x->device);
    return ty__drop(r, 1, gc);
}

ty_array *ty_max_pool_select(ty_array *x, ty_array *t, int nsp, const ty_pool_opts *opts)
{
    ty_array *in[2] = {x, t};
    if (ty__check_inputs("max_pool_select", in, 2) != 0) return NULL;
    char sx[TY_SHAPE_BUF], st[TY_SHAPE_BUF];
    if (!ty__same_shape(t, x->ndim, x->shape))
        return ty__error_null("[max_pool_select] t %s must have the input's shape %s",
                              ty__shp(t, st), ty__shp(x, sx));
    ty_params p;
    memset(&p, 0, sizeof p);
    int64_t shape[TY_MAX_DIMS];
    if (pool_resolve("max_pool_select", x, nsp, TY_POOL_MAX, opts, &p.pool, shape) != 0)
        return NULL;
    ty_array *tc = ty__cast(t, x->dtype);
    if (!tc) return NULL;
    p.nsp = nsp;
    p.kind = POOL_SELECT;
    ty_array *ops[2] = {x, tc};
    ty_array *r = ty__array_new_node(TY_OP_POOL, 2, ops, &p, x->ndim, shape, x->dtype,
                                     x->device);
    return ty__drop(r, 1, tc);
}
