/*
 * index.c -- Lua-style indexing of arrays: x[i], x[{i, j}], x[{{a, b, step}}],
 * x[mask], x[idx], and functional assignment x[key] = v (the box gets a new
 * array; arrays derived from x earlier keep the old values).
 *
 * Indices are 1-based, negative ones count from the end, ranges are
 * inclusive ({} is the whole axis, {a} is a..end). An integer removes its
 * axis; integer index arrays select along their axis (orthogonally, one
 * axis at a time); a boolean mask over the leading axes selects positions.
 */
#include <stdlib.h>
#include <string.h>

#include "array.h"

typedef enum ix_kind { IX_ALL, IX_INT, IX_RANGE, IX_ARRAY } ix_kind;

/* A key resolved against an array: per axis a 0-based slice, whether the
 * axis is removed (integer index) and the index array of IX_ARRAY axes. */
typedef struct ix_plan {
    int ndim;
    int64_t shape[TY_MAX_DIMS];
    ix_kind kind[TY_MAX_DIMS];
    int64_t start[TY_MAX_DIMS], stop[TY_MAX_DIMS], step[TY_MAX_DIMS];
    ty_array *arr[TY_MAX_DIMS];        /* borrowed, anchored on the stack */
    int narrays;
} ix_plan;

static const char *shape_str(ty_array *a, char *buf, size_t size)
{
    return lty_shape_tuple(ty_ndim(a), ty_shape(a), buf, size);
}

static lua_Integer index_integer(lua_State *L, int idx, int axis)
{
    int isint;
    lua_Integer k = lua_tointegerx(L, idx, &isint);
    if (!isint)
        luaL_error(L, "[index] index %s for axis %d is not an integer",
                   lua_tostring(L, idx), axis + 1);
    return k;
}

/* Resolves a Lua index k (1-based, negative from the end) on an axis of size
 * n to 0-based, raising when out of range. */
static int64_t resolve_int(lua_State *L, lua_Integer k, int axis, int64_t n)
{
    int64_t r = k < 0 ? (int64_t)k + n : (int64_t)k - 1;
    if (r < 0 || r >= n)
        luaL_error(L, "[index] index %I is out of range for axis %d of size %I", k,
                   axis + 1, (lua_Integer)n);
    return r;
}

/* Reads the range table at idx ({}, {a}, {a, b}, {a, b, step}) for axis. */
static void resolve_range(lua_State *L, int idx, int axis, ix_plan *p)
{
    int64_t n = p->shape[axis];
    lua_Integer v[3];
    bool has[3];
    for (int i = 0; i < 3; i++) {
        has[i] = lua_geti(L, idx, i + 1) != LUA_TNIL;
        v[i] = has[i] ? index_integer(L, -1, axis) : 0;
        lua_pop(L, 1);
    }
    if (lua_rawlen(L, idx) > 3)
        luaL_error(L, "[index] range for axis %d has more than 3 entries "
                   "(use {first, last, step})", axis + 1);
    int64_t step = has[2] ? v[2] : 1;
    if (step == 0) luaL_error(L, "[index] range step for axis %d cannot be 0", axis + 1);
    int64_t a = has[0] ? (v[0] < 0 ? v[0] + n + 1 : v[0]) : (step > 0 ? 1 : n);
    int64_t b = has[1] ? (v[1] < 0 ? v[1] + n + 1 : v[1]) : (step > 0 ? n : 1);
    int64_t s, e;
    if (step > 0) {
        s = a - 1 < 0 ? 0 : (a - 1 > n ? n : a - 1);
        e = b < 0 ? 0 : (b > n ? n : b);
        if (e < s) e = s;
    } else {
        s = a - 1 < -1 ? -1 : (a - 1 > n - 1 ? n - 1 : a - 1);
        e = b - 2 < -1 ? -1 : (b - 2 > n - 1 ? n - 1 : b - 2);
        if (e > s) e = s;
    }
    p->kind[axis] = (step == 1 && s == 0 && e == n) ? IX_ALL : IX_RANGE;
    p->start[axis] = s;
    p->stop[axis] = e;
    p->step[axis] = step;
}

/* Positions (0-based, as int64) of true elements of a bool array, as a new
 * 1-d int64 array; *count gets their number. */
static ty_array *mask_positions(lua_State *L, ty_array *mask, int64_t *count)
{
    int64_t n = ty_size(mask);
    const int64_t *m = lty_host_copy(L, mask, TY_INT64);
    int64_t *pos = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *pos, 0);
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++)
        if (m[i]) pos[c++] = i;
    ty_array *r;
    LTY_CALL(L, r, ty_from_data(pos, TY_INT64, 1, &c, ty_device_of(mask)));
    lua_pop(L, 2);
    if (!r) lty_error(L);
    *count = c;
    return r;
}

/* The index array at idx for axis, anchored on the stack: integer arrays as
 * they are (1-based); 1-d bool masks become their positions (1-based). */
static ty_array *index_array(lua_State *L, int idx, int axis, ix_plan *p)
{
    ty_array *a = lty_check(L, idx);
    ty_dtype d = ty_dtype_of(a);
    if (d == TY_BOOL) {
        if (ty_ndim(a) != 1 || ty_dim(a, 0) != p->shape[axis]) {
            char buf[64];
            luaL_error(L, "[index] boolean index of shape %s does not match axis %d of "
                       "size %I", shape_str(a, buf, sizeof buf), axis + 1,
                       (lua_Integer)p->shape[axis]);
        }
        int64_t count;
        ty_array *pos = mask_positions(L, a, &count);
        lty_push(L, pos);
        ty_array *one = ty_scalar(1, TY_INT64, ty_device_of(pos));
        ty_array *r = one ? ty_add(pos, one) : NULL;
        ty_release(one);
        lty_holder_set(L, lty_box_test(L, -1), r);
        lua_replace(L, idx);
        return r;
    }
    if (!ty_dtype_is_integer(d))
        luaL_error(L, "[index] index arrays must have an integer or bool dtype, got %s "
                   "(use ty.array(t, 'int32'))", ty_dtype_name(d));
    return a;
}

/* Fills the plan for key at stack index 2 against array a. */
static void make_plan(lua_State *L, ty_array *a, ix_plan *p)
{
    p->ndim = ty_ndim(a);
    p->narrays = 0;
    for (int i = 0; i < p->ndim; i++) {
        p->shape[i] = ty_dim(a, i);
        p->kind[i] = IX_ALL;
        p->start[i] = 0;
        p->stop[i] = p->shape[i];
        p->step[i] = 1;
        p->arr[i] = NULL;
    }
    int nkeys;
    bool single = lua_type(L, 2) != LUA_TTABLE;
    nkeys = single ? 1 : (int)lua_rawlen(L, 2);
    if (nkeys > p->ndim) {
        char buf[64];
        luaL_error(L, "[index] too many indices (%d) for an array of shape %s", nkeys,
                   shape_str(a, buf, sizeof buf));
    }
    for (int i = 0; i < nkeys; i++) {
        int idx;
        if (single) {
            idx = 2;
        } else {
            lua_geti(L, 2, i + 1);
            idx = lua_gettop(L);
        }
        switch (lua_type(L, idx)) {
        case LUA_TNUMBER: {
            int64_t k = resolve_int(L, index_integer(L, idx, i), i, p->shape[i]);
            p->kind[i] = IX_INT;
            p->start[i] = k;
            p->stop[i] = k + 1;
            break;
        }
        case LUA_TTABLE:
            resolve_range(L, idx, i, p);
            break;
        case LUA_TNIL:                 /* {nil, 2}: the whole axis */
            if (single) luaL_error(L, "[index] cannot index an array with nil");
            break;
        default:
            if (lty_box_test(L, idx)) {
                p->kind[i] = IX_ARRAY;
                p->arr[i] = index_array(L, idx, i, p);
                p->narrays++;
                if (single) return;
                continue;            /* the index array stays anchored */
            }
            luaL_error(L, "[index] invalid index of type %s for axis %d",
                       luaL_typename(L, idx), i + 1);
        }
        if (!single) lua_pop(L, 1);
    }
}

static bool plan_slices(const ix_plan *p)
{
    for (int i = 0; i < p->ndim; i++)
        if (p->kind[i] == IX_INT || p->kind[i] == IX_RANGE) return true;
    return false;
}

/* Squeezed axes of the plan (integer indices); returns their number. */
static int plan_squeezed(const ix_plan *p, int *axes)
{
    int n = 0;
    for (int i = 0; i < p->ndim; i++)
        if (p->kind[i] == IX_INT) axes[n++] = i;
    return n;
}

/* Length of axis i after slicing. */
static int64_t plan_len(const ix_plan *p, int i)
{
    int64_t d = p->stop[i] - p->start[i];
    int64_t s = p->step[i];
    if (s > 0) return d <= 0 ? 0 : (d + s - 1) / s;
    return d >= 0 ? 0 : (-d + (-s) - 1) / (-s);
}

/* x[mask] with mask over the leading axes of x: a selection along one axis. */
static int get_mask(lua_State *L, ty_array *a, ty_array *mask)
{
    int k = ty_ndim(mask);
    bool ok = k >= 1 && k <= ty_ndim(a);
    for (int i = 0; ok && i < k; i++) ok = ty_dim(mask, i) == ty_dim(a, i);
    if (!ok) {
        char b1[64], b2[64];
        return luaL_error(L, "[index] boolean mask of shape %s does not match an array of "
                          "shape %s", shape_str(mask, b1, sizeof b1),
                          shape_str(a, b2, sizeof b2));
    }
    int64_t count;
    lty_box *pos = lty_push_holder(L, NULL);
    lty_holder_set(L, pos, mask_positions(L, mask, &count));
    lty_box *h = lty_push_holder(L, ty_retain(a));
    if (k > 1) lty_holder_set(L, h, ty_flatten(h->a, 0, k - 1));
    if (count == 0) {
        int64_t start[TY_MAX_DIMS] = {0}, stop[TY_MAX_DIMS], step[TY_MAX_DIMS];
        for (int i = 0; i < ty_ndim(h->a); i++) {
            stop[i] = i == 0 ? 0 : ty_dim(h->a, i);
            step[i] = 1;
        }
        lty_holder_set(L, h, ty_slice(h->a, start, stop, step));
    } else {
        ty_array *r;
        LTY_CALL(L, r, ty_take(h->a, pos->a, 0, 0));
        lty_holder_set(L, h, r);
    }
    return 1;
}

int lty_index_get(lua_State *L)
{
    ty_array *a = lty_check(L, 1);
    lua_settop(L, 2);
    ty_array *key = lty_test(L, 2);
    if (key && ty_dtype_of(key) == TY_BOOL) return get_mask(L, a, key);
    if (ty_ndim(a) == 0)
        return luaL_error(L, "[index] cannot index a 0-d array");
    ix_plan p;
    make_plan(L, a, &p);
    lty_box *h = lty_push_holder(L, ty_retain(a));
    if (plan_slices(&p)) lty_holder_set(L, h, ty_slice(h->a, p.start, p.stop, p.step));
    int sq[TY_MAX_DIMS];
    int nsq = plan_squeezed(&p, sq);
    if (nsq > 0) lty_holder_set(L, h, ty_squeeze(h->a, sq, nsq));
    /* Index arrays, last axis first, so that earlier axis numbers hold. */
    for (int i = p.ndim - 1; i >= 0; i--) {
        if (p.kind[i] != IX_ARRAY) continue;
        int axis = i;
        for (int j = 0; j < nsq; j++)
            if (sq[j] < i) axis--;
        ty_array *r;
        LTY_CALL(L, r, ty_take(h->a, p.arr[i], axis, 1));
        lty_holder_set(L, h, r);
    }
    return 1;
}

/* ---------------------------------------------------------------- assignment */

/* Whether shape (n) broadcasts to shape (m). */
static bool broadcasts(int n, const int64_t *from, int m, const int64_t *to)
{
    if (n > m) return false;
    for (int i = 0; i < n; i++) {
        int64_t f = from[n - 1 - i], t = to[m - 1 - i];
        if (f != 1 && f != t) return false;
    }
    return true;
}

/* Converts the value at idx to x's dtype, broadcast to `target` (the shape
 * the key selects, NumPy style) and reshaped to `full` (same elements, with
 * the removed axes kept as 1). Leaves the result in holder h. */
static void fit_value(lua_State *L, int idx, ty_array *x, int nt, const int64_t *target,
                      int nf, const int64_t *full, lty_box *h)
{
    ty_array *v = lty_array_anchor(L, idx, x);
    if (!broadcasts(ty_ndim(v), ty_shape(v), nt, target)) {
        char b1[64], b2[64];
        luaL_error(L, "[index] cannot assign a value of shape %s to a selection of shape %s",
                   shape_str(v, b1, sizeof b1), lty_shape_tuple(nt, target, b2, sizeof b2));
    }
    lty_holder_set(L, h, ty_retain(v));
    if (ty_dtype_of(v) != ty_dtype_of(x)) lty_holder_set(L, h, ty_astype(h->a, ty_dtype_of(x)));
    lty_holder_set(L, h, ty_broadcast_to(h->a, nt, target));
    if (nt != nf) lty_holder_set(L, h, ty_reshape(h->a, nf, full));
}

/* A copy of a (holder ha) with a[..., idx[j], ...] = src[..., j, ...] along
 * axis, idx 1-d and 1-based, src of a's shape except m = #idx on axis. Built
 * from scatter_add and where: duplicate indices add their values. */
static void set_along_axis(lua_State *L, lty_box *ha, int axis, ty_array *idx,
                           ty_array *src)
{
    ty_array *a = ha->a;
    int nd = ty_ndim(a);
    ty_device dev = ty_device_of(a);
    ty_dtype d = ty_dtype_of(a);
    ty_dtype work = d == TY_BOOL ? TY_INT32 : d;
    int64_t n = ty_dim(a, axis), m = ty_size(idx);
    int64_t ishape[TY_MAX_DIMS];
    for (int i = 0; i < nd; i++) ishape[i] = 1;
    /* scattered = zeros with src added at idx */
    lty_box *ib = lty_push_holder(L, ty_retain(idx));
    ishape[axis] = m;
    lty_holder_set(L, ib, ty_reshape(ib->a, nd, ishape));
    lty_holder_set(L, ib, ty_broadcast_to(ib->a, nd, ty_shape(src)));
    lty_box *sb = lty_push_holder(L, ty_astype(src, work));
    if (!sb->a) lty_error(L);
    lty_box *zb = lty_push_holder(L, ty_zeros(nd, ty_shape(a), work, dev));
    if (!zb->a) lty_error(L);
    ty_array *r;
    LTY_CALL(L, r, ty_scatter_add(zb->a, axis, ib->a, sb->a, 1));
    lty_holder_set(L, zb, r);
    if (work != d) lty_holder_set(L, zb, ty_astype(zb->a, d));
    /* mask = count of writes per position > 0, shaped to broadcast along axis */
    lty_box *cb = lty_push_holder(L, ty_zeros(1, &n, TY_INT32, dev));
    if (!cb->a) lty_error(L);
    lty_box *ones = lty_push_holder(L, ty_ones(1, &m, TY_INT32, dev));
    if (!ones->a) lty_error(L);
    lty_box *flat = lty_push_holder(L, ty_reshape(idx, 1, &m));
    if (!flat->a) lty_error(L);
    LTY_CALL(L, r, ty_scatter_add(cb->a, 0, flat->a, ones->a, 1));
    lty_holder_set(L, cb, r);
    lty_holder_set(L, ones, ty_scalar(0, TY_INT32, dev));
    lty_holder_set(L, cb, ty_gt(cb->a, ones->a));
    ishape[axis] = n;
    lty_holder_set(L, cb, ty_reshape(cb->a, nd, ishape));
    lty_holder_set(L, ha, ty_where(cb->a, zb->a, a));
    lua_pop(L, 5);
}

/* x[mask] = v. A scalar v gives where(mask, v, x); otherwise v fills the
 * selected positions in order (v broadcast to the selection's shape). */
static void set_mask(lua_State *L, lty_box *box, ty_array *mask)
{
    ty_array *a = box->a;
    int k = ty_ndim(mask), nd = ty_ndim(a);
    bool ok = k >= 1 && k <= nd;
    for (int i = 0; ok && i < k; i++) ok = ty_dim(mask, i) == ty_dim(a, i);
    if (!ok) {
        char b1[64], b2[64];
        luaL_error(L, "[index] boolean mask of shape %s does not match an array of shape %s",
                   shape_str(mask, b1, sizeof b1), shape_str(a, b2, sizeof b2));
    }
    ty_array *v = lty_array_anchor(L, 3, a);
    lty_box *h = lty_push_holder(L, NULL);
    if (ty_size(v) == 1) {
        int64_t shape[TY_MAX_DIMS];
        for (int i = 0; i < nd; i++) shape[i] = i < k ? ty_dim(a, i) : 1;
        lty_box *mb = lty_push_holder(L, ty_reshape(mask, nd, shape));
        if (!mb->a) lty_error(L);
        lty_holder_set(L, h, ty_reshape(v, 0, NULL));
        if (ty_dtype_of(v) != ty_dtype_of(a))
            lty_holder_set(L, h, ty_astype(h->a, ty_dtype_of(a)));
        lty_holder_set(L, h, ty_where(mb->a, h->a, a));
    } else {
        int64_t count;
        lty_box *pos = lty_push_holder(L, NULL);
        lty_holder_set(L, pos, mask_positions(L, mask, &count));
        lty_box *one = lty_push_holder(L, ty_scalar(1, TY_INT64, ty_device_of(a)));
        lty_holder_set(L, pos, ty_add(pos->a, one->a));
        /* flat view: (P, rest...) */
        int64_t fshape[TY_MAX_DIMS], target[TY_MAX_DIMS];
        int64_t lead = 1;
        for (int i = 0; i < k; i++) lead *= ty_dim(a, i);
        fshape[0] = lead;
        target[0] = count;
        for (int i = k; i < nd; i++) fshape[i - k + 1] = target[i - k + 1] = ty_dim(a, i);
        int nf = nd - k + 1;
        lty_box *fx = lty_push_holder(L, ty_reshape(a, nf, fshape));
        if (!fx->a) lty_error(L);
        fit_value(L, 3, a, nf, target, nf, target, h);
        set_along_axis(L, fx, 0, pos->a, h->a);
        lty_holder_set(L, h, ty_reshape(fx->a, nd, ty_shape(a)));
    }
    ty_array *r = h->a;
    h->a = NULL;
    ty_release(box->a);
    box->a = r;
}

int lty_index_set(lua_State *L)
{
    lty_box *box = lty_box_test(L, 1);
    ty_array *a = lty_check(L, 1);
    lua_settop(L, 3);
    if (lua_isnil(L, 3)) return luaL_error(L, "[index] cannot assign nil to an array element");
    ty_array *key = lty_test(L, 2);
    if (key && ty_dtype_of(key) == TY_BOOL) {
        set_mask(L, box, key);
        return 0;
    }
    if (ty_ndim(a) == 0) return luaL_error(L, "[index] cannot index a 0-d array");
    ix_plan p;
    make_plan(L, a, &p);
    int array_axis = -1;
    for (int i = 0; i < p.ndim; i++) {
        if (p.kind[i] != IX_ARRAY) continue;
        if (array_axis >= 0 || ty_ndim(p.arr[i]) > 1)
            return luaL_error(L, "[index] assignment supports one index array of at most "
                              "one dimension");
        array_axis = i;
    }
    /* The region of the slice (removed axes kept as 1) and the shape the key
     * selects, which v must broadcast to. */
    int64_t full[TY_MAX_DIMS], target[TY_MAX_DIMS];
    int nt = 0;
    for (int i = 0; i < p.ndim; i++) {
        full[i] = plan_len(&p, i);
        if (p.kind[i] == IX_ARRAY) full[i] = ty_size(p.arr[i]);
        if (p.kind[i] != IX_INT) target[nt++] = full[i];
    }
    lty_box *h = lty_push_holder(L, NULL);
    fit_value(L, 3, a, nt, target, p.ndim, full, h);
    if (array_axis >= 0) {
        /* region = x[slices] with the array axis whole; set along it; then
         * write the region back. */
        lty_box *region = lty_push_holder(L, ty_retain(a));
        if (plan_slices(&p))
            lty_holder_set(L, region, ty_slice(a, p.start, p.stop, p.step));
        set_along_axis(L, region, array_axis, p.arr[array_axis], h->a);
        lty_holder_set(L, h, ty_retain(region->a));
    }
    ty_array *r;
    if (plan_slices(&p)) {
        LTY_CALL(L, r, ty_slice_update(a, h->a, p.start, p.stop, p.step));
        if (!r) lty_error(L);
    } else {
        r = ty_retain(h->a);
    }
    ty_release(box->a);
    box->a = r;
    return 0;
}
