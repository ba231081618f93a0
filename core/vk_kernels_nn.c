/*
 * vk_kernels_nn.c -- host side of the Vulkan kernels of normalize
 * (kernels/norm_row.comp for rows of contiguous trailing axes, else
 * kernels/norm.comp), attention (kernels/attention.comp) and
 * softmax_cross_entropy (kernels/cross_entropy.comp). Same contract and
 * semantics as core/cpu_nn.c (see cpu.h); node layouts in core/ops_nn.c.
 * Each fills the parameter block its shader declares (a _Static_assert
 * checks the size); all compute in float32.
 */
#include <stdlib.h>
#include <string.h>

#include "vk.h"

_Static_assert(TY_MAX_DIMS == 8, "kernels/common.glsl assumes MAX_DIMS 8");

/* kernels/norm.comp and kernels/norm_row.comp */
typedef struct norm_params {
    uint64_t x, dst, w, b;
    int64_t kshape[8], kxs[8], kos[8], kws[8], kbs[8];
    int64_t rshape[8], rxs[8], ros[8], rws[8], rbs[8];
    int64_t ngroups, m;
    float eps;
    int32_t kn, rn, rms, has_w, has_b;
} norm_params;
_Static_assert(sizeof(norm_params) == 712, "norm_params must match norm.comp");

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

/* Elements one invocation of norm_row.comp holds (4 chunks of 4). */
#define NORM_ROW_PER_INV 16

int vk_normalize(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_params *pp = &node->params;
    if (no_f64(out) != 0) return -1;
    if (out->size == 0) return 0;
    const ty_array *x = node->inputs[0], *w = NULL, *bb = NULL;
    int in = 1;
    if (pp->kind & 1) w = node->inputs[in++];
    if (pp->kind & 2) bb = node->inputs[in++];
    const ty_array *arr[4] = {x, out, w, bb};
    norm_params p;
    memset(&p, 0, sizeof p);
    int64_t *ks[4] = {p.kxs, p.kos, p.kws, p.kbs};
    int64_t *rs[4] = {p.rxs, p.ros, p.rws, p.rbs};
    p.x = vk_address(x);
    p.dst = vk_address(out);
    if (w) p.w = vk_address(w);
    if (bb) p.b = vk_address(bb);
    p.has_w = w != NULL;
    p.has_b = bb != NULL;
    p.eps = (float)pp->hp[0];
    p.rms = pp->flag;
    p.m = 1;
    bool red[TY_MAX_DIMS] = {false};
    for (int i = 0; i < pp->naxes; i++) red[pp->axes[i]] = true;
    for (int d = 0; d < x->ndim; d++) {
        int64_t s = x->shape[d];
        if (red[d]) {
            p.m *= s;
            if (s == 1) continue;
            /* merged with the previous reduced dim when every layout allows */
            bool merge = p.rn > 0;
            for (int a = 0; merge && a < 4; a++)
                merge = !arr[a] || rs[a][p.rn - 1] == arr[a]->strides[d] * s;
            if (merge) {
                p.rshape[p.rn - 1] *= s;
                for (int a = 0; a < 4; a++)
                    if (arr[a]) rs[a][p.rn - 1] = arr[a]->strides[d];
                continue;
            }
            p.rshape[p.rn] = s;
            for (int a = 0; a < 4; a++)
                if (arr[a]) rs[a][p.rn] = arr[a]->strides[d];
            p.rn++;
        } else {
            p.kshape[p.kn] = s;
            for (int a = 0; a < 4; a++)
                if (arr[a]) ks[a][p.kn] = arr[a]->strides[d];
            p.kn++;
        }
    }
    if (p.rn == 0) {                   /* every reduced axis has size 1 */
        p.rshape[0] = 1;
        p.rn = 1;
    }
    /* kept dims: size-1 ones dropped, neighbours merged where every layout
     * allows (a row's offsets are then usually one multiplication) */
    int kn = 0;
    for (int d = 0; d < p.kn; d++) {
        int64_t s = p.kshape[d];
        if (s == 1) continue;
        bool merge = kn > 0;
        for (int a = 0; merge && a < 4; a++)
            merge = !arr[a] || ks[a][kn - 1] == ks[a][d] * s;
        if (merge) {
            p.kshape[kn - 1] *= s;
            for (int a = 0; a < 4; a++) ks[a][kn - 1] = ks[a][d];
            continue;
        }
        p.kshape[kn] = s;
        for (int a = 0; a < 4; a++) ks[a][kn] = ks[a][d];
        kn++;
    }
    for (int d = kn; d < TY_MAX_DIMS; d++) {
        p.kshape[d] = 0;
        for (int a = 0; a < 4; a++) ks[a][d] = 0;
    }
    p.kn = kn;
    p.ngroups = out->size / p.m;
    const vk_device_facts *f = vk_facts(out->device.index);
    ty_buffer *reads[3] = {x->buffer, NULL, NULL};
    int nreads = 1;
    if (w) reads[nreads++] = w->buffer;
    if (bb) reads[nreads++] = bb->buffer;

    /* rows: one contiguous run (stride 1 everywhere) short enough to be held */
    uint32_t maxwg = f->max_workgroup_size < 1024 ? f->max_workgroup_size : 1024;
    bool row = p.rn == 1 && p.m <= (int64_t)maxwg * NORM_ROW_PER_INV;
    bool one[4] = {false, false, false, false};  /* weight/bias: one value per row */
    for (int a = 0; row && a < 4; a++) {
        one[a] = a >= 2 && arr[a] && p.m > 1 && rs[a][0] == 0;
        row = !arr[a] || p.m == 1 || rs[a][0] == 1 || one[a];
    }
    if (row) {
        uint32_t wg = 32;
        /* 16 values per invocation: measured best on an H200 (vs 8 and 4) */
        while ((int64_t)wg * NORM_ROW_PER_INV < p.m && wg < maxwg) wg <<= 1;
        if (wg < f->subgroup_size) wg = f->subgroup_size;
        if (wg > maxwg) wg = maxwg;
        /* vec4: float32, m % 4 == 0 and every row start 16-byte aligned */
        bool vec = x->dtype == TY_FLOAT32 && out->dtype == TY_FLOAT32 && p.m % 4 == 0;
        uint64_t addr[4] = {p.x, p.dst, p.w, p.b};
        for (int a = 0; vec && a < 4; a++) {
            if (!arr[a] || one[a]) continue;
            vec = addr[a] % 16 == 0;
            for (int d = 0; vec && d < p.kn; d++) vec = p.kshape[d] == 1 || ks[a][d] % 4 == 0;
        }
        int32_t spec[9] = {x->dtype, out->dtype, use_subgroups(f), vec, w != NULL, bb != NULL,
                           pp->flag, one[2], one[3]};
        return vk_dispatch_out(out, "norm_row", spec, 9, wg, &p, sizeof p,
                               (uint64_t)p.ngroups * wg, reads, nreads);
    }
    uint32_t wg = wg_cached(f, p.m);
    int32_t spec[3] = {x->dtype, out->dtype, use_subgroups(f)};
    return vk_dispatch_out(out, "norm", spec, 3, wg, &p, sizeof p, (uint64_t)p.ngroups * wg,
                           reads, nreads);
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
