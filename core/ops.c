/* ops.c -- op names, shared checks, creation and elementwise constructors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

#define NAME_(NAME, name) [TY_OP_##NAME] = #name,
static const char *const op_names[TY_OP_COUNT] = {
    [TY_OP_NONE] = "none", [TY_OP_FULL] = "full", [TY_OP_ARANGE] = "arange",
    [TY_OP_LINSPACE] = "linspace", [TY_OP_EYE] = "eye", [TY_OP_RANDOM] = "random",
    TY_UNARY_OPS(NAME_) TY_BINARY_OPS(NAME_)
    [TY_OP_WHERE] = "where", [TY_OP_ASTYPE] = "astype",
    TY_REDUCE_OPS(NAME_)
    [TY_OP_ARGMAX] = "argmax", [TY_OP_ARGMIN] = "argmin", [TY_OP_CUMSUM] = "cumsum",
    [TY_OP_CUMPROD] = "cumprod", [TY_OP_SOFTMAX] = "softmax",
    [TY_OP_LOG_SOFTMAX] = "log_softmax", [TY_OP_MATMUL] = "matmul",
    [TY_OP_RESHAPE] = "reshape", [TY_OP_TRANSPOSE] = "transpose",
    [TY_OP_BROADCAST_TO] = "broadcast_to", [TY_OP_SLICE] = "slice",
    [TY_OP_COPY] = "copy", [TY_OP_CONCATENATE] = "concatenate", [TY_OP_PAD] = "pad",
    [TY_OP_TAKE] = "take", [TY_OP_TAKE_ALONG_AXIS] = "take_along_axis",
    [TY_OP_SCATTER_ADD] = "scatter_add", [TY_OP_SLICE_UPDATE] = "slice_update",
    [TY_OP_SORT] = "sort", [TY_OP_ARGSORT] = "argsort",
    [TY_OP_CONV] = "conv", [TY_OP_POOL] = "pool", [TY_OP_POOL_GRAD] = "pool_grad",
    [TY_OP_NORMALIZE] = "normalize", [TY_OP_ATTENTION] = "attention",
    [TY_OP_SOFTMAX_CROSS_ENTROPY] = "softmax_cross_entropy",
    [TY_OP_OPTIM_UPDATE] = "optim_update",
};
#undef NAME_
_Static_assert(TY_OP_COUNT == 97, "a new op needs a name above, a CPU kernel in "
                                  "cpu.c and a case in the tests");

const char *ty_op_name(ty_op op)
{
    return ((unsigned)op < TY_OP_COUNT && op_names[op]) ? op_names[op] : "?";
}

const char *ty__shp(const ty_array *a, char *buf)
{
    return ty__shape_str(a->ndim, a->shape, buf, TY_SHAPE_BUF);
}

int ty__check_inputs(const char *op, ty_array *const *inputs, int n)
{
    for (int i = 0; i < n; i++) {
        if (!inputs[i]) return ty__error("[%s] argument %d is NULL", op, i + 1);
        if (!ty_device_equal(inputs[i]->device, inputs[0]->device)) {
            char d0[16], d1[16];
            return ty__error("[%s] arrays are on different devices: %s and %s "
                             "(move one with x:to(device))", op,
                             ty_device_string(inputs[0]->device, d0, sizeof d0),
                             ty_device_string(inputs[i]->device, d1, sizeof d1));
        }
    }
    return 0;
}

int ty__broadcast_shapes(const char *op, ty_array *const *inputs, int n, int *ndim,
                         int64_t *shape)
{
    int nd = 0;
    for (int i = 0; i < n; i++) nd = inputs[i]->ndim > nd ? inputs[i]->ndim : nd;
    for (int d = 0; d < nd; d++) shape[d] = 1;
    for (int i = 0; i < n; i++) {
        const ty_array *a = inputs[i];
        int lead = nd - a->ndim;
        for (int d = 0; d < a->ndim; d++) {
            int64_t s = a->shape[d], *o = &shape[lead + d];
            if (s == *o || s == 1) continue;
            if (*o == 1) {
                *o = s;
                continue;
            }
            char b0[TY_SHAPE_BUF], b1[TY_SHAPE_BUF];
            if (n == 2)
                return ty__error("[%s] shapes %s and %s cannot be broadcast together", op,
                                 ty__shp(inputs[0], b0), ty__shp(inputs[1], b1));
            return ty__error("[%s] shape %s cannot be broadcast with the others (%s)", op,
                             ty__shp(a, b0), ty__shape_str(nd, shape, b1, sizeof b1));
        }
    }
    *ndim = nd;
    return 0;
}

bool ty__same_shape(const ty_array *a, int ndim, const int64_t *shape)
{
    if (a->ndim != ndim) return false;
    for (int d = 0; d < ndim; d++)
        if (a->shape[d] != shape[d]) return false;
    return true;
}

/* ---------------------------------------------------------------- creation */

static ty_array *creation(ty_op op, const ty_params *p, int ndim, const int64_t *shape,
                          ty_dtype dtype, ty_device device)
{
    if ((unsigned)dtype >= TY_DTYPE_COUNT)
        return ty__error_null("[%s] unknown dtype", ty_op_name(op));
    if (ndim < 0 || ndim > TY_MAX_DIMS)
        return ty__error_null("[%s] %d dimensions (at most %d are supported)",
                              ty_op_name(op), ndim, TY_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) {
            char buf[TY_SHAPE_BUF];
            return ty__error_null("[%s] negative dimension in shape %s", ty_op_name(op),
                                  ty__shape_str(ndim, shape, buf, sizeof buf));
        }
    device = ty__home_device(device, dtype);
    if (!ty_device_available(device)) {
        char buf[16];
        return ty__error_null("[%s] device %s is not available", ty_op_name(op),
                              ty_device_string(device, buf, sizeof buf));
    }
    return ty__array_new_node(op, 0, NULL, p, ndim, shape, dtype, device);
}

ty_array *ty_full(int ndim, const int64_t *shape, double value, ty_dtype dtype,
                  ty_device device)
{
    ty_params p = {0};
    p.value = value;
    return creation(TY_OP_FULL, &p, ndim, shape, dtype, device);
}

ty_array *ty_zeros(int ndim, const int64_t *shape, ty_dtype dtype, ty_device device)
{
    return ty_full(ndim, shape, 0, dtype, device);
}

ty_array *ty_ones(int ndim, const int64_t *shape, ty_dtype dtype, ty_device device)
{
    return ty_full(ndim, shape, 1, dtype, device);
}

ty_array *ty_full_like(ty_array *a, double value)
{
    if (!a) return ty__error_null("[full_like] argument is NULL");
    return ty_full(a->ndim, a->shape, value, a->dtype, a->device);
}

ty_array *ty_zeros_like(ty_array *a) { return ty_full_like(a, 0); }
ty_array *ty_ones_like(ty_array *a) { return ty_full_like(a, 1); }

ty_array *ty_arange(double start, double step, int64_t n, ty_dtype dtype, ty_device device)
{
    if (n < 0) return ty__error_null("[arange] negative length %lld", (long long)n);
    if (!isfinite(start) || !isfinite(step))
        return ty__error_null("[arange] start and step must be finite");
    ty_params p = {0};
    p.value = start;
    p.value2 = step;
    return creation(TY_OP_ARANGE, &p, 1, &n, dtype, device);
}

ty_array *ty_linspace(double a, double b, int64_t n, ty_dtype dtype, ty_device device)
{
    if (n < 0) return ty__error_null("[linspace] negative length %lld", (long long)n);
    ty_params p = {0};
    p.value = a;
    p.value2 = b;
    return creation(TY_OP_LINSPACE, &p, 1, &n, dtype, device);
}

ty_array *ty_eye(int64_t n, int64_t m, int64_t k, ty_dtype dtype, ty_device device)
{
    ty_params p = {0};
    p.k = k;
    int64_t shape[2] = {n, m};
    return creation(TY_OP_EYE, &p, 2, shape, dtype, device);
}

/* ---------------------------------------------------------------- elementwise */

/* Unary ops defined on integers keep an integer dtype; the rest give floats. */
static bool unary_keeps_integers(ty_op op)
{
    switch (op) {
    case TY_OP_NEG: case TY_OP_ABS: case TY_OP_SIGN: case TY_OP_SQUARE: case TY_OP_RELU:
    case TY_OP_FLOOR: case TY_OP_CEIL: case TY_OP_ROUND: case TY_OP_TRUNC:
        return true;
    default:
        return false;
    }
}

static ty_dtype unary_dtype(ty_op op, ty_dtype in)
{
    if (op == TY_OP_LOGICAL_NOT || op == TY_OP_ISNAN || op == TY_OP_ISINF) return TY_BOOL;
    if (ty_dtype_is_float(in)) return in;
    if (unary_keeps_integers(op)) {
        if (in == TY_BOOL && op != TY_OP_ABS && op != TY_OP_FLOOR && op != TY_OP_CEIL &&
            op != TY_OP_ROUND && op != TY_OP_TRUNC && op != TY_OP_RELU)
            return TY_INT32;
        return in;
    }
    return TY_FLOAT32;
}

ty_array *ty_unary(ty_op op, ty_array *a)
{
    const char *name = ty_op_name(op);
    if (ty__check_inputs(name, &a, 1) != 0) return NULL;
    return ty__array_new_node(op, 1, &a, NULL, a->ndim, a->shape, unary_dtype(op, a->dtype),
                              a->device);
}

#define DEFINE_UNARY_(NAME, name) \
    ty_array *ty_##name(ty_array *a) { return ty_unary(TY_OP_##NAME, a); }
TY_UNARY_OPS(DEFINE_UNARY_)
#undef DEFINE_UNARY_

bool ty__unary_int_capable(ty_op op)
{
    switch (op) {
    case TY_OP_NEG: case TY_OP_ABS: case TY_OP_SIGN: case TY_OP_SQUARE:
    case TY_OP_FLOOR: case TY_OP_CEIL: case TY_OP_ROUND: case TY_OP_TRUNC:
    case TY_OP_RELU: case TY_OP_LOGICAL_NOT: case TY_OP_ISNAN: case TY_OP_ISINF:
        return true;
    default:
        return false;
    }
}

ty_dtype ty_result_dtype(ty_op op, ty_dtype a, ty_dtype b)
{
    ty_dtype t = ty_promote(a, b);
    switch (op) {
    case TY_OP_EQ: case TY_OP_NE: case TY_OP_LT: case TY_OP_LE: case TY_OP_GT: case TY_OP_GE:
    case TY_OP_LOGICAL_AND: case TY_OP_LOGICAL_OR:
        return TY_BOOL;
    case TY_OP_DIV: case TY_OP_ATAN2:
        return ty_dtype_is_float(t) ? t : TY_FLOAT32;
    case TY_OP_MAXIMUM: case TY_OP_MINIMUM:
        return t;
    default:
        return t == TY_BOOL ? TY_INT32 : t;
    }
}

/* Broadcasts each input to (ndim, shape) with a view node where needed;
 * writes owned references to out. */
int ty__broadcast_all(ty_array *const *in, int n, int ndim, const int64_t *shape,
                      ty_array **out)
{
    for (int i = 0; i < n; i++) {
        out[i] = ty__same_shape(in[i], ndim, shape) ? ty_retain(in[i])
                                                    : ty_broadcast_to(in[i], ndim, shape);
        if (!out[i]) {
            while (i--) ty_release(out[i]);
            return -1;
        }
    }
    return 0;
}

/* An elementwise node over inputs broadcast to a common shape. */
ty_array *ty__elementwise(ty_op op, ty_array *const *inputs, int n, ty_dtype dtype)
{
    const char *name = ty_op_name(op);
    int ndim;
    int64_t shape[TY_MAX_DIMS];
    ty_array *b[3];
    if (ty__check_inputs(name, inputs, n) != 0 ||
        ty__broadcast_shapes(name, inputs, n, &ndim, shape) != 0 ||
        ty__broadcast_all(inputs, n, ndim, shape, b) != 0)
        return NULL;
    ty_array *out = ty__array_new_node(op, n, b, NULL, ndim, shape, dtype, inputs[0]->device);
    for (int i = 0; i < n; i++) ty_release(b[i]);
    return out;
}

ty_array *ty_binary(ty_op op, ty_array *a, ty_array *b)
{
    ty_array *in[2] = {a, b};
    if (!a || !b) return ty__error_null("[%s] argument is NULL", ty_op_name(op));
    return ty__elementwise(op, in, 2, ty_result_dtype(op, a->dtype, b->dtype));
}

#define DEFINE_BINARY_(NAME, name) \
    ty_array *ty_##name(ty_array *a, ty_array *b) { return ty_binary(TY_OP_##NAME, a, b); }
TY_BINARY_OPS(DEFINE_BINARY_)
#undef DEFINE_BINARY_

ty_array *ty_where(ty_array *cond, ty_array *a, ty_array *b)
{
    ty_array *in[3] = {cond, a, b};
    if (!cond || !a || !b) return ty__error_null("[where] argument is NULL");
    return ty__elementwise(TY_OP_WHERE, in, 3, ty_promote(a->dtype, b->dtype));
}

ty_array *ty_clip(ty_array *a, ty_array *lo, ty_array *hi)
{
    if (!a) return ty__error_null("[clip] argument is NULL");
    ty_array *r = ty_retain(a);
    if (lo) {
        ty_array *t = ty_maximum(r, lo);
        ty_release(r);
        r = t;
    }
    if (hi && r) {
        ty_array *t = ty_minimum(r, hi);
        ty_release(r);
        r = t;
    }
    return r;
}

ty_array *ty_astype(ty_array *a, ty_dtype dtype)
{
    if (!a) return ty__error_null("[astype] argument is NULL");
    if ((unsigned)dtype >= TY_DTYPE_COUNT) return ty__error_null("[astype] unknown dtype");
    if (dtype == TY_FLOAT64 && a->device.kind != TY_CPU)
        return ty__error_null("[astype] float64 is supported on the CPU backend only");
    if (dtype == a->dtype) return ty_retain(a);
    ty_params p = {0};
    return ty__array_new_node(TY_OP_ASTYPE, 1, &a, &p, a->ndim, a->shape, dtype, a->device);
}

/* a cast to dtype if needed (owned). */
ty_array *ty__cast(ty_array *a, ty_dtype dtype)
{
    return a->dtype == dtype ? ty_retain(a) : ty_astype(a, dtype);
}

/* A 0-d constant on a's device. */
ty_array *ty__const_like(ty_array *a, double v, ty_dtype dtype)
{
    return ty_full(0, NULL, v, dtype, a->device);
}
