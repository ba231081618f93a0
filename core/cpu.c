/*
 * cpu.c -- the CPU backend: dispatches a node to its kernel (core/cpu.h).
 */
#include "cpu.h"

#define CASE_OP_(NAME, name) case TY_OP_##NAME:

/* Computes out (node inputs evaluated, out->buffer allocated contiguous). */
static int cpu_run_node(ty_array *out)
{
    if (!out->node) return ty__error("[cpu] array has no node to run");
    ty_op op = out->node->op;
    switch (op) {
    case TY_OP_FULL: case TY_OP_ARANGE: case TY_OP_LINSPACE: case TY_OP_EYE:
        return cpu_creation(out);
    case TY_OP_RANDOM:
        return cpu_random(out);
    TY_UNARY_OPS(CASE_OP_)
        return cpu_unary(out);
    TY_BINARY_OPS(CASE_OP_)
        return cpu_binary(out);
    case TY_OP_WHERE:
        return cpu_where(out);
    case TY_OP_ASTYPE:
        return cpu_astype(out);
    TY_REDUCE_OPS(CASE_OP_)
        return cpu_reduce(out);
    case TY_OP_ARGMAX: case TY_OP_ARGMIN:
        return cpu_arg_reduce(out);
    case TY_OP_CUMSUM: case TY_OP_CUMPROD:
        return cpu_scan(out);
    case TY_OP_SOFTMAX: case TY_OP_LOG_SOFTMAX:
        return cpu_softmax(out);
    case TY_OP_MATMUL:
        return cpu_matmul(out);
    case TY_OP_RESHAPE: case TY_OP_COPY:
        return cpu_copy(out);
    case TY_OP_CONCATENATE:
        return cpu_concatenate(out);
    case TY_OP_PAD:
        return cpu_pad(out);
    case TY_OP_TAKE: case TY_OP_TAKE_ALONG_AXIS:
        return cpu_take(out);
    case TY_OP_SCATTER_ADD:
        return cpu_scatter_add(out);
    case TY_OP_SLICE_UPDATE:
        return cpu_slice_update(out);
    case TY_OP_SORT: case TY_OP_ARGSORT:
        return cpu_sort(out);
    case TY_OP_CONV:
        return cpu_conv(out);
    case TY_OP_POOL: case TY_OP_POOL_GRAD:
        return cpu_pool(out);
    case TY_OP_NORMALIZE:
        return cpu_normalize(out);
    case TY_OP_ATTENTION:
        return cpu_attention(out);
    case TY_OP_SOFTMAX_CROSS_ENTROPY:
        return cpu_softmax_cross_entropy(out);
    case TY_OP_OPTIM_UPDATE:
        return cpu_optim_update(out);
    case TY_OP_NONE: case TY_OP_TRANSPOSE: case TY_OP_BROADCAST_TO: case TY_OP_SLICE:
    case TY_OP_COUNT:
        break;
    }
    return ty__error("[cpu] op %s has no kernel", ty_op_name(op));
}

const ty_backend ty__cpu_backend = {"cpu", cpu_run_node, NULL};
