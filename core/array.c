/* array.c -- array handles: creation, refcounting, accessors, host copies. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vk.h"

static uint64_t next_id;

int64_t ty__shape_size(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

void ty__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
}

bool ty__is_contiguous(const ty_array *a)
{
    int64_t s = 1;
    for (int i = a->ndim - 1; i >= 0; i--) {
        if (a->shape[i] != 1 && a->strides[i] != s) return false;
        s *= a->shape[i];
    }
    return true;
}

int ty__axis(const char *op, int axis, int ndim)
{
    int r = axis < 0 ? axis + ndim : axis;
    if (r < 0 || r >= ndim) {
        ty__error("[%s] axis %d is out of range for an array of %d dimension%s", op, ty__ax(axis),
                  ndim, ndim == 1 ? "" : "s");
        return -1;
    }
    return r;
}

/* Largest array, in bytes: beyond it sizes could overflow int64 offsets. */
#define MAX_ARRAY_BYTES ((int64_t)1 << 60)

static ty_array *array_alloc(const char *op, int ndim, const int64_t *shape, ty_dtype dtype,
                             ty_device device)
{
    if (ndim < 0 || ndim > TY_MAX_DIMS)
        return ty__error_null("[%s] %d dimensions (at most %d are supported)", op, ndim,
                              TY_MAX_DIMS);
    int64_t bytes = (int64_t)ty_dtype_size(dtype);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(bytes, shape[i], &bytes) ||
            bytes > MAX_ARRAY_BYTES) {
            char buf[TY_SHAPE_BUF];
            return ty__error_null("[%s] shape %s of %s is too large (over 2^60 bytes)", op,
                                  ty__shape_str(ndim, shape, buf, sizeof buf),
                                  ty_dtype_name(dtype));
        }
    ty_array *a = calloc(1, sizeof *a);
    if (!a) return ty__error_null("[array] out of host memory");
    a->refcount = 1;
    a->ndim = ndim;
    a->size = 1;
    for (int i = 0; i < ndim; i++) {
        a->shape[i] = shape[i];
        a->size *= shape[i];
    }
    ty__contiguous_strides(ndim, a->shape, a->strides);
    a->dtype = dtype;
    a->device = device;
    a->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
    return a;
}

ty_array *ty__array_new_node(ty_op op, int ninputs, ty_array *const *inputs,
                             const ty_params *params, int ndim, const int64_t *shape,
                             ty_dtype dtype, ty_device device)
{
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return ty__error_null("[%s] negative dimension", ty_op_name(op));
    ty_array *a = array_alloc(ty_op_name(op), ndim, shape, dtype, device);
    if (!a) return NULL;
    ty_node *n = calloc(1, sizeof *n);
    ty_array **in = ninputs ? calloc((size_t)ninputs, sizeof *in) : NULL;
    if (!n || (ninputs && !in)) {
        free(n);
        free(in);
        free(a);
        return ty__error_null("[%s] out of host memory", ty_op_name(op));
    }
    n->op = op;
    n->ninputs = ninputs;
    n->inputs = in;
    for (int i = 0; i < ninputs; i++) in[i] = ty_retain(inputs[i]);
    if (params) n->params = *params;
    a->node = n;
    return a;
}

ty_array *ty__array_new_buffer(int ndim, const int64_t *shape, ty_dtype dtype,
                               ty_device device)
{
    ty_array *a = array_alloc("array", ndim, shape, dtype, device);
    if (!a) return NULL;
    a->buffer = ty__buffer_alloc(device, (size_t)a->size * ty_dtype_size(dtype));
    if (!a->buffer) {
        free(a);
        return NULL;
    }
    return a;
}

ty_array *ty_retain(ty_array *a)
{
    if (a) __atomic_add_fetch(&a->refcount, 1, __ATOMIC_RELAXED);
    return a;
}

/* Frees a node, pushing inputs whose last reference it held onto `stack`. */
static void free_node(ty_node *n, ty_array ***stack, int *count, int *cap)
{
    for (int i = 0; i < n->ninputs; i++) {
        ty_array *in = n->inputs[i];
        if (__atomic_sub_fetch(&in->refcount, 1, __ATOMIC_ACQ_REL) > 0) continue;
        if (*count == *cap) {
            int c = *cap ? *cap * 2 : 64;
            ty_array **s = realloc(*stack, sizeof *s * (size_t)c);
            if (!s) continue;   /* leak rather than crash */
            *stack = s;
            *cap = c;
        }
        (*stack)[(*count)++] = in;
    }
    ty__custom_free(n->custom);
    free(n->inputs);
    free(n);
}

/* Iterative release: a long chain of nodes must not recurse. */
void ty_release(ty_array *a)
{
    if (!a || __atomic_sub_fetch(&a->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
    ty_array **stack = NULL;
    int count = 0, cap = 0;
    for (;;) {
        if (a->node) free_node(a->node, &stack, &count, &cap);
        ty__buffer_release(a->buffer);
        free(a->name);
        free(a);
        if (!count) break;
        a = stack[--count];
    }
    free(stack);
}

void ty__detach_node(ty_array *a)
{
    ty_node *n = a->node;
    if (!n) return;
    a->node = NULL;
    for (int i = 0; i < n->ninputs; i++) ty_release(n->inputs[i]);
    ty__custom_free(n->custom);
    free(n->inputs);
    free(n);
}

int ty_ndim(const ty_array *a) { return a->ndim; }
const int64_t *ty_shape(const ty_array *a) { return a->shape; }
int64_t ty_size(const ty_array *a) { return a->size; }
ty_dtype ty_dtype_of(const ty_array *a) { return a->dtype; }
ty_device ty_device_of(const ty_array *a) { return a->device; }
bool ty_is_evaluated(const ty_array *a) { return a->buffer != NULL; }

int64_t ty_dim(const ty_array *a, int axis)
{
    int r = axis < 0 ? axis + a->ndim : axis;
    return (r >= 0 && r < a->ndim) ? a->shape[r] : -1;
}

char *ty_shape_string(const ty_array *a, char *buf, size_t size)
{
    return ty__shape_str(a->ndim, a->shape, buf, size);
}

int ty_set_name(ty_array *a, const char *name)
{
    char *copy = NULL;
    if (name && !(copy = strdup(name))) return ty__error("[name] out of host memory");
    free(a->name);
    a->name = copy;
    return 0;
}

const char *ty_get_name(const ty_array *a) { return a->name; }

uint64_t ty_array_id(const ty_array *a) { return a->id; }

ty_op ty_node_op(const ty_array *a) { return a->node ? a->node->op : TY_OP_NONE; }
int ty_node_ninputs(const ty_array *a) { return a->node ? a->node->ninputs : 0; }

ty_array *ty_node_input(const ty_array *a, int i)
{
    return (a->node && i >= 0 && i < a->node->ninputs) ? a->node->inputs[i] : NULL;
}

ty_array *ty_from_data(const void *data, ty_dtype dtype, int ndim, const int64_t *shape,
                       ty_device device)
{
    if ((unsigned)dtype >= TY_DTYPE_COUNT) return ty__error_null("[array] unknown dtype");
    device = ty__home_device(device, dtype);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return ty__error_null("[array] negative dimension");
    if (!ty_device_available(device)) {
        char buf[16];
        return ty__error_null("[array] device %s is not available",
                              ty_device_string(device, buf, sizeof buf));
    }
    ty_array *a = ty__array_new_buffer(ndim, shape, dtype, device);
    if (!a) return NULL;
    size_t nbytes = (size_t)a->size * ty_dtype_size(dtype);
    if (device.kind == TY_CPU) {
        if (nbytes) memcpy(a->buffer->data, data, nbytes);
    } else if (vk_upload(a->buffer, 0, data, nbytes) != 0) {
        ty_release(a);
        return NULL;
    }
    return a;
}

ty_array *ty_scalar(double value, ty_dtype dtype, ty_device device)
{
    return ty_full(0, NULL, value, dtype, device);
}

int ty_copy_to(ty_array *a, void *dst, ty_dtype dtype)
{
    if (ty_eval(&a, 1) != 0) return -1;
    if (a->size == 0) return 0;        /* nothing to copy (and no strides to trust) */
    if (a->device.kind != TY_CPU) {
        ty_array *host = ty_to_device(a, (ty_device){TY_CPU, 0});
        if (!host) return -1;
        int r = ty_copy_to(host, dst, dtype);
        ty_release(host);
        return r;
    }
    if (dtype == a->dtype && ty__is_contiguous(a)) {
        memcpy(dst, ty__elem_ptr(a, a->offset), (size_t)a->size * ty_dtype_size(dtype));
        return 0;
    }
    /* strided or another dtype: the CPU backend's (threaded) copy kernels */
    ty_array *c = dtype == a->dtype ? ty_contiguous(a) : ty_astype(a, dtype);
    int r = c ? ty_copy_to(c, dst, dtype) : -1;
    ty_release(c);
    return r;
}

/* -1 + error unless a holds exactly one element. */
static int check_one_element(const ty_array *a)
{
    if (a->size == 1) return 0;
    char buf[TY_SHAPE_BUF];
    return ty__error("[item] the array has %lld elements, shape %s (item needs one)",
                     (long long)a->size, ty_shape_string(a, buf, sizeof buf));
}

int ty_item(ty_array *a, double *out)
{
    return check_one_element(a) ? -1 : ty_copy_to(a, out, TY_FLOAT64);
}

int ty_item_int64(ty_array *a, int64_t *out)
{
    return check_one_element(a) ? -1 : ty_copy_to(a, out, TY_INT64);
}

ty_array *ty_to_device(ty_array *a, ty_device device)
{
    if (!ty_device_available(device)) {
        char buf[16];
        return ty__error_null("[to] device %s is not available",
                              ty_device_string(device, buf, sizeof buf));
    }
    if (ty_device_equal(a->device, device)) return ty_retain(a);
    if (a->dtype == TY_FLOAT64 && device.kind != TY_CPU)
        return ty__error_null("[to] float64 is supported on the CPU backend only");
    if (ty_eval(&a, 1) != 0) return NULL;
    ty_device cpu = {TY_CPU, 0};
    if (a->device.kind != TY_CPU && device.kind != TY_CPU) {
        /* Between Vulkan devices: through the host. */
        ty_array *host = ty_to_device(a, cpu);
        if (!host) return NULL;
        ty_array *r = ty_to_device(host, device);
        ty_release(host);
        return r;
    }
    /* Copies move contiguous bytes: make a contiguous copy where a is a
     * strided view (on a's own device). */
    ty_array *src = ty_retain(a);
    if (!ty__is_contiguous(src)) {
        ty_array *c = ty_contiguous(src);
        ty_release(src);
        if (!c || ty_eval(&c, 1) != 0) {
            ty_release(c);
            return NULL;
        }
        src = c;
    }
    ty_array *out = ty__array_new_buffer(a->ndim, a->shape, a->dtype, device);
    if (!out) {
        ty_release(src);
        return NULL;
    }
    size_t es = ty_dtype_size(a->dtype), nbytes = (size_t)a->size * es;
    int rc = 0;
    if (nbytes && device.kind != TY_CPU)
        rc = vk_upload(out->buffer, 0, ty__elem_ptr(src, src->offset), nbytes);
    else if (nbytes)
        rc = vk_download(src->buffer, (size_t)src->offset * es, out->buffer->data, nbytes);
    ty_release(src);
    if (rc != 0) {
        ty_release(out);
        return NULL;
    }
    return out;
}
