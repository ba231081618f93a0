/*
 * vk_kernels_reduce.c -- host side of the Vulkan reductions (reduce.comp),
 * arg-reductions (arg_reduce.comp), scans (scan.comp), softmax (softmax.comp)
 * and sort/argsort (sort.comp). Same contract and semantics as cpu_reduce.c
 * and cpu_sort (see cpu.h).
 *
 * The input view is collapsed without copies into "kept" dims (row-major
 * order of the output) and the reduced dims (or the one axis), merging
 * neighbours whose strides allow it. Each family then picks, from the sizes
 * and the device facts, one workgroup per output or line (long rows), one
 * invocation per output or line (short rows, column layouts), and for
 * reductions of few large rows a split into partial results in a scratch
 * block reduced again by a second dispatch.
 */
#include <stdlib.h>
#include <string.h>

#include "vk.h"

_Static_assert(TY_MAX_DIMS == 8, "kernels/common.glsl assumes MAX_DIMS 8");

/* ---------------------------------------------------------------- layout */

typedef struct vk_dims {
    int n;
    int64_t shape[TY_MAX_DIMS];
    int64_t stride[TY_MAX_DIMS];
} vk_dims;

/* Appends a dim, dropping size 1 and merging with the previous dim when
 * the previous stride is this stride times this size. */
static void dims_push(vk_dims *d, int64_t size, int64_t stride)
{
    if (size == 1) return;
    if (d->n > 0 && d->stride[d->n - 1] == stride * size) {
        d->shape[d->n - 1] *= size;
        d->stride[d->n - 1] = stride;
        return;
    }
    d->shape[d->n] = size;
    d->stride[d->n] = stride;
    d->n++;
}

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* Whether the innermost kept dim is tighter in memory than every reduced
 * dim (neighbouring outputs are neighbours in memory: one invocation per
 * output coalesces). */
static bool column_layout(const vk_dims *kept, const vk_dims *red)
{
    if (kept->n == 0 || red->n == 0) return false;
    int64_t ks = abs64(kept->stride[kept->n - 1]);
    for (int i = 0; i < red->n; i++) {
        if (abs64(red->stride[i]) <= ks) return false;
    }
    return true;
}

/* The dims of x other than `axis`, collapsed (the lines of an axis op). */
static vk_dims dims_except(const ty_array *x, int axis)
{
    vk_dims d;
    memset(&d, 0, sizeof d);
    for (int k = 0; k < x->ndim; k++) {
        if (k != axis) dims_push(&d, x->shape[k], x->strides[k]);
    }
    return d;
}

static uint64_t buffer_address(const ty_buffer *b)
{
    return ((const vk_block *)b->data)->address;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static uint32_t next_pow2(uint64_t v)
{
    uint32_t p = 1;
    while (p < v) p <<= 1;
    return p;
}

/* A power-of-two workgroup size for about `work` elements per workgroup:
 * at least the subgroup size, at most `cap` and the device limit. */
static uint32_t group_size(const vk_device_facts *f, int64_t work, uint32_t cap)
{
    uint32_t wg = work >= 4096 ? 256 : work >= 512 ? 128 : 64;
    if (wg > cap) wg = cap;
    if (wg > f->max_workgroup_size) wg = f->max_workgroup_size;
    if (wg < f->subgroup_size) wg = f->subgroup_size;
    return wg;
}

/* Fills the grid of `count` workgroups of wg invocations. */
static void group_grid(ty_device dev, uint64_t count, uint32_t wg, uint32_t groups[3])
{
    vk_grid(dev, count * wg, wg, groups);
}

/* Whether kernels use subgroup arithmetic: where the device has it, unless
 * TYCHO_VK_SUBGROUP=0 (to test the shared-memory paths). */
static int use_subgroups(const vk_device_facts *f)
{
    static int allowed = -1;
    if (allowed < 0) {
        const char *v = getenv("TYCHO_VK_SUBGROUP");
        allowed = !(v && strcmp(v, "0") == 0);
    }
    return allowed && f->subgroup_arithmetic;
}

static int check_dtype(const ty_array *out, const ty_array *x)
{
    if (x->dtype == TY_FLOAT64 || out->dtype == TY_FLOAT64) {
        return ty__error("[%s] float64 is not supported on Vulkan",
                         ty_op_name(out->node->op));
    }
    return 0;
}

/* ---------------------------------------------------------------- reduce */

/* Mirrors Params of kernels/reduce.comp. */
typedef struct vk_reduce_params {
    uint64_t x, dst;
    int64_t kshape[8], kstride[8];
    int64_t rshape[8], rstride[8];
    int64_t nout, nred, nsplit;
    int32_t kn, rn;
} vk_reduce_params;
_Static_assert(sizeof(vk_reduce_params) == 304, "vk_reduce_params must match reduce.comp");

enum { MODE_GROUP = 0, MODE_THREAD = 1 };

/* One reduction of src (viewed as kept x red) into dst (contiguous). */
typedef struct reduce_job {
    ty_device dev;
    int op;                            /* 0 sum, 1 prod, 2 max, 3 min, 4 all, 5 any */
    bool fmode;
    ty_buffer *src, *dst;
    uint64_t src_addr, dst_addr;
    ty_dtype xdt, odt;
    vk_dims kept, red;
    int64_t nout, nred;
} reduce_job;

static int reduce_op_code(ty_op op)
{
    switch (op) {
    case TY_OP_SUM: return 0;
    case TY_OP_PROD: return 1;
    case TY_OP_MAX: return 2;
    case TY_OP_MIN: return 3;
    case TY_OP_ALL: return 4;
    default: return 5;
    }
}

/* Records the dispatch(es) of a job: picks the mode, splits few large
 * reductions into partials (float32 or int64) reduced by a second job. */

/* Dispatches `count` outputs: one invocation each (thread mode) or one
 * workgroup each, sized for `per_output` reduced elements (group mode). */
static int dispatch_outputs(ty_device dev, const vk_device_facts *f, vk_dispatch_desc *d,
                            uint64_t count, int64_t per_output, bool thread)
{
    if (thread) {
        d->local_size = 64;
        vk_grid(dev, count, d->local_size, d->groups);
    } else {
        d->local_size = group_size(f, per_output, 256);
        group_grid(dev, count, d->local_size, d->groups);
    }
    return vk_dispatch(dev, d);
}

static int reduce_run(const reduce_job *j)
{
    const vk_device_facts *f = vk_facts(j->dev.index);
    bool column = column_layout(&j->kept, &j->red);
    bool thread = j->nred <= 16 || (column && j->nout >= 64)
                  || (j->nout >= 16384 && j->nred <= 128);
    int64_t nsplit = 1;
    if (thread && j->nred > 1024 && j->nout < 32768) {
        nsplit = min64(ceil_div(j->nred, 512), ceil_div(32768, j->nout));
    } else if (!thread && j->nout < 2048 && j->nred >= 16384) {
        /* enough workgroups to fill a large GPU, chunks of >= 4096 */
        nsplit = min64(j->nred / 4096, ceil_div(4096, j->nout));
    }
    ty_buffer *part = NULL;
    if (nsplit > 1) {
        part = vk_scratch(j->dev, (size_t)(j->nout * nsplit) * 8);
        if (!part) return -1;
    }

    vk_reduce_params p;
    memset(&p, 0, sizeof p);
    p.x = j->src_addr;
    p.dst = part ? buffer_address(part) : j->dst_addr;
    for (int i = 0; i < j->kept.n; i++) {
        p.kshape[i] = j->kept.shape[i];
        p.kstride[i] = j->kept.stride[i];
    }
    for (int i = 0; i < j->red.n; i++) {
        p.rshape[i] = j->red.shape[i];
        p.rstride[i] = j->red.stride[i];
    }
    p.kn = j->kept.n;
    p.rn = j->red.n;
    p.nout = j->nout;
    p.nred = j->nred;
    p.nsplit = nsplit;

    ty_dtype odt = part ? (j->fmode ? TY_FLOAT32 : TY_INT64) : j->odt;
    vk_dispatch_desc d;
    memset(&d, 0, sizeof d);
    d.shader = "reduce";
    d.spec[0] = j->op;
    d.spec[1] = j->fmode;
    d.spec[2] = j->xdt;
    d.spec[3] = odt;
    d.spec[4] = use_subgroups(f);
    d.spec[5] = thread ? MODE_THREAD : MODE_GROUP;
    d.nspec = 6;
    d.params = &p;
    d.params_size = sizeof p;
    d.reads[d.nreads++] = j->src;
    d.writes[d.nwrites++] = part ? part : j->dst;
    if (dispatch_outputs(j->dev, f, &d, (uint64_t)(j->nout * nsplit), j->nred / nsplit,
                         thread) != 0)
        return -1;
    if (!part) return 0;

    /* second pass: nout outputs of nsplit partials each */
    reduce_job j2 = *j;
    j2.src = part;
    j2.src_addr = buffer_address(part);
    j2.xdt = odt;
    memset(&j2.kept, 0, sizeof j2.kept);
    memset(&j2.red, 0, sizeof j2.red);
    dims_push(&j2.kept, j->nout, thread ? 1 : nsplit);
    dims_push(&j2.red, nsplit, thread ? j->nout : 1);
    j2.nred = nsplit;
    return reduce_run(&j2);
}

/* Sum, prod, max, min, all, any over params.axes of inputs[0]. */
int vk_reduce(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_array *x = node->inputs[0];
    if (check_dtype(out, x) != 0) return -1;
    reduce_job j;
    memset(&j, 0, sizeof j);
    j.dev = out->device;
    j.op = reduce_op_code(node->op);
    j.fmode = ty_dtype_is_float(x->dtype) || ty_dtype_is_float(out->dtype)
              || node->op == TY_OP_ALL || node->op == TY_OP_ANY;
    j.src = x->buffer;
    j.dst = out->buffer;
    j.src_addr = vk_address(x);
    j.dst_addr = buffer_address(out->buffer);
    j.xdt = x->dtype;
    j.odt = out->dtype;

    bool reduced[TY_MAX_DIMS] = {false};
    for (int i = 0; i < node->params.naxes; i++) reduced[node->params.axes[i]] = true;
    j.nout = 1;
    j.nred = 1;
    for (int k = 0; k < x->ndim; k++) {
        if (reduced[k]) j.nred *= x->shape[k];
        else j.nout *= x->shape[k];
    }
    if (j.nout == 0) return 0;
    for (int k = 0; k < x->ndim; k++) {
        if (!reduced[k]) dims_push(&j.kept, x->shape[k], x->strides[k]);
    }
    /* reduced dims, largest |stride| first so the innermost run is tightest */
    int order[TY_MAX_DIMS], nr = 0;
    for (int k = 0; k < x->ndim; k++) {
        if (!reduced[k] || x->shape[k] == 1) continue;
        int p = nr++;
        while (p > 0 && abs64(x->strides[order[p - 1]]) < abs64(x->strides[k])) {
            order[p] = order[p - 1];
            p--;
        }
        order[p] = k;
    }
    for (int i = 0; i < nr; i++) dims_push(&j.red, x->shape[order[i]], x->strides[order[i]]);
    if (j.nred == 0) j.red.n = 0;      /* empty: every output is the identity */
    return reduce_run(&j);
}

/* ---------------------------------------------------------------- argmax */

/* Mirrors Params of kernels/arg_reduce.comp. */
typedef struct vk_arg_params {
    uint64_t x, dst, idx, vals;
    int64_t kshape[8], kstride[8];
    int64_t nout, nred, nsplit, rstride, base;
    int32_t kn, pad;
} vk_arg_params;
_Static_assert(sizeof(vk_arg_params) == 208, "vk_arg_params must match arg_reduce.comp");

typedef struct arg_job {
    ty_device dev;
    bool is_max, fmode;
    ty_buffer *src, *src_idx, *dst;    /* src_idx: partial indices (pass 2) */
    uint64_t src_addr, dst_addr;
    ty_dtype xdt, odt;
    vk_dims kept;
    int64_t nout, nred, rstride, base;
} arg_job;

static int arg_run(const arg_job *j)
{
    const vk_device_facts *f = vk_facts(j->dev.index);
    vk_dims red = {1, {j->nred}, {j->rstride}};
    bool column = column_layout(&j->kept, &red);
    bool thread = j->nred <= 16 || (column && j->nout >= 64)
                  || (j->nout >= 16384 && j->nred <= 128);
    int64_t nsplit = 1;
    if (thread && j->nred > 1024 && j->nout < 32768) {
        nsplit = min64(ceil_div(j->nred, 512), ceil_div(32768, j->nout));
    } else if (!thread && j->nout < 512 && j->nred >= 16384) {
        nsplit = min64(j->nred / 4096, ceil_div(1024, j->nout));
    }
    ty_buffer *vals = NULL, *idx = NULL;
    if (nsplit > 1) {
        vals = vk_scratch(j->dev, (size_t)(j->nout * nsplit) * 8);
        idx = vals ? vk_scratch(j->dev, (size_t)(j->nout * nsplit) * 8) : NULL;
        if (!idx) return -1;
    }

    vk_arg_params p;
    memset(&p, 0, sizeof p);
    p.x = j->src_addr;
    p.dst = idx ? buffer_address(idx) : j->dst_addr;
    p.idx = j->src_idx ? buffer_address(j->src_idx) : 0;
    p.vals = vals ? buffer_address(vals) : 0;
    for (int i = 0; i < j->kept.n; i++) {
        p.kshape[i] = j->kept.shape[i];
        p.kstride[i] = j->kept.stride[i];
    }
    p.kn = j->kept.n;
    p.nout = j->nout;
    p.nred = j->nred;
    p.nsplit = nsplit;
    p.rstride = j->rstride;
    p.base = idx ? 0 : j->base;

    vk_dispatch_desc d;
    memset(&d, 0, sizeof d);
    d.shader = "arg_reduce";
    d.spec[0] = j->is_max;
    d.spec[1] = j->fmode;
    d.spec[2] = j->xdt;
    d.spec[3] = idx ? TY_INT64 : j->odt;
    d.spec[4] = thread ? MODE_THREAD : MODE_GROUP;
    d.nspec = 5;
    d.params = &p;
    d.params_size = sizeof p;
    d.reads[d.nreads++] = j->src;
    if (j->src_idx) d.reads[d.nreads++] = j->src_idx;
    if (idx) {
        d.writes[d.nwrites++] = idx;
        d.writes[d.nwrites++] = vals;
    } else {
        d.writes[d.nwrites++] = j->dst;
    }
    if (dispatch_outputs(j->dev, f, &d, (uint64_t)(j->nout * nsplit), j->nred / nsplit,
                         thread) != 0)
        return -1;
    if (nsplit == 1) return 0;

    arg_job j2 = *j;
    j2.src = vals;
    j2.src_idx = idx;
    j2.src_addr = buffer_address(vals);
    j2.xdt = j->fmode ? TY_FLOAT32 : TY_INT64;
    memset(&j2.kept, 0, sizeof j2.kept);
    dims_push(&j2.kept, j->nout, thread ? 1 : nsplit);
    j2.nred = nsplit;
    j2.rstride = thread ? j->nout : 1;
    return arg_run(&j2);
}

/* Argmax/argmin along params.axis: first extreme, NaN counts as extreme. */
int vk_arg_reduce(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_array *x = node->inputs[0];
    if (check_dtype(out, x) != 0) return -1;
    int axis = node->params.axis;
    arg_job j;
    memset(&j, 0, sizeof j);
    j.dev = out->device;
    j.is_max = node->op == TY_OP_ARGMAX;
    j.fmode = ty_dtype_is_float(x->dtype);
    j.src = x->buffer;
    j.dst = out->buffer;
    j.src_addr = vk_address(x);
    j.dst_addr = buffer_address(out->buffer);
    j.xdt = x->dtype;
    j.odt = out->dtype;
    j.kept = dims_except(x, axis);
    j.nred = x->shape[axis];
    j.rstride = x->strides[axis];
    j.base = node->params.index_base;
    j.nout = j.nred == 0 ? 0 : x->size / j.nred;
    if (j.nout == 0 || out->size == 0) return 0;
    if (j.nred == 0) return ty__error("[%s] cannot reduce an empty axis", ty_op_name(node->op));
    return arg_run(&j);
}

/* ---------------------------------------------------------------- lines */

/* Mirrors Params of kernels/scan.comp and kernels/softmax.comp. */
typedef struct vk_line_params {
    uint64_t x, dst;
    int64_t kshape[8], kstride[8];
    int64_t nlines, n, xstride, inner;
    int32_t kn, reverse;
} vk_line_params;
_Static_assert(sizeof(vk_line_params) == 184, "vk_line_params must match scan/softmax");

/* Fills the line layout of an axis op; returns the number of lines. */
static int64_t line_params(const ty_array *out, vk_line_params *p)
{
    const ty_array *x = out->node->inputs[0];
    int axis = out->node->params.axis;
    memset(p, 0, sizeof *p);
    vk_dims kept = dims_except(x, axis);
    for (int i = 0; i < kept.n; i++) {
        p->kshape[i] = kept.shape[i];
        p->kstride[i] = kept.stride[i];
    }
    p->kn = kept.n;
    p->x = vk_address(x);
    p->dst = buffer_address(out->buffer);
    p->n = x->shape[axis];
    p->xstride = x->strides[axis];
    p->inner = 1;
    for (int k = axis + 1; k < x->ndim; k++) p->inner *= x->shape[k];
    p->nlines = p->n == 0 ? 0 : x->size / p->n;
    return p->nlines;
}

/* One invocation per line for short lines, or many lines that are
 * neighbours in the output. */
static bool lines_by_thread(const vk_line_params *p)
{
    return p->n <= 32 || (p->inner >= 32 && p->nlines >= 1024);
}

static int line_dispatch(ty_array *out, const char *shader, vk_dispatch_desc *d,
                         const vk_line_params *p, uint32_t wg, bool thread)
{
    d->shader = shader;
    d->params = p;
    d->params_size = sizeof *p;
    d->reads[d->nreads++] = out->node->inputs[0]->buffer;
    d->writes[d->nwrites++] = out->buffer;
    d->local_size = thread ? 64 : wg;
    if (thread) vk_grid(out->device, (uint64_t)p->nlines, 64, d->groups);
    else group_grid(out->device, (uint64_t)p->nlines, wg, d->groups);
    return vk_dispatch(out->device, d);
}

/* Inclusive cumsum/cumprod along params.axis (params.reverse from the end). */
int vk_scan(ty_array *out)
{
    const ty_array *x = out->node->inputs[0];
    if (check_dtype(out, x) != 0) return -1;
    vk_line_params p;
    if (line_params(out, &p) == 0) return 0;
    p.reverse = out->node->params.reverse;
    const vk_device_facts *f = vk_facts(out->device.index);
    bool fmode = ty_dtype_is_float(x->dtype) || ty_dtype_is_float(out->dtype);
    bool thread = lines_by_thread(&p);
    vk_dispatch_desc d;
    memset(&d, 0, sizeof d);
    d.spec[0] = out->node->op == TY_OP_CUMPROD;
    d.spec[1] = fmode;
    d.spec[2] = x->dtype;
    d.spec[3] = out->dtype;
    d.spec[4] = use_subgroups(f);
    d.spec[5] = thread ? MODE_THREAD : MODE_GROUP;
    d.nspec = 6;
    return line_dispatch(out, "scan", &d, &p, group_size(f, p.n, 256), thread);
}

/* Softmax/log-softmax along params.axis, stable, in float32. */
int vk_softmax(ty_array *out)
{
    const ty_array *x = out->node->inputs[0];
    if (check_dtype(out, x) != 0) return -1;
    vk_line_params p;
    if (line_params(out, &p) == 0) return 0;
    const vk_device_facts *f = vk_facts(out->device.index);
    bool thread = lines_by_thread(&p);
    /* enough invocations to keep a line in registers (8 values each) */
    uint32_t wg = next_pow2((uint64_t)ceil_div(p.n, 8));
    if (wg < 64) wg = 64;
    if (wg > 1024) wg = 1024;
    if (wg > f->max_workgroup_size) wg = f->max_workgroup_size;
    if (wg < f->subgroup_size) wg = f->subgroup_size;
    vk_dispatch_desc d;
    memset(&d, 0, sizeof d);
    d.spec[0] = out->node->op == TY_OP_LOG_SOFTMAX;
    d.spec[1] = x->dtype;
    d.spec[2] = out->dtype;
    d.spec[3] = use_subgroups(f);
    d.spec[4] = thread ? MODE_THREAD : MODE_GROUP;
    d.nspec = 5;
    return line_dispatch(out, "softmax", &d, &p, wg, thread);
}

/* ---------------------------------------------------------------- sort */

/* Mirrors Params of kernels/sort.comp. */
typedef struct vk_sort_params {
    uint64_t x, dst, keys, idx;
    int64_t kshape[8], kstride[8];
    int64_t nlines, n, xstride, inner, base;
    uint32_t P, k, j, kn;
    int32_t descending, arg;
} vk_sort_params;
_Static_assert(sizeof(vk_sort_params) == 224, "vk_sort_params must match sort.comp");

enum { SORT_LOCAL = 0, SORT_BLOCKS = 1, SORT_STEP = 2, SORT_MERGE = 3 };

/* Stable sort/argsort along params.axis; NaN last in either order. */
int vk_sort(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_array *x = node->inputs[0];
    if (check_dtype(out, x) != 0) return -1;
    const vk_device_facts *f = vk_facts(out->device.index);
    bool fmode = ty_dtype_is_float(x->dtype);
    int axis = node->params.axis;
    int64_t n = x->shape[axis];
    if (x->size == 0) return 0;
    if (n >= (int64_t)1 << 31) {
        return ty__error("[%s] axis of length %lld is too long for Vulkan",
                         ty_op_name(node->op), (long long)n);
    }

    vk_sort_params p;
    memset(&p, 0, sizeof p);
    vk_dims kept = dims_except(x, axis);
    for (int i = 0; i < kept.n; i++) {
        p.kshape[i] = kept.shape[i];
        p.kstride[i] = kept.stride[i];
    }
    p.kn = (uint32_t)kept.n;
    p.x = vk_address(x);
    p.dst = buffer_address(out->buffer);
    p.n = n;
    p.xstride = x->strides[axis];
    p.inner = 1;
    for (int k = axis + 1; k < x->ndim; k++) p.inner *= x->shape[k];
    p.nlines = x->size / n;
    p.base = node->params.index_base;
    p.P = next_pow2((uint64_t)n);
    p.descending = node->params.descending;
    p.arg = node->op == TY_OP_ARGSORT;

    /* shared capacity: the largest power of two of pairs that fits */
    uint32_t pair_bytes = fmode ? 8 : 12;
    uint32_t cap = 1;
    while ((uint64_t)cap * 2 * pair_bytes <= f->shared_memory) cap *= 2;

    vk_dispatch_desc d;
    memset(&d, 0, sizeof d);
    d.shader = "sort";
    d.spec[0] = fmode;
    d.spec[1] = x->dtype;
    d.spec[2] = out->dtype;
    d.nspec = 6;
    d.params = &p;
    d.params_size = sizeof p;
    uint32_t wg_cap = f->max_workgroup_size < 512 ? f->max_workgroup_size : 512;

    if (p.P <= cap) {
        /* short lines share one pipeline (SN 256) */
        uint32_t sn = p.P < 256 && cap >= 256 ? 256 : p.P;
        uint32_t wg = p.P / 2 < 32 ? 32 : p.P / 2;
        if (wg > wg_cap) wg = wg_cap;
        d.spec[3] = SORT_LOCAL;
        d.spec[4] = (int32_t)sn;
        d.spec[5] = (int32_t)(sn * (fmode ? 2 : 3));
        d.local_size = wg;
        d.reads[d.nreads++] = x->buffer;
        d.writes[d.nwrites++] = out->buffer;
        group_grid(out->device, (uint64_t)p.nlines, wg, d.groups);
        return vk_dispatch(out->device, &d);
    }

    /* global bitonic network over P per line in scratch */
    size_t total = (size_t)p.nlines * p.P;
    ty_buffer *keys = vk_scratch(out->device, total * 8);
    ty_buffer *idx = keys && !fmode ? vk_scratch(out->device, total * 4) : NULL;
    if (!keys || (!fmode && !idx)) return -1;
    p.keys = buffer_address(keys);
    p.idx = idx ? buffer_address(idx) : 0;
    uint32_t wg = cap / 2 < wg_cap ? cap / 2 : wg_cap;
    uint64_t nblocks = (uint64_t)p.nlines * (p.P / cap);
    d.spec[4] = (int32_t)cap;
    d.spec[5] = (int32_t)(cap * (fmode ? 2 : 3));

    d.spec[3] = SORT_BLOCKS;
    d.local_size = wg;
    d.nreads = d.nwrites = 0;
    d.reads[d.nreads++] = x->buffer;
    d.writes[d.nwrites++] = keys;
    if (idx) d.writes[d.nwrites++] = idx;
    group_grid(out->device, nblocks, wg, d.groups);
    if (vk_dispatch(out->device, &d) != 0) return -1;

    for (uint32_t k = 2 * cap; k <= p.P; k *= 2) {
        p.k = k;
        for (uint32_t jd = k / 2; jd >= cap; jd /= 2) {
            p.j = jd;
            d.spec[3] = SORT_STEP;
            d.local_size = 256;
            d.nreads = d.nwrites = 0;
            d.reads[d.nreads++] = keys;
            d.writes[d.nwrites++] = keys;
            if (idx) {
                d.reads[d.nreads++] = idx;
                d.writes[d.nwrites++] = idx;
            }
            vk_grid(out->device, (uint64_t)p.nlines * (p.P / 2), 256, d.groups);
            if (vk_dispatch(out->device, &d) != 0) return -1;
        }
        p.j = cap / 2;
        d.spec[3] = SORT_MERGE;
        d.local_size = wg;
        d.nreads = d.nwrites = 0;
        d.reads[d.nreads++] = keys;
        if (idx) d.reads[d.nreads++] = idx;
        if (k == p.P) {
            d.reads[d.nreads++] = x->buffer;
            d.writes[d.nwrites++] = out->buffer;
        } else {
            d.writes[d.nwrites++] = keys;
            if (idx) d.writes[d.nwrites++] = idx;
        }
        group_grid(out->device, nblocks, wg, d.groups);
        if (vk_dispatch(out->device, &d) != 0) return -1;
    }
    return 0;
}
