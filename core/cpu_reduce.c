/*
 * cpu_reduce.c -- CPU kernels of reductions (sum, prod, max, min, all, any),
 * arg-reductions (argmax, argmin), scans (cumsum, cumprod) and softmax.
 *
 * Floats accumulate in double, integers and bools in int64. Inputs may have
 * any strides; `out` is contiguous (see cpu.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* Elements gathered per step into a stack buffer. */
#define RUN_BLOCK 256
/* Neighbouring outputs folded together in column mode. */
#define COL_BLOCK 1024
/* Outputs are computed in parallel when the work passes this many elements. */
#define PARALLEL_WORK 32768

/* ---------------------------------------------------------------- loading */

/* Loads n elements data[off + j*stride] (element offsets) as doubles. */
static void load_run_f64(const void *data, ty_dtype dtype, int64_t off, int64_t stride,
                         int64_t n, double *dst)
{
    switch (dtype) {
    case TY_FLOAT32: {
        const float *p = (const float *)data + off;
        if (stride == 1) {
            for (int64_t j = 0; j < n; j++) dst[j] = p[j];
        } else {
            for (int64_t j = 0; j < n; j++) dst[j] = p[j * stride];
        }
        break;
    }
    case TY_FLOAT64: {
        const double *p = (const double *)data + off;
        for (int64_t j = 0; j < n; j++) dst[j] = p[j * stride];
        break;
    }
    case TY_INT32: {
        const int32_t *p = (const int32_t *)data + off;
        for (int64_t j = 0; j < n; j++) dst[j] = p[j * stride];
        break;
    }
    case TY_INT64: {
        const int64_t *p = (const int64_t *)data + off;
        for (int64_t j = 0; j < n; j++) dst[j] = (double)p[j * stride];
        break;
    }
    case TY_UINT8:
    case TY_BOOL: {
        const uint8_t *p = (const uint8_t *)data + off;
        for (int64_t j = 0; j < n; j++) dst[j] = p[j * stride];
        break;
    }
    default:
        for (int64_t j = 0; j < n; j++) dst[j] = ty__load_f64(data, dtype, off + j * stride);
        break;
    }
}

/* Loads n elements data[off + j*stride] as int64 (integer and bool dtypes). */
static void load_run_i64(const void *data, ty_dtype dtype, int64_t off, int64_t stride,
                         int64_t n, int64_t *dst)
{
    switch (dtype) {
    case TY_INT32: {
        const int32_t *p = (const int32_t *)data + off;
        for (int64_t j = 0; j < n; j++) dst[j] = p[j * stride];
        break;
    }
    case TY_INT64: {
        const int64_t *p = (const int64_t *)data + off;
        for (int64_t j = 0; j < n; j++) dst[j] = p[j * stride];
        break;
    }
    case TY_UINT8:
    case TY_BOOL: {
        const uint8_t *p = (const uint8_t *)data + off;
        for (int64_t j = 0; j < n; j++) dst[j] = p[j * stride];
        break;
    }
    default:
        for (int64_t j = 0; j < n; j++) dst[j] = ty__load_i64(data, dtype, off + j * stride);
        break;
    }
}

/* ---------------------------------------------------------------- layout */

/* A list of (size, stride) dimensions, size-1 dims dropped and mergeable
 * neighbours merged (outer stride == inner stride * inner size). */
typedef struct dim_list {
    int n;
    int64_t shape[TY_MAX_DIMS];
    int64_t strides[TY_MAX_DIMS];
} dim_list;

static void dims_push(dim_list *d, int64_t size, int64_t stride)
{
    if (size == 1) return;
    if (d->n > 0 && d->strides[d->n - 1] == stride * size) {
        d->shape[d->n - 1] *= size;
        d->strides[d->n - 1] = stride;
        return;
    }
    d->shape[d->n] = size;
    d->strides[d->n] = stride;
    d->n++;
}

static int64_t dims_size(const dim_list *d)
{
    int64_t n = 1;
    for (int i = 0; i < d->n; i++) n *= d->shape[i];
    return n;
}

/* Element offset (relative) of row-major linear index `lin` in d; fills the
 * coordinates when coord is not NULL. */
static int64_t dims_offset(const dim_list *d, int64_t lin, int64_t *coord)
{
    int64_t off = 0;
    for (int i = d->n - 1; i >= 0; i--) {
        int64_t c = lin % d->shape[i];
        lin /= d->shape[i];
        off += c * d->strides[i];
        if (coord) coord[i] = c;
    }
    return off;
}

/* Advances coord (row-major odometer over d's dims [0, upto)); returns the
 * change of offset. */
static int64_t dims_next(const dim_list *d, int upto, int64_t *coord)
{
    int64_t delta = 0;
    for (int i = upto - 1; i >= 0; i--) {
        coord[i]++;
        delta += d->strides[i];
        if (coord[i] < d->shape[i]) return delta;
        delta -= coord[i] * d->strides[i];
        coord[i] = 0;
    }
    return delta;
}

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* ---------------------------------------------------------------- reduce */

typedef struct reduce_ctx {
    ty_op op;
    bool fmode;                        /* accumulate in double (else int64) */
    const void *data;
    ty_dtype dtype;
    int64_t offset;                    /* x->offset */
    dim_list kept;                     /* output dims, row-major */
    dim_list red;                      /* reduced dims, innermost last */
    int64_t nred;                      /* elements reduced per output */
    void *out;
    ty_dtype out_dtype;
    /* split mode: `nsplit` chunks per output, partial results in part_* */
    int64_t nsplit;
    double *part_f;
    int64_t *part_i;
    /* column mode: block of the last kept dim per task */
    int64_t col_block;
} reduce_ctx;

static double f_identity(ty_op op)
{
    switch (op) {
    case TY_OP_PROD: case TY_OP_ALL: return 1.0;
    case TY_OP_MAX: return -INFINITY;
    case TY_OP_MIN: return INFINITY;
    default: return 0.0;
    }
}

static int64_t i_identity(ty_op op)
{
    switch (op) {
    case TY_OP_PROD: case TY_OP_ALL: return 1;
    case TY_OP_MAX: return INT64_MIN;
    case TY_OP_MIN: return INT64_MAX;
    default: return 0;
    }
}

/* Combines two partial results (double); MAX/MIN propagate NaN. */
static inline double f_combine(ty_op op, double a, double v)
{
    switch (op) {
    case TY_OP_SUM: return a + v;
    case TY_OP_PROD: return a * v;
    case TY_OP_MAX: return (v > a || v != v) && a == a ? v : a;
    case TY_OP_MIN: return (v < a || v != v) && a == a ? v : a;
    case TY_OP_ALL: return (a != 0 && v != 0) ? 1.0 : 0.0;
    case TY_OP_ANY: return (a != 0 || v != 0) ? 1.0 : 0.0;
    default: return a;
    }
}

static inline int64_t i_combine(ty_op op, int64_t a, int64_t v)
{
    switch (op) {
    case TY_OP_SUM: return (int64_t)((uint64_t)a + (uint64_t)v);
    case TY_OP_PROD: return (int64_t)((uint64_t)a * (uint64_t)v);
    case TY_OP_MAX: return v > a ? v : a;
    case TY_OP_MIN: return v < a ? v : a;
    case TY_OP_ALL: return a && v;
    case TY_OP_ANY: return a || v;
    default: return a;
    }
}

/* Folds n doubles into acc. The sum keeps 8 partial sums (vectorisable). */
static double f_fold(ty_op op, double acc, const double *v, int64_t n)
{
    switch (op) {
    case TY_OP_SUM: {
        double s[8] = {0};
        int64_t j = 0;
        for (; j + 8 <= n; j += 8) {
            for (int l = 0; l < 8; l++) s[l] += v[j + l];
        }
        for (; j < n; j++) s[0] += v[j];
        return acc + (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
    }
    case TY_OP_PROD:
        for (int64_t j = 0; j < n; j++) acc *= v[j];
        return acc;
    case TY_OP_MAX:
    case TY_OP_MIN:
        for (int64_t j = 0; j < n; j++) acc = f_combine(op, acc, v[j]);
        return acc;
    case TY_OP_ALL:
        for (int64_t j = 0; j < n && acc != 0; j++) if (v[j] == 0) acc = 0;
        return acc;
    case TY_OP_ANY:
        for (int64_t j = 0; j < n && acc == 0; j++) if (v[j] != 0) acc = 1;
        return acc;
    default:
        return acc;
    }
}

static int64_t i_fold(ty_op op, int64_t acc, const int64_t *v, int64_t n)
{
    for (int64_t j = 0; j < n; j++) acc = i_combine(op, acc, v[j]);
    return acc;
}

/* Sum of n contiguous floats in double, 8 partial sums. */
static double sum_f32_contiguous(const float *p, int64_t n)
{
    double s[8] = {0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        for (int l = 0; l < 8; l++) s[l] += p[j + l];
    }
    for (; j < n; j++) s[0] += p[j];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* Reduces reduced-positions [rbegin, rend) of the output whose input base
 * offset is `base`; returns the partial result through *f or *i. */
static void reduce_range(const reduce_ctx *c, int64_t base, int64_t rbegin, int64_t rend,
                         double *f, int64_t *i)
{
    double facc = f_identity(c->op);
    int64_t iacc = i_identity(c->op);
    double fbuf[RUN_BLOCK];
    int64_t ibuf[RUN_BLOCK];
    const dim_list *d = &c->red;
    int last = d->n - 1;
    int64_t inner = d->n > 0 ? d->shape[last] : 1;
    int64_t istride = d->n > 0 ? d->strides[last] : 0;
    int64_t coord[TY_MAX_DIMS];
    int64_t pos = rbegin;
    int64_t off = base + (d->n > 0 ? dims_offset(d, rbegin, coord) : 0);
    bool fast = c->op == TY_OP_SUM && c->dtype == TY_FLOAT32 && istride == 1 && c->fmode;
    while (pos < rend) {
        int64_t j0 = d->n > 0 ? coord[last] : 0;
        int64_t run = inner - j0;
        if (run > rend - pos) run = rend - pos;
        if (fast) {
            facc += sum_f32_contiguous((const float *)c->data + off, run);
        } else {
            for (int64_t j = 0; j < run; j += RUN_BLOCK) {
                int64_t m = run - j < RUN_BLOCK ? run - j : RUN_BLOCK;
                if (c->fmode) {
                    load_run_f64(c->data, c->dtype, off + j * istride, istride, m, fbuf);
                    facc = f_fold(c->op, facc, fbuf, m);
                } else {
                    load_run_i64(c->data, c->dtype, off + j * istride, istride, m, ibuf);
                    iacc = i_fold(c->op, iacc, ibuf, m);
                }
            }
        }
        pos += run;
        if (pos >= rend || d->n == 0) break;
        /* move to the start of the next innermost run */
        off += (run - 1) * istride;
        coord[last] = inner - 1;
        off += dims_next(d, d->n, coord);
    }
    *f = facc;
    *i = iacc;
}

static void store_result(const reduce_ctx *c, int64_t o, double f, int64_t i)
{
    if (c->fmode) ty__store_f64(c->out, c->out_dtype, o, f);
    else ty__store_i64(c->out, c->out_dtype, o, i);
}

/* Row mode: each output reduces its whole range; outputs [begin, end). */
static void reduce_rows_task(void *ctx, int64_t begin, int64_t end)
{
    const reduce_ctx *c = ctx;
    int64_t coord[TY_MAX_DIMS];
    int64_t base = c->offset + dims_offset(&c->kept, begin, coord);
    for (int64_t o = begin; o < end; o++) {
        double f;
        int64_t i;
        reduce_range(c, base, 0, c->nred, &f, &i);
        store_result(c, o, f, i);
        if (o + 1 < end) base += dims_next(&c->kept, c->kept.n, coord);
    }
}

/* Split mode: task t reduces chunk t % nsplit of output t / nsplit. */
static void reduce_split_task(void *ctx, int64_t begin, int64_t end)
{
    const reduce_ctx *c = ctx;
    for (int64_t t = begin; t < end; t++) {
        int64_t o = t / c->nsplit, s = t % c->nsplit;
        int64_t base = c->offset + dims_offset(&c->kept, o, NULL);
        int64_t rb = c->nred * s / c->nsplit, re = c->nred * (s + 1) / c->nsplit;
        reduce_range(c, base, rb, re, &c->part_f[t], &c->part_i[t]);
    }
}

/* Column mode: the last kept dim is the innermost in memory; a task folds a
 * block of `col_block` neighbouring outputs over every reduced position. */
static void reduce_cols_task(void *ctx, int64_t begin, int64_t end)
{
    const reduce_ctx *c = ctx;
    const dim_list *k = &c->kept;
    int64_t lastn = k->shape[k->n - 1], lasts = k->strides[k->n - 1];
    int64_t nblocks = (lastn + c->col_block - 1) / c->col_block;
    double facc[COL_BLOCK], fbuf[COL_BLOCK];
    int64_t iacc[COL_BLOCK], ibuf[COL_BLOCK];
    for (int64_t t = begin; t < end; t++) {
        int64_t outer = t / nblocks, blk = t % nblocks;
        int64_t j0 = blk * c->col_block;
        int64_t m = lastn - j0 < c->col_block ? lastn - j0 : c->col_block;
        int64_t o0 = outer * lastn + j0;
        int64_t base = c->offset + dims_offset(k, o0, NULL);
        for (int64_t j = 0; j < m; j++) {
            facc[j] = f_identity(c->op);
            iacc[j] = i_identity(c->op);
        }
        int64_t coord[TY_MAX_DIMS] = {0};
        int64_t roff = 0;
        for (int64_t r = 0; r < c->nred; r++) {
            if (c->fmode) {
                load_run_f64(c->data, c->dtype, base + roff, lasts, m, fbuf);
                if (c->op == TY_OP_SUM) {
                    for (int64_t j = 0; j < m; j++) facc[j] += fbuf[j];
                } else {
                    for (int64_t j = 0; j < m; j++) facc[j] = f_combine(c->op, facc[j], fbuf[j]);
                }
            } else {
                load_run_i64(c->data, c->dtype, base + roff, lasts, m, ibuf);
                for (int64_t j = 0; j < m; j++) iacc[j] = i_combine(c->op, iacc[j], ibuf[j]);
            }
            if (r + 1 < c->nred) roff += dims_next(&c->red, c->red.n, coord);
        }
        for (int64_t j = 0; j < m; j++) store_result(c, o0 + j, facc[j], iacc[j]);
    }
}

/* Sum, prod, max, min, all, any over params.axes of inputs[0]. */
int cpu_reduce(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_array *x = node->inputs[0];
    reduce_ctx c;
    memset(&c, 0, sizeof c);
    c.op = node->op;
    c.data = x->buffer->data;
    c.dtype = x->dtype;
    c.offset = x->offset;
    c.out = out->buffer->data;
    c.out_dtype = out->dtype;
    c.fmode = ty_dtype_is_float(x->dtype) || ty_dtype_is_float(out->dtype)
              || c.op == TY_OP_ALL || c.op == TY_OP_ANY;

    bool reduced[TY_MAX_DIMS] = {false};
    for (int i = 0; i < node->params.naxes; i++) reduced[node->params.axes[i]] = true;
    int64_t nout = 1;
    c.nred = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (reduced[d]) c.nred *= x->shape[d];
        else nout *= x->shape[d];
    }
    if (nout == 0) return 0;
    if (c.nred == 0) {
        for (int64_t o = 0; o < nout; o++) {
            store_result(&c, o, f_identity(c.op), i_identity(c.op));
        }
        return 0;
    }
    for (int d = 0; d < x->ndim; d++) {
        if (!reduced[d]) dims_push(&c.kept, x->shape[d], x->strides[d]);
    }
    /* reduced dims, largest |stride| first so the innermost run is tightest */
    int order[TY_MAX_DIMS], nr = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!reduced[d] || x->shape[d] == 1) continue;
        int p = nr++;
        while (p > 0 && abs64(x->strides[order[p - 1]]) < abs64(x->strides[d])) {
            order[p] = order[p - 1];
            p--;
        }
        order[p] = d;
    }
    for (int i = 0; i < nr; i++) dims_push(&c.red, x->shape[order[i]], x->strides[order[i]]);

    int nthreads = pool_num_threads();
    int64_t work = nout * c.nred;
    int64_t min_red_stride = INT64_MAX;
    for (int i = 0; i < c.red.n; i++) {
        if (abs64(c.red.strides[i]) < min_red_stride) min_red_stride = abs64(c.red.strides[i]);
    }
    if (c.kept.n > 0 && c.red.n > 0 && c.kept.shape[c.kept.n - 1] >= 16
        && abs64(c.kept.strides[c.kept.n - 1]) < min_red_stride) {
        /* column mode: e.g. sum over axis 0 of a row-major matrix */
        int64_t lastn = c.kept.shape[c.kept.n - 1];
        c.col_block = lastn < COL_BLOCK ? lastn : COL_BLOCK;
        int64_t ntasks = (nout / lastn) * ((lastn + c.col_block - 1) / c.col_block);
        int64_t grain = PARALLEL_WORK / (c.col_block * c.nred) + 1;
        pool_parallel_for(ntasks, grain, reduce_cols_task, &c);
        return 0;
    }
    if (nout < nthreads && c.nred >= 4 * PARALLEL_WORK && nthreads > 1) {
        /* few large reductions: split each, then combine the partials */
        int64_t nsplit = c.nred / PARALLEL_WORK;
        if (nsplit > 4 * nthreads) nsplit = 4 * nthreads;
        c.nsplit = nsplit;
        c.part_f = malloc(sizeof(double) * (size_t)(nout * nsplit));
        c.part_i = malloc(sizeof(int64_t) * (size_t)(nout * nsplit));
        if (!c.part_f || !c.part_i) {
            free(c.part_f);
            free(c.part_i);
            return ty__error("[%s] out of memory", ty_op_name(c.op));
        }
        pool_parallel_for(nout * nsplit, 1, reduce_split_task, &c);
        for (int64_t o = 0; o < nout; o++) {
            double f = c.part_f[o * nsplit];
            int64_t i = c.part_i[o * nsplit];
            for (int64_t s = 1; s < nsplit; s++) {
                f = f_combine(c.op, f, c.part_f[o * nsplit + s]);
                i = i_combine(c.op, i, c.part_i[o * nsplit + s]);
            }
            store_result(&c, o, f, i);
        }
        free(c.part_f);
        free(c.part_i);
        return 0;
    }
    int64_t grain = PARALLEL_WORK / c.nred + 1;
    if (work < PARALLEL_WORK) grain = nout;
    pool_parallel_for(nout, grain, reduce_rows_task, &c);
    return 0;
}

/* ---------------------------------------------------------------- lines */

/* Ops along one axis see the input as lines: outer x n x inner, where line
 * (o, i) starts at offset(o, i) and steps by the axis stride. The output is
 * contiguous with the same outer x n x inner layout (or outer x inner for
 * arg-reductions). */
typedef struct line_ctx {
    const ty_array *x;
    ty_array *out;
    ty_params params;
    ty_op op;
    int axis;
    int64_t n;                         /* length of the axis */
    int64_t inner;                     /* product of dims after the axis */
    dim_list outer_dims, inner_dims;   /* for offsets, unmerged sizes kept */
    int64_t xstride;                   /* stride of x along the axis */
    bool fmode;
    int failed;                        /* set by a task on allocation failure */
} line_ctx;

static void line_setup(line_ctx *c, ty_array *out)
{
    memset(c, 0, sizeof *c);
    c->out = out;
    c->x = out->node->inputs[0];
    c->params = out->node->params;
    c->op = out->node->op;
    c->axis = c->params.axis;
    const ty_array *x = c->x;
    c->n = x->shape[c->axis];
    c->xstride = x->strides[c->axis];
    c->inner = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (d < c->axis) dims_push(&c->outer_dims, x->shape[d], x->strides[d]);
        else if (d > c->axis) {
            dims_push(&c->inner_dims, x->shape[d], x->strides[d]);
            c->inner *= x->shape[d];
        }
    }
}

/* Input element offset of the start of line number `line` (o * inner + i). */
static int64_t line_offset(const line_ctx *c, int64_t line)
{
    int64_t o = line / c->inner, i = line % c->inner;
    return c->x->offset + dims_offset(&c->outer_dims, o, NULL)
           + dims_offset(&c->inner_dims, i, NULL);
}

static int64_t line_count(const line_ctx *c)
{
    return dims_size(&c->outer_dims) * c->inner;
}

static int64_t line_grain(const line_ctx *c)
{
    return PARALLEL_WORK / (c->n + 1) + 1;
}

/* ---------------------------------------------------------------- argmax */

static void arg_reduce_task(void *ctx, int64_t begin, int64_t end)
{
    line_ctx *c = ctx;
    const ty_array *x = c->x;
    bool is_max = c->op == TY_OP_ARGMAX;
    double fbuf[RUN_BLOCK];
    int64_t ibuf[RUN_BLOCK];
    for (int64_t line = begin; line < end; line++) {
        int64_t off = line_offset(c, line);
        int64_t best = 0;
        double fbest = 0;
        int64_t ibest = 0;
        bool found_nan = false;
        for (int64_t j0 = 0; j0 < c->n && !found_nan; j0 += RUN_BLOCK) {
            int64_t m = c->n - j0 < RUN_BLOCK ? c->n - j0 : RUN_BLOCK;
            int64_t start = off + j0 * c->xstride;
            if (c->fmode) {
                load_run_f64(x->buffer->data, x->dtype, start, c->xstride, m, fbuf);
                for (int64_t j = 0; j < m; j++) {
                    double v = fbuf[j];
                    if (v != v) {
                        best = j0 + j;
                        found_nan = true;
                        break;
                    }
                    if ((j0 == 0 && j == 0) || (is_max ? v > fbest : v < fbest)) {
                        fbest = v;
                        best = j0 + j;
                    }
                }
            } else {
                load_run_i64(x->buffer->data, x->dtype, start, c->xstride, m, ibuf);
                for (int64_t j = 0; j < m; j++) {
                    int64_t v = ibuf[j];
                    if ((j0 == 0 && j == 0) || (is_max ? v > ibest : v < ibest)) {
                        ibest = v;
                        best = j0 + j;
                    }
                }
            }
        }
        ty__store_i64(c->out->buffer->data, c->out->dtype, line, best + c->params.index_base);
    }
}

/* Argmax/argmin along params.axis: first extreme, NaN counts as extreme. */
int cpu_arg_reduce(ty_array *out)
{
    line_ctx c;
    line_setup(&c, out);
    c.fmode = ty_dtype_is_float(c.x->dtype);
    int64_t nlines = line_count(&c);
    if (nlines == 0 || out->size == 0) return 0;
    if (c.n == 0) return ty__error("[%s] cannot reduce an empty axis", ty_op_name(c.op));
    pool_parallel_for(nlines, line_grain(&c), arg_reduce_task, &c);
    return 0;
}

/* ---------------------------------------------------------------- scans */

static void scan_task(void *ctx, int64_t begin, int64_t end)
{
    line_ctx *c = ctx;
    const ty_array *x = c->x;
    void *odata = c->out->buffer->data;
    ty_dtype odt = c->out->dtype;
    bool prod = c->op == TY_OP_CUMPROD, rev = c->params.reverse;
    double fbuf[RUN_BLOCK];
    int64_t ibuf[RUN_BLOCK];
    for (int64_t line = begin; line < end; line++) {
        int64_t off = line_offset(c, line);
        int64_t o = line / c->inner, i = line % c->inner;
        int64_t obase = o * c->n * c->inner + i;
        double facc = prod ? 1.0 : 0.0;
        int64_t iacc = prod ? 1 : 0;
        for (int64_t b = 0; b < c->n; b += RUN_BLOCK) {
            int64_t m = c->n - b < RUN_BLOCK ? c->n - b : RUN_BLOCK;
            /* in reverse, block b covers positions n-1-b down to n-b-m */
            int64_t first = rev ? c->n - 1 - b : b;
            int64_t step = rev ? -c->xstride : c->xstride;
            int64_t ostep = rev ? -c->inner : c->inner;
            int64_t ooff = obase + first * c->inner;
            if (c->fmode) {
                load_run_f64(x->buffer->data, x->dtype, off + first * c->xstride, step, m,
                             fbuf);
                for (int64_t j = 0; j < m; j++) {
                    facc = prod ? facc * fbuf[j] : facc + fbuf[j];
                    ty__store_f64(odata, odt, ooff + j * ostep, facc);
                }
            } else {
                load_run_i64(x->buffer->data, x->dtype, off + first * c->xstride, step, m,
                             ibuf);
                for (int64_t j = 0; j < m; j++) {
                    iacc = prod ? (int64_t)((uint64_t)iacc * (uint64_t)ibuf[j])
                                : (int64_t)((uint64_t)iacc + (uint64_t)ibuf[j]);
                    ty__store_i64(odata, odt, ooff + j * ostep, iacc);
                }
            }
        }
    }
}

/* Inclusive cumsum/cumprod along params.axis (params.reverse from the end). */
int cpu_scan(ty_array *out)
{
    line_ctx c;
    line_setup(&c, out);
    c.fmode = ty_dtype_is_float(c.x->dtype) || ty_dtype_is_float(out->dtype);
    int64_t nlines = line_count(&c);
    if (nlines == 0 || c.n == 0) return 0;
    pool_parallel_for(nlines, line_grain(&c), scan_task, &c);
    return 0;
}

/* ---------------------------------------------------------------- softmax */

static void softmax_task(void *ctx, int64_t begin, int64_t end)
{
    line_ctx *c = ctx;
    const ty_array *x = c->x;
    void *odata = c->out->buffer->data;
    ty_dtype odt = c->out->dtype;
    bool logsm = c->op == TY_OP_LOG_SOFTMAX;
    double stack[RUN_BLOCK];
    double *v = c->n <= RUN_BLOCK ? stack : malloc(sizeof(double) * (size_t)c->n);
    if (!v) {
        __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    for (int64_t line = begin; line < end; line++) {
        int64_t off = line_offset(c, line);
        int64_t o = line / c->inner, i = line % c->inner;
        int64_t obase = o * c->n * c->inner + i;
        load_run_f64(x->buffer->data, x->dtype, off, c->xstride, c->n, v);
        double mx = -INFINITY;
        for (int64_t j = 0; j < c->n; j++) {
            if (v[j] > mx || v[j] != v[j]) mx = v[j];
            if (mx != mx) break;
        }
        if (isinf(mx)) mx = mx > 0 ? mx : 0;   /* all -inf: exp(-inf) = 0 */
        double s = 0;
        if (logsm) {
            for (int64_t j = 0; j < c->n; j++) s += exp(v[j] - mx);
            double shift = mx + log(s);
            for (int64_t j = 0; j < c->n; j++) {
                ty__store_f64(odata, odt, obase + j * c->inner, v[j] - shift);
            }
        } else {
            for (int64_t j = 0; j < c->n; j++) {
                v[j] = exp(v[j] - mx);
                s += v[j];
            }
            double inv = 1.0 / s;
            for (int64_t j = 0; j < c->n; j++) {
                ty__store_f64(odata, odt, obase + j * c->inner, v[j] * inv);
            }
        }
    }
    if (v != stack) free(v);
}

/* Softmax/log-softmax along params.axis, stable (max subtracted), in double. */
int cpu_softmax(ty_array *out)
{
    line_ctx c;
    line_setup(&c, out);
    int64_t nlines = line_count(&c);
    if (nlines == 0 || c.n == 0) return 0;
    pool_parallel_for(nlines, line_grain(&c), softmax_task, &c);
    if (c.failed) return ty__error("[%s] out of memory", ty_op_name(c.op));
    return 0;
}
