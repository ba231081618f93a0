/*
 * vk_kernels_optim.c -- host side of kernels/optim.comp: the fused optimizer
 * step (optim_update; formulas in core/ops_optim.c, CPU twin in
 * core/cpu_optim.c). One invocation per parameter element; inputs are read
 * by linear index when all are contiguous, else through their strides over
 * the parameter's shape (collapsed where every input allows it).
 */
#include <string.h>

#include "vk.h"

#define OPT_LOCAL 256

/* Mirrors Params in kernels/optim.comp (std430). */
typedef struct vk_optim_params {
    uint64_t dst, n;
    uint64_t src[5];
    int32_t ndim, pad;
    int64_t shape[TY_MAX_DIMS];
    int64_t strides[5][TY_MAX_DIMS];
    float hp[TY_OPTIM_MAX_HP];
} vk_optim_params;
_Static_assert(sizeof(vk_optim_params) == 496, "vk_optim_params must match optim.comp");
_Static_assert(TY_OPTIM_MAX_HP == 12, "kernels/optim.comp assumes 12 hyperparameters");

int vk_optim_update(ty_array *out)
{
    ty_node *node = out->node;
    ty_array *const *in = node->inputs;
    int nin = node->ninputs;
    const ty_array *param = in[0];
    if (param->size == 0) return 0;
    vk_optim_params p;
    memset(&p, 0, sizeof p);
    p.dst = vk_address(out);
    p.n = (uint64_t)param->size;
    ty_buffer *reads[5];
    for (int k = 0; k < nin; k++) {
        p.src[k] = vk_address(in[k]);
        reads[k] = in[k]->buffer;
    }
    /* collapse dims jointly (size-1 dims dropped, mergeable neighbours merged) */
    int nd = 0;
    for (int d = 0; d < param->ndim; d++) {
        int64_t s = param->shape[d];
        if (s == 1) continue;
        bool merge = nd > 0;
        for (int k = 0; k < nin && merge; k++)
            merge = p.strides[k][nd - 1] == in[k]->strides[d] * s;
        if (merge) {
            p.shape[nd - 1] *= s;
            for (int k = 0; k < nin; k++) p.strides[k][nd - 1] = in[k]->strides[d];
        } else {
            p.shape[nd] = s;
            for (int k = 0; k < nin; k++) p.strides[k][nd] = in[k]->strides[d];
            nd++;
        }
    }
    p.ndim = nd;
    bool contig = true;
    for (int k = 0; k < nin; k++) {
        int64_t expect = 1;
        for (int d = nd - 1; d >= 0; d--) {
            contig = contig && p.strides[k][d] == expect;
            expect *= p.shape[d];
        }
    }
    for (int i = 0; i < TY_OPTIM_MAX_HP; i++) p.hp[i] = (float)node->params.hp[i];
    int32_t spec[9] = {node->params.kind, nin - 2, out->dtype};
    for (int k = 0; k < 5; k++) spec[3 + k] = k < nin ? (int32_t)in[k]->dtype : TY_FLOAT32;
    spec[8] = contig;
    return vk_dispatch_out(out, "optim", spec, 9, OPT_LOCAL, &p, sizeof p, p.n, reads, nin);
}
