/* ops_reduce.c -- reductions, scans, softmax and matmul constructors. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

#include "ops.h"

ty_array *ty__drop(ty_array *r, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) ty_release(va_arg(ap, ty_array *));
    va_end(ap);
    return r;
}

int ty__resolve_axes(const char *op, const int *axes, int naxes, int ndim, int *out)
{
    if (!axes || naxes == 0) {
        for (int d = 0; d < ndim; d++) out[d] = d;
        return ndim;
    }
    if (naxes > ndim) {
        ty__error("[%s] %d axes given for an array of %d dimensions", op, naxes, ndim);
        return -1;
    }
    bool seen[TY_MAX_DIMS] = {0};
    for (int i = 0; i < naxes; i++) {
        int r = ty__axis(op, axes[i], ndim);
        if (r < 0) return -1;
        if (seen[r]) {
            ty__error("[%s] axis %d is repeated", op, ty__ax(axes[i]));
            return -1;
        }
        seen[r] = true;
    }
    int n = 0;
    for (int d = 0; d < ndim; d++)
        if (seen[d]) out[n++] = d;
    return n;
}

/* Output shape of a reduction over the sorted axes. */
static int reduced_shape(const ty_array *a, const int *axes, int naxes, bool keepdims,
                         int64_t *shape)
{
    int nd = 0, k = 0;
    for (int d = 0; d < a->ndim; d++) {
        bool reduced = k < naxes && axes[k] == d;
        if (reduced) k++;
        if (!reduced) shape[nd++] = a->shape[d];
        else if (keepdims) shape[nd++] = 1;
    }
    return nd;
}

static ty_dtype sum_dtype(ty_dtype t)
{
    return (t == TY_BOOL || t == TY_UINT8) ? TY_INT32 : t;
}

ty_array *ty_reduce(ty_op op, ty_array *a, const int *axes, int naxes, bool keepdims)
{
    const char *name = ty_op_name(op);
    if (ty__check_inputs(name, &a, 1) != 0) return NULL;
    ty_params p = {0};
    int n = ty__resolve_axes(name, axes, naxes, a->ndim, p.axes);
    if (n < 0) return NULL;
    p.naxes = n;
    p.keepdims = keepdims;
    if (op == TY_OP_MAX || op == TY_OP_MIN)
        for (int i = 0; i < n; i++)
            if (a->shape[p.axes[i]] == 0) {
                char buf[TY_SHAPE_BUF];
                return ty__error_null("[%s] cannot reduce the empty axis %d of shape %s",
                                      name, ty__ax(p.axes[i]), ty__shp(a, buf));
            }
    int64_t shape[TY_MAX_DIMS];
    int nd = reduced_shape(a, p.axes, n, keepdims, shape);
    ty_dtype dt = a->dtype;
    if (op == TY_OP_SUM || op == TY_OP_PROD) dt = sum_dtype(dt);
    if (op == TY_OP_ALL || op == TY_OP_ANY) dt = TY_BOOL;
    return ty__array_new_node(op, 1, &a, &p, nd, shape, dt, a->device);
}

#define DEFINE_REDUCE_(NAME, name)                                                  \
    ty_array *ty_##name(ty_array *a, const int *axes, int naxes, bool keepdims)     \
    {                                                                               \
        return ty_reduce(TY_OP_##NAME, a, axes, naxes, keepdims);                   \
    }
TY_REDUCE_OPS(DEFINE_REDUCE_)
#undef DEFINE_REDUCE_

/* Number of elements reduced over the axes. */
static int64_t reduced_count(const ty_array *a, const int *axes, int naxes)
{
    int ax[TY_MAX_DIMS];
    int n = ty__resolve_axes("mean", axes, naxes, a->ndim, ax);
    int64_t c = 1;
    for (int i = 0; i < n; i++) c *= a->shape[ax[i]];
    return c;
}

static ty_dtype float_dtype(ty_dtype t)
{
    return ty_dtype_is_float(t) ? t : TY_FLOAT32;
}

/* Compositions compute half-precision inputs in float32 (a float16 sum of
 * 70000 ones overflows) and cast the result back. */
static ty_dtype compute_dtype(ty_dtype t)
{
    return (t == TY_FLOAT16 || t == TY_BFLOAT16) ? TY_FLOAT32 : float_dtype(t);
}

/* r cast to the result dtype of a float composition over a (consumes r). */
static ty_array *cast_back(ty_array *r, const ty_array *a)
{
    if (!r) return NULL;
    ty_array *c = ty__cast(r, float_dtype(a->dtype));
    ty_release(r);
    return c;
}

ty_array *ty_mean(ty_array *a, const int *axes, int naxes, bool keepdims)
{
    if (!a) return ty__error_null("[mean] argument is NULL");
    ty_array *x = ty__cast(a, compute_dtype(a->dtype));
    ty_array *s = x ? ty_sum(x, axes, naxes, keepdims) : NULL;
    ty_array *n = s ? ty__const_like(a, (double)reduced_count(a, axes, naxes), x->dtype)
                    : NULL;
    ty_array *r = n ? ty_div(s, n) : NULL;
    return ty__drop(cast_back(r, a), 3, x, s, n);
}

ty_array *ty_var(ty_array *a, const int *axes, int naxes, bool keepdims, int ddof)
{
    if (!a) return ty__error_null("[var] argument is NULL");
    int ax[TY_MAX_DIMS];
    if (ty__resolve_axes("var", axes, naxes, a->ndim, ax) < 0) return NULL;
    ty_array *x = ty__cast(a, compute_dtype(a->dtype));
    ty_array *m = x ? ty_mean(x, axes, naxes, true) : NULL;
    ty_array *d = m ? ty_sub(x, m) : NULL;
    ty_array *d2 = d ? ty_square(d) : NULL;
    ty_array *s = d2 ? ty_sum(d2, axes, naxes, keepdims) : NULL;
    double count = (double)(reduced_count(a, axes, naxes) - ddof);
    ty_array *n = s ? ty__const_like(a, count > 0 ? count : 0, x->dtype) : NULL;
    ty_array *r = n ? ty_div(s, n) : NULL;
    return ty__drop(cast_back(r, a), 6, x, m, d, d2, s, n);
}

ty_array *ty_std(ty_array *a, const int *axes, int naxes, bool keepdims, int ddof)
{
    ty_array *v = ty_var(a, axes, naxes, keepdims, ddof);
    return v ? ty__drop(ty_sqrt(v), 1, v) : NULL;
}

ty_array *ty_logsumexp(ty_array *a, const int *axes, int naxes, bool keepdims)
{
    if (!a) return ty__error_null("[logsumexp] argument is NULL");
    int ax[TY_MAX_DIMS];
    int n = ty__resolve_axes("logsumexp", axes, naxes, a->ndim, ax);
    if (n < 0) return NULL;
    for (int i = 0; i < n; i++)
        if (a->shape[ax[i]] == 0) {   /* log of an empty sum: -inf, as NumPy */
            ty_array *shape = ty_sum(a, ax, n, keepdims);
            ty_array *r = shape ? ty_full(shape->ndim, shape->shape, -INFINITY,
                                          float_dtype(a->dtype), a->device) : NULL;
            return ty__drop(r, 1, shape);
        }
    ty_array *x = ty__cast(a, compute_dtype(a->dtype));
    ty_array *m = x ? ty_max(x, ax, n, true) : NULL;
    /* an all -inf slice has max -inf: shift by 0 there to avoid inf - inf */
    ty_array *inf = m ? ty_isinf(m) : NULL;
    ty_array *zero = inf ? ty__const_like(a, 0, x->dtype) : NULL;
    ty_array *ms = zero ? ty_where(inf, zero, m) : NULL;
    ty_array *d = ms ? ty_sub(x, ms) : NULL;
    ty_array *e = d ? ty_exp(d) : NULL;
    ty_array *s = e ? ty_sum(e, ax, n, true) : NULL;
    ty_array *l = s ? ty_log(s) : NULL;
    ty_array *r = l ? ty_add(l, ms) : NULL;
    ty_array *out = r;
    if (r && !keepdims) {
        out = ty_squeeze(r, ax, n);
        ty_release(r);
    }
    return ty__drop(cast_back(out, a), 9, x, m, inf, zero, ms, d, e, s, l);
}

static ty_array *arg_reduce(ty_op op, ty_array *a, int axis, bool keepdims, int base)
{
    const char *name = ty_op_name(op);
    if (ty__check_inputs(name, &a, 1) != 0) return NULL;
    if (a->ndim == 0) {
        ty_array *flat = ty_reshape(a, 1, (int64_t[]){1});
        ty_array *r = flat ? arg_reduce(op, flat, 0, false, base) : NULL;
        return ty__drop(r, 1, flat);
    }
    int ax = ty__axis(name, axis, a->ndim);
    if (ax < 0) return NULL;
    if (a->shape[ax] == 0) {
        char buf[TY_SHAPE_BUF];
        return ty__error_null("[%s] cannot reduce the empty axis %d of shape %s", name, ty__ax(ax),
                              ty__shp(a, buf));
    }
    ty_params p = {0};
    p.axis = ax;
    p.axes[0] = ax;
    p.naxes = 1;
    p.keepdims = keepdims;
    p.index_base = base;
    int64_t shape[TY_MAX_DIMS];
    int nd = reduced_shape(a, p.axes, 1, keepdims, shape);
    ty_dtype dt = a->shape[ax] + base > INT32_MAX ? TY_INT64 : TY_INT32;
    return ty__array_new_node(op, 1, &a, &p, nd, shape, dt, a->device);
}

ty_array *ty_argmax(ty_array *a, int axis, bool keepdims, int index_base)
{
    return arg_reduce(TY_OP_ARGMAX, a, axis, keepdims, index_base);
}

ty_array *ty_argmin(ty_array *a, int axis, bool keepdims, int index_base)
{
    return arg_reduce(TY_OP_ARGMIN, a, axis, keepdims, index_base);
}

static ty_array *along_axis(ty_op op, ty_array *a, int axis, ty_dtype dtype, ty_params *p)
{
    const char *name = ty_op_name(op);
    if (ty__check_inputs(name, &a, 1) != 0) return NULL;
    if (a->ndim == 0) {
        ty_array *flat = ty_reshape(a, 1, (int64_t[]){1});
        ty_array *r = flat ? along_axis(op, flat, 0, dtype, p) : NULL;
        ty_array *back = r ? ty_reshape(r, 0, NULL) : NULL;
        return ty__drop(back, 2, flat, r);
    }
    int ax = ty__axis(name, axis, a->ndim);
    if (ax < 0) return NULL;
    p->axis = ax;
    return ty__array_new_node(op, 1, &a, p, a->ndim, a->shape, dtype, a->device);
}

ty_array *ty_cumsum(ty_array *a, int axis, bool reverse)
{
    if (!a) return ty__error_null("[cumsum] argument is NULL");
    ty_params p = {0};
    p.reverse = reverse;
    return along_axis(TY_OP_CUMSUM, a, axis, sum_dtype(a->dtype), &p);
}

ty_array *ty_cumprod(ty_array *a, int axis, bool reverse)
{
    if (!a) return ty__error_null("[cumprod] argument is NULL");
    ty_params p = {0};
    p.reverse = reverse;
    return along_axis(TY_OP_CUMPROD, a, axis, sum_dtype(a->dtype), &p);
}

ty_array *ty_softmax(ty_array *a, int axis)
{
    if (!a) return ty__error_null("[softmax] argument is NULL");
    ty_params p = {0};
    return along_axis(TY_OP_SOFTMAX, a, axis, float_dtype(a->dtype), &p);
}

ty_array *ty_log_softmax(ty_array *a, int axis)
{
    if (!a) return ty__error_null("[log_softmax] argument is NULL");
    ty_params p = {0};
    return along_axis(TY_OP_LOG_SOFTMAX, a, axis, float_dtype(a->dtype), &p);
}

/* ---------------------------------------------------------------- matmul */

ty_array *ty_matmul(ty_array *a, ty_array *b)
{
    ty_array *in[2] = {a, b};
    if (ty__check_inputs("matmul", in, 2) != 0) return NULL;
    char sa[TY_SHAPE_BUF], sb[TY_SHAPE_BUF];
    if (a->ndim == 0 || b->ndim == 0)
        return ty__error_null("[matmul] operands must have at least one dimension: %s @ %s",
                              ty__shp(a, sa), ty__shp(b, sb));
    if (a->dtype == TY_BOOL || b->dtype == TY_BOOL)
        return ty__error_null("[matmul] bool operands are not supported (cast them first)");
    int64_t ka = a->shape[a->ndim - 1];
    int64_t kb = b->ndim == 1 ? b->shape[0] : b->shape[b->ndim - 2];
    if (ka != kb)
        return ty__error_null("[matmul] inner dimensions differ: %s @ %s", ty__shp(a, sa),
                              ty__shp(b, sb));
    /* 1-d operands: (k) -> (1,k) on the left, (k) -> (k,1) on the right */
    ty_array *a2 = a->ndim == 1 ? ty_reshape(a, 2, (int64_t[]){1, ka}) : ty_retain(a);
    ty_array *b2 = b->ndim == 1 ? ty_reshape(b, 2, (int64_t[]){kb, 1}) : ty_retain(b);
    if (!a2 || !b2) return ty__drop(NULL, 2, a2, b2);
    /* broadcast batch dimensions */
    int nd = a2->ndim > b2->ndim ? a2->ndim : b2->ndim;
    int64_t batch[TY_MAX_DIMS];
    for (int d = 0; d < nd - 2; d++) {
        int da = d - (nd - a2->ndim), db = d - (nd - b2->ndim);
        int64_t x = da >= 0 ? a2->shape[da] : 1, y = db >= 0 ? b2->shape[db] : 1;
        if (x != y && x != 1 && y != 1)
            return ty__drop(ty__error_null("[matmul] batch dimensions cannot be broadcast: "
                                           "%s @ %s", ty__shp(a, sa), ty__shp(b, sb)),
                            2, a2, b2);
        batch[d] = x == 1 ? y : x;
    }
    int64_t n = a2->shape[a2->ndim - 2], m = b2->shape[b2->ndim - 1];
    int64_t shape_a[TY_MAX_DIMS], shape_b[TY_MAX_DIMS], shape_o[TY_MAX_DIMS];
    for (int d = 0; d < nd - 2; d++) shape_a[d] = shape_b[d] = shape_o[d] = batch[d];
    shape_a[nd - 2] = n, shape_a[nd - 1] = ka;
    shape_b[nd - 2] = kb, shape_b[nd - 1] = m;
    shape_o[nd - 2] = n, shape_o[nd - 1] = m;
    ty_dtype dt = ty_promote(a->dtype, b->dtype);
    ty_array *ca = ty__cast(a2, dt), *cb = ty__cast(b2, dt);
    ty_array *ba = ca ? ty_broadcast_to(ca, nd, shape_a) : NULL;
    ty_array *bb = cb ? ty_broadcast_to(cb, nd, shape_b) : NULL;
    ty_array *out = NULL;
    if (ba && bb) {
        ty_array *ops[2] = {ba, bb};
        out = ty__array_new_node(TY_OP_MATMUL, 2, ops, NULL, nd, shape_o, dt, a->device);
    }
    ty__drop(NULL, 6, a2, b2, ca, cb, ba, bb);
    if (!out || (a->ndim > 1 && b->ndim > 1)) return out;
    /* drop the unit dimensions added for 1-d operands */
    int64_t final[TY_MAX_DIMS];
    int fd = 0;
    for (int d = 0; d < nd - 2; d++) final[fd++] = batch[d];
    if (a->ndim > 1) final[fd++] = n;
    if (b->ndim > 1) final[fd++] = m;
    return ty__drop(ty_reshape(out, fd, final), 1, out);
}
