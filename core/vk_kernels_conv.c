/*
 * vk_kernels_conv.c -- host side of the Vulkan convolution (conv.comp, an
 * implicit GEMM) and pooling (pool.comp: pool, max_pool_select, pool_grad).
 * Same contracts as core/cpu_conv.c (node layouts: core/ops_conv.c).
 *
 * conv tiles (BM rows of output channels x BN columns of sample positions,
 * BK taps per step, TM x TN per invocation) are picked from the shape and
 * the device limits (workgroup invocations, shared memory): a tall tile for
 * many output channels, mid and wide ones for few (depthwise, first
 * layers), and a 64-invocation tile for small devices.
 * TYCHO_VK_CONV_TILE=large|tall|mid|wide|small forces one (tests). When the output has too few tiles to fill the device
 * and the reduction is long (weight gradients: huge "kernels" over few
 * outputs), the reduction is split over workgroups into float32 partials
 * summed by conv_splitk.comp (TYCHO_VK_CONV_SPLITK=0 turns it off).
 *
 * Measured on an H200 (float32, 3x3, padding 1, medians of ty.eval'd
 * calls): batch 32, 256 -> 256 channels at 28x28: forward 2.25 ms (13.1
 * TFLOP/s; torch/cuDNN 1.06 ms), input gradient 2.36 ms, weight gradient
 * 3.55 ms (7.6 ms before split-K); batch 64, 32 -> 64 at 28x28: weight
 * gradient 0.33 ms (11.1 ms without split-K). Decoding each step's taps once
 * into shared memory gave 1.5x, vec4 shared reads a few percent more;
 * double-buffering the tiles gave nothing measurable (left out); 128x128
 * tiles with 8x8 per invocation match 64x64 on large layers and lose on
 * small ones (TILE_LARGE, forced only).
 */
#include <stdlib.h>
#include <string.h>

#include "vk.h"

#define POOL_SELECT 2

/* Mirrors Params in kernels/conv.comp (std430). */
typedef struct vk_conv_params {
    uint64_t x, w, dst;
    uint64_t partial;
    int64_t xs[5];
    int64_t ws[5];
    int32_t N, C, O, Cg, Og, P, K, CgK;
    int32_t ncols, col_tile0, flip, G;
    int32_t in[3], k[3], out[3], s[3], d[3], id[3], lo[3], kchunk;
    int32_t nsplit, pad3_;
} vk_conv_params;
_Static_assert(sizeof(vk_conv_params) == 256, "vk_conv_params must match the GLSL");

/* Mirrors Params in kernels/conv_splitk.comp. */
typedef struct vk_splitk_params {
    uint64_t partial, dst;
    int64_t n;
    int32_t nsplit, pad_;
} vk_splitk_params;
_Static_assert(sizeof(vk_splitk_params) == 32, "vk_splitk_params must match the GLSL");

/* Workgroups that roughly fill a large GPU; below it, long reductions are
 * split (split-K) when each split keeps at least MIN_SPLIT_K of r. */
#define FILL_GROUPS 256
#define MIN_SPLIT_K 256
#define MAX_SPLITS 64

typedef struct conv_tile {
    int bm, bn, bk, tm, tn;
} conv_tile;

/* 128x128 with 8x8 per invocation: no faster than TILE_TALL on an H200
 * (see above): forced only. */
static const conv_tile TILE_LARGE = {128, 128, 16, 8, 8}; /* 256 invocations */
static const conv_tile TILE_TALL = {64, 64, 16, 4, 4};    /* 256 invocations */
static const conv_tile TILE_MID = {32, 128, 16, 4, 4};    /* 256 invocations */
static const conv_tile TILE_WIDE = {16, 128, 16, 4, 4};   /* 128 invocations */
static const conv_tile TILE_SMALL = {32, 32, 8, 4, 4};    /* 64 invocations */

static bool tile_fits(const conv_tile *t, const vk_device_facts *f)
{
    int nt = (t->bm / t->tm) * (t->bn / t->tn);
    size_t shared = (size_t)t->bk * ((size_t)(t->bm + t->bn) * sizeof(float) + 32u);
    return (uint32_t)nt <= f->max_workgroup_size && shared <= f->shared_memory &&
           nt % t->bn == 0 && nt % t->bk == 0 && t->tm % 4 == 0 && t->tn % 4 == 0;
}

static bool fits32(int64_t v)
{
    return v >= INT32_MIN && v <= INT32_MAX;
}

int vk_conv(ty_array *out)
{
    const ty_array *x = out->node->inputs[0], *w = out->node->inputs[1];
    const ty_params *pp = &out->node->params;
    if (out->dtype == TY_FLOAT64) return ty__error("[conv] float64 is not supported on Vulkan");
    if (out->size == 0) return 0;
    int nsp = pp->nsp, off = 3 - nsp;
    vk_conv_params p;
    memset(&p, 0, sizeof p);
    p.x = vk_address(x);
    p.w = vk_address(w);
    p.dst = vk_address(out);
    int64_t G = pp->conv.groups, N = x->shape[0], C = x->shape[1], O = w->shape[0];
    int64_t P = 1, K = 1;
    p.xs[0] = x->strides[0];
    p.xs[1] = x->strides[1];
    p.ws[0] = w->strides[0];
    p.ws[1] = w->strides[1];
    for (int a = 0; a < 3; a++) {
        int d = a - off;
        bool real = d >= 0;
        p.in[a] = (int32_t)(real ? x->shape[2 + d] : 1);
        p.k[a] = (int32_t)(real ? w->shape[2 + d] : 1);
        p.out[a] = (int32_t)(real ? out->shape[2 + d] : 1);
        p.s[a] = (int32_t)(real ? pp->conv.stride[d] : 1);
        p.d[a] = (int32_t)(real ? pp->conv.dilation[d] : 1);
        p.id[a] = (int32_t)(real ? pp->conv.in_dilation[d] : 1);
        p.lo[a] = (int32_t)(real ? pp->conv.pad_lo[d] : 0);
        p.xs[2 + a] = real ? x->strides[2 + d] : 0;
        p.ws[2 + a] = real ? w->strides[2 + d] : 0;
        if (real) {
            P *= out->shape[2 + d];
            K *= w->shape[2 + d];
            int64_t span = (x->shape[2 + d] - 1) * pp->conv.in_dilation[d] +
                           out->shape[2 + d] * pp->conv.stride[d] +
                           w->shape[2 + d] * pp->conv.dilation[d] + pp->conv.pad_lo[d];
            if (!fits32(span) || !fits32(-pp->conv.pad_lo[d] - w->shape[2 + d] * pp->conv.dilation[d]))
                return ty__error("[conv] sizes too large for the Vulkan kernel");
        }
    }
    int64_t Cg = C / G, Og = O / G;
    if (!fits32(N * P) || !fits32(Cg * K) || !fits32(O * P) || !fits32(C))
        return ty__error("[conv] sizes too large for the Vulkan kernel");
    p.N = (int32_t)N;
    p.C = (int32_t)C;
    p.O = (int32_t)O;
    p.Cg = (int32_t)Cg;
    p.Og = (int32_t)Og;
    p.P = (int32_t)P;
    p.K = (int32_t)K;
    p.CgK = (int32_t)(Cg * K);
    p.ncols = (int32_t)(N * P);
    p.flip = pp->conv.flip ? 1 : 0;
    p.G = (int32_t)G;

    const vk_device_facts *f = vk_facts(out->device.index);
    conv_tile t = Og <= 16 ? TILE_WIDE : Og <= 32 ? TILE_MID : TILE_TALL;
    const char *force = getenv("TYCHO_VK_CONV_TILE");     /* tall|wide|small (tests) */
    if (force && strcmp(force, "large") == 0) t = TILE_LARGE;
    else if (force && strcmp(force, "tall") == 0) t = TILE_TALL;
    else if (force && strcmp(force, "wide") == 0) t = TILE_WIDE;
    else if (force && strcmp(force, "mid") == 0) t = TILE_MID;
    else if (force && strcmp(force, "small") == 0) t = TILE_SMALL;
    if (!tile_fits(&t, f)) t = TILE_SMALL;
    if (!tile_fits(&t, f)) return ty__error("[conv] the Vulkan device is too small for conv");
    int64_t row_tiles = (Og + t.bm - 1) / t.bm, col_tiles = (N * P + t.bn - 1) / t.bn;
    if (row_tiles > f->max_groups[1]) return ty__error("[conv] too many output channels");
    /* split-K */
    int64_t tiles = row_tiles * col_tiles * G, nsplit = 1;
    const char *sk = getenv("TYCHO_VK_CONV_SPLITK");
    if (tiles < FILL_GROUPS && Cg * K >= 2 * MIN_SPLIT_K && !(sk && strcmp(sk, "0") == 0)) {
        nsplit = (FILL_GROUPS + tiles - 1) / tiles;
        if (nsplit > Cg * K / MIN_SPLIT_K) nsplit = Cg * K / MIN_SPLIT_K;
        if (nsplit > MAX_SPLITS) nsplit = MAX_SPLITS;
        while (nsplit > 1 && (uint64_t)out->size * 4u * (uint64_t)nsplit > (256u << 20))
            nsplit /= 2;
        if (nsplit < 1) nsplit = 1;
    }
    int64_t kchunk = (Cg * K + nsplit - 1) / nsplit;
    kchunk = (kchunk + t.bk - 1) / t.bk * t.bk;
    nsplit = (Cg * K + kchunk - 1) / kchunk;
    p.kchunk = (int32_t)kchunk;
    p.nsplit = (int32_t)nsplit;
    if (G * nsplit > f->max_groups[2]) return ty__error("[conv] too many groups for one dispatch");
    ty_buffer *partial = NULL;
    if (nsplit > 1) {
        partial = vk_scratch(out->device, (size_t)out->size * 4u * (size_t)nsplit);
        if (!partial) return -1;
        p.partial = ((const vk_block *)partial->data)->address;
    }

    vk_dispatch_desc d;
    memset(&d, 0, sizeof d);
    d.shader = "conv";
    d.spec[0] = t.bm;
    d.spec[1] = t.bn;
    d.spec[2] = t.bk;
    d.spec[3] = t.tm;
    d.spec[4] = t.tn;
    d.spec[5] = (int32_t)out->dtype;
    d.nspec = 6;
    d.local_size = (uint32_t)((t.bm / t.tm) * (t.bn / t.tn));
    d.reads[0] = x->buffer;
    d.reads[1] = w->buffer;
    d.nreads = 2;
    d.writes[0] = partial ? partial : out->buffer;
    d.nwrites = 1;
    d.params = &p;
    d.params_size = sizeof p;
    int64_t xmax = f->max_groups[0];
    for (int64_t c0 = 0; c0 < col_tiles; c0 += xmax) {
        p.col_tile0 = (int32_t)c0;
        d.groups[0] = (uint32_t)(col_tiles - c0 < xmax ? col_tiles - c0 : xmax);
        d.groups[1] = (uint32_t)row_tiles;
        d.groups[2] = (uint32_t)(G * nsplit);
        if (vk_dispatch(out->device, &d) != 0) return -1;
    }
    if (!partial) return 0;
    vk_splitk_params sp = {p.partial, p.dst, out->size, (int32_t)nsplit, 0};
    int32_t spec = (int32_t)out->dtype;
    return vk_dispatch_out(out, "conv_splitk", &spec, 1, 256, &sp, sizeof sp,
                           (uint64_t)out->size, &partial, 1);
}

/* Mirrors Params in kernels/pool.comp (std430). */
typedef struct vk_pool_params {
    uint64_t x, t, dst;
    int64_t n;
    int64_t lead_shape[TY_MAX_DIMS];
    int64_t x_lead[TY_MAX_DIMS];
    int64_t t_lead[TY_MAX_DIMS];
    int64_t xs[3], ts[3];
    int32_t nlead, kind, count_include_pad, pad_;
    int32_t in[3], out[3], k[3], s[3], d[3], lo[3], hi[3], pad2_;
} vk_pool_params;
_Static_assert(sizeof(vk_pool_params) == 32 + 3 * 64 + 48 + 16 + 88,
               "vk_pool_params must match the GLSL");

int vk_pool(ty_array *out)
{
    ty_node *n = out->node;
    const ty_array *x = n->inputs[0];
    const ty_array *t = n->ninputs > 1 ? n->inputs[1] : NULL;
    const ty_params *pp = &n->params;
    if (out->dtype == TY_FLOAT64) return ty__error("[pool] float64 is not supported on Vulkan");
    if (out->size == 0) return 0;
    int mode = n->op == TY_OP_POOL_GRAD ? 2 : pp->kind == POOL_SELECT ? 1 : 0;
    const int64_t *pooled = n->op == TY_OP_POOL_GRAD ? t->shape : out->shape;
    int nsp = pp->nsp, lead = x->ndim - nsp, off = 3 - nsp;
    vk_pool_params p;
    memset(&p, 0, sizeof p);
    p.x = vk_address(x);
    p.t = t ? vk_address(t) : p.x;
    p.dst = vk_address(out);
    p.n = out->size;
    p.nlead = lead;
    p.kind = pp->kind == TY_POOL_AVG ? 1 : 0;
    p.count_include_pad = pp->pool.count_include_pad ? 1 : 0;
    for (int a = 0; a < lead; a++) {
        p.lead_shape[a] = x->shape[a];
        p.x_lead[a] = x->strides[a];
        p.t_lead[a] = t ? t->strides[a] : 0;
    }
    for (int a = 0; a < 3; a++) {
        int d = a - off;
        bool real = d >= 0;
        int64_t in = real ? x->shape[lead + d] : 1, o = real ? pooled[lead + d] : 1;
        if (!fits32(in * 4) || !fits32(o * 4) || !fits32(in * o))
            return ty__error("[pool] sizes too large for the Vulkan kernel");
        p.in[a] = (int32_t)in;
        p.out[a] = (int32_t)o;
        p.k[a] = (int32_t)(real ? pp->pool.kernel[d] : 1);
        p.s[a] = (int32_t)(real ? pp->pool.stride[d] : 1);
        p.d[a] = (int32_t)(real ? pp->pool.dilation[d] : 1);
        p.lo[a] = (int32_t)(real ? pp->pool.pad_lo[d] : 0);
        p.hi[a] = (int32_t)(real ? pp->pool.pad_hi[d] : 0);
        p.xs[a] = real ? x->strides[lead + d] : 0;
        p.ts[a] = real && t ? t->strides[lead + d] : 0;
    }
    int32_t spec[2] = {mode, (int32_t)out->dtype};
    ty_buffer *reads[2] = {x->buffer, t ? t->buffer : x->buffer};
    return vk_dispatch_out(out, "pool", spec, 2, 128, &p, sizeof p, (uint64_t)out->size, reads,
                           t ? 2 : 1);
}
