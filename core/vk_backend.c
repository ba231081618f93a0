/*
 * vk_backend.c -- the Vulkan backend: dispatches a node to its kernel family
 * (core/vk_kernels_*.c), like core/cpu.c does for the CPU.
 */
#include "vk_runtime.h"

#define CASE_OP_(NAME, name) case TY_OP_##NAME:

/* Records out's kernel (inputs evaluated, out->buffer allocated contiguous). */
int vk_run_node(ty_array *out)
{
    if (!out->node) return ty__error("[vulkan] array has no node to run");
    ty_op op = out->node->op;
    switch (op) {
    case TY_OP_FULL: case TY_OP_ARANGE: case TY_OP_LINSPACE: case TY_OP_EYE:
        return vk_creation(out);
    case TY_OP_RANDOM:
        return vk_random(out);
    TY_UNARY_OPS(CASE_OP_)
        return vk_unary(out);
    TY_BINARY_OPS(CASE_OP_)
        return vk_binary(out);
    case TY_OP_WHERE:
        return vk_where(out);
    case TY_OP_ASTYPE:
        return vk_astype(out);
    TY_REDUCE_OPS(CASE_OP_)
        return vk_reduce(out);
    case TY_OP_ARGMAX: case TY_OP_ARGMIN:
        return vk_arg_reduce(out);
    case TY_OP_CUMSUM: case TY_OP_CUMPROD:
        return vk_scan(out);
    case TY_OP_SOFTMAX: case TY_OP_LOG_SOFTMAX:
        return vk_softmax(out);
    case TY_OP_MATMUL:
        return vk_matmul(out);
    case TY_OP_RESHAPE: case TY_OP_COPY:
        return vk_copy(out);
    case TY_OP_CONCATENATE:
        return vk_concatenate(out);
    case TY_OP_PAD:
        return vk_pad(out);
    case TY_OP_TAKE: case TY_OP_TAKE_ALONG_AXIS:
        return vk_take(out);
    case TY_OP_SCATTER_ADD:
        return vk_scatter_add(out);
    case TY_OP_SLICE_UPDATE:
        return vk_slice_update(out);
    case TY_OP_SORT: case TY_OP_ARGSORT:
        return vk_sort(out);
    case TY_OP_CONV:
        return vk_conv(out);
    case TY_OP_POOL: case TY_OP_POOL_GRAD:
        return vk_pool(out);
    case TY_OP_NORMALIZE:
        return vk_normalize(out);
    case TY_OP_ATTENTION:
        return vk_attention(out);
    case TY_OP_SOFTMAX_CROSS_ENTROPY:
        return vk_softmax_cross_entropy(out);
    case TY_OP_OPTIM_UPDATE:
        return vk_optim_update(out);
    case TY_OP_NONE: case TY_OP_TRANSPOSE: case TY_OP_BROADCAST_TO: case TY_OP_SLICE:
    case TY_OP_COUNT:
        break;
    }
    return ty__error("[vulkan] op %s has no kernel", ty_op_name(op));
}

static int vk_backend_synchronize(void)
{
    return vk__synchronize_all();
}

const ty_backend ty__vk_backend = {"vulkan", vk_run_node, vk_backend_synchronize};
