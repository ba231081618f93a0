/* ops_shape.c -- shape, slicing, joining, indexing and sorting constructors. */
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static ty_array *view(ty_op op, ty_array *a, const ty_params *p, int ndim,
                      const int64_t *shape)
{
    return ty__array_new_node(op, 1, &a, p, ndim, shape, a->dtype, a->device);
}

ty_array *ty_reshape(ty_array *a, int ndim, const int64_t *shape)
{
    if (ty__check_inputs("reshape", &a, 1) != 0) return NULL;
    if (ndim < 0 || ndim > TY_MAX_DIMS)
        return ty__error_null("[reshape] %d dimensions (at most %d are supported)", ndim,
                              TY_MAX_DIMS);
    int64_t s[TY_MAX_DIMS], known = 1;
    int infer = -1;
    char sa[TY_SHAPE_BUF], sb[TY_SHAPE_BUF];
    for (int d = 0; d < ndim; d++) {
        s[d] = shape[d];
        if (s[d] == -1 && infer < 0) infer = d;
        else if (s[d] < 0)
            return ty__error_null("[reshape] invalid shape %s",
                                  ty__shape_str(ndim, shape, sb, sizeof sb));
        else known *= s[d];
    }
    if (infer >= 0) {
        if (known == 0 || a->size % known != 0)
            return ty__error_null("[reshape] cannot reshape an array of shape %s into %s",
                                  ty__shp(a, sa), ty__shape_str(ndim, shape, sb, sizeof sb));
        s[infer] = a->size / known;
    } else if (known != a->size) {
        return ty__error_null("[reshape] cannot reshape an array of shape %s (size %lld) "
                              "into %s", ty__shp(a, sa), (long long)a->size,
                              ty__shape_str(ndim, shape, sb, sizeof sb));
    }
    if (ty__same_shape(a, ndim, s)) return ty_retain(a);
    return view(TY_OP_RESHAPE, a, NULL, ndim, s);
}

ty_array *ty_transpose(ty_array *a, const int *perm)
{
    if (ty__check_inputs("transpose", &a, 1) != 0) return NULL;
    ty_params p = {0};
    bool seen[TY_MAX_DIMS] = {0}, identity = true;
    int64_t shape[TY_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) {
        int ax = perm ? perm[d] : a->ndim - 1 - d;
        int r = ty__axis("transpose", ax, a->ndim);
        if (r < 0) return NULL;
        if (seen[r]) return ty__error_null("[transpose] axis %d is repeated in the "
                                           "permutation", ty__ax(ax));
        seen[r] = true;
        p.axes[d] = r;
        shape[d] = a->shape[r];
        identity = identity && r == d;
    }
    p.naxes = a->ndim;
    if (identity) return ty_retain(a);
    return view(TY_OP_TRANSPOSE, a, &p, a->ndim, shape);
}

ty_array *ty_swapaxes(ty_array *a, int axis1, int axis2)
{
    if (ty__check_inputs("swapaxes", &a, 1) != 0) return NULL;
    int x = ty__axis("swapaxes", axis1, a->ndim), y = ty__axis("swapaxes", axis2, a->ndim);
    if (x < 0 || y < 0) return NULL;
    int perm[TY_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) perm[d] = d;
    perm[x] = y;
    perm[y] = x;
    return ty_transpose(a, perm);
}

ty_array *ty_broadcast_to(ty_array *a, int ndim, const int64_t *shape)
{
    if (ty__check_inputs("broadcast_to", &a, 1) != 0) return NULL;
    char sa[TY_SHAPE_BUF], sb[TY_SHAPE_BUF];
    if (ndim < a->ndim || ndim > TY_MAX_DIMS)
        return ty__error_null("[broadcast_to] cannot broadcast %s to %s", ty__shp(a, sa),
                              ty__shape_str(ndim, shape, sb, sizeof sb));
    for (int d = 0; d < a->ndim; d++) {
        int64_t s = a->shape[d], t = shape[ndim - a->ndim + d];
        if (s != t && s != 1)
            return ty__error_null("[broadcast_to] cannot broadcast %s to %s", ty__shp(a, sa),
                                  ty__shape_str(ndim, shape, sb, sizeof sb));
    }
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0)
            return ty__error_null("[broadcast_to] invalid shape %s",
                                  ty__shape_str(ndim, shape, sb, sizeof sb));
    if (ty__same_shape(a, ndim, shape)) return ty_retain(a);
    return view(TY_OP_BROADCAST_TO, a, NULL, ndim, shape);
}

ty_array *ty_squeeze(ty_array *a, const int *axes, int naxes)
{
    if (ty__check_inputs("squeeze", &a, 1) != 0) return NULL;
    bool drop[TY_MAX_DIMS] = {0};
    if (naxes == 0 || !axes) {
        for (int d = 0; d < a->ndim; d++) drop[d] = a->shape[d] == 1;
    } else {
        for (int i = 0; i < naxes; i++) {
            int r = ty__axis("squeeze", axes[i], a->ndim);
            if (r < 0) return NULL;
            if (a->shape[r] != 1) {
                char buf[TY_SHAPE_BUF];
                return ty__error_null("[squeeze] axis %d of shape %s has size %lld, not 1",
                                      ty__ax(axes[i]), ty__shp(a, buf),
                                      (long long)a->shape[r]);
            }
            drop[r] = true;
        }
    }
    int64_t shape[TY_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < a->ndim; d++)
        if (!drop[d]) shape[nd++] = a->shape[d];
    return ty_reshape(a, nd, shape);
}

ty_array *ty_expand_dims(ty_array *a, int axis)
{
    if (ty__check_inputs("expand_dims", &a, 1) != 0) return NULL;
    if (a->ndim == TY_MAX_DIMS)
        return ty__error_null("[expand_dims] the array already has %d dimensions",
                              TY_MAX_DIMS);
    int r = ty__axis("expand_dims", axis, a->ndim + 1);
    if (r < 0) return NULL;
    int64_t shape[TY_MAX_DIMS];
    for (int d = 0, s = 0; d <= a->ndim; d++) shape[d] = d == r ? 1 : a->shape[s++];
    return ty_reshape(a, a->ndim + 1, shape);
}

ty_array *ty_flatten(ty_array *a, int start_axis, int end_axis)
{
    if (ty__check_inputs("flatten", &a, 1) != 0) return NULL;
    if (a->ndim == 0) return ty_reshape(a, 1, (int64_t[]){1});
    int s = ty__axis("flatten", start_axis, a->ndim), e = ty__axis("flatten", end_axis, a->ndim);
    if (s < 0 || e < 0) return NULL;
    if (s > e) return ty__error_null("[flatten] start axis %d is after end axis %d",
                                     ty__ax(start_axis), ty__ax(end_axis));
    int64_t shape[TY_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (d <= s || d > e) shape[nd++] = a->shape[d];
        else shape[nd - 1] *= a->shape[d];
    }
    return ty_reshape(a, nd, shape);
}

/* Validates a slice and writes its shape; -1 + error if out of range. */
static int slice_shape(const char *op, const ty_array *a, const int64_t *start,
                       const int64_t *stop, const int64_t *step, int64_t *shape)
{
    for (int d = 0; d < a->ndim; d++) {
        int64_t st = step[d], n;
        if (st == 0) return ty__error("[%s] slice step is 0 on axis %d", op, ty__ax(d));
        if (st > 0) n = stop[d] > start[d] ? (stop[d] - start[d] + st - 1) / st : 0;
        else n = start[d] > stop[d] ? (start[d] - stop[d] - st - 1) / -st : 0;
        if (n > 0) {
            int64_t last = start[d] + (n - 1) * st;
            if (start[d] < 0 || start[d] >= a->shape[d] || last < 0 || last >= a->shape[d]) {
                char buf[TY_SHAPE_BUF];
                return ty__error("[%s] range %lld:%lld:%lld is out of bounds for axis %d "
                                 "of shape %s", op, (long long)start[d], (long long)stop[d],
                                 (long long)st, ty__ax(d), ty__shp(a, buf));
            }
        }
        shape[d] = n;
    }
    return 0;
}

ty_array *ty_slice(ty_array *a, const int64_t *start, const int64_t *stop,
                   const int64_t *step)
{
    if (ty__check_inputs("slice", &a, 1) != 0) return NULL;
    int64_t shape[TY_MAX_DIMS];
    if (slice_shape("slice", a, start, stop, step, shape) != 0) return NULL;
    ty_params p = {0};
    bool whole = true;
    for (int d = 0; d < a->ndim; d++) {
        p.start[d] = start[d];
        p.stop[d] = stop[d];
        p.step[d] = step[d];
        whole = whole && step[d] == 1 && start[d] == 0 && shape[d] == a->shape[d];
    }
    if (whole) return ty_retain(a);
    return view(TY_OP_SLICE, a, &p, a->ndim, shape);
}

ty_array *ty_slice_update(ty_array *a, ty_array *v, const int64_t *start,
                          const int64_t *stop, const int64_t *step)
{
    ty_array *in[2] = {a, v};
    if (ty__check_inputs("slice_update", in, 2) != 0) return NULL;
    int64_t shape[TY_MAX_DIMS];
    if (slice_shape("slice_update", a, start, stop, step, shape) != 0) return NULL;
    char sv[TY_SHAPE_BUF], sr[TY_SHAPE_BUF];
    for (int d = 0; d < v->ndim; d++) {
        int t = a->ndim - v->ndim + d;
        if (t < 0 ? v->shape[d] != 1 : (v->shape[d] != 1 && v->shape[d] != shape[t]))
            return ty__error_null("[slice_update] cannot assign a value of shape %s to a "
                                  "region of shape %s", ty__shp(v, sv),
                                  ty__shape_str(a->ndim, shape, sr, sizeof sr));
    }
    ty_array *squeezed = ty_retain(v);
    if (v->ndim > a->ndim) {   /* leading unit dimensions */
        ty_release(squeezed);
        squeezed = ty_reshape(v, a->ndim, v->shape + (v->ndim - a->ndim));
    }
    ty_array *cv = squeezed ? ty__cast(squeezed, a->dtype) : NULL;
    ty_array *bv = cv ? ty_broadcast_to(cv, a->ndim, shape) : NULL;
    ty_array *out = NULL;
    if (bv) {
        ty_params p = {0};
        for (int d = 0; d < a->ndim; d++) {
            p.start[d] = start[d];
            p.stop[d] = stop[d];
            p.step[d] = step[d];
        }
        ty_array *ops[2] = {a, bv};
        out = ty__array_new_node(TY_OP_SLICE_UPDATE, 2, ops, &p, a->ndim, a->shape, a->dtype,
                                 a->device);
    }
    return ty__drop(out, 3, squeezed, cv, bv);
}

ty_array *ty_contiguous(ty_array *a)
{
    if (ty__check_inputs("contiguous", &a, 1) != 0) return NULL;
    return ty__array_new_node(TY_OP_COPY, 1, &a, NULL, a->ndim, a->shape, a->dtype,
                              a->device);
}

ty_array *ty_concatenate(ty_array *const *arrays, int n, int axis)
{
    if (n <= 0) return ty__error_null("[concatenate] needs at least one array");
    if (ty__check_inputs("concatenate", arrays, n) != 0) return NULL;
    const ty_array *a0 = arrays[0];
    if (a0->ndim == 0) return ty__error_null("[concatenate] 0-d arrays cannot be "
                                             "concatenated (stack them instead)");
    int ax = ty__axis("concatenate", axis, a0->ndim);
    if (ax < 0) return NULL;
    int64_t shape[TY_MAX_DIMS];
    memcpy(shape, a0->shape, sizeof shape);
    shape[ax] = 0;
    ty_dtype dt = a0->dtype;
    for (int i = 0; i < n; i++) {
        const ty_array *a = arrays[i];
        bool ok = a->ndim == a0->ndim;
        for (int d = 0; ok && d < a0->ndim; d++) ok = d == ax || a->shape[d] == a0->shape[d];
        if (!ok) {
            char s0[TY_SHAPE_BUF], s1[TY_SHAPE_BUF];
            return ty__error_null("[concatenate] shapes %s and %s differ outside axis %d",
                                  ty__shp(a0, s0), ty__shp(a, s1), ty__ax(ax));
        }
        shape[ax] += a->shape[ax];
        dt = ty_promote(dt, a->dtype);
    }
    ty_array **cast = calloc((size_t)n, sizeof *cast);
    if (!cast) return ty__error_null("[concatenate] out of host memory");
    ty_array *out = NULL;
    int i = 0;
    for (; i < n; i++)
        if (!(cast[i] = ty__cast(arrays[i], dt))) break;
    if (i == n) {
        ty_params p = {0};
        p.axis = ax;
        out = ty__array_new_node(TY_OP_CONCATENATE, n, cast, &p, a0->ndim, shape, dt,
                                 a0->device);
    }
    while (i--) ty_release(cast[i]);
    free(cast);
    return out;
}

ty_array *ty_stack(ty_array *const *arrays, int n, int axis)
{
    if (n <= 0) return ty__error_null("[stack] needs at least one array");
    if (ty__check_inputs("stack", arrays, n) != 0) return NULL;
    for (int i = 1; i < n; i++)
        if (!ty__same_shape(arrays[i], arrays[0]->ndim, arrays[0]->shape)) {
            char s0[TY_SHAPE_BUF], s1[TY_SHAPE_BUF];
            return ty__error_null("[stack] shapes differ: %s and %s", ty__shp(arrays[0], s0),
                                  ty__shp(arrays[i], s1));
        }
    int ax = ty__axis("stack", axis, arrays[0]->ndim + 1);
    if (ax < 0) return NULL;
    ty_array **ex = calloc((size_t)n, sizeof *ex);
    if (!ex) return ty__error_null("[stack] out of host memory");
    ty_array *out = NULL;
    int i = 0;
    for (; i < n; i++)
        if (!(ex[i] = ty_expand_dims(arrays[i], ax))) break;
    if (i == n) out = ty_concatenate(ex, n, ax);
    while (i--) ty_release(ex[i]);
    free(ex);
    return out;
}

int ty_split(ty_array *a, int sections, const int64_t *indices, int nindices, int axis,
             ty_array **out, int max_out)
{
    if (ty__check_inputs("split", &a, 1) != 0) return -1;
    int ax = ty__axis("split", axis, a->ndim);
    if (ax < 0) return -1;
    int64_t dim = a->shape[ax];
    int64_t cuts[TY_MAX_DIMS * 64 + 2];
    int nparts;
    if (nindices > 0) {
        if (nindices + 1 > (int)(sizeof cuts / sizeof cuts[0]) - 1)
            return ty__error("[split] too many split points (%d)", nindices);
        cuts[0] = 0;
        for (int i = 0; i < nindices; i++) {
            int64_t c = indices[i] < 0 ? 0 : (indices[i] > dim ? dim : indices[i]);
            if (c < cuts[i]) return ty__error("[split] split points must increase");
            cuts[i + 1] = c;
        }
        cuts[nindices + 1] = dim;
        nparts = nindices + 1;
    } else {
        if (sections <= 0 || dim % sections != 0)
            return ty__error("[split] an axis of size %lld cannot be split into %d equal "
                             "sections", (long long)dim, sections);
        if (sections + 1 > (int)(sizeof cuts / sizeof cuts[0]))
            return ty__error("[split] too many sections (%d)", sections);
        for (int i = 0; i <= sections; i++) cuts[i] = dim / sections * i;
        nparts = sections;
    }
    if (nparts > max_out) return ty__error("[split] %d parts do not fit the output", nparts);
    int64_t start[TY_MAX_DIMS] = {0}, stop[TY_MAX_DIMS], step[TY_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) {
        stop[d] = a->shape[d];
        step[d] = 1;
    }
    for (int i = 0; i < nparts; i++) {
        start[ax] = cuts[i];
        stop[ax] = cuts[i + 1];
        if (!(out[i] = ty_slice(a, start, stop, step))) {
            while (i--) ty_release(out[i]);
            return -1;
        }
    }
    return nparts;
}

ty_array *ty_pad(ty_array *a, const int64_t *before, const int64_t *after, double value)
{
    if (ty__check_inputs("pad", &a, 1) != 0) return NULL;
    ty_params p = {0};
    int64_t shape[TY_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) {
        if (before[d] < 0 || after[d] < 0)
            return ty__error_null("[pad] negative pad width on axis %d", ty__ax(d));
        p.start[d] = before[d];
        p.stop[d] = after[d];
        shape[d] = a->shape[d] + before[d] + after[d];
    }
    p.value = value;
    return ty__array_new_node(TY_OP_PAD, 1, &a, &p, a->ndim, shape, a->dtype, a->device);
}

/* Repeats axis `ax` of x (viewed as (outer, d, inner)) `r` times, each element
 * (`interleave`) or the whole axis (tile); stays within 4 dimensions. */
static ty_array *repeat_axis(ty_array *x, int ax, int64_t r, bool interleave)
{
    int64_t outer = 1, inner = 1, d = x->shape[ax];
    for (int i = 0; i < ax; i++) outer *= x->shape[i];
    for (int i = ax + 1; i < x->ndim; i++) inner *= x->shape[i];
    int64_t s3[3] = {outer, d, inner};
    int64_t s4[4] = {outer, interleave ? d : r, interleave ? r : d, inner};
    int64_t e4[4] = {outer, interleave ? d : 1, interleave ? 1 : d, inner};
    int64_t final[TY_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) final[i] = x->shape[i] * (i == ax ? r : 1);
    ty_array *v = ty_reshape(x, 3, s3);
    ty_array *e = v ? ty_reshape(v, 4, e4) : NULL;
    ty_array *b = e ? ty_broadcast_to(e, 4, s4) : NULL;
    ty_array *out = b ? ty_reshape(b, x->ndim, final) : NULL;
    return ty__drop(out, 3, v, e, b);
}

ty_array *ty_repeat(ty_array *a, int64_t repeats, int axis)
{
    if (ty__check_inputs("repeat", &a, 1) != 0) return NULL;
    if (repeats < 0) return ty__error_null("[repeat] negative repeat count %lld",
                                           (long long)repeats);
    ty_array *x = a->ndim == 0 ? ty_reshape(a, 1, (int64_t[]){1}) : ty_retain(a);
    if (!x) return NULL;
    int ax = ty__axis("repeat", axis, x->ndim);
    ty_array *r = ax < 0 ? NULL : repeat_axis(x, ax, repeats, true);
    return ty__drop(r, 1, x);
}

ty_array *ty_tile(ty_array *a, const int64_t *reps, int nreps)
{
    if (ty__check_inputs("tile", &a, 1) != 0) return NULL;
    int nd = nreps > a->ndim ? nreps : a->ndim;
    if (nd > TY_MAX_DIMS)
        return ty__error_null("[tile] %d repetitions for at most %d dimensions", nreps,
                              TY_MAX_DIMS);
    int64_t r[TY_MAX_DIMS], s[TY_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        int ri = d - (nd - nreps), si = d - (nd - a->ndim);
        r[d] = ri >= 0 ? reps[ri] : 1;
        s[d] = si >= 0 ? a->shape[si] : 1;
        if (r[d] < 0) return ty__error_null("[tile] negative repetition %lld",
                                            (long long)r[d]);
    }
    ty_array *x = ty_reshape(a, nd, s);
    for (int d = 0; d < nd && x; d++) {
        if (r[d] == 1) continue;
        ty_array *t = repeat_axis(x, d, r[d], false);
        ty_release(x);
        x = t;
    }
    return x;
}

ty_array *ty_flip(ty_array *a, const int *axes, int naxes)
{
    if (ty__check_inputs("flip", &a, 1) != 0) return NULL;
    int ax[TY_MAX_DIMS];
    int n = ty__resolve_axes("flip", axes, naxes, a->ndim, ax);
    if (n < 0) return NULL;
    int64_t start[TY_MAX_DIMS], stop[TY_MAX_DIMS], step[TY_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) {
        start[d] = 0;
        stop[d] = a->shape[d];
        step[d] = 1;
    }
    for (int i = 0; i < n; i++) {
        start[ax[i]] = a->shape[ax[i]] - 1;
        stop[ax[i]] = -1;
        step[ax[i]] = -1;
    }
    return ty_slice(a, start, stop, step);
}

/* ---------------------------------------------------------------- indexing */

static int check_indices(const char *op, const ty_array *idx)
{
    if (!ty_dtype_is_integer(idx->dtype))
        return ty__error("[%s] indices must be integers, got %s", op,
                         ty_dtype_name(idx->dtype));
    return 0;
}

ty_array *ty_take(ty_array *a, ty_array *indices, int axis, int index_base)
{
    ty_array *in[2] = {a, indices};
    if (ty__check_inputs("take", in, 2) != 0 || check_indices("take", indices) != 0)
        return NULL;
    if (a->ndim == 0) return ty__error_null("[take] cannot index a 0-d array");
    int ax = ty__axis("take", axis, a->ndim);
    if (ax < 0) return NULL;
    int nd = a->ndim - 1 + indices->ndim;
    if (nd > TY_MAX_DIMS)
        return ty__error_null("[take] the result would have %d dimensions", nd);
    int64_t shape[TY_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < ax; d++) shape[k++] = a->shape[d];
    for (int d = 0; d < indices->ndim; d++) shape[k++] = indices->shape[d];
    for (int d = ax + 1; d < a->ndim; d++) shape[k++] = a->shape[d];
    if (a->shape[ax] == 0 && ty_size(indices) > 0)
        return ty__error_null("[take] cannot take from the empty axis %d", ty__ax(ax));
    ty_params p = {0};
    p.axis = ax;
    p.index_base = index_base;
    return ty__array_new_node(TY_OP_TAKE, 2, in, &p, nd, shape, a->dtype, a->device);
}

ty_array *ty_take_along_axis(ty_array *a, ty_array *indices, int axis, int index_base)
{
    ty_array *in[2] = {a, indices};
    if (ty__check_inputs("take_along_axis", in, 2) != 0 ||
        check_indices("take_along_axis", indices) != 0)
        return NULL;
    char sa[TY_SHAPE_BUF], si[TY_SHAPE_BUF];
    if (indices->ndim != a->ndim || a->ndim == 0)
        return ty__error_null("[take_along_axis] indices %s must have the dimensions of the "
                              "array %s", ty__shp(indices, si), ty__shp(a, sa));
    int ax = ty__axis("take_along_axis", axis, a->ndim);
    if (ax < 0) return NULL;
    int64_t out_shape[TY_MAX_DIMS], a_shape[TY_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) {
        int64_t x = a->shape[d], y = indices->shape[d];
        if (d == ax) {
            out_shape[d] = y;
            a_shape[d] = x;
            continue;
        }
        if (x != y && x != 1 && y != 1)
            return ty__error_null("[take_along_axis] indices %s do not broadcast with the "
                                  "array %s", ty__shp(indices, si), ty__shp(a, sa));
        out_shape[d] = a_shape[d] = x == 1 ? y : x;
    }
    ty_array *ba = ty_broadcast_to(a, a->ndim, a_shape);
    ty_array *bi = ba ? ty_broadcast_to(indices, a->ndim, out_shape) : NULL;
    ty_array *out = NULL;
    if (bi) {
        ty_params p = {0};
        p.axis = ax;
        p.index_base = index_base;
        ty_array *ops[2] = {ba, bi};
        out = ty__array_new_node(TY_OP_TAKE_ALONG_AXIS, 2, ops, &p, a->ndim, out_shape,
                                 a->dtype, a->device);
    }
    return ty__drop(out, 2, ba, bi);
}

ty_array *ty_scatter_add(ty_array *a, int axis, ty_array *indices, ty_array *src,
                         int index_base)
{
    ty_array *in[3] = {a, indices, src};
    if (ty__check_inputs("scatter_add", in, 3) != 0 ||
        check_indices("scatter_add", indices) != 0)
        return NULL;
    char sa[TY_SHAPE_BUF], si[TY_SHAPE_BUF];
    if (indices->ndim != a->ndim || a->ndim == 0)
        return ty__error_null("[scatter_add] indices %s must have the dimensions of the "
                              "array %s", ty__shp(indices, si), ty__shp(a, sa));
    int ax = ty__axis("scatter_add", axis, a->ndim);
    if (ax < 0) return NULL;
    for (int d = 0; d < a->ndim; d++)
        if (d != ax && indices->shape[d] > a->shape[d])
            return ty__error_null("[scatter_add] indices %s exceed the array %s on axis %d",
                                  ty__shp(indices, si), ty__shp(a, sa), ty__ax(d));
    ty_array *cs = ty__cast(src, a->dtype);
    ty_array *bs = cs ? ty_broadcast_to(cs, indices->ndim, indices->shape) : NULL;
    ty_array *out = NULL;
    if (bs) {
        ty_params p = {0};
        p.axis = ax;
        p.index_base = index_base;
        ty_array *ops[3] = {a, indices, bs};
        out = ty__array_new_node(TY_OP_SCATTER_ADD, 3, ops, &p, a->ndim, a->shape, a->dtype,
                                 a->device);
    }
    return ty__drop(out, 2, cs, bs);
}

ty_array *ty_one_hot(ty_array *indices, int64_t num_classes, ty_dtype dtype, int index_base)
{
    if (ty__check_inputs("one_hot", &indices, 1) != 0 ||
        check_indices("one_hot", indices) != 0)
        return NULL;
    if (num_classes <= 0)
        return ty__error_null("[one_hot] num_classes must be positive, got %lld",
                              (long long)num_classes);
    if (indices->ndim >= TY_MAX_DIMS) return ty__error_null("[one_hot] too many dimensions");
    ty_array *e = ty_expand_dims(indices, -1);
    ty_array *r = e ? ty_arange(index_base, 1, num_classes, indices->dtype, indices->device)
                    : NULL;
    ty_array *m = r ? ty_eq(e, r) : NULL;
    ty_array *out = m ? ty__cast(m, dtype) : NULL;
    return ty__drop(out, 3, e, r, m);
}

static ty_array *sort_node(ty_op op, ty_array *a, int axis, bool descending, int base)
{
    const char *name = ty_op_name(op);
    if (ty__check_inputs(name, &a, 1) != 0) return NULL;
    if (a->ndim == 0) return ty__error_null("[%s] cannot sort a 0-d array", name);
    int ax = ty__axis(name, axis, a->ndim);
    if (ax < 0) return NULL;
    ty_params p = {0};
    p.axis = ax;
    p.descending = descending;
    p.index_base = base;
    ty_dtype dt = a->dtype;
    if (op == TY_OP_ARGSORT) dt = a->shape[ax] + base > INT32_MAX ? TY_INT64 : TY_INT32;
    return ty__array_new_node(op, 1, &a, &p, a->ndim, a->shape, dt, a->device);
}

ty_array *ty_sort(ty_array *a, int axis, bool descending)
{
    return sort_node(TY_OP_SORT, a, axis, descending, 0);
}

ty_array *ty_argsort(ty_array *a, int axis, bool descending, int index_base)
{
    return sort_node(TY_OP_ARGSORT, a, axis, descending, index_base);
}

int ty_topk(ty_array *a, int64_t k, int axis, bool largest, int index_base,
            ty_array **values, ty_array **indices)
{
    if (ty__check_inputs("topk", &a, 1) != 0) return -1;
    if (a->ndim == 0) return ty__error("[topk] needs at least one dimension");
    int ax = ty__axis("topk", axis, a->ndim);
    if (ax < 0) return -1;
    if (k < 0 || k > a->shape[ax]) {
        char buf[TY_SHAPE_BUF];
        return ty__error("[topk] k = %lld is out of range for axis %d of shape %s",
                         (long long)k, ty__ax(ax), ty__shp(a, buf));
    }
    ty_array *order = ty_argsort(a, ax, largest, index_base);
    if (!order) return -1;
    int64_t start[TY_MAX_DIMS] = {0}, stop[TY_MAX_DIMS], step[TY_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) {
        stop[d] = d == ax ? k : a->shape[d];
        step[d] = 1;
    }
    ty_array *idx = ty_slice(order, start, stop, step);
    ty_release(order);
    if (!idx) return -1;
    if (values) {
        *values = ty_take_along_axis(a, idx, ax, index_base);
        if (!*values) return ty_release(idx), -1;
    }
    if (indices) *indices = idx;
    else ty_release(idx);
    return 0;
}
