/*
 * vk_kernels_index.c -- host side of the Vulkan data-movement kernels:
 * concatenate, pad, take / take_along_axis, scatter_add, slice_update
 * (kernels/<name>.comp). Each fills the parameter block its shader declares
 * (a _Static_assert checks the size) and dispatches one invocation per
 * element (per non-axis coordinate of idx for scatter_add). Inputs may have
 * any strides and offsets; out is contiguous. These ops move elements of
 * out's dtype (the op constructors cast the inputs), so kernels copy bits.
 */
#include <string.h>

#include "vk.h"

#define LOCAL 256

/* kernels/concatenate.comp */
typedef struct copy_params {
    uint64_t dst, src;
    int64_t n;
    int64_t shape[TY_MAX_DIMS];
    int64_t src_strides[TY_MAX_DIMS];
    int64_t dst_strides[TY_MAX_DIMS];
    int32_t ndim, esize;
} copy_params;
_Static_assert(sizeof(copy_params) == 224, "copy_params must match concatenate.comp");

/* kernels/pad.comp */
typedef struct pad_params {
    uint64_t dst, a;
    int64_t n, fill;
    int64_t shape[TY_MAX_DIMS];
    int64_t a_shape[TY_MAX_DIMS];
    int64_t a_strides[TY_MAX_DIMS];
    int64_t before[TY_MAX_DIMS];
    int32_t ndim, esize;
} pad_params;
_Static_assert(sizeof(pad_params) == 296, "pad_params must match pad.comp");

/* kernels/slice_update.comp */
typedef struct update_params {
    uint64_t dst, a, v;
    int64_t n;
    int64_t shape[TY_MAX_DIMS];
    int64_t a_strides[TY_MAX_DIMS];
    int64_t v_shape[TY_MAX_DIMS];
    int64_t v_strides[TY_MAX_DIMS];
    int64_t start[TY_MAX_DIMS];
    int64_t step[TY_MAX_DIMS];
    int32_t ndim, esize;
} update_params;
_Static_assert(sizeof(update_params) == 424, "update_params must match slice_update.comp");

/* kernels/take.comp */
typedef struct take_params {
    uint64_t dst, a, idx, status;
    int64_t n, axis_stride, dim;
    int64_t shape[TY_MAX_DIMS];
    int64_t a_strides[TY_MAX_DIMS];
    int64_t idx_strides[TY_MAX_DIMS];
    int32_t ndim, esize, idx_dtype, base;
    uint32_t op;
    int32_t axis_reported;
} take_params;
_Static_assert(sizeof(take_params) == 272, "take_params must match take.comp");

/* kernels/scatter_add.comp */
typedef struct scatter_params {
    uint64_t dst, idx, src, status;
    int64_t n, len, dim;
    int64_t shape[TY_MAX_DIMS];
    int64_t idx_strides[TY_MAX_DIMS];
    int64_t src_strides[TY_MAX_DIMS];
    int64_t out_strides[TY_MAX_DIMS];
    int32_t ndim, axis, dtype, idx_dtype, base;
    uint32_t op;
} scatter_params;
_Static_assert(sizeof(scatter_params) == 336, "scatter_params must match scatter_add.comp");

/* Dispatches shader over n invocations with the given parameter block. */
static int run(ty_array *out, const char *shader, const void *params, uint32_t size,
               ty_buffer *const *reads, int nreads, uint64_t n)
{
    return vk_dispatch_out(out, shader, NULL, 0, LOCAL, params, size, n, reads, nreads);
}

/* Copies src (its own shape and strides) into out at element offset
 * dst_offset with out's strides. */
static int copy_into(ty_array *out, int64_t dst_offset, const ty_array *src)
{
    if (src->size == 0) return 0;
    copy_params p;
    memset(&p, 0, sizeof p);
    int64_t es = (int64_t)ty_dtype_size(out->dtype);
    p.dst = vk_address(out) + (uint64_t)(dst_offset * es);
    p.src = vk_address(src);
    p.n = src->size;
    p.ndim = src->ndim;
    p.esize = (int32_t)es;
    for (int d = 0; d < src->ndim; d++) {
        p.shape[d] = src->shape[d];
        p.src_strides[d] = src->strides[d];
        p.dst_strides[d] = out->strides[d];
    }
    ty_buffer *reads[1] = {src->buffer};
    return run(out, "concatenate", &p, sizeof p, reads, 1, (uint64_t)p.n);
}

/* Concatenates inputs along params.axis: one strided copy per input. */
int vk_concatenate(ty_array *out)
{
    const ty_node *node = out->node;
    int axis = node->params.axis;
    int64_t pos = 0;
    for (int i = 0; i < node->ninputs; i++) {
        const ty_array *a = node->inputs[i];
        if (copy_into(out, pos * out->strides[axis], a) != 0) return -1;
        pos += a->shape[axis];
    }
    return 0;
}

/* Pads inputs[0] with params.start (before) / params.stop (after) widths
 * of params.value. */
int vk_pad(ty_array *out)
{
    const ty_array *a = out->node->inputs[0];
    const ty_params *pp = &out->node->params;
    if (out->size == 0) return 0;
    pad_params p;
    memset(&p, 0, sizeof p);
    p.dst = vk_address(out);
    p.a = a->size > 0 ? vk_address(a) : p.dst;
    p.n = out->size;
    uint64_t bits = 0;                 /* the fill value as the CPU stores it */
    ty__store_f64(&bits, out->dtype, 0, pp->value);
    p.fill = (int64_t)bits;
    p.ndim = out->ndim;
    p.esize = (int32_t)ty_dtype_size(out->dtype);
    for (int d = 0; d < out->ndim; d++) {
        p.shape[d] = out->shape[d];
        p.a_shape[d] = a->shape[d];
        p.a_strides[d] = a->strides[d];
        p.before[d] = pp->start[d];
    }
    ty_buffer *reads[1] = {a->buffer};
    return run(out, "pad", &p, sizeof p, reads, a->size > 0 ? 1 : 0, (uint64_t)p.n);
}

/* take and take_along_axis through per-out-dimension strides (take.comp). */
int vk_take(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_array *a = node->inputs[0], *idx = node->inputs[1];
    int axis = node->params.axis;
    if (out->size == 0) return 0;
    take_params p;
    memset(&p, 0, sizeof p);
    p.dst = vk_address(out);
    p.a = vk_address(a);
    p.idx = vk_address(idx);
    p.status = vk_status_address(out->device);
    p.n = out->size;
    p.axis_stride = a->strides[axis];
    p.dim = a->shape[axis];
    p.ndim = out->ndim;
    p.esize = (int32_t)ty_dtype_size(out->dtype);
    p.idx_dtype = (int32_t)idx->dtype;
    p.base = node->params.index_base;
    p.op = (uint32_t)node->op;
    p.axis_reported = axis + node->params.index_base;
    for (int d = 0; d < out->ndim; d++) p.shape[d] = out->shape[d];
    if (node->op == TY_OP_TAKE) {
        /* out dims: a[:axis], idx's dims, a[axis+1:] */
        for (int d = 0; d < out->ndim; d++) {
            if (d < axis) {
                p.a_strides[d] = a->strides[d];
            } else if (d < axis + idx->ndim) {
                p.idx_strides[d] = idx->strides[d - axis];
            } else {
                p.a_strides[d] = a->strides[d - idx->ndim + 1];
            }
        }
    } else {
        for (int d = 0; d < out->ndim; d++) {
            p.a_strides[d] = d == axis ? 0 : a->strides[d];
            p.idx_strides[d] = idx->strides[d];
        }
    }
    ty_buffer *reads[2] = {a->buffer, idx->buffer};
    return run(out, "take", &p, sizeof p, reads, 2, (uint64_t)p.n);
}

/* out = a; then out[c with axis := idx[c]] += src[c] over idx's coordinates,
 * one invocation per non-axis coordinate walking the axis in order. */
int vk_scatter_add(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_array *a = node->inputs[0], *idx = node->inputs[1], *src = node->inputs[2];
    int axis = node->params.axis;
    if (out->size == 0) return 0;
    if (copy_into(out, 0, a) != 0) return -1;
    int64_t len = idx->shape[axis];
    if (idx->size == 0 || len == 0) return 0;
    scatter_params p;
    memset(&p, 0, sizeof p);
    p.dst = vk_address(out);
    p.idx = vk_address(idx);
    p.src = vk_address(src);
    p.status = vk_status_address(out->device);
    p.n = idx->size / len;
    p.len = len;
    p.dim = out->shape[axis];
    p.ndim = idx->ndim;
    p.axis = axis;
    p.dtype = (int32_t)out->dtype;
    p.idx_dtype = (int32_t)idx->dtype;
    p.base = node->params.index_base;
    p.op = (uint32_t)node->op;
    for (int d = 0; d < idx->ndim; d++) {
        p.shape[d] = d == axis ? 1 : idx->shape[d];
        p.idx_strides[d] = idx->strides[d];
        p.src_strides[d] = src->strides[d];
        p.out_strides[d] = out->strides[d];
    }
    ty_buffer *reads[3] = {idx->buffer, src->buffer, out->buffer};
    return run(out, "scatter_add", &p, sizeof p, reads, 3, (uint64_t)p.n);
}

/* out = a with the region params.start/stop/step replaced by v, in one
 * pass over out. */
int vk_slice_update(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_array *a = node->inputs[0], *v = node->inputs[1];
    const ty_params *pp = &node->params;
    if (out->size == 0) return 0;
    update_params p;
    memset(&p, 0, sizeof p);
    p.dst = vk_address(out);
    p.a = vk_address(a);
    p.v = v->size > 0 ? vk_address(v) : p.a;
    p.n = out->size;
    p.ndim = out->ndim;
    p.esize = (int32_t)ty_dtype_size(out->dtype);
    for (int d = 0; d < out->ndim; d++) {
        if (pp->step[d] == 0) {
            return ty__error("[slice_update] update region does not match the value's shape");
        }
        p.shape[d] = out->shape[d];
        p.a_strides[d] = a->strides[d];
        p.v_shape[d] = v->shape[d];
        p.v_strides[d] = v->strides[d];
        p.start[d] = pp->start[d];
        p.step[d] = pp->step[d];
    }
    ty_buffer *reads[2] = {a->buffer, v->buffer};
    return run(out, "slice_update", &p, sizeof p, reads, v->size > 0 ? 2 : 1,
               (uint64_t)p.n);
}
