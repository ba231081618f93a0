/*
 * vk_kernels_matmul.c -- host side of the Vulkan matmul: picks the kernel
 * (matrix units, tiled float, or integer), its tile sizes for the device and
 * shape, and how each operand is read, then dispatches it over the batch.
 *
 *   - matmul_coopmat.comp: float16 on devices with NV cooperative matrices,
 *     n, m, k multiples of 16, operands row- or column-major and 16-byte
 *     aligned (TYCHO_VK_COOPMAT=0 turns it off);
 *   - matmul.comp: float32, float16 and bfloat16 (float32 accumulation),
 *     any strides; vec4 loads where the layout allows;
 *   - matmul_int.comp: integers, wrapping int64 accumulation.
 * Tile sizes can be overridden for tuning: TYCHO_VK_MATMUL_TILE="BM,BN,BK,
 * TM,TN" and TYCHO_VK_COOPMAT_TILE="BM,BN,BK,WM,WN".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk.h"

enum { MODE_GENERIC = 0, MODE_VEC_K = 1, MODE_VEC_OTHER = 2 };

/* Tiled kernel: block tile, k step, micro-tile. */
typedef struct tile_cfg {
    int bm, bn, bk, tm, tn;
} tile_cfg;

/* Measured on an H100 (4096^3 / 8192^3 float32): 128x128x16 with 16x8
 * micro-tiles 37 / 40 TFLOP/s, 128x128x8 with 16x8 35 / 36, with 8x8 34 / 34.
 * The BK = 16 tile needs 33 KiB of shared memory; TILE_LARGE8 is its
 * stand-in on devices with 32 KiB (lavapipe). */
static const tile_cfg TILE_LARGE = {128, 128, 16, 16, 8};   /* 128 invocations */
static const tile_cfg TILE_LARGE8 = {128, 128, 8, 16, 8};   /* 128 invocations */
static const tile_cfg TILE_MEDIUM = {64, 64, 16, 4, 4};     /* 256 invocations */
static const tile_cfg TILE_SMALL = {32, 32, 8, 4, 4};       /* 64 invocations */

/* Coopmat kernel: block tile, k step, warp tile. */
/* H100, 4096^3 / 8192^3 float16: 128x128x16 with 64x32 warp tiles 130 / 154
 * TFLOP/s; BK = 32 122 / 150; 64x64 warp tiles and 256-wide blocks less. */
static const tile_cfg COOP_LARGE = {128, 128, 16, 64, 32};  /* 8 subgroups */
static const tile_cfg COOP_SMALL = {64, 64, 32, 32, 32};    /* 4 subgroups */

/* Work (tiles) that roughly fills a large GPU once. */
#define FILL_TILES 128

static int64_t cdiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* Parses "a,b,c,d,e" from environment variable name into cfg; false when
 * unset or malformed. */
static bool env_tile(const char *name, tile_cfg *cfg)
{
    const char *s = getenv(name);
    tile_cfg c;
    if (!s || sscanf(s, "%d,%d,%d,%d,%d", &c.bm, &c.bn, &c.bk, &c.tm, &c.tn) != 5) return false;
    *cfg = c;
    return true;
}

static bool pow2(int x)
{
    return x > 0 && (x & (x - 1)) == 0;
}

/* Whether the tiled kernel can run cfg on the device. */
static bool tile_ok(const tile_cfg *c, const vk_device_facts *f)
{
    if (!pow2(c->bm) || !pow2(c->bn) || !pow2(c->bk) || c->tm % 4 || c->tn % 4) return false;
    if (c->bk < 4 || c->bm < c->tm || c->bn < c->tn) return false;
    int nt = (c->bm / c->tm) * (c->bn / c->tn);
    if ((uint32_t)nt > f->max_workgroup_size) return false;
    if ((c->bm * c->bk) % (4 * nt) || (c->bn * c->bk) % (4 * nt)) return false;
    size_t shared = 2u * (size_t)c->bk * (size_t)(c->bm / 4 + 1 + c->bn / 4 + 1) * 16u;
    return shared <= f->shared_memory;
}

static bool coop_ok(const tile_cfg *c, const vk_device_facts *f)
{
    if (!pow2(c->bm) || !pow2(c->bn) || !pow2(c->bk) || c->bk < 16) return false;
    if (c->tm % 16 || c->tn % 16 || c->bm % c->tm || c->bn % c->tn) return false;
    int nt = (c->bm / c->tm) * (c->bn / c->tn) * (int)f->subgroup_size;
    if (nt <= 0 || (uint32_t)nt > f->max_workgroup_size) return false;
    /* at most 4 16-byte chunks of each tile per invocation */
    if (c->bm * c->bk / 8 > 4 * nt || c->bn * c->bk / 8 > 4 * nt) return false;
    size_t a_rows = (size_t)c->bm, b_rows = (size_t)c->bn;   /* worst orientation */
    size_t shared = 2u * 16u * (a_rows * (size_t)(c->bk / 8 + 1) +
                                b_rows * (size_t)(c->bk / 8 + 1));
    size_t alt = 2u * 16u * ((size_t)c->bk * (size_t)(c->bm / 8 + 1) +
                             (size_t)c->bk * (size_t)(c->bn / 8 + 1));
    return (shared > alt ? shared : alt) <= f->shared_memory;
}

/* One operand's matrix (rows x cols) as the kernels see it. */
typedef struct mat {
    const ty_array *a;
    uint64_t addr;
    int64_t rows, cols, s_r, s_c;      /* size-1 dims get stride 0 */
    bool batch_mult4, batch_mult8;     /* every batch stride is a multiple */
} mat;

static void mat_init(mat *x, const ty_array *a, const ty_array *out)
{
    int nd = a->ndim;
    x->a = a;
    x->addr = vk_address(a);
    x->rows = a->shape[nd - 2];
    x->cols = a->shape[nd - 1];
    x->s_r = x->rows == 1 ? 0 : a->strides[nd - 2];
    x->s_c = x->cols == 1 ? 0 : a->strides[nd - 1];
    x->batch_mult4 = x->batch_mult8 = true;
    for (int d = 0; d < out->ndim - 2; d++) {
        int64_t s = out->shape[d] == 1 ? 0 : a->strides[d];
        if (s % 4) x->batch_mult4 = false;
        if (s % 8) x->batch_mult8 = false;
    }
}

/* vec4 mode of a float32 operand: `k_is_cols` for a (n x k), false for
 * b (k x m), whose k runs along the rows. */
static int vec_mode(const mat *x, bool k_is_cols)
{
    if (x->a->dtype != TY_FLOAT32 || x->addr % 16 || !x->batch_mult4) return MODE_GENERIC;
    bool row_major = x->s_c == 1 && x->cols % 4 == 0 && x->s_r % 4 == 0;
    bool col_major = x->s_r == 1 && x->rows % 4 == 0 && x->s_c % 4 == 0;
    if (row_major) return k_is_cols ? MODE_VEC_K : MODE_VEC_OTHER;
    if (col_major) return k_is_cols ? MODE_VEC_OTHER : MODE_VEC_K;
    return MODE_GENERIC;
}

/* Coopmat orientation: 0 row-major, 1 column-major, -1 unusable. */
static int coop_layout(const mat *x)
{
    if (x->addr % 16 || !x->batch_mult8) return -1;
    if (x->s_c == 1 && x->s_r % 8 == 0) return 0;
    if (x->s_r == 1 && x->s_c % 8 == 0) return 1;
    return -1;
}

/* Dispatches `d` with params p over every batch and row tile, in chunks
 * that fit maxComputeWorkGroupCount. */
static int dispatch_tiles(ty_device dev, vk_dispatch_desc *d, vk_matmul_params *p,
                          int64_t row_tiles, int64_t col_tiles, int64_t nbatch)
{
    const vk_device_facts *f = vk_facts(dev.index);
    if (col_tiles > f->max_groups[0]) {
        return ty__error("[matmul] %lld columns are too many for one dispatch",
                         (long long)p->m);
    }
    int64_t ymax = f->max_groups[1], zmax = f->max_groups[2];
    d->params = p;
    d->params_size = sizeof *p;
    for (int64_t b0 = 0; b0 < nbatch; b0 += zmax) {
        for (int64_t r0 = 0; r0 < row_tiles; r0 += ymax) {
            p->batch0 = b0;
            p->row_tile0 = r0;
            d->groups[0] = (uint32_t)col_tiles;
            d->groups[1] = (uint32_t)(row_tiles - r0 < ymax ? row_tiles - r0 : ymax);
            d->groups[2] = (uint32_t)(nbatch - b0 < zmax ? nbatch - b0 : zmax);
            if (vk_dispatch(dev, d) != 0) return -1;
        }
    }
    return 0;
}

static bool coopmat_enabled(void)
{
    const char *s = getenv("TYCHO_VK_COOPMAT");
    return !s || strcmp(s, "0") != 0;
}

/* Picks the largest tile that still gives about a wave of workgroups. */
static tile_cfg pick_tile(const tile_cfg *const *cands, int ncand, int64_t n, int64_t m,
                          int64_t nbatch, const vk_device_facts *f,
                          bool (*ok)(const tile_cfg *, const vk_device_facts *))
{
    const tile_cfg *best = NULL;
    for (int i = 0; i < ncand; i++) {
        if (!ok(cands[i], f)) continue;
        best = cands[i];
        int64_t tiles = cdiv(n, cands[i]->bm) * cdiv(m, cands[i]->bn) * nbatch;
        if (tiles >= FILL_TILES) break;
    }
    return best ? *best : *cands[ncand - 1];
}

static int run_coopmat(ty_array *out, vk_dispatch_desc *d, vk_matmul_params *p,
                       const mat *a, const mat *b, int64_t nbatch)
{
    const vk_device_facts *f = vk_facts(out->device.index);
    tile_cfg c;
    if (!env_tile("TYCHO_VK_COOPMAT_TILE", &c) || !coop_ok(&c, f)) {
        const tile_cfg *cands[] = {&COOP_LARGE, &COOP_SMALL};
        c = pick_tile(cands, 2, p->n, p->m, nbatch, f, coop_ok);
    }
    d->shader = "matmul_coopmat";
    d->spec[0] = c.bm;
    d->spec[1] = c.bn;
    d->spec[2] = c.bk;
    d->spec[3] = c.tm;
    d->spec[4] = c.tn;
    d->spec[5] = coop_layout(a);
    d->spec[6] = coop_layout(b);
    d->nspec = 7;
    d->local_size = (uint32_t)((c.bm / c.tm) * (c.bn / c.tn)) * f->subgroup_size;
    return dispatch_tiles(out->device, d, p, cdiv(p->n, c.bm), cdiv(p->m, c.bn), nbatch);
}

static int run_tiled(ty_array *out, vk_dispatch_desc *d, vk_matmul_params *p,
                     const mat *a, const mat *b, int64_t nbatch)
{
    const vk_device_facts *f = vk_facts(out->device.index);
    tile_cfg c;
    if (!env_tile("TYCHO_VK_MATMUL_TILE", &c) || !tile_ok(&c, f)) {
        const tile_cfg *cands[] = {&TILE_LARGE, &TILE_LARGE8, &TILE_MEDIUM, &TILE_SMALL};
        c = pick_tile(cands, 4, p->n, p->m, nbatch, f, tile_ok);
    }
    d->shader = "matmul";
    d->spec[0] = c.bm;
    d->spec[1] = c.bn;
    d->spec[2] = c.bk;
    d->spec[3] = c.tm;
    d->spec[4] = c.tn;
    d->spec[5] = (int32_t)out->dtype;
    d->spec[6] = vec_mode(a, true);
    d->spec[7] = vec_mode(b, false);
    d->spec[8] = out->dtype == TY_FLOAT32 && p->m % 4 == 0 && p->dst % 16 == 0;
    d->nspec = 9;
    d->local_size = (uint32_t)((c.bm / c.tm) * (c.bn / c.tn));
    return dispatch_tiles(out->device, d, p, cdiv(p->n, c.bm), cdiv(p->m, c.bn), nbatch);
}

static int run_int(ty_array *out, vk_dispatch_desc *d, vk_matmul_params *p)
{
    d->shader = "matmul_int";
    d->nspec = 0;
    d->local_size = 256;
    d->params = p;
    d->params_size = sizeof *p;
    vk_grid(out->device, (uint64_t)out->size, 256, d->groups);
    return vk_dispatch(out->device, d);
}

/* out (..., n, m) = a (..., n, k) @ b (..., k, m); batch dims broadcast
 * (stride 0), any strides. */
int vk_matmul(ty_array *out)
{
    const ty_array *a = out->node->inputs[0], *b = out->node->inputs[1];
    int nd = out->ndim;
    if (out->dtype == TY_FLOAT64) return ty__error("[matmul] float64 is not supported on Vulkan");
    if (out->size == 0) return 0;
    if (nd - 2 > 6) return ty__error("[matmul] too many batch dimensions for Vulkan");
    mat ma, mb;
    mat_init(&ma, a, out);
    mat_init(&mb, b, out);
    vk_matmul_params p;
    memset(&p, 0, sizeof p);
    p.a = ma.addr;
    p.b = mb.addr;
    p.dst = vk_address(out);
    p.n = out->shape[nd - 2];
    p.m = out->shape[nd - 1];
    p.k = a->shape[nd - 1];
    p.sa_r = ma.s_r;
    p.sa_c = ma.s_c;
    p.sb_r = mb.s_r;
    p.sb_c = mb.s_c;
    p.nbatch_dims = nd - 2;
    p.dtype = (int32_t)out->dtype;
    int64_t nbatch = 1;
    for (int d = 0; d < nd - 2; d++) {
        p.batch_shape[d] = out->shape[d];
        p.a_bstrides[d] = out->shape[d] == 1 ? 0 : a->strides[d];
        p.b_bstrides[d] = out->shape[d] == 1 ? 0 : b->strides[d];
        nbatch *= out->shape[d];
    }
    vk_dispatch_desc d;
    memset(&d, 0, sizeof d);
    d.reads[0] = a->buffer;
    d.reads[1] = b->buffer;
    d.nreads = 2;
    d.writes[0] = out->buffer;
    d.nwrites = 1;
    if (!ty_dtype_is_float(out->dtype)) return run_int(out, &d, &p);
    const vk_device_facts *f = vk_facts(out->device.index);
    if (f->coopmat && out->dtype == TY_FLOAT16 && coopmat_enabled() && p.n % 16 == 0 &&
        p.m % 16 == 0 && p.k % 16 == 0 && coop_layout(&ma) >= 0 && coop_layout(&mb) >= 0) {
        return run_coopmat(out, &d, &p, &ma, &mb, nbatch);
    }
    return run_tiled(out, &d, &p, &ma, &mb, nbatch);
}
