/*
 * vk_kernels_nn.c -- host side of the Vulkan kernels of normalize
 * (kernels/norm_row.comp for rows of contiguous trailing axes, else
 * kernels/norm.comp), attention (kernels/attention_tiled.comp, or kernels/attention.comp) and
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

/* Tiles of kernels/attention_tiled.comp: BM queries per workgroup, BN keys
 * per tile, TM x TN scores per invocation ((BM/TM) * (BN/TN) invocations,
 * BN/TN = 8: the swizzle of P and the row reductions assume it). */
typedef struct att_tile {
    int bm, bn, tm, tn;
    int swz;                           /* shader's SWZ: how Q and K tiles are staged */
} att_tile;

static const att_tile ATT_TILES[] = {
    {64, 64, 8, 4, 0},                 /* 128 invocations: H200 8x16x1024x64 21.5 TFLOP/s */
    {64, 32, 8, 4, 0},                 /* 64 invocations: 16.1 */
    {32, 32, 4, 4, 0},                 /* short queries, small devices, head dim 128 (12.3) */
};
/* Measured on an H200 (8x16x1024x64, TFLOP/s): SWZ 1 is slower ({64,64,8,4}
 * 16.5, {64,32,8,4} 13.8), and so are {64,64,8,8} 6.1, {32,64,4,8} 3.6,
 * {64,32,4,4} 3.9, {64,64,4,8} 3.7 (SWZ 1). */
#define ATT_SMALL 2                    /* index of the last resort */

/* Floats of the area holding the K tile, the row reductions and P. */
static int64_t att_area(const att_tile *c, int64_t dp)
{
    int64_t a = dp * c->bn;
    if ((int64_t)c->bn * c->bm > a) a = (int64_t)c->bn * c->bm;
    if ((int64_t)c->bm * (c->bn / c->tn) > a) a = (int64_t)c->bm * (c->bn / c->tn);
    return (a + 3) / 4 * 4;
}

/* The first tile configuration whose shared memory fits the device and
 * whose output slice fits in registers; NULL: kernels/attention.comp.
 * TYCHO_VK_ATTENTION=simple forces the latter, =<i> tries ATT_TILES[i] only,
 * =composed the composition where it applies, =fused never the composition. */
static const att_tile *att_pick(const vk_device_facts *f, int64_t lq, int64_t d, int64_t dv)
{
    const char *env = getenv("TYCHO_VK_ATTENTION");
    if (env && strcmp(env, "simple") == 0) return NULL;
    if (lq < 4 || d > 256 || dv > 256) return NULL;
    int n = (int)(sizeof ATT_TILES / sizeof ATT_TILES[0]);
    int first = lq <= 32 ? n - 1 : 0;
    if (env && env[0] >= '0' && env[0] < '0' + n && !env[1]) {   /* one configuration */
        first = env[0] - '0';
        n = first + 1;
    }
    for (int i = first; i < n; i++) {
        const att_tile *c = &ATT_TILES[i];
        int tx = c->bn / c->tn;
        int64_t dp = (d + 3) / 4 * 4, dvp = (dv + 4 * tx - 1) / (4 * tx) * (4 * tx);
        if (c->tm * (dvp / tx) > 128) continue;          /* output registers */
        int64_t shared = 4 * (dp * c->bm + att_area(c, dp) + (int64_t)c->bn * dvp);
        uint32_t nt = (uint32_t)((c->bm / c->tm) * tx);
        if (shared <= (int64_t)f->shared_memory && nt <= f->max_workgroup_size) return c;
    }
    return NULL;
}

/* matmul.comp's vec4 mode of a float32 operand (rows x cols, strides s_r,
 * s_c; batch strides bs): 1 vec4 along k, 2 along the other dim, 0 scalar. */
static int32_t att_gemm_mode(uint64_t addr, int64_t rows, int64_t cols, int64_t s_r,
                             int64_t s_c, const int64_t *bs, int nb, bool k_is_cols)
{
    if (addr % 16) return 0;
    for (int t = 0; t < nb; t++)
        if (bs[t] % 4) return 0;
    bool row_major = s_c == 1 && cols % 4 == 0 && s_r % 4 == 0;
    bool col_major = s_r == 1 && rows % 4 == 0 && s_c % 4 == 0;
    if (row_major) return k_is_cols ? 1 : 2;
    if (col_major) return k_is_cols ? 2 : 1;
    return 0;
}

/* One batched float32 GEMM on matmul.comp: dst (contiguous) = a @ b. */
static int att_gemm(ty_device dev, vk_matmul_params *g, ty_buffer *ra, ty_buffer *rb,
                    ty_buffer *w, int64_t nbatch)
{
    static const int T[2][5] = {{128, 128, 16, 16, 8}, {64, 64, 16, 4, 4}};
    const vk_device_facts *f = vk_facts(dev.index);
    const int *c = NULL;
    for (int i = 0; i < 2 && !c; i++) {
        int nt = (T[i][0] / T[i][3]) * (T[i][1] / T[i][4]);
        if ((uint32_t)nt <= f->max_workgroup_size &&
            2u * (size_t)T[i][2] * (size_t)(T[i][0] / 4 + 1 + T[i][1] / 4 + 1) * 16u <= f->shared_memory)
            c = T[i];
    }
    if (!c) return 1;
    int64_t gx = (g->m + c[1] - 1) / c[1], gy = (g->n + c[0] - 1) / c[0];
    if (gx > f->max_groups[0] || gy > f->max_groups[1] || nbatch > f->max_groups[2]) return 1;
    vk_dispatch_desc d;
    memset(&d, 0, sizeof d);
    d.shader = "matmul";
    for (int i = 0; i < 5; i++) d.spec[i] = c[i];
    d.spec[5] = TY_FLOAT32;
    d.spec[6] = att_gemm_mode(g->a, g->n, g->k, g->sa_r, g->sa_c, g->a_bstrides, g->nbatch_dims, true);
    d.spec[7] = att_gemm_mode(g->b, g->k, g->m, g->sb_r, g->sb_c, g->b_bstrides, g->nbatch_dims, false);
    d.spec[8] = g->m % 4 == 0 && g->dst % 16 == 0;
    d.nspec = 9;
    d.local_size = (uint32_t)((c[0] / c[3]) * (c[1] / c[4]));
    d.reads[0] = ra;
    d.reads[1] = rb;
    d.nreads = 2;
    d.writes[0] = w;
    d.nwrites = 1;
    d.params = g;
    d.params_size = sizeof *g;
    d.groups[0] = (uint32_t)gx;
    d.groups[1] = (uint32_t)gy;
    d.groups[2] = (uint32_t)nbatch;
    return vk_dispatch(dev, &d) != 0 ? -1 : 0;
}

/* Attention as S = q k^T (matmul.comp) into a scratch block, masked softmax
 * in place (kernels/attention_softmax.comp), out = P v (matmul.comp): for
 * float32 head dims the fused tiles only fit as ATT_SMALL (measured on an
 * H200, 8x16x1024x128: 12.3 TFLOP/s fused, 22.5 as this composition; causal
 * 9.3 and 11.6). Scores
 * up to 1 GiB. Returns 1 when it does not apply. */
static int att_composed(ty_array *out, att_params *p, int32_t mdt, ty_buffer *const *reads,
                        int nreads)
{
    const ty_node *node = out->node;
    const ty_array *q = node->inputs[0], *k = node->inputs[1], *v = node->inputs[2];
    if (q->dtype != TY_FLOAT32 || out->dtype != TY_FLOAT32 || p->nb > 6) return 1;
    size_t bytes = (size_t)p->nbatch * (size_t)p->lq * (size_t)p->lk * 4u;
    if (bytes > ((size_t)1 << 30)) return 1;
    const vk_device_facts *f = vk_facts(out->device.index);
    if ((uint64_t)p->nbatch * (uint64_t)p->lq > (uint64_t)f->max_groups[0] * f->max_groups[1])
        return 1;
    ty_buffer *sb = vk_scratch(out->device, bytes);
    if (!sb) return -1;
    uint64_t sa = ((const vk_block *)sb->data)->address;
    vk_matmul_params g;
    memset(&g, 0, sizeof g);
    g.nbatch_dims = p->nb;
    int64_t pst = p->lq * p->lk;               /* contiguous strides of the scores */
    for (int t = p->nb - 1; t >= 0; t--) {
        g.batch_shape[t] = p->bshape[t];
        g.a_bstrides[t] = p->qbs[t];
        g.b_bstrides[t] = p->kbs[t];
    }
    g.a = p->q;
    g.b = p->k;
    g.dst = sa;
    g.n = p->lq;
    g.m = p->lk;
    g.k = p->d;
    g.sa_r = p->qrs;
    g.sa_c = p->qcs;
    g.sb_r = p->kcs;
    g.sb_c = p->krs;
    int r = att_gemm(out->device, &g, q->buffer, k->buffer, sb, p->nbatch);
    if (r != 0) return r;

    att_params sp = *p;
    sp.dst = sa;
    
    vk_dispatch_desc d;
    memset(&d, 0, sizeof d);
    d.shader = "attention_softmax";
    d.spec[0] = mdt;
    d.nspec = 1;
    d.local_size = 256;
    d.params = &sp;
    d.params_size = sizeof sp;
    vk_grid(out->device, (uint64_t)(p->nbatch * p->lq) * 256u, 256, d.groups);
    d.reads[0] = sb;
    d.nreads = 1;
    if (nreads > 3 && reads[3]) d.reads[d.nreads++] = reads[3];
    d.writes[0] = sb;
    d.nwrites = 1;
    if (vk_dispatch(out->device, &d) != 0) return -1;

    for (int t = p->nb - 1; t >= 0; t--) {
        g.a_bstrides[t] = pst;
        pst *= p->bshape[t];
        g.b_bstrides[t] = p->vbs[t];
    }
    g.a = sa;
    g.b = p->v;
    g.dst = p->dst;
    g.n = p->lq;
    g.m = p->dv;
    g.k = p->lk;
    g.sa_r = p->lk;
    g.sa_c = 1;
    g.sb_r = p->vrs;
    g.sb_c = p->vcs;
    r = att_gemm(out->device, &g, sb, v->buffer, out->buffer, p->nbatch);
    return r > 0 ? -1 : r;                     /* the first GEMM ran: same limits */
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
    int32_t qdt = q->dtype, odt = out->dtype;
    ty_buffer *reads[4] = {q->buffer, k->buffer, v->buffer, m ? m->buffer : NULL};
    const att_tile *c = att_pick(f, p.lq, p.d, p.dv);
    const char *env = getenv("TYCHO_VK_ATTENTION");
    bool compose = env && strcmp(env, "composed") == 0;
    if ((compose || (c == &ATT_TILES[ATT_SMALL] && p.lq > 32 && f->shared_memory >= 49152)) &&
        !(env && strcmp(env, "fused") == 0)) {
        int r = att_composed(out, &p, mdt, reads, m ? 4 : 3);
        if (r <= 0) return r;
    }
    if (c) {
        int tx = c->bn / c->tn;
        int32_t dp = (int32_t)((p.d + 3) / 4 * 4);
        int32_t dvp = (int32_t)((p.dv + 4 * tx - 1) / (4 * tx) * (4 * tx));
        uint32_t nt = (uint32_t)((c->bm / c->tm) * tx);
        int64_t nqb = (p.lq + c->bm - 1) / c->bm;
        /* vec4 reads: float32, unit last strides, rows and batches in whole
         * vec4s, 16-byte aligned starts */
        bool vec = p.d % 4 == 0 && p.dv % 4 == 0;
        const ty_array *qkv[3] = {q, k, v};
        for (int a = 0; vec && a < 3; a++) {
            const ty_array *x = qkv[a];
            vec = x->dtype == TY_FLOAT32 && x->strides[nd - 1] == 1 &&
                  x->strides[nd - 2] % 4 == 0 && vk_address(x) % 16 == 0;
            for (int dd = 0; vec && dd < nd - 2; dd++)
                vec = x->shape[dd] == 1 || x->strides[dd] % 4 == 0;
        }
        const char *sw = getenv("TYCHO_VK_ATTENTION_SWZ");   /* tuning */
        int32_t swz = sw && (sw[0] == '0' || sw[0] == '1') ? sw[0] - '0' : c->swz;
        int32_t spec[12] = {qdt, mdt, odt, c->bm, c->bn, c->tm, c->tn, dp, dvp,
                            (int32_t)att_area(c, dp), vec, swz};
        return vk_dispatch_out(out, "attention_tiled", spec, 12, nt, &p, sizeof p,
                               (uint64_t)(p.nbatch * nqb) * nt, reads, m ? 4 : 3);
    }
    uint32_t wg = p.lq <= 32 ? 32 : 64;
    if (wg > f->max_workgroup_size) wg = f->max_workgroup_size;
    int64_t nqb = (p.lq + wg - 1) / wg;
    int32_t spec[3] = {qdt, mdt, odt};
    return vk_dispatch_out(out, "attention", spec, 3, wg, &p, sizeof p,
                           (uint64_t)(p.nbatch * nqb) * wg, reads, m ? 4 : 3);
}
