/*
 * cpu_index.c -- CPU kernels of data movement: concatenate, pad, take,
 * take_along_axis, scatter_add, slice_update, sort and argsort.
 *
 * Inputs may have any strides; `out` is contiguous (see cpu.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* Elements per task, roughly, when splitting copies across threads. */
#define PARALLEL_WORK 32768

/* ---------------------------------------------------------------- copies */

/* A strided view for copying: data, dtype, element offset, strides. */
typedef struct view {
    void *data;
    ty_dtype dtype;
    int64_t offset;
    const int64_t *strides;
} view;

static view view_of(const ty_array *a)
{
    view v = {a->buffer->data, a->dtype, a->offset, a->strides};
    return v;
}

/* Copies n elements src[soff + j*ss] to dst[doff + j*ds], converting the
 * dtype when they differ (integers through int64, else through double). */
static void copy_run(const view *dst, int64_t doff, int64_t ds, const view *src,
                     int64_t soff, int64_t ss, int64_t n)
{
    if (dst->dtype == src->dtype) {
        size_t es = ty_dtype_size(dst->dtype);
        char *d = (char *)dst->data + doff * (int64_t)es;
        const char *s = (const char *)src->data + soff * (int64_t)es;
        if (ds == 1 && ss == 1) {
            memcpy(d, s, (size_t)n * es);
            return;
        }
        switch (es) {
        case 1:
            for (int64_t j = 0; j < n; j++) d[j * ds] = s[j * ss];
            return;
        case 2:
            for (int64_t j = 0; j < n; j++) {
                ((uint16_t *)d)[j * ds] = ((const uint16_t *)s)[j * ss];
            }
            return;
        case 4:
            for (int64_t j = 0; j < n; j++) {
                ((uint32_t *)d)[j * ds] = ((const uint32_t *)s)[j * ss];
            }
            return;
        default:
            for (int64_t j = 0; j < n; j++) {
                memcpy(d + j * ds * (int64_t)es, s + j * ss * (int64_t)es, es);
            }
            return;
        }
    }
    bool ints = !ty_dtype_is_float(dst->dtype) && !ty_dtype_is_float(src->dtype);
    for (int64_t j = 0; j < n; j++) {
        if (ints) {
            ty__store_i64(dst->data, dst->dtype, doff + j * ds,
                          ty__load_i64(src->data, src->dtype, soff + j * ss));
        } else {
            ty__store_f64(dst->data, dst->dtype, doff + j * ds,
                          ty__load_f64(src->data, src->dtype, soff + j * ss));
        }
    }
}

typedef struct copy_ctx {
    const view *dst, *src;
    int ndim;
    const int64_t *shape;
    int64_t nrows;                     /* product of shape[0 .. ndim-1) */
} copy_ctx;

/* Copies rows [begin, end) (all dims but the last) of a copy_ctx. */
static void copy_rows_task(void *ctx, int64_t begin, int64_t end)
{
    const copy_ctx *c = ctx;
    int nd = c->ndim;
    int64_t last = nd > 0 ? c->shape[nd - 1] : 1;
    int64_t ds = nd > 0 ? c->dst->strides[nd - 1] : 0;
    int64_t ss = nd > 0 ? c->src->strides[nd - 1] : 0;
    for (int64_t r = begin; r < end; r++) {
        int64_t doff = c->dst->offset, soff = c->src->offset, rem = r;
        for (int d = nd - 2; d >= 0; d--) {
            int64_t i = rem % c->shape[d];
            rem /= c->shape[d];
            doff += i * c->dst->strides[d];
            soff += i * c->src->strides[d];
        }
        copy_run(c->dst, doff, ds, c->src, soff, ss, last);
    }
}

/* Copies the strided region src (shape) into dst (same shape, own strides
 * and offset), in parallel over rows when large. */
static void copy_strided(const view *dst, const view *src, int ndim, const int64_t *shape)
{
    int64_t nrows = 1;
    for (int d = 0; d + 1 < ndim; d++) nrows *= shape[d];
    int64_t last = ndim > 0 ? shape[ndim - 1] : 1;
    if (nrows == 0 || last == 0) return;
    copy_ctx c = {dst, src, ndim, shape, nrows};
    pool_parallel_for(nrows, PARALLEL_WORK / last + 1, copy_rows_task, &c);
}

/* The contiguous strides of out, as a view. */
static view out_view(ty_array *out)
{
    view v = {out->buffer->data, out->dtype, 0, out->strides};
    return v;
}

/* Copies input a (same shape as out) into out. */
static void copy_whole(ty_array *out, const ty_array *a)
{
    view d = out_view(out), s = view_of(a);
    copy_strided(&d, &s, out->ndim, out->shape);
}

/* ---------------------------------------------------------------- concat */

/* Concatenates inputs along params.axis into out. */
int cpu_concatenate(ty_array *out)
{
    const ty_node *node = out->node;
    int axis = node->params.axis;
    int64_t pos = 0;
    for (int i = 0; i < node->ninputs; i++) {
        const ty_array *a = node->inputs[i];
        view d = out_view(out), s = view_of(a);
        d.offset = pos * out->strides[axis];
        copy_strided(&d, &s, a->ndim, a->shape);
        pos += a->shape[axis];
    }
    return 0;
}

/* ---------------------------------------------------------------- pad */

/* Sets n contiguous elements of out from `first` to value. */
static void fill_value(ty_array *out, int64_t first, int64_t n, double value)
{
    if (n <= 0) return;
    size_t es = ty_dtype_size(out->dtype);
    char *d = (char *)out->buffer->data + first * (int64_t)es;
    ty__store_f64(d, out->dtype, 0, value);
    int64_t done = 1;
    while (done < n) {
        int64_t chunk = done < n - done ? done : n - done;
        memcpy(d + done * (int64_t)es, d, (size_t)chunk * es);
        done += chunk;
    }
}

/* Pads inputs[0] with params.start (before) / params.stop (after) widths
 * filled with params.value. */
int cpu_pad(ty_array *out)
{
    const ty_array *a = out->node->inputs[0];
    const ty_params *p = &out->node->params;
    if (out->size == 0) return 0;
    if (a->size < out->size) fill_value(out, 0, out->size, p->value);
    if (a->size == 0) return 0;
    view d = out_view(out), s = view_of(a);
    for (int k = 0; k < out->ndim; k++) d.offset += p->start[k] * out->strides[k];
    copy_strided(&d, &s, a->ndim, a->shape);
    return 0;
}

/* ---------------------------------------------------------------- take */

/* Resolves index v (as given) against dim; -1 when out of range. */
static int64_t resolve_index(int64_t v, int base, int64_t dim)
{
    int64_t j = v < 0 ? v + dim : v - base;   /* -1 is the last in either base */
    return j >= 0 && j < dim ? j : -1;
}

/* Loads idx's elements in row-major order into dst (int64). */
static void load_indices(const ty_array *idx, int64_t *dst)
{
    int64_t coord[TY_MAX_DIMS] = {0};
    int64_t off = idx->offset;
    for (int64_t t = 0; t < idx->size; t++) {
        dst[t] = ty__load_i64(idx->buffer->data, idx->dtype, off);
        for (int d = idx->ndim - 1; d >= 0; d--) {
            coord[d]++;
            off += idx->strides[d];
            if (coord[d] < idx->shape[d]) break;
            off -= coord[d] * idx->strides[d];
            coord[d] = 0;
        }
    }
}

/* Checks every index of pos (n of them) against dim, replacing each by its
 * resolved value; -1 + error naming the first bad one. */
static int resolve_all(const char *op, int64_t *pos, int64_t n, int base, int axis,
                       int64_t dim)
{
    for (int64_t t = 0; t < n; t++) {
        int64_t j = resolve_index(pos[t], base, dim);
        if (j < 0) {
            return ty__index_error(op, pos[t], axis + base, dim, base);
        }
        pos[t] = j;
    }
    return 0;
}

typedef struct take_ctx {
    ty_array *out;
    const ty_array *a;
    const int64_t *pos;                /* resolved indices */
    int64_t nidx;
    int axis;
    int64_t inner;                     /* elements per (outer, index) block */
} take_ctx;

/* Copies blocks [begin, end), block b = (outer o, index t). */
static void take_task(void *ctx, int64_t begin, int64_t end)
{
    const take_ctx *c = ctx;
    const ty_array *a = c->a;
    int ninner = a->ndim - c->axis - 1;
    view s = view_of(a), d = out_view(c->out);
    int64_t dstrides[TY_MAX_DIMS];
    ty__contiguous_strides(ninner, a->shape + c->axis + 1, dstrides);
    d.strides = dstrides;
    s.strides = a->strides + c->axis + 1;
    for (int64_t b = begin; b < end; b++) {
        int64_t o = b / c->nidx, t = b % c->nidx, rem = o;
        int64_t soff = a->offset + c->pos[t] * a->strides[c->axis];
        for (int k = c->axis - 1; k >= 0; k--) {
            soff += (rem % a->shape[k]) * a->strides[k];
            rem /= a->shape[k];
        }
        view sb = s, db = d;
        sb.offset = soff;
        db.offset = b * c->inner;
        if (ninner == 0) {
            copy_run(&db, db.offset, 1, &sb, soff, 1, 1);
        } else {
            copy_rows_task(&(copy_ctx){&db, &sb, ninner, a->shape + c->axis + 1, 0}, 0,
                           c->inner / a->shape[a->ndim - 1]);
        }
    }
}

static int take(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_array *a = node->inputs[0], *idx = node->inputs[1];
    int axis = node->params.axis;
    int64_t dim = a->shape[axis];
    int64_t *pos = malloc(sizeof(int64_t) * (size_t)(idx->size > 0 ? idx->size : 1));
    if (!pos) return ty__error("[take] out of memory");
    load_indices(idx, pos);
    if (resolve_all("take", pos, idx->size, node->params.index_base, axis, dim) != 0) {
        free(pos);
        return -1;
    }
    take_ctx c = {out, a, pos, idx->size, axis, 1};
    int64_t outer = 1;
    for (int k = 0; k < axis; k++) outer *= a->shape[k];
    for (int k = axis + 1; k < a->ndim; k++) c.inner *= a->shape[k];
    int64_t nblocks = outer * idx->size;
    if (nblocks > 0 && c.inner > 0) {
        pool_parallel_for(nblocks, PARALLEL_WORK / (c.inner + 16) + 1, take_task, &c);
    }
    free(pos);
    return 0;
}

typedef struct along_ctx {
    ty_array *out;
    const ty_array *a, *idx;
    int axis;
    int base;
} along_ctx;

/* Elements [begin, end) of out for take_along_axis (indices pre-checked). */
static void along_task(void *ctx, int64_t begin, int64_t end)
{
    const along_ctx *c = ctx;
    const ty_array *a = c->a, *idx = c->idx;
    int nd = c->out->ndim;
    int64_t dim = a->shape[c->axis];
    view s = view_of(a), d = out_view(c->out);
    for (int64_t e = begin; e < end; e++) {
        int64_t rem = e, aoff = a->offset, ioff = idx->offset, j = 0;
        int64_t coord[TY_MAX_DIMS];
        for (int k = nd - 1; k >= 0; k--) {
            coord[k] = rem % c->out->shape[k];
            rem /= c->out->shape[k];
            ioff += coord[k] * idx->strides[k];
            if (k != c->axis) aoff += coord[k] * a->strides[k];
        }
        j = resolve_index(ty__load_i64(idx->buffer->data, idx->dtype, ioff), c->base, dim);
        aoff += j * a->strides[c->axis];
        copy_run(&d, e, 1, &s, aoff, 1, 1);
    }
}

static int take_along_axis(ty_array *out)
{
    const ty_node *node = out->node;
    along_ctx c = {out, node->inputs[0], node->inputs[1], node->params.axis,
                   node->params.index_base};
    int64_t *pos = malloc(sizeof(int64_t) * (size_t)(c.idx->size > 0 ? c.idx->size : 1));
    if (!pos) return ty__error("[take_along_axis] out of memory");
    load_indices(c.idx, pos);
    int rc = resolve_all("take_along_axis", pos, c.idx->size, c.base, c.axis,
                         c.a->shape[c.axis]);
    free(pos);
    if (rc != 0) return -1;
    if (out->size > 0) pool_parallel_for(out->size, PARALLEL_WORK / 8, along_task, &c);
    return 0;
}

/* Take (NumPy take along an axis) and take_along_axis (gather). */
int cpu_take(ty_array *out)
{
    return out->node->op == TY_OP_TAKE ? take(out) : take_along_axis(out);
}

/* ---------------------------------------------------------------- scatter */

/* out = a; out[p with axis := idx[p]] += src[p] for every position p of idx,
 * in row-major order. */
int cpu_scatter_add(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_array *a = node->inputs[0], *idx = node->inputs[1], *src = node->inputs[2];
    int axis = node->params.axis, base = node->params.index_base;
    int64_t dim = out->shape[axis];
    copy_whole(out, a);
    if (idx->size == 0) return 0;
    bool fmode = ty_dtype_is_float(out->dtype);
    int nd = idx->ndim;
    int64_t coord[TY_MAX_DIMS] = {0};
    int64_t ioff = idx->offset, soff = src->offset, ooff = 0;
    void *od = out->buffer->data;
    for (int64_t t = 0; t < idx->size; t++) {
        int64_t v = ty__load_i64(idx->buffer->data, idx->dtype, ioff);
        int64_t j = resolve_index(v, base, dim);
        if (j < 0) {
            return ty__index_error("scatter_add", v, axis + base, dim, base);
        }
        int64_t e = ooff + j * out->strides[axis];
        if (fmode) {
            double x = ty__load_f64(src->buffer->data, src->dtype, soff);
            ty__store_f64(od, out->dtype, e, ty__load_f64(od, out->dtype, e) + x);
        } else {
            int64_t x = ty__load_i64(src->buffer->data, src->dtype, soff);
            int64_t y = ty__load_i64(od, out->dtype, e);
            ty__store_i64(od, out->dtype, e, (int64_t)((uint64_t)x + (uint64_t)y));
        }
        for (int d = nd - 1; d >= 0; d--) {
            coord[d]++;
            ioff += idx->strides[d];
            soff += src->strides[d];
            if (d != axis) ooff += out->strides[d];
            if (coord[d] < idx->shape[d]) break;
            ioff -= coord[d] * idx->strides[d];
            soff -= coord[d] * src->strides[d];
            if (d != axis) ooff -= coord[d] * out->strides[d];
            coord[d] = 0;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- update */

/* Number of elements start, start+step, ... before stop (Python range). */
static int64_t range_len(int64_t start, int64_t stop, int64_t step)
{
    if (step > 0) return stop > start ? (stop - start + step - 1) / step : 0;
    return start > stop ? (start - stop - step - 1) / -step : 0;
}

/* out = a with the region params.start/stop/step overwritten by v. */
int cpu_slice_update(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_array *a = node->inputs[0], *v = node->inputs[1];
    const ty_params *p = &node->params;
    copy_whole(out, a);
    view d = out_view(out), s = view_of(v);
    int64_t dstrides[TY_MAX_DIMS];
    for (int k = 0; k < out->ndim; k++) {
        if (p->step[k] == 0 || range_len(p->start[k], p->stop[k], p->step[k]) != v->shape[k]) {
            return ty__error("[slice_update] update region does not match the value's shape");
        }
        d.offset += p->start[k] * out->strides[k];
        dstrides[k] = out->strides[k] * p->step[k];
    }
    d.strides = dstrides;
    if (v->size > 0) copy_strided(&d, &s, v->ndim, v->shape);
    return 0;
}

/* ---------------------------------------------------------------- sort */

typedef struct sort_ctx {
    ty_array *out;
    const ty_array *x;
    int axis;
    int64_t n, inner;
    bool descending, fmode, arg;
    int base;
    int failed;
} sort_ctx;

/* Whether key a goes strictly before key b (NaN last in both orders). */
static inline bool f_before(double a, double b, bool desc)
{
    if (a != a) return false;
    if (b != b) return true;
    return desc ? a > b : a < b;
}

static inline bool i_before(int64_t a, int64_t b, bool desc)
{
    return desc ? a > b : a < b;
}

/* Stable merge sort of the permutation idx[0..n) by keys (fkeys or ikeys);
 * tmp has room for n indices. */
static void merge_sort(int64_t *idx, int64_t *tmp, int64_t n, const double *fkeys,
                       const int64_t *ikeys, bool desc)
{
    /* insertion sort of runs of 16, then bottom-up merges */
    const int64_t run = 16;
    for (int64_t lo = 0; lo < n; lo += run) {
        int64_t hi = lo + run < n ? lo + run : n;
        for (int64_t i = lo + 1; i < hi; i++) {
            int64_t v = idx[i], j = i;
            while (j > lo && (fkeys ? f_before(fkeys[v], fkeys[idx[j - 1]], desc)
                                    : i_before(ikeys[v], ikeys[idx[j - 1]], desc))) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = v;
        }
    }
    int64_t *src = idx, *dst = tmp;
    for (int64_t w = run; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                bool right = fkeys ? f_before(fkeys[src[j]], fkeys[src[i]], desc)
                                   : i_before(ikeys[src[j]], ikeys[src[i]], desc);
                dst[o++] = right ? src[j++] : src[i++];
            }
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        int64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != idx) memcpy(idx, src, sizeof(int64_t) * (size_t)n);
}

/* An unsigned key whose order is the sort order: NaN last in both orders,
 * -0 equal to +0 (so ties stay in input order). */
static inline uint64_t order_key_f(double v, bool desc)
{
    if (v != v) return UINT64_MAX;
    if (v == 0) v = 0;
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    b = (b >> 63) ? ~b : b | ((uint64_t)1 << 63);
    return desc ? ~b : b;
}

static inline uint64_t order_key_i(int64_t v, bool desc)
{
    uint64_t b = (uint64_t)v ^ ((uint64_t)1 << 63);
    return desc ? ~b : b;
}

/* Stable LSD radix sort of idx[0..n) by keys[0..n) (8-bit digits; digits
 * that all keys share are skipped). tmp_keys and tmp_idx hold n each. */
static void radix_sort(uint64_t *keys, int64_t *idx, uint64_t *tmp_keys, int64_t *tmp_idx,
                       int64_t n)
{
    for (int shift = 0; shift < 64; shift += 8) {
        int64_t count[257] = {0};
        for (int64_t i = 0; i < n; i++) count[((keys[i] >> shift) & 255) + 1]++;
        bool one_bucket = false;
        for (int d = 1; d <= 256; d++) one_bucket = one_bucket || count[d] == n;
        if (one_bucket) continue;
        for (int d = 1; d <= 256; d++) count[d] += count[d - 1];
        for (int64_t i = 0; i < n; i++) {
            int64_t o = count[(keys[i] >> shift) & 255]++;
            tmp_keys[o] = keys[i];
            tmp_idx[o] = idx[i];
        }
        memcpy(keys, tmp_keys, sizeof *keys * (size_t)n);
        memcpy(idx, tmp_idx, sizeof *idx * (size_t)n);
    }
}

/* Rows at least this long are radix sorted; shorter ones merge sorted. */
#define RADIX_MIN 256

static void sort_task(void *ctx, int64_t begin, int64_t end)
{
    sort_ctx *c = ctx;
    const ty_array *x = c->x;
    int64_t n = c->n;
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)n * 2);
    void *keys = malloc(8 * (size_t)n);
    uint64_t *okeys = n >= RADIX_MIN ? malloc(sizeof(uint64_t) * (size_t)n * 2) : NULL;
    if (!idx || !keys || (n >= RADIX_MIN && !okeys)) {
        free(idx);
        free(keys);
        free(okeys);
        __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    double *fkeys = c->fmode ? keys : NULL;
    int64_t *ikeys = c->fmode ? NULL : keys;
    int64_t stride = x->strides[c->axis];
    void *od = c->out->buffer->data;
    for (int64_t line = begin; line < end; line++) {
        int64_t o = line / c->inner, i = line % c->inner, rem = i, off = x->offset;
        for (int k = x->ndim - 1; k > c->axis; k--) {
            off += (rem % x->shape[k]) * x->strides[k];
            rem /= x->shape[k];
        }
        rem = o;
        for (int k = c->axis - 1; k >= 0; k--) {
            off += (rem % x->shape[k]) * x->strides[k];
            rem /= x->shape[k];
        }
        for (int64_t j = 0; j < n; j++) {
            idx[j] = j;
            if (c->fmode) fkeys[j] = ty__load_f64(x->buffer->data, x->dtype, off + j * stride);
            else ikeys[j] = ty__load_i64(x->buffer->data, x->dtype, off + j * stride);
        }
        if (okeys) {
            for (int64_t j = 0; j < n; j++)
                okeys[j] = c->fmode ? order_key_f(fkeys[j], c->descending)
                                    : order_key_i(ikeys[j], c->descending);
            radix_sort(okeys, idx, okeys + n, idx + n, n);
        } else {
            merge_sort(idx, idx + n, n, fkeys, ikeys, c->descending);
        }
        int64_t obase = o * n * c->inner + i;
        for (int64_t j = 0; j < n; j++) {
            int64_t e = obase + j * c->inner;
            if (c->arg) ty__store_i64(od, c->out->dtype, e, idx[j] + c->base);
            else if (c->fmode) ty__store_f64(od, c->out->dtype, e, fkeys[idx[j]]);
            else ty__store_i64(od, c->out->dtype, e, ikeys[idx[j]]);
        }
    }
    free(idx);
    free(keys);
    free(okeys);
}

/* Stable sort/argsort along params.axis; NaN last in either order. */
int cpu_sort(ty_array *out)
{
    const ty_node *node = out->node;
    sort_ctx c;
    memset(&c, 0, sizeof c);
    c.out = out;
    c.x = node->inputs[0];
    c.axis = node->params.axis;
    c.n = c.x->shape[c.axis];
    c.inner = 1;
    for (int k = c.axis + 1; k < c.x->ndim; k++) c.inner *= c.x->shape[k];
    c.descending = node->params.descending;
    c.fmode = ty_dtype_is_float(c.x->dtype);
    c.arg = node->op == TY_OP_ARGSORT;
    c.base = node->params.index_base;
    if (c.x->size == 0) return 0;
    int64_t nlines = c.x->size / c.n;
    pool_parallel_for(nlines, PARALLEL_WORK / (c.n * 4 + 1) + 1, sort_task, &c);
    if (c.failed) return ty__error("[%s] out of memory", ty_op_name(node->op));
    return 0;
}
