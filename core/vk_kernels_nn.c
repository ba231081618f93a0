/*
 * vk_kernels_nn.c -- host side of the Vulkan kernels of normalize
 * (kernels/norm.comp), attention (kernels/attention.comp) and
 * softmax_cross_entropy (kernels/cross_entropy.comp). Same contract and
 * semantics as core/cpu_nn.c (see cpu.h); node layouts in core/ops_nn.c.
 * Each fills the parameter block its shader declares (a _Static_assert
 * checks the size); all compute in float32.
 */
#include <stdlib.h>
#include <string.h>

#include "vk.h"

_Static_assert(TY_MAX_DIMS == 8, "kernels/common.glsl assumes MAX_DIMS 8");

/* kernels/norm.comp */
typedef struct norm_params {
    uint64_t x, dst;
    int64_t kshape[8], kxs[8], kos[8];
    int64_t rshape[8], rxs[8], ros[8];
    int64_t ngroups, m;
    float eps;
    int32_t kn, rn, rms;
} norm_params;
_Static_assert(sizeof(norm_params) == 432, "norm_params must match norm.comp");

/* kernels/cross_entropy.comp */
typedef struct ce_params {
    uint64_t x, lab, dst, status;
    int64_t bshape[8], xbs[8], lbs[8];
    int64_t nrows, ncls, cs, ignore;
    int32_t kn, base, has_ignore, axis_reported;
    uint32_t op;
    int32_t pad;
} ce_params;
_Static_assert(sizeof(ce_params) == 280, "ce_params must match cross_entropy.comp");

/* kernels/attention.comp */
typedef struct att_params {
    uint64_t q, k, v, mask, dst;
    int64_t bshape[8], qbs[8], kbs[8], vbs[8], mbs[8];
    int64_t qrs, qcs, krs, kcs, vrs, vcs, mrs, mcs;
    int64_t nbatch, lq, lk, d, dv;
    float scale;
    int32_t nb, has_mask, mask_bool, causal, pad;
} att_params;
_Static_assert(sizeof(att_params) == 488, "att_params must match attention.comp");

static int use_subgroups(const vk_device_facts *f)
{
    const char *v = getenv("TYCHO_VK_SUBGROUP");
    return !(v && strcmp(v, "0") == 0) && f->subgroup_arithmetic;
}

static int no_f64(const ty_array *out)
{
    const ty_node *n = out->node;
    for (int i = 0; i < n->ninputs; i++)
        if (n->inputs[i]->dtype == TY_FLOAT64)
            return ty__error("[%s] float64 is not supported on Vulkan", ty_op_name(n->op));
    if (out->dtype == TY_FLOAT64)
        return ty__error("[%s] float64 is not supported on Vulkan", ty_op_name(n->op));
    return 0;
}

/* Enough invocations to keep up to 8 values each in registers (64..1024). */
static uint32_t wg_cached(const vk_device_facts *f, int64_t n)
{
    uint32_t wg = 64;
    while (wg < 1024 && (int64_t)wg * 8 < n) wg <<= 1;
    if (wg > f->max_workgroup_size) wg = f->max_workgroup_size;
    if (wg < f->subgroup_size) wg = f->subgroup_size;
    return wg;
}

int vk_normalize(ty_array *out)
{
    const ty_array *x = out->node->inputs[0];
    const ty_params *pp = &out->node->params;
    if (no_f64(out) != 0) return -1;
    if (out->size == 0) return 0;
    norm_params p;
    memset(&p, 0, sizeof p);
    p.x = vk_address(x);
    p.dst = vk_address(out);
    p.eps = (float)pp->hp[0];
    p.rms = pp->flag;
    p.m = 1;
    bool red[TY_MAX_DIMS] = {false};
    for (int i = 0; i < pp->naxes; i++) red[pp->axes[i]] = true;
    for (int d = 0; d < x->ndim; d++) {
        if (red[d]) {
            int64_t s = x->shape[d];
            p.m *= s;
            if (s == 1) continue;
            /* merged with the previous reduced dim when both layouts allow */
            if (p.rn > 0 && p.rxs[p.rn - 1] == x->strides[d] * s &&
                p.ros[p.rn - 1] == out->strides[d] * s) {
                p.rshape[p.rn - 1] *= s;
                p.rxs[p.rn - 1] = x->strides[d];
                p.ros[p.rn - 1] = out->strides[d];
                continue;
            }
            p.rshape[p.rn] = s;
            p.rxs[p.rn] = x->strides[d];
            p.ros[p.rn] = out->strides[d];
            p.rn++;
        } else {
            p.kshape[p.kn] = x->shape[d];
            p.kxs[p.kn] = x->strides[d];
            p.kos[p.kn] = out->strides[d];
            p.kn++;
        }
    }
    if (p.rn == 0) {                   /* every reduced axis has size 1 */
        p.rshape[0] = 1;
        p.rn = 1;
    }
    p.ngroups = out->size / p.m;
    const vk_device_facts *f = vk_facts(out->device.index);
    uint32_t wg = wg_cached(f, p.m);
    int32_t spec[3] = {x->dtype, out->dtype, use_subgroups(f)};
    ty_buffer *reads[1] = {x->buffer};
    return vk_dispatch_out(out, "norm", spec, 3, wg, &p, sizeof p, (uint64_t)p.ngroups * wg,
                           reads, 1);
}

int vk_softmax_cross_entropy(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_array *x = node->inputs[0], *y = node->inputs[1];
    if (no_f64(out) != 0) return -1;
    if (out->size == 0) return 0;
    ce_params p;
    memset(&p, 0, sizeof p);
    p.x = vk_address(x);
    p.lab = vk_address(y);
    p.dst = vk_address(out);
    p.status = vk_status_address(out->device);
    p.kn = y->ndim;
    for (int d = 0; d < y->ndim; d++) {
        p.bshape[d] = y->shape[d];
        p.xbs[d] = x->strides[d];
        p.lbs[d] = y->strides[d];
    }
    p.nrows = out->size;
    p.ncls = x->shape[x->ndim - 1];
    p.cs = x->strides[x->ndim - 1];
    p.ignore = node->params.k;
    p.has_ignore = node->params.flag;
    p.base = node->params.index_base;
    p.axis_reported = ty__ax(x->ndim - 1);
    p.op = (uint32_t)node->op;
    const vk_device_facts *f = vk_facts(out->device.index);
    bool thread = p.ncls <= 64;
    uint32_t wg = thread ? 64 : wg_cached(f, p.ncls);
    int32_t spec[5] = {x->dtype, y->dtype, out->dtype, use_subgroups(f), thread};
    ty_buffer *reads[2] = {x->buffer, y->buffer};
    uint64_t inv = thread ? (uint64_t)p.nrows : (uint64_t)p.nrows * wg;
    return vk_dispatch_out(out, "cross_entropy", spec, 5, wg, &p, sizeof p, inv, reads, 2);
}

int vk_attention(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_array *q = node->inputs[0], *k = node->inputs[1], *v = node->inputs[2];
    const ty_array *m = node->ninputs > 3 ? node->inputs[3] : NULL;
    if (no_f64(out) != 0) return -1;
    if (out->size == 0) return 0;
    att_params p;
    memset(&p, 0, sizeof p);
    int nd = out->ndim;
    p.q = vk_address(q);
    p.k = vk_address(k);
    p.v = vk_address(v);
    p.dst = vk_address(out);
    p.nb = nd - 2;
    p.nbatch = 1;
    for (int d = 0; d < nd - 2; d++) {
        p.bshape[d] = out->shape[d];
        p.nbatch *= out->shape[d];
        p.qbs[d] = q->strides[d];
        p.kbs[d] = k->strides[d];
        p.vbs[d] = v->strides[d];
        if (m) p.mbs[d] = m->strides[d];
    }
    p.qrs = q->strides[nd - 2];
    p.qcs = q->strides[nd - 1];
    p.krs = k->strides[nd - 2];
    p.kcs = k->strides[nd - 1];
    p.vrs = v->strides[nd - 2];
    p.vcs = v->strides[nd - 1];
    p.lq = q->shape[nd - 2];
    p.lk = k->shape[nd - 2];
    p.d = q->shape[nd - 1];
    p.dv = v->shape[nd - 1];
    p.scale = (float)node->params.hp[0];
    p.causal = node->params.flag;
    int32_t mdt = TY_FLOAT32;
    if (m) {
        p.mask = vk_address(m);
        p.has_mask = 1;
        p.mask_bool = node->params.kind == 1;
        p.mrs = m->strides[nd - 2];
        p.mcs = m->strides[nd - 1];
        mdt = m->dtype;
    }
    const vk_device_facts *f = vk_facts(out->device.index);
    uint32_t wg = p.lq <= 32 ? 32 : 64;
    if (wg > f->max_workgroup_size) wg = f->max_workgroup_size;
    int64_t nqb = (p.lq + wg - 1) / wg;
    int32_t spec[3] = {q->dtype, mdt, out->dtype};
    ty_buffer *reads[4] = {q->buffer, k->buffer, v->buffer, m ? m->buffer : NULL};
    return vk_dispatch_out(out, "attention", spec, 3, wg, &p, sizeof p,
                           (uint64_t)(p.nbatch * nqb) * wg, reads, m ? 4 : 3);
}
