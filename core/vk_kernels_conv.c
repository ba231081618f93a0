/*
 * vk_kernels_conv.c -- host side of the Vulkan convolution (conv.comp, an
 * implicit GEMM; 1x1 stride-1 convolutions on matmul.comp) and pooling
 * (pool.comp: pool, max_pool_select, pool_grad). Same contracts as
 * core/cpu_conv.c (node layouts: core/ops_conv.c).
 *
 * conv tiles (BM rows of output channels x BN columns of sample positions,
 * BK taps per step, TM x TN registers per invocation, as matmul.comp) are
 * picked from the output channels and the device limits (invocations,
 * shared memory): 128x128 with 16x8 per invocation (BK 8 on 32 KiB devices:
 * lavapipe), shorter ones for fewer channels (64, 32, 16 rows), and a
 * 64-invocation tile for small devices. TYCHO_VK_CONV_TILE=large|large8|
 * large256|half|mid|wide|narrow|small forces one (tests, tuning);
 * TYCHO_VK_CONV_BMODE=0|1 forces how B tiles are loaded (conv.comp).
 * Input dilation (input gradients of strided convs, transposed convs) runs
 * one dispatch per output phase over the taps that hit input elements only.
 * When the output has too few tiles to fill the device and the reduction is
 * long (weight gradients: huge "kernels" over few outputs), the reduction is
 * split over workgroups into float32 partials summed by conv_splitk.comp
 * (TYCHO_VK_CONV_SPLITK=0 turns it off). 1x1 / stride 1 / unpadded /
 * ungrouped convolutions over flat spatial axes are batched GEMMs on
 * matmul.comp (TYCHO_VK_CONV_GEMM=0 turns it off, TYCHO_VK_CONV_GEMM_TILE=
 * "bm,bn,bk,tm,tn" forces its tile).
 *
 * Measured on an H200 (bench/vk_nn.lua, batch 32, float32, TFLOP/s; torch
 * with TF32 off in the same run; before = the 64x64 / 4x4 kernel without
 * phases): 3x3 128->128 at 56x56 forward 26.0 (before 13.2, torch 39.1),
 * forward+backward 39.6 (16.0, 52.8); 1x1 256->256 at 28x28 6.7-8.8 (4.8,
 * 22.0), 11.5-13.9 (8.6, 16.0); 3x3 stride 2 64->128 at 112x112 22.5 (11.6,
 * 35.9), 25.0 (5.6, 23.2). The register tiles gave about 2x over 64x64 /
 * 4x4, the output phases 4x on the stride-2 input gradient. Tiles of
 * 128x128 with 8x8 per invocation, 128x64, BK 8, and B loads along the
 * taps for forward convolutions were within the run-to-run noise (10-15%);
 * the 1x1 GEMM route is on par with conv.comp (both are short-k GEMMs).
 */
#include <stdio.h>
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
    int64_t wtb, wts[3];                /* weight offset of tap m = 0, per-axis step */
    int32_t N, C, O, Cg, Og, P, K, CgK; /* P, K: the phase's positions, taps */
    int32_t ncols, col_tile0, G, nsplit;
    int32_t in[3], k[3], out[3], s[3];
    int32_t ub[3], us[3];               /* input position of tap m: ub + m * us */
    int32_t ofull[3], oq[3], oph[3];
    int32_t kchunk, Pfull, pad_;
} vk_conv_params;
_Static_assert(sizeof(vk_conv_params) == 312, "vk_conv_params must match the GLSL");

/* What set_phase needs besides the params (per axis). */
typedef struct conv_axes {
    int64_t kfull[3], s[3], d[3], id[3], lo[3];
    bool flip;
} conv_axes;

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
/* per-axis extents (and offsets) the kernel's int32 bounds test handles */
#define AXIS_LIMIT (1 << 28)

typedef struct conv_tile {
    int bm, bn, bk, tm, tn;
} conv_tile;

/* Register-blocked tiles (as matmul.comp): 128 invocations each but SMALL. */
static const conv_tile TILE_LARGE = {128, 128, 16, 16, 8};
static const conv_tile TILE_LARGE8 = {128, 128, 8, 16, 8};  /* 32 KiB shared */
static const conv_tile TILE_LARGE256 = {128, 128, 16, 8, 8}; /* 256 invocations */
static const conv_tile TILE_HALF = {128, 64, 16, 8, 8};
static const conv_tile TILE_MID = {64, 128, 16, 8, 8};
static const conv_tile TILE_WIDE = {32, 128, 16, 4, 8};
static const conv_tile TILE_NARROW = {16, 128, 16, 4, 4};
static const conv_tile TILE_SMALL = {32, 32, 8, 4, 4};      /* 64 invocations */

static bool tile_fits(const conv_tile *t, const vk_device_facts *f, int bmode)
{
    int nt = (t->bm / t->tm) * (t->bn / t->tn);
    size_t shared = 2u * (size_t)t->bk * (size_t)(t->bm / 4 + 1 + t->bn / 4 + 1) * 16u +
                    2u * (size_t)t->bk * 32u + (size_t)t->bn * 32u;
    if (t->tm % 4 || t->tn % 4 || nt % t->bk || (t->bm * t->bk) % nt || (t->bn * t->bk) % nt)
        return false;
    if (bmode == 0 && nt % t->bn) return false;
    return (uint32_t)nt <= f->max_workgroup_size && shared <= f->shared_memory;
}

static bool fits32(int64_t v)
{
    return v >= INT32_MIN && v <= INT32_MAX;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int64_t mod64(int64_t a, int64_t m)
{
    int64_t r = a % m;
    return r < 0 ? r + m : r;
}

static int64_t cdiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* Fills the phase fields of p for phase ph (per axis, 0..id-1): the output
 * positions q*id + ph and the taps te0 + m*step that land on input
 * elements. Returns the phase's positions (P) and taps (K) per image. */
static void set_phase(vk_conv_params *p, const conv_axes *ax, const int ph[3], int64_t *P,
                      int64_t *K)
{
    *P = *K = 1;
    p->wtb = 0;
    for (int a = 0; a < 3; a++) {
        int64_t id = ax->id[a], s = ax->s[a], d = ax->d[a], kf = ax->kfull[a], lo = ax->lo[a];
        p->oq[a] = (int32_t)id;
        p->oph[a] = ph[a];
        p->out[a] = (int32_t)(p->ofull[a] > ph[a] ? cdiv(p->ofull[a] - ph[a], id) : 0);
        int64_t step = id / gcd64(d, id), te0 = -1;
        for (int64_t te = 0; te < kf && te < step; te++) {
            if (mod64((int64_t)ph[a] * s - lo + te * d, id) == 0) {
                te0 = te;
                break;
            }
        }
        p->k[a] = (int32_t)(te0 < 0 ? 0 : cdiv(kf - te0, step));
        if (te0 < 0) te0 = 0;
        p->ub[a] = (int32_t)(((int64_t)ph[a] * s - lo + te0 * d) / id);   /* exact */
        p->us[a] = (int32_t)(step * d / id);                              /* exact */
        int64_t wb = ax->flip ? kf - 1 - te0 : te0, wst = ax->flip ? -step : step;
        p->wtb += wb * p->ws[2 + a];
        p->wts[a] = wst * p->ws[2 + a];
        *P *= p->out[a];
        *K *= p->k[a];
    }
}

static conv_tile pick_tile(int64_t Og, const vk_device_facts *f, int bmode)
{
    const char *force = getenv("TYCHO_VK_CONV_TILE");     /* tests */
    const conv_tile *t = NULL;
    if (force) {
        if (strcmp(force, "large") == 0) t = &TILE_LARGE;
        else if (strcmp(force, "large8") == 0) t = &TILE_LARGE8;
        else if (strcmp(force, "large256") == 0) t = &TILE_LARGE256;
        else if (strcmp(force, "half") == 0) t = &TILE_HALF;
        else if (strcmp(force, "mid") == 0) t = &TILE_MID;
        else if (strcmp(force, "wide") == 0) t = &TILE_WIDE;
        else if (strcmp(force, "narrow") == 0) t = &TILE_NARROW;
        else if (strcmp(force, "small") == 0) t = &TILE_SMALL;
        if (t && tile_fits(t, f, bmode)) return *t;
    }
    /* the largest tile that fits the device and is not more than twice as
     * tall as the output channels (few outputs: split-K fills the device) */
    const conv_tile *cands[] = {&TILE_LARGE, &TILE_LARGE8, &TILE_MID, &TILE_WIDE,
                                &TILE_NARROW, &TILE_SMALL};
    const conv_tile *best = NULL;
    for (int i = 0; i < 6; i++) {
        const conv_tile *c = cands[i];
        if (!tile_fits(c, f, bmode)) continue;
        if (c->bm > 16 && Og <= c->bm / 2 && c != &TILE_SMALL) continue;
        best = c;
        break;
    }
    if (!best) return TILE_SMALL;
    return *best;
}

/* matmul.comp tiles, largest first (as core/vk_kernels_matmul.c) */
static const conv_tile GEMM_TILES[] = {
    {128, 128, 16, 16, 8}, {128, 128, 8, 16, 8}, {64, 64, 16, 4, 4}, {32, 32, 8, 4, 4}};

static bool gemm_tile_ok(const conv_tile *c, const vk_device_facts *f)
{
    int nt = (c->bm / c->tm) * (c->bn / c->tn);
    if ((uint32_t)nt > f->max_workgroup_size) return false;
    if ((c->bm * c->bk) % (4 * nt) || (c->bn * c->bk) % (4 * nt)) return false;
    return 2u * (size_t)c->bk * (size_t)(c->bm / 4 + 1 + c->bn / 4 + 1) * 16u <= f->shared_memory;
}

/* matmul.comp's vec4 mode of a float32 operand (rows x cols, strides s_r,
 * s_c; batch stride bs): 1 vec4 along k, 2 along the other dim, 0 scalar. */
static int gemm_vec_mode(const ty_array *t, uint64_t addr, int64_t rows, int64_t cols,
                         int64_t s_r, int64_t s_c, int64_t bs, bool k_is_cols)
{
    if (t->dtype != TY_FLOAT32 || addr % 16 || bs % 4) return 0;
    bool row_major = s_c == 1 && cols % 4 == 0 && s_r % 4 == 0;
    bool col_major = s_r == 1 && rows % 4 == 0 && s_c % 4 == 0;
    if (row_major) return k_is_cols ? 1 : 2;
    if (col_major) return k_is_cols ? 2 : 1;
    return 0;
}

/* A 1x1, stride-1, unpadded, ungrouped convolution whose input has flat
 * spatial axes is a batched GEMM: out[n] (O x P) = W (O x C) @ x[n] (C x P).
 * It runs on matmul.comp (vec4 global loads where the layout allows).
 * Returns 1 when it does not apply (TYCHO_VK_CONV_GEMM=0 turns it off). */
static int conv_as_gemm(ty_array *out, const ty_array *x, const ty_array *w, int64_t P)
{
    const ty_params *pp = &out->node->params;
    const char *env = getenv("TYCHO_VK_CONV_GEMM");
    if (env && strcmp(env, "0") == 0) return 1;
    int nsp = pp->nsp;
    if (pp->conv.groups != 1) return 1;
    int64_t flat = 1;
    for (int d = nsp - 1; d >= 0; d--) {
        if (w->shape[2 + d] != 1 || pp->conv.stride[d] != 1 || pp->conv.in_dilation[d] != 1 ||
            pp->conv.pad_lo[d] != 0 || out->shape[2 + d] != x->shape[2 + d])
            return 1;
        if (x->shape[2 + d] > 1 && x->strides[2 + d] != flat) return 1;
        flat *= x->shape[2 + d];
    }
    const vk_device_facts *f = vk_facts(out->device.index);
    int64_t N = x->shape[0], C = x->shape[1], O = w->shape[0];
    if (N > f->max_groups[2]) return 1;
    vk_matmul_params p;
    memset(&p, 0, sizeof p);
    p.a = vk_address(w);
    p.b = vk_address(x);
    p.dst = vk_address(out);
    p.n = O;
    p.m = P;
    p.k = C;
    p.sa_r = O == 1 ? 0 : w->strides[0];
    p.sa_c = C == 1 ? 0 : w->strides[1];
    p.sb_r = C == 1 ? 0 : x->strides[1];
    p.sb_c = P == 1 ? 0 : 1;
    p.nbatch_dims = 1;
    p.batch_shape[0] = N;
    p.a_bstrides[0] = 0;
    p.b_bstrides[0] = N == 1 ? 0 : x->strides[0];
    const conv_tile *c = NULL;
    conv_tile forced;
    const char *ft = getenv("TYCHO_VK_CONV_GEMM_TILE");      /* "bm,bn,bk,tm,tn" (tuning) */
    if (ft && sscanf(ft, "%d,%d,%d,%d,%d", &forced.bm, &forced.bn, &forced.bk, &forced.tm,
                     &forced.tn) == 5 && forced.tm % 4 == 0 && forced.tn % 4 == 0 &&
        forced.bm % forced.tm == 0 && forced.bn % forced.tn == 0 && gemm_tile_ok(&forced, f))
        c = &forced;
    bool forced_ok = c != NULL;
    /* the largest tile that still gives about a wave of workgroups */
    for (int i = 0; !forced_ok && i < 4; i++) {
        if (!gemm_tile_ok(&GEMM_TILES[i], f)) continue;
        c = &GEMM_TILES[i];
        if (cdiv(O, c->bm) * cdiv(P, c->bn) * N >= 128) break;
    }
    if (!c || cdiv(P, c->bn) > f->max_groups[0] || cdiv(O, c->bm) > f->max_groups[1]) return 1;
    vk_dispatch_desc d;
    memset(&d, 0, sizeof d);
    d.shader = "matmul";
    d.spec[0] = c->bm;
    d.spec[1] = c->bn;
    d.spec[2] = c->bk;
    d.spec[3] = c->tm;
    d.spec[4] = c->tn;
    d.spec[5] = (int32_t)out->dtype;
    d.spec[6] = gemm_vec_mode(w, p.a, O, C, p.sa_r, p.sa_c, 0, true);
    d.spec[7] = gemm_vec_mode(x, p.b, C, P, p.sb_r, p.sb_c, p.b_bstrides[0], false);
    d.spec[8] = out->dtype == TY_FLOAT32 && P % 4 == 0 && p.dst % 16 == 0;
    d.nspec = 9;
    d.local_size = (uint32_t)((c->bm / c->tm) * (c->bn / c->tn));
    d.reads[0] = x->buffer;
    d.reads[1] = w->buffer;
    d.nreads = 2;
    d.writes[0] = out->buffer;
    d.nwrites = 1;
    d.params = &p;
    d.params_size = sizeof p;
    d.groups[0] = (uint32_t)cdiv(P, c->bn);
    d.groups[1] = (uint32_t)cdiv(O, c->bm);
    d.groups[2] = (uint32_t)N;
    return vk_dispatch(out->device, &d) != 0 ? -1 : 0;
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
    int64_t Pfull = 1, Kfull = 1, nphase = 1;
    conv_axes ax;
    memset(&ax, 0, sizeof ax);
    ax.flip = pp->conv.flip;
    int nph[3];
    p.xs[0] = x->strides[0];
    p.xs[1] = x->strides[1];
    p.ws[0] = w->strides[0];
    p.ws[1] = w->strides[1];
    for (int a = 0; a < 3; a++) {
        int d = a - off;
        bool real = d >= 0;
        int64_t in = real ? x->shape[2 + d] : 1, k = real ? w->shape[2 + d] : 1,
                o = real ? out->shape[2 + d] : 1, s = real ? pp->conv.stride[d] : 1,
                dl = real ? pp->conv.dilation[d] : 1, id = real ? pp->conv.in_dilation[d] : 1,
                lo = real ? pp->conv.pad_lo[d] : 0;
        if (id > o) id = o;            /* phases past the output are empty */
        /* |q*s|, |(ph*s - lo + te*d)/id| and the input extent stay far
         * below 2^30, so that the kernel's offsets never wrap */
        int64_t lo_abs = lo < 0 ? -lo : lo;
        if (in >= AXIS_LIMIT || o * s >= AXIS_LIMIT || k * dl >= AXIS_LIMIT ||
            lo_abs >= AXIS_LIMIT || id * s >= AXIS_LIMIT)
            return ty__error("[conv] sizes too large for the Vulkan kernel");
        p.in[a] = (int32_t)in;
        p.ofull[a] = (int32_t)o;
        p.s[a] = (int32_t)s;
        ax.kfull[a] = k;
        ax.s[a] = s;
        ax.d[a] = dl;
        ax.id[a] = real ? pp->conv.in_dilation[d] : 1;
        ax.lo[a] = lo;
        nph[a] = (int)id;
        p.xs[2 + a] = real ? x->strides[2 + d] : 0;
        p.ws[2 + a] = real ? w->strides[2 + d] : 0;
        Pfull *= o;
        Kfull *= k;
        nphase *= id;
    }
    int rc = conv_as_gemm(out, x, w, Pfull);
    if (rc != 1) return rc;
    int64_t Cg = C / G, Og = O / G;
    if (!fits32(N * Pfull) || !fits32(Cg * Kfull) || !fits32(O * Pfull) || !fits32(C))
        return ty__error("[conv] sizes too large for the Vulkan kernel");
    p.N = (int32_t)N;
    p.C = (int32_t)C;
    p.O = (int32_t)O;
    p.Cg = (int32_t)Cg;
    p.Og = (int32_t)Og;
    p.Pfull = (int32_t)Pfull;
    p.G = (int32_t)G;

    const vk_device_facts *f = vk_facts(out->device.index);
    /* B_MODE 1 (invocations along the taps) when the last axis has more taps
     * than output positions: weight gradients */
    int bmode = ax.kfull[2] > p.ofull[2] ? 1 : 0;
    const char *bm_env = getenv("TYCHO_VK_CONV_BMODE");   /* tests */
    if (bm_env && (strcmp(bm_env, "0") == 0 || strcmp(bm_env, "1") == 0))
        bmode = bm_env[0] - '0';
    conv_tile t = pick_tile(Og, f, bmode);
    if (!tile_fits(&t, f, bmode))
        return ty__error("[conv] the Vulkan device is too small for conv");
    int64_t row_tiles = cdiv(Og, t.bm), col_tiles = cdiv(N * Pfull / nphase, t.bn);
    if (row_tiles > f->max_groups[1]) return ty__error("[conv] too many output channels");
    /* split-K (phases share the split count; each splits its own taps) */
    int64_t tiles = row_tiles * col_tiles * G * nphase, nsplit = 1;
    int64_t CgKph = Cg * Kfull / nphase;
    const char *sk = getenv("TYCHO_VK_CONV_SPLITK");
    if (tiles < FILL_GROUPS && CgKph >= 2 * MIN_SPLIT_K && !(sk && strcmp(sk, "0") == 0)) {
        nsplit = (FILL_GROUPS + tiles - 1) / tiles;
        if (nsplit > CgKph / MIN_SPLIT_K) nsplit = CgKph / MIN_SPLIT_K;
        if (nsplit > MAX_SPLITS) nsplit = MAX_SPLITS;
        while (nsplit > 1 && (uint64_t)out->size * 4u * (uint64_t)nsplit > (256u << 20))
            nsplit /= 2;
        if (nsplit < 1) nsplit = 1;
    }
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
    d.spec[6] = bmode;
    d.spec[7] = nsp;
    d.nspec = 8;
    d.local_size = (uint32_t)((t.bm / t.tm) * (t.bn / t.tn));
    d.reads[0] = x->buffer;
    d.reads[1] = w->buffer;
    d.nreads = 2;
    d.writes[0] = partial ? partial : out->buffer;
    d.nwrites = 1;
    d.params = &p;
    d.params_size = sizeof p;
    int64_t xmax = f->max_groups[0];
    int ph[3];
    for (ph[0] = 0; ph[0] < nph[0]; ph[0]++)
    for (ph[1] = 0; ph[1] < nph[1]; ph[1]++)
    for (ph[2] = 0; ph[2] < nph[2]; ph[2]++) {
        int64_t P, K;
        set_phase(&p, &ax, ph, &P, &K);
        if (P == 0) continue;
        p.P = (int32_t)P;
        p.K = (int32_t)K;
        if (K == 0) {                  /* no tap lands on the input: zeros */
            p.k[0] = p.k[1] = p.k[2] = 1;
            p.K = 1;
        }
        p.CgK = (int32_t)(Cg * K);
        p.ncols = (int32_t)(N * P);
        int64_t kchunk = cdiv(Cg * K, nsplit);
        kchunk = kchunk < t.bk ? t.bk : cdiv(kchunk, t.bk) * t.bk;
        p.kchunk = (int32_t)kchunk;
        int64_t ct = cdiv(N * P, t.bn);
        for (int64_t c0 = 0; c0 < ct; c0 += xmax) {
            p.col_tile0 = (int32_t)c0;
            d.groups[0] = (uint32_t)(ct - c0 < xmax ? ct - c0 : xmax);
            d.groups[1] = (uint32_t)row_tiles;
            d.groups[2] = (uint32_t)(G * nsplit);
            if (vk_dispatch(out->device, &d) != 0) return -1;
        }
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
