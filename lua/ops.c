/*
 * ops.c -- every op of core/tycho.h as ty.<name>(...) and, where natural, as
 * an array method. Lua conventions: axes and indices are 1-based (negative
 * from the end), optional arguments go in one trailing options table.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "args.h"

/* Upvalue 1 of the table-driven closures: the ty_op. */
#define OP_UPVALUE() ((ty_op)lua_tointeger(L, lua_upvalueindex(1)))

/* Pushes r, or raises the core's error when r is NULL; returns 1. */
static int push_result(lua_State *L, ty_array *r)
{
    lty_push(L, r);
    return 1;
}

/* A scratch block owned by the collector (pushed on the stack). */
static void *scratch(lua_State *L, size_t nbytes)
{
    return lua_newuserdatauv(L, nbytes ? nbytes : 1, 0);
}

/* The index of the options table among arguments from..top, or 0. */
static int find_opts(lua_State *L, int from)
{
    int top = lua_gettop(L);
    for (int i = from; i <= top; i++)
        if (lty_arg_is_opts(L, i)) return i;
    return 0;
}

/* A boolean flag given positionally at idx, or as opts[field]. */
static bool flag_arg(lua_State *L, int idx, int opts, const char *field, bool def,
                     const char *fname)
{
    if (lua_type(L, idx) == LUA_TBOOLEAN) def = lua_toboolean(L, idx);
    else if (!lua_isnoneornil(L, idx) && idx != opts)
        luaL_error(L, "[%s] argument %d must be a boolean (%s) or an options table, got %s",
                   fname, idx, field, luaL_typename(L, idx));
    return lty_arg_bool(L, opts, fname, field, def);
}

/* An axis given as an options table {axis=} (or {dim=}) at idx: checks its
 * keys against `allowed` and replaces the table by the axis (nil when absent)
 * for the positional parsing that follows; read other fields first. */
static void axis_opts(lua_State *L, int idx, const char *fname, const char *allowed)
{
    if (!lty_arg_is_opts(L, idx)) return;
    lty_arg_check_opts(L, idx, fname, allowed);
    lty_arg_field(L, idx, "axis");
    lua_replace(L, idx);
}

/* The array x reshaped to 1-d (owned), for axis=nil meaning "flattened". */
static ty_array *flattened(lua_State *L, ty_array *x)
{
    int64_t minus_one = -1;
    ty_array *flat = ty_reshape(x, 1, &minus_one);
    if (!flat) lty_error(L);
    return flat;
}

/* ---------------------------------------------------------------- creation */

/* A dtype name or an options table {dtype=, device=} at idx (`allowed`: its
 * keys, NULL for "dtype device"). */
static void creation_opts_keys(lua_State *L, int idx, const char *fname, ty_dtype *dtype,
                               ty_device *device, const char *allowed)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        *dtype = lty_arg_dtype(L, idx, fname);
    } else if (lua_type(L, idx) == LUA_TTABLE) {
        lty_arg_check_opts(L, idx, fname, allowed ? allowed : "dtype device");
        *dtype = lty_arg_opt_dtype(L, idx, fname, *dtype);
        *device = lty_arg_opt_device(L, idx, fname, *device);
    } else if (!lua_isnoneornil(L, idx)) {
        luaL_error(L, "[%s] argument %d must be a dtype name or an options table, got %s",
                   fname, idx, lty_arg_got(L, idx));
    }
}

static void creation_opts(lua_State *L, int idx, const char *fname, ty_dtype *dtype,
                          ty_device *device)
{
    creation_opts_keys(L, idx, fname, dtype, device, NULL);
}

static int filled(lua_State *L, const char *fname, double value)
{
    int64_t shape[TY_MAX_DIMS];
    int next;
    int ndim = lty_arg_shape(L, 1, fname, false, shape, &next);
    ty_dtype dtype = TY_FLOAT32;
    ty_device device = ty_default_device();
    creation_opts(L, next, fname, &dtype, &device);
    return push_result(L, ty_full(ndim, shape, value, dtype, device));
}

static int l_zeros(lua_State *L) { return filled(L, "zeros", 0.0); }
static int l_ones(lua_State *L) { return filled(L, "ones", 1.0); }

/* A fill value (number or boolean) at idx; booleans suggest dtype bool. */
static double fill_value(lua_State *L, int idx, const char *fname, ty_dtype *dtype)
{
    if (lua_type(L, idx) == LUA_TBOOLEAN) {
        *dtype = TY_BOOL;
        return lua_toboolean(L, idx) ? 1.0 : 0.0;
    }
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_error(L, "[%s] fill value must be a number or a boolean, got %s", fname,
                   luaL_typename(L, idx));
    return lua_tonumber(L, idx);
}

static int l_full(lua_State *L)
{
    int64_t shape[TY_MAX_DIMS];
    int next;
    int ndim;
    if (lua_type(L, 1) == LUA_TNUMBER) {   /* ty.full(n, value): a 1-d shape */
        int ok;
        shape[0] = (int64_t)lua_tointegerx(L, 1, &ok);
        if (!ok || shape[0] < 0) luaL_error(L, "[full] size must be a non-negative integer");
        ndim = 1;
        next = 2;
    } else {
        ndim = lty_arg_shape(L, 1, "full", false, shape, &next);
    }
    ty_dtype dtype = TY_FLOAT32;
    ty_device device = ty_default_device();
    double value = fill_value(L, next, "full", &dtype);
    creation_opts(L, next + 1, "full", &dtype, &device);
    return push_result(L, ty_full(ndim, shape, value, dtype, device));
}

/* zeros_like/ones_like/full_like: the shape of x; dtype and device of x unless
 * given (a dtype name or {dtype=, device=}). */
static int like(lua_State *L, const char *fname, double value, int opts_idx)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    ty_dtype dtype = ty_dtype_of(x);
    ty_device device = ty_device_of(x);
    creation_opts(L, opts_idx, fname, &dtype, &device);
    return push_result(L, ty_full(ty_ndim(x), ty_shape(x), value, dtype, device));
}

static int l_zeros_like(lua_State *L) { return like(L, "zeros_like", 0.0, 2); }
static int l_ones_like(lua_State *L) { return like(L, "ones_like", 1.0, 2); }

static int l_full_like(lua_State *L)
{
    ty_dtype ignored = TY_FLOAT32;
    double value = fill_value(L, 2, "full_like", &ignored);
    return like(L, "full_like", value, 3);
}

/* Number of terms of a, a+step, ... up to b included (Lua's numeric for),
 * with a small relative tolerance so that arange(0, 1, 0.1) has 11 terms. */
static int64_t arange_count(lua_State *L, double a, double b, double step, bool integral)
{
    if (step == 0) luaL_error(L, "[arange] step must not be zero");
    if (!isfinite(a) || !isfinite(b) || !isfinite(step))
        luaL_error(L, "[arange] bounds and step must be finite");
    if (integral) {
        int64_t ia = (int64_t)a, ib = (int64_t)b, is = (int64_t)step;
        if (is > 0) return ib >= ia ? (ib - ia) / is + 1 : 0;
        return ia >= ib ? (ia - ib) / -is + 1 : 0;
    }
    double q = (b - a) / step;
    if (q < 0) q = q > -1e-9 ? 0 : -1;
    if (q < 0) return 0;
    if (q > 9.0e15) luaL_error(L, "[arange] too many elements");
    return (int64_t)floor(q + 1e-9 * fmax(1.0, q)) + 1;
}

static int l_arange(lua_State *L)
{
    double v[3];
    int n = 0;
    bool integral = true;
    while (n < 3 && lua_type(L, n + 1) == LUA_TNUMBER) {
        integral = integral && lua_isinteger(L, n + 1);
        v[n] = lua_tonumber(L, n + 1);
        n++;
    }
    if (n == 0) luaL_error(L, "[arange] expected arange(n) or arange(a, b[, step])");
    double a = n == 1 ? 1 : v[0], b = n == 1 ? v[0] : v[1], step = n == 3 ? v[2] : 1;
    ty_dtype dtype = integral ? TY_INT32 : TY_FLOAT32;
    if (integral) {                    /* int64 when a value leaves int32's range */
        for (int i = 0; i < n; i++) {
            lua_Integer k = lua_tointeger(L, i + 1);
            if (k != (int32_t)k) dtype = TY_INT64;
        }
    }
    ty_device device = ty_default_device();
    creation_opts(L, n + 1, "arange", &dtype, &device);
    int64_t count = arange_count(L, a, b, step, integral);
    if (integral && dtype == TY_INT32 && count > 0) {
        double last = a + (double)(count - 1) * step;
        if (last > INT32_MAX || last < INT32_MIN) dtype = TY_INT64;
    }
    return push_result(L, ty_arange(a, step, count, dtype, device));
}

static int l_linspace(lua_State *L)
{
    double a = lty_arg_num(L, 1, "linspace", "start");
    double b = lty_arg_num(L, 2, "linspace", "stop");
    lua_Integer n = 50;
    int opts = 3;
    if (lua_type(L, 3) == LUA_TNUMBER) {
        n = lty_arg_int(L, 3, "linspace", "number of points");
        opts = 4;
    }
    if (n < 0) luaL_error(L, "[linspace] number of points must be >= 0, got %d", (int)n);
    ty_dtype dtype = TY_FLOAT32;
    ty_device device = ty_default_device();
    creation_opts(L, opts, "linspace", &dtype, &device);
    return push_result(L, ty_linspace(a, b, (int64_t)n, dtype, device));
}

static int l_eye(lua_State *L)
{
    lua_Integer n = lty_arg_int(L, 1, "eye", "rows"), m = n;
    int opts = 2;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        m = lty_arg_int(L, 2, "eye", "columns");
        opts = 3;
    }
    if (n < 0 || m < 0) luaL_error(L, "[eye] sizes must be non-negative");
    ty_dtype dtype = TY_FLOAT32;
    ty_device device = ty_default_device();
    creation_opts_keys(L, opts, "eye", &dtype, &device, "k dtype device");
    lua_Integer k = lty_arg_is_opts(L, opts) ? lty_arg_integer(L, opts, "eye", "k", 0) : 0;
    return push_result(L, ty_eye((int64_t)n, (int64_t)m, (int64_t)k, dtype, device));
}

/* ---------------------------------------------------------------- elementwise */

static int l_unary(lua_State *L)
{
    ty_op op = OP_UPVALUE();
    ty_array *x = lty_arg_array(L, 1, NULL);
    if (lty_arg_is_opts(L, 2))
        lty_arg_check_opts(L, 2, ty_op_name(op), op == TY_OP_GELU ? "approximate" : "");
    if (op == TY_OP_GELU && lty_arg_is_opts(L, 2)) {
        const char *approx = lty_arg_string(L, 2, "gelu", "approximate", "none");
        if (strcmp(approx, "tanh") == 0) op = TY_OP_GELU_TANH;
        else if (strcmp(approx, "none") != 0)
            luaL_error(L, "[gelu] approximate must be 'none' or 'tanh', got '%s'", approx);
    }
    return push_result(L, ty_unary(op, x));
}

/* Binary operands: Lua numbers on either side are weak scalars. */
static void binary_operands(lua_State *L, int i, int j, ty_array **a, ty_array **b)
{
    ty_array *ta = lty_test(L, i), *tb = lty_test(L, j);
    *a = lty_arg_array(L, i, tb);
    *b = lty_arg_array(L, j, ta ? *a : tb);
}

static int l_binary(lua_State *L)
{
    ty_array *a, *b;
    binary_operands(L, 1, 2, &a, &b);
    return push_result(L, ty_binary(OP_UPVALUE(), a, b));
}

static int l_where(lua_State *L)
{
    ty_array *c = lty_arg_array(L, 1, NULL), *a, *b;
    binary_operands(L, 2, 3, &a, &b);
    return push_result(L, ty_where(c, a, b));
}

static int l_clip(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    ty_array *lo = lua_isnoneornil(L, 2) ? NULL : lty_arg_array(L, 2, x);
    ty_array *hi = lua_isnoneornil(L, 3) ? NULL : lty_arg_array(L, 3, x);
    return push_result(L, ty_clip(x, lo, hi));
}

static int l_astype(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    return push_result(L, ty_astype(x, lty_arg_dtype(L, 2, "astype")));
}

/* ---------------------------------------------------------------- reductions */

typedef struct reduce_args {
    ty_array *x;
    int axes[TY_MAX_DIMS];
    int naxes;
    bool keepdims;
    int opts;                          /* options table index, or 0 */
} reduce_args;

/* (x, [axis | {axes} | opts], [keepdims | opts]); opts may hold axis,
 * keepdims and op-specific fields. */
static void reduce_parse(lua_State *L, const char *fname, const char *allowed,
                         reduce_args *r)
{
    r->x = lty_arg_array(L, 1, NULL);
    int ndim = ty_ndim(r->x);
    int axis_idx = 2;
    r->opts = 0;
    r->keepdims = false;
    r->naxes = 0;
    if (lty_arg_is_opts(L, 2)) {
        r->opts = 2;
        axis_idx = 0;
    } else if (lua_type(L, 2) == LUA_TBOOLEAN) {   /* x:sum(true): all axes */
        r->keepdims = lua_toboolean(L, 2);
        axis_idx = 0;
        if (lty_arg_is_opts(L, 3)) r->opts = 3;
    } else if (lua_type(L, 3) == LUA_TBOOLEAN) {
        r->keepdims = lua_toboolean(L, 3);
        if (lty_arg_is_opts(L, 4)) r->opts = 4;
    } else if (lty_arg_is_opts(L, 3)) {
        r->opts = 3;
    } else if (!lua_isnoneornil(L, 3)) {
        luaL_error(L, "[%s] argument 3 must be keepdims (a boolean) or an options table, "
                   "got %s", fname, luaL_typename(L, 3));
    }
    lty_arg_check_opts(L, r->opts, fname, allowed);
    if (axis_idx && !lua_isnoneornil(L, axis_idx) && lty_arg_has(L, r->opts, "axis"))
        luaL_error(L, "[%s] axis given both as argument 2 and as an option", fname);
    if (axis_idx) {
        r->naxes = lty_arg_axes(L, axis_idx, fname, ndim, r->x, r->axes);
    } else if (r->opts && lty_arg_has(L, r->opts, "axis")) {
        lty_arg_field(L, r->opts, "axis");
        r->naxes = lty_arg_axes(L, -1, fname, ndim, r->x, r->axes);
        lua_pop(L, 1);
    }
    r->keepdims = lty_arg_bool(L, r->opts, fname, "keepdims", r->keepdims);
}

static int l_reduce(lua_State *L)
{
    ty_op op = OP_UPVALUE();
    reduce_args r;
    reduce_parse(L, ty_op_name(op), "axis keepdims", &r);
    return push_result(L, ty_reduce(op, r.x, r.axes, r.naxes, r.keepdims));
}

static int l_mean(lua_State *L)
{
    reduce_args r;
    reduce_parse(L, "mean", "axis keepdims", &r);
    return push_result(L, ty_mean(r.x, r.axes, r.naxes, r.keepdims));
}

static int l_logsumexp(lua_State *L)
{
    reduce_args r;
    reduce_parse(L, "logsumexp", "axis keepdims", &r);
    return push_result(L, ty_logsumexp(r.x, r.axes, r.naxes, r.keepdims));
}

static int var_or_std(lua_State *L, bool is_std)
{
    reduce_args r;
    const char *fname = is_std ? "std" : "var";
    reduce_parse(L, fname, "axis keepdims ddof", &r);
    lua_Integer ddof = lty_arg_integer(L, r.opts, fname, "ddof", 0);
    if (ddof < 0) luaL_error(L, "[%s] ddof must be >= 0", fname);
    ty_array *out = is_std ? ty_std(r.x, r.axes, r.naxes, r.keepdims, (int)ddof)
                           : ty_var(r.x, r.axes, r.naxes, r.keepdims, (int)ddof);
    return push_result(L, out);
}

static int l_var(lua_State *L) { return var_or_std(L, false); }
static int l_std(lua_State *L) { return var_or_std(L, true); }

/* argmax/argmin(x, [axis], [keepdims | opts]): 1-based; axis nil = flattened. */
static int arg_reduce(lua_State *L, bool is_max)
{
    const char *fname = is_max ? "argmax" : "argmin";
    ty_array *(*fn)(ty_array *, int, bool, int) = is_max ? ty_argmax : ty_argmin;
    ty_array *x = lty_arg_array(L, 1, NULL);
    int opts = find_opts(L, 2);
    lty_arg_check_opts(L, opts, fname, "axis keepdims");
    bool keepdims = flag_arg(L, 3, opts, "keepdims", false, fname);
    axis_opts(L, 2, fname, "axis keepdims");
    if (!lua_isnoneornil(L, 2))
        return push_result(L, fn(x, lty_arg_axis(L, 2, fname, ty_ndim(x), x), keepdims, 1));
    ty_array *flat = flattened(L, x);
    ty_array *r = fn(flat, 0, false, 1);
    ty_release(flat);
    if (r && keepdims) {
        int64_t ones[TY_MAX_DIMS];
        for (int i = 0; i < ty_ndim(x); i++) ones[i] = 1;
        ty_array *k = ty_reshape(r, ty_ndim(x), ones);
        ty_release(r);
        r = k;
    }
    return push_result(L, r);
}

static int l_argmax(lua_State *L) { return arg_reduce(L, true); }
static int l_argmin(lua_State *L) { return arg_reduce(L, false); }

/* cumsum/cumprod(x, [axis], [reverse | {reverse=}]); axis nil = flattened. */
static int scan(lua_State *L, bool is_sum)
{
    const char *fname = is_sum ? "cumsum" : "cumprod";
    ty_array *(*fn)(ty_array *, int, bool) = is_sum ? ty_cumsum : ty_cumprod;
    ty_array *x = lty_arg_array(L, 1, NULL);
    int opts = find_opts(L, 2);
    lty_arg_check_opts(L, opts, fname, "axis reverse");
    bool reverse = flag_arg(L, 3, opts, "reverse", false, fname);
    axis_opts(L, 2, fname, "axis reverse");
    if (!lua_isnoneornil(L, 2))
        return push_result(L, fn(x, lty_arg_axis(L, 2, fname, ty_ndim(x), x), reverse));
    ty_array *flat = flattened(L, x);
    ty_array *r = fn(flat, 0, reverse);
    ty_release(flat);
    return push_result(L, r);
}

static int l_cumsum(lua_State *L) { return scan(L, true); }
static int l_cumprod(lua_State *L) { return scan(L, false); }

static int softmax_like(lua_State *L, bool is_log)
{
    const char *fname = is_log ? "log_softmax" : "softmax";
    ty_array *x = lty_arg_array(L, 1, NULL);
    axis_opts(L, 2, fname, "axis");
    int axis = lty_arg_opt_axis(L, 2, fname, ty_ndim(x), x, -1);
    return push_result(L, is_log ? ty_log_softmax(x, axis) : ty_softmax(x, axis));
}

static int l_softmax(lua_State *L) { return softmax_like(L, false); }
static int l_log_softmax(lua_State *L) { return softmax_like(L, true); }

/* ---------------------------------------------------------------- linear algebra, shape */

static int l_matmul(lua_State *L)
{
    ty_array *a = lty_arg_array(L, 1, NULL);
    ty_array *b = lty_arg_array(L, 2, NULL);
    return push_result(L, ty_matmul(a, b));
}

static int l_reshape(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    int64_t shape[TY_MAX_DIMS];
    int next;
    int ndim = lty_arg_shape(L, 2, "reshape", true, shape, &next);
    return push_result(L, ty_reshape(x, ndim, shape));
}

/* A permutation (table or integer varargs from idx) into perm[ndim]. */
static void perm_arg(lua_State *L, int idx, const char *fname, ty_array *x, int *perm)
{
    int ndim = ty_ndim(x), n;
    if (lua_type(L, idx) == LUA_TTABLE) {
        n = (int)luaL_len(L, idx);
        if (n != ndim) goto wrong_length;
        for (int i = 0; i < n; i++) {
            lua_geti(L, idx, i + 1);
            perm[i] = lty_arg_axis(L, -1, fname, ndim, x);
            lua_pop(L, 1);
        }
    } else {
        n = lua_gettop(L) - idx + 1;
        if (n != ndim) goto wrong_length;
        for (int i = 0; i < n; i++) perm[i] = lty_arg_axis(L, idx + i, fname, ndim, x);
    }
    for (int i = 0; i < ndim; i++)
        for (int j = 0; j < i; j++)
            if (perm[i] == perm[j])
                luaL_error(L, "[%s] axis %d repeated in the permutation", fname, perm[i] + 1);
    return;
wrong_length: {
        char buf[128];
        luaL_error(L, "[%s] permutation has %d axes for shape %s", fname, n,
                   ty_shape_string(x, buf, sizeof buf));
    }
}

/* transpose(x): reverses axes; transpose(x, {perm}): permutes;
 * transpose(x, a, b): swaps two axes (as torch.transpose). */
static int l_transpose(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    int ndim = ty_ndim(x);
    if (lua_isnoneornil(L, 2)) return push_result(L, ty_transpose(x, NULL));
    if (lua_type(L, 2) == LUA_TNUMBER) {
        if (lua_gettop(L) != 3)
            luaL_error(L, "[transpose] expected transpose(x, {perm}) or transpose(x, a, b)");
        int a = lty_arg_axis(L, 2, "transpose", ndim, x);
        int b = lty_arg_axis(L, 3, "transpose", ndim, x);
        return push_result(L, ty_swapaxes(x, a, b));
    }
    int perm[TY_MAX_DIMS];
    perm_arg(L, 2, "transpose", x, perm);
    return push_result(L, ty_transpose(x, perm));
}

static int l_permute(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    int perm[TY_MAX_DIMS];
    perm_arg(L, 2, "permute", x, perm);
    return push_result(L, ty_transpose(x, perm));
}

static int l_swapaxes(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    int a = lty_arg_axis(L, 2, "swapaxes", ty_ndim(x), x);
    int b = lty_arg_axis(L, 3, "swapaxes", ty_ndim(x), x);
    return push_result(L, ty_swapaxes(x, a, b));
}

static int l_broadcast_to(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    int64_t shape[TY_MAX_DIMS];
    int next;
    int ndim = lty_arg_shape(L, 2, "broadcast_to", false, shape, &next);
    return push_result(L, ty_broadcast_to(x, ndim, shape));
}

static int l_squeeze(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    int axes[TY_MAX_DIMS];
    axis_opts(L, 2, "squeeze", "axis");
    int naxes = lty_arg_axes(L, 2, "squeeze", ty_ndim(x), x, axes);
    return push_result(L, ty_squeeze(x, axes, naxes));
}

static int l_expand_dims(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    const char *fname = lty_arg_fname(L);
    axis_opts(L, 2, fname, "axis");
    if (lua_isnoneornil(L, 2))
        luaL_error(L, "[%s] argument 2 (axis) is required, got %s", fname,
                   luaL_typename(L, 2));
    int axis = lty_arg_axis(L, 2, fname, ty_ndim(x) + 1, x);
    return push_result(L, ty_expand_dims(x, axis));
}

static int l_flatten(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    int ndim = ty_ndim(x);
    if (ndim == 0) {
        int64_t one = 1;
        return push_result(L, ty_reshape(x, 1, &one));
    }
    int start = lty_arg_opt_axis(L, 2, "flatten", ndim, x, 1);
    int end = lty_arg_opt_axis(L, 3, "flatten", ndim, x, -1);
    if (start > end)
        luaL_error(L, "[flatten] start axis %d is after end axis %d", start + 1, end + 1);
    return push_result(L, ty_flatten(x, start, end));
}

static int l_contiguous(lua_State *L)
{
    return push_result(L, ty_contiguous(lty_arg_array(L, 1, NULL)));
}

/* The arrays of the list at idx, borrowed, in a scratch block; non-arrays are
 * converted and anchored in a table. Pushes two values. */
static ty_array **list_arg(lua_State *L, int idx, const char *fname, int *n)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_error(L, "[%s] expected a list of arrays, got %s", fname, luaL_typename(L, idx));
    lua_Integer len = luaL_len(L, idx);
    if (len < 1) luaL_error(L, "[%s] expected a non-empty list of arrays", fname);
    if (len > 1 << 20) luaL_error(L, "[%s] too many arrays (%d)", fname, (int)len);
    ty_array **arrays = scratch(L, sizeof *arrays * (size_t)len);
    lua_newtable(L);
    int anchor = lua_gettop(L);
    for (int i = 0; i < (int)len; i++) {
        lua_geti(L, idx, i + 1);
        if (lua_isnil(L, -1))
            luaL_error(L, "[%s] list element %d is nil", fname, i + 1);
        arrays[i] = lty_arg_array(L, -1, NULL);
        lua_seti(L, anchor, i + 1);
    }
    *n = (int)len;
    return arrays;
}

static int join(lua_State *L, bool is_stack)
{
    const char *fname = is_stack ? "stack" : "concatenate";
    int n;
    lua_settop(L, 2);                  /* list_arg pushes above the arguments */
    axis_opts(L, 2, fname, "axis");
    ty_array **arrays = list_arg(L, 1, fname, &n);
    int ndim = ty_ndim(arrays[0]) + (is_stack ? 1 : 0);
    if (ndim == 0) luaL_error(L, "[%s] zero-dimensional arrays cannot be joined", fname);
    int axis = lty_arg_opt_axis(L, 2, fname, ndim, arrays[0], 1);
    return push_result(L, is_stack ? ty_stack(arrays, n, axis)
                                   : ty_concatenate(arrays, n, axis));
}

static int l_concatenate(lua_State *L) { return join(L, false); }
static int l_stack(lua_State *L) { return join(L, true); }

/* split(x, n | {starts}, [axis=1]): starts are the 1-based positions where
 * the 2nd, 3rd, ... parts begin. */
static int l_split(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    if (ty_ndim(x) == 0) luaL_error(L, "[split] cannot split a zero-dimensional array");
    axis_opts(L, 3, "split", "axis");
    int axis = lty_arg_opt_axis(L, 3, "split", ty_ndim(x), x, 1);
    int sections = 0, nindices = 0, nout;
    int64_t *indices = NULL;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_Integer s = lty_arg_int(L, 2, "split", "number of sections");
        if (s < 1 || s > 1 << 20)
            luaL_error(L, "[split] number of sections must be between 1 and %d, got %I",
                       1 << 20, s);
        sections = (int)s;
        nout = sections;
    } else if (lua_type(L, 2) == LUA_TTABLE) {
        lua_Integer len = luaL_len(L, 2);
        if (len > 1 << 20) luaL_error(L, "[split] too many split points");
        nindices = (int)len;
        indices = scratch(L, sizeof *indices * (size_t)(nindices + 1));
        for (int i = 0; i < nindices; i++) {
            lua_geti(L, 2, i + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok || v < 1) luaL_error(L, "[split] split points must be integers >= 1");
            indices[i] = (int64_t)v - 1;
            lua_pop(L, 1);
        }
        nout = nindices + 1;
    } else {
        return luaL_error(L, "[split] expected a number of sections or a table of split "
                          "points, got %s", luaL_typename(L, 2));
    }
    ty_array **out = scratch(L, sizeof *out * (size_t)nout);
    int got = ty_split(x, sections, indices, nindices, axis, out, nout);
    if (got < 0) return lty_error(L);
    lua_createtable(L, got, 0);
    for (int i = 0; i < got; i++) {
        lty_push(L, out[i]);
        lua_seti(L, -2, i + 1);
    }
    return 1;
}

/* pad(x, widths, [value | {value=}]); widths: n, {before, after} or
 * {{before, after}, ...} with one pair per axis. */
static int l_pad(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    int ndim = ty_ndim(x);
    int64_t before[TY_MAX_DIMS], after[TY_MAX_DIMS];
    double value = 0;
    if (lua_type(L, 3) == LUA_TNUMBER) value = lua_tonumber(L, 3);
    else if (lty_arg_is_opts(L, 3)) {
        lty_arg_check_opts(L, 3, "pad", "value mode");
        value = lty_arg_number(L, 3, "pad", "value", 0);
    }
    if (lty_arg_is_opts(L, 3) && lty_arg_has(L, 3, "mode") &&
        strcmp(lty_arg_string(L, 3, "pad", "mode", "constant"), "constant") != 0)
        luaL_error(L, "[pad] only mode='constant' is supported");
    int64_t pair[2];
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lty_arg_ints(L, 2, "pad", "pad widths", pair, 1);
        pair[1] = pair[0];
        for (int i = 0; i < ndim; i++) before[i] = pair[0], after[i] = pair[1];
    } else if (lua_type(L, 2) == LUA_TTABLE && lua_geti(L, 2, 1) == LUA_TNUMBER) {
        lua_pop(L, 1);
        if (lty_arg_ints(L, 2, "pad", "pad widths", pair, 2) != 2)
            luaL_error(L, "[pad] widths {before, after} need two numbers");
        for (int i = 0; i < ndim; i++) before[i] = pair[0], after[i] = pair[1];
    } else if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pop(L, 1);
        int n = (int)luaL_len(L, 2);
        if (n != ndim && n != 1) {
            char buf[128];
            luaL_error(L, "[pad] %d width pairs given for shape %s", n,
                       ty_shape_string(x, buf, sizeof buf));
        }
        for (int i = 0; i < ndim; i++) {
            lua_geti(L, 2, n == 1 ? 1 : i + 1);
            if (lty_arg_ints(L, -1, "pad", "pad widths", pair, 2) != 2)
                luaL_error(L, "[pad] each width pair needs two numbers {before, after}");
            before[i] = pair[0];
            after[i] = pair[1];
            lua_pop(L, 1);
        }
    } else {
        luaL_error(L, "[pad] widths must be a number or a table, got %s",
                   luaL_typename(L, 2));
    }
    for (int i = 0; i < ndim; i++)
        if (before[i] < 0 || after[i] < 0) luaL_error(L, "[pad] widths must be >= 0");
    return push_result(L, ty_pad(x, before, after, value));
}

/* repeat_interleave(x, n, [axis]): each element n times; axis nil = flattened. */
static int l_repeat(lua_State *L)
{
    const char *fname = lty_arg_fname(L);
    ty_array *x = lty_arg_array(L, 1, NULL);
    lua_Integer n = lty_arg_int(L, 2, fname, "repeats");
    if (n < 0) luaL_error(L, "[%s] repeats must be >= 0, got %I", fname, n);
    axis_opts(L, 3, fname, "axis");
    if (!lua_isnoneornil(L, 3))
        return push_result(L, ty_repeat(x, (int64_t)n,
                                        lty_arg_axis(L, 3, fname, ty_ndim(x), x)));
    ty_array *flat = flattened(L, x);
    ty_array *r = ty_repeat(flat, (int64_t)n, 0);
    ty_release(flat);
    return push_result(L, r);
}

static int l_tile(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    int64_t reps[TY_MAX_DIMS];
    int n = lty_arg_ints(L, 2, "tile", "repetitions", reps, TY_MAX_DIMS);
    for (int i = 0; i < n; i++)
        if (reps[i] < 0) luaL_error(L, "[tile] repetitions must be >= 0");
    return push_result(L, ty_tile(x, reps, n));
}

static int l_flip(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    int axes[TY_MAX_DIMS];
    axis_opts(L, 2, "flip", "axis");
    int naxes = lty_arg_axes(L, 2, "flip", ty_ndim(x), x, axes);
    if (naxes == 0)
        for (naxes = 0; naxes < ty_ndim(x); naxes++) axes[naxes] = naxes;
    if (naxes == 0) return push_result(L, ty_retain(x));
    return push_result(L, ty_flip(x, axes, naxes));
}

/* ---------------------------------------------------------------- indexing, sorting */

/* take(x, idx, [axis]): 1-based indices; axis nil = flattened x. */
static int l_take(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    ty_array *idx = lty_arg_index(L, 2, "take");
    axis_opts(L, 3, "take", "axis");
    if (!lua_isnoneornil(L, 3))
        return push_result(L, ty_take(x, idx, lty_arg_axis(L, 3, "take", ty_ndim(x), x), 1));
    ty_array *flat = flattened(L, x);
    ty_array *r = ty_take(flat, idx, 0, 1);
    ty_release(flat);
    return push_result(L, r);
}

/* take_along_axis(x, idx, axis) = gather; gather(x, axis, idx) (torch order)
 * is accepted too. axis nil = flattened. */
static int l_take_along_axis(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TNUMBER && lua_type(L, 3) != LUA_TNUMBER &&
        !lua_isnoneornil(L, 3)) {
        lua_pushvalue(L, 2);
        lua_remove(L, 2);
        lua_insert(L, 3);              /* (x, axis, idx) -> (x, idx, axis) */
    }
    ty_array *x = lty_arg_array(L, 1, NULL);
    ty_array *idx = lty_arg_index(L, 2, "take_along_axis");
    axis_opts(L, 3, "take_along_axis", "axis");
    if (!lua_isnoneornil(L, 3)) {
        int axis = lty_arg_axis(L, 3, "take_along_axis", ty_ndim(x), x);
        return push_result(L, ty_take_along_axis(x, idx, axis, 1));
    }
    ty_array *flat = flattened(L, x);
    ty_array *r = ty_take_along_axis(flat, idx, 0, 1);
    ty_release(flat);
    return push_result(L, r);
}

static int l_scatter_add(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    int axis = lty_arg_axis(L, 2, "scatter_add", ty_ndim(x), x);
    ty_array *idx = lty_arg_index(L, 3, "scatter_add");
    ty_array *src = lty_arg_array(L, 4, x);
    return push_result(L, ty_scatter_add(x, axis, idx, src, 1));
}

static int l_one_hot(lua_State *L)
{
    ty_array *labels = lty_arg_index(L, 1, "one_hot");
    lua_Integer c = lty_arg_int(L, 2, "one_hot", "num_classes");
    if (c < 1) luaL_error(L, "[one_hot] num_classes must be >= 1, got %I", c);
    ty_dtype dtype = TY_FLOAT32;
    ty_device unused = ty_default_device();
    creation_opts_keys(L, 3, "one_hot", &dtype, &unused, "dtype");
    return push_result(L, ty_one_hot(labels, (int64_t)c, dtype, 1));
}

/* (x, [axis=-1], [descending | {descending=}]) for sort and argsort. */
static int sort_like(lua_State *L, bool is_arg)
{
    const char *fname = is_arg ? "argsort" : "sort";
    ty_array *x = lty_arg_array(L, 1, NULL);
    int opts = find_opts(L, 2);
    lty_arg_check_opts(L, opts, fname, "axis descending");
    bool descending = flag_arg(L, 3, opts, "descending", false, fname);
    axis_opts(L, 2, fname, "axis descending");
    if (ty_ndim(x) == 0) luaL_error(L, "[%s] cannot sort a zero-dimensional array", fname);
    int axis = lty_arg_opt_axis(L, 2, fname, ty_ndim(x), x, -1);
    return push_result(L, is_arg ? ty_argsort(x, axis, descending, 1)
                                 : ty_sort(x, axis, descending));
}

static int l_sort(lua_State *L) { return sort_like(L, false); }
static int l_argsort(lua_State *L) { return sort_like(L, true); }

/* topk(x, k, [axis=-1], [{largest=true}]) -> values, indices (1-based). */
static int l_topk(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    lua_Integer k = lty_arg_int(L, 2, "topk", "k");
    int opts = find_opts(L, 3);
    lty_arg_check_opts(L, opts, "topk", "axis largest");
    bool largest = flag_arg(L, 4, opts, "largest", true, "topk");
    axis_opts(L, 3, "topk", "axis largest");
    if (ty_ndim(x) == 0) luaL_error(L, "[topk] cannot take topk of a zero-dimensional array");
    int axis = lty_arg_opt_axis(L, 3, "topk", ty_ndim(x), x, -1);
    if (k < 0 || k > ty_dim(x, axis)) {
        char buf[128];
        luaL_error(L, "[topk] k = %d is out of range for axis %d of shape %s", (int)k,
                   axis + 1, ty_shape_string(x, buf, sizeof buf));
    }
    ty_array *values = NULL, *indices = NULL;
    if (ty_topk(x, (int64_t)k, axis, largest, 1, &values, &indices) != 0)
        return lty_error(L);
    lty_push(L, values);
    lty_push(L, indices);
    return 2;
}

/* ---------------------------------------------------------------- eval */

/* Appends every array of the tree at idx to list (a sequence table). */
static void collect_arrays(lua_State *L, int idx, int list, int seen, int depth)
{
    idx = lua_absindex(L, idx);
    if (lty_test(L, idx)) {
        lty_check(L, idx);
        lua_pushvalue(L, idx);
        lua_seti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
        return;
    }
    if (lua_type(L, idx) != LUA_TTABLE) return;
    if (depth > 200) luaL_error(L, "[eval] tree nested too deeply");
    lua_pushvalue(L, idx);
    if (lua_rawget(L, seen) != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, seen);
    luaL_checkstack(L, 4, "[eval] tree nested too deeply");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        collect_arrays(L, -1, list, seen, depth + 1);
        lua_pop(L, 1);
    }
}

/* ty.eval(...): evaluates every array in the arguments (trees allowed) in one
 * pass; on an allocation failure, runs a full GC and retries once. */
static int l_eval(lua_State *L)
{
    int nargs = lua_gettop(L);
    lua_newtable(L);
    int list = lua_gettop(L);
    lua_newtable(L);
    int seen = lua_gettop(L);
    for (int i = 1; i <= nargs; i++) collect_arrays(L, i, list, seen, 0);
    int n = (int)lua_rawlen(L, list);
    if (n > 0) {
        ty_array **arrays = scratch(L, sizeof *arrays * (size_t)n);
        for (int i = 0; i < n; i++) {
            lua_geti(L, list, i + 1);
            arrays[i] = lty_check(L, -1);
            lua_pop(L, 1);
        }
        int rc;
        LTY_CALL_INT(L, rc, ty_eval(arrays, n));
        if (rc != 0) return lty_error(L);
        lty_gc_account(L);
    }
    lua_settop(L, nargs);
    return nargs;
}

/* ---------------------------------------------------------------- registration */

static const lty_arg_fn op_functions[] = {
    {"zeros", l_zeros, "ty.zeros(shape, [dtype | {dtype=, device=}]) -> array\n"
     "  Array of zeros; shape is a table {2, 3} or numbers: ty.zeros(2, 3).", false},
    {"ones", l_ones, "ty.ones(shape, [dtype | {dtype=, device=}]) -> array\n"
     "  Array of ones; shape is a table {2, 3} or numbers.", false},
    {"full", l_full, "ty.full(shape, value, [dtype | {dtype=, device=}]) -> array\n"
     "  Array filled with value (float32, or bool for a boolean value).", false},
    {"zeros_like", l_zeros_like, "ty.zeros_like(x, [dtype | {dtype=, device=}]) -> array\n"
     "  Zeros with the shape (and by default dtype and device) of x.", false},
    {"ones_like", l_ones_like, "ty.ones_like(x, [dtype | {dtype=, device=}]) -> array\n"
     "  Ones with the shape (and by default dtype and device) of x.", false},
    {"full_like", l_full_like, "ty.full_like(x, value, [dtype | {dtype=}]) -> array\n"
     "  value with the shape (and by default dtype and device) of x.", false},
    {"arange", l_arange, "ty.arange(n) or ty.arange(a, b, [step]), [dtype | opts] -> array\n"
     "  a, a+step, ... up to b INCLUDED, like Lua's for; arange(n) is 1..n. "
     "int32 if all arguments are integers (int64 past int32's range), else float32.",
     false},
    {"linspace", l_linspace, "ty.linspace(a, b, [n=50], [dtype | opts]) -> array\n"
     "  n evenly spaced values from a to b inclusive (float32).", false},
    {"eye", l_eye, "ty.eye(n, [m], [{k=0, dtype=, device=}]) -> array\n"
     "  n x m matrix with ones on diagonal k (k > 0 above the main one).", false},
    {"where", l_where, "ty.where(cond, a, b) -> array\n"
     "  Elementwise a where cond is true, else b (broadcast; numbers allowed).", false},
    {"clip", l_clip, "ty.clip(x, lo, hi) -> array\n"
     "  Clamps x to [lo, hi]; either bound may be nil. Also x:clip(lo, hi).", true},
    {"astype", l_astype, "ty.astype(x, dtype) -> array\n"
     "  x converted to dtype ('float32', 'int32', 'bool', ...). Also x:astype(dtype).",
     false},
    {"mean", l_mean, "ty.mean(x, [axis | {axes}], [keepdims | {axis=, keepdims=}]) -> array\n"
     "  Mean over the axes (all when nil). Also x:mean(...).", true},
    {"var", l_var, "ty.var(x, [axis | {axes}], [keepdims | {keepdims=, ddof=0}]) -> array\n"
     "  Variance (divides by N - ddof). Also x:var(...).", true},
    {"std", l_std, "ty.std(x, [axis | {axes}], [keepdims | {keepdims=, ddof=0}]) -> array\n"
     "  Standard deviation (divides by N - ddof). Also x:std(...).", true},
    {"logsumexp", l_logsumexp, "ty.logsumexp(x, [axis | {axes}], [keepdims | opts]) -> array\n"
     "  log(sum(exp(x))) computed stably. Also x:logsumexp(...).", true},
    {"argmax", l_argmax, "ty.argmax(x, [axis], [keepdims | {keepdims=}]) -> int32 array\n"
     "  1-based index of the first maximum; axis nil = over the flattened x.", true},
    {"argmin", l_argmin, "ty.argmin(x, [axis], [keepdims | {keepdims=}]) -> int32 array\n"
     "  1-based index of the first minimum; axis nil = over the flattened x.", true},
    {"cumsum", l_cumsum, "ty.cumsum(x, [axis], [{reverse=false}]) -> array\n"
     "  Inclusive cumulative sum; axis nil = over the flattened x.", true},
    {"cumprod", l_cumprod, "ty.cumprod(x, [axis], [{reverse=false}]) -> array\n"
     "  Inclusive cumulative product; axis nil = over the flattened x.", true},
    {"softmax", l_softmax, "ty.softmax(x, [axis=-1]) -> array\n"
     "  exp(x) / sum(exp(x)) along axis, computed stably.", true},
    {"log_softmax", l_log_softmax, "ty.log_softmax(x, [axis=-1]) -> array\n"
     "  x - logsumexp(x) along axis.", true},
    {"matmul", l_matmul, "ty.matmul(a, b) -> array\n"
     "  Matrix product (..., n, k) @ (..., k, m), batch dims broadcast; 1-d operands as "
     "in NumPy. Also a:matmul(b).", true},
    {"reshape", l_reshape, "ty.reshape(x, shape) -> array\n"
     "  Same elements in a new shape (a table or numbers; one entry may be -1).", true},
    {"transpose", l_transpose, "ty.transpose(x, [perm]) -> array\n"
     "  Permutes axes ({2, 1, 3}, 1-based; nil reverses them); transpose(x, a, b) swaps "
     "axes a and b as in torch.", true},
    {"permute", l_permute, "ty.permute(x, perm) -> array\n"
     "  Permutes axes: perm is a table {3, 1, 2} or numbers (1-based).", true},
    {"swapaxes", l_swapaxes, "ty.swapaxes(x, a, b) -> array\n"
     "  Exchanges axes a and b.", true},
    {"broadcast_to", l_broadcast_to, "ty.broadcast_to(x, shape) -> array\n"
     "  A broadcast view of x with the given shape.", true},
    {"squeeze", l_squeeze, "ty.squeeze(x, [axis | {axes} | {axis=}]) -> array\n"
     "  Removes the given axes of size 1 (every size-1 axis when nil).", true},
    {"expand_dims", l_expand_dims, "ty.expand_dims(x, axis | {axis=}) -> array\n"
     "  Inserts an axis of size 1 so that it becomes axis `axis` (-1 appends).", true},
    {"unsqueeze", l_expand_dims, "ty.unsqueeze(x, axis) -> array\n"
     "  Same as ty.expand_dims: a new size-1 axis at `axis` (1-based; -1 appends).", true},
    {"flatten", l_flatten, "ty.flatten(x, [start=1], [end=-1]) -> array\n"
     "  Merges axes start..end (inclusive) into one.", true},
    {"contiguous", l_contiguous, "ty.contiguous(x) -> array\n"
     "  x with a row-major contiguous layout (a copy if x is a strided view).", true},
    {"concatenate", l_concatenate, "ty.concatenate({a, b, ...}, [axis=1 | {axis=}]) -> array\n"
     "  Joins arrays along an existing axis.", false},
    {"cat", l_concatenate, "ty.cat({a, b, ...}, [axis=1]) -> array\n"
     "  Same as ty.concatenate.", false},
    {"stack", l_stack, "ty.stack({a, b, ...}, [axis=1 | {axis=}]) -> array\n"
     "  Joins same-shaped arrays along a new axis.", false},
    {"split", l_split, "ty.split(x, n | {starts}, [axis=1 | {axis=}]) -> {arrays}\n"
     "  n equal parts, or parts starting at the 1-based positions given: "
     "split(x, {3, 5}) -> x[1..2], x[3..4], x[5..].", true},
    {"pad", l_pad, "ty.pad(x, widths, [value | {value=0}]) -> array\n"
     "  Constant padding: widths is n, {before, after}, or {{before, after}, ...} per axis.",
     true},
    {"repeat_interleave", l_repeat, "ty.repeat_interleave(x, n, [axis | {axis=}]) -> array\n"
     "  Each element n times along axis (NumPy repeat; axis nil = flattened).", true},
    {"repeat", l_repeat, "ty[\"repeat\"](x, n, [axis]) -> array\n"
     "  Same as ty.repeat_interleave (repeat is a Lua keyword).", false},
    {"tile", l_tile, "ty.tile(x, reps) -> array\n"
     "  x repeated reps times per axis (reps a number or a table, aligned to the last axes).",
     true},
    {"flip", l_flip, "ty.flip(x, [axis | {axes} | {axis=}]) -> array\n"
     "  Reverses the order of elements along the axes (all when nil).", true},
    {"take", l_take, "ty.take(x, idx, [axis | {axis=}]) -> array\n"
     "  Elements at 1-based indices idx (array or table) along axis; nil = flattened x.",
     true},
    {"take_along_axis", l_take_along_axis, "ty.take_along_axis(x, idx, axis) -> array\n"
     "  out[i][j] = x[i][idx[i][j]] along axis (1-based idx, broadcast on other axes).",
     true},
    {"gather", l_take_along_axis, "ty.gather(x, idx, axis) or ty.gather(x, axis, idx)\n"
     "  Same as ty.take_along_axis (torch.gather); 1-based indices.", true},
    {"scatter_add", l_scatter_add, "ty.scatter_add(x, axis, idx, src) -> array\n"
     "  A copy of x with src added at the 1-based positions idx along axis (torch order).",
     true},
    {"one_hot", l_one_hot, "ty.one_hot(labels, num_classes, [dtype | {dtype='float32'}])\n"
     "  (..., C) array with 1 at each label; labels are 1..C.", true},
    {"sort", l_sort, "ty.sort(x, [axis=-1], [descending | {descending=false}]) -> array\n"
     "  Sorted values along axis (stable; NaN last).", true},
    {"argsort", l_argsort, "ty.argsort(x, [axis=-1], [descending | {descending=}]) -> array\n"
     "  1-based indices that sort x along axis (stable).", true},
    {"topk", l_topk, "ty.topk(x, k, [axis=-1], [{largest=true}]) -> values, indices\n"
     "  The k largest (or smallest) along axis, sorted; indices are 1-based.", true},
    {"eval", l_eval, "ty.eval(...) -> ...\n"
     "  Evaluates every array in the arguments (nested tables too) in one pass; returns "
     "its arguments.", false},
    {NULL, NULL, NULL, false}
};

/* One-line descriptions of the table-driven ops, looked up by name. */
static const struct { const char *name, *what; } op_docs[] = {
    {"neg", "-x"}, {"abs", "|x|"}, {"sign", "-1, 0 or 1 by the sign of x"},
    {"exp", "e^x"}, {"log", "natural logarithm"}, {"log1p", "log(1 + x), exact near 0"},
    {"expm1", "e^x - 1, exact near 0"}, {"sqrt", "square root"}, {"rsqrt", "1 / sqrt(x)"},
    {"square", "x * x"}, {"reciprocal", "1 / x"}, {"sin", "sine"}, {"cos", "cosine"},
    {"tan", "tangent"}, {"tanh", "hyperbolic tangent"}, {"sigmoid", "1 / (1 + e^-x)"},
    {"relu", "max(x, 0)"},
    {"gelu", "x * Phi(x) (erf form); ty.gelu(x, {approximate='tanh'}) uses gelu_tanh"},
    {"gelu_tanh", "GELU, tanh approximation"}, {"silu", "x * sigmoid(x)"},
    {"softplus", "log(1 + e^x)"}, {"erf", "error function"},
    {"erfinv", "inverse error function"}, {"floor", "largest integer <= x"},
    {"ceil", "smallest integer >= x"}, {"round", "nearest integer, halves to even"},
    {"logical_not", "not x (bool)"}, {"isnan", "x is NaN (bool)"},
    {"isinf", "x is +-inf (bool)"}, {"asin", "arcsine"}, {"acos", "arccosine"},
    {"atan", "arctangent"}, {"sinh", "hyperbolic sine"}, {"cosh", "hyperbolic cosine"},
    {"log2", "base-2 logarithm"}, {"log10", "base-10 logarithm"}, {"exp2", "2^x"},
    {"trunc", "integer part, towards zero"},
    {"add", "a + b"}, {"sub", "a - b"}, {"mul", "a * b"},
    {"div", "a / b (integers give float32)"}, {"floor_divide", "floor(a / b), as a // b"},
    {"pow", "a ^ b"}, {"maximum", "larger of a and b"}, {"minimum", "smaller of a and b"},
    {"remainder", "a % b with the sign of b"}, {"atan2", "angle of the point (b, a)"},
    {"eq", "a == b (bool)"}, {"ne", "a ~= b (bool)"}, {"lt", "a < b (bool)"},
    {"le", "a <= b (bool)"}, {"gt", "a > b (bool)"}, {"ge", "a >= b (bool)"},
    {"logical_and", "a and b (bool)"}, {"logical_or", "a or b (bool)"},
    {"sum", "sum"}, {"prod", "product"}, {"max", "maximum"}, {"min", "minimum"},
    {"all", "true when every element is nonzero"},
    {"any", "true when some element is nonzero"},
};

static const char *op_doc(const char *name)
{
    for (size_t i = 0; i < sizeof op_docs / sizeof op_docs[0]; i++)
        if (strcmp(op_docs[i].name, name) == 0) return op_docs[i].what;
    return name;
}

enum { OP_UNARY, OP_BINARY, OP_REDUCE };

static const struct { const char *name; ty_op op; int kind; } table_ops[] = {
#define UNARY_ENTRY_(NAME, name) {#name, TY_OP_##NAME, OP_UNARY},
#define BINARY_ENTRY_(NAME, name) {#name, TY_OP_##NAME, OP_BINARY},
#define REDUCE_ENTRY_(NAME, name) {#name, TY_OP_##NAME, OP_REDUCE},
    TY_UNARY_OPS(UNARY_ENTRY_)
    TY_BINARY_OPS(BINARY_ENTRY_)
    TY_REDUCE_OPS(REDUCE_ENTRY_)
#undef UNARY_ENTRY_
#undef BINARY_ENTRY_
#undef REDUCE_ENTRY_
};

void lty_open_ops(lua_State *L)
{
    int ty = lua_gettop(L);
    char doc[256];
    for (size_t i = 0; i < sizeof table_ops / sizeof table_ops[0]; i++) {
        const char *name = table_ops[i].name;
        lua_pushinteger(L, table_ops[i].op);
        switch (table_ops[i].kind) {
        case OP_UNARY:
            lua_pushcclosure(L, l_unary, 1);
            snprintf(doc, sizeof doc, "ty.%s(x) -> array\n  Elementwise %s. Also x:%s().",
                     name, op_doc(name), name);
            break;
        case OP_BINARY:
            lua_pushcclosure(L, l_binary, 1);
            snprintf(doc, sizeof doc, "ty.%s(a, b) -> array\n  Elementwise %s, broadcast; "
                     "numbers allowed on either side. Also a:%s(b).", name, op_doc(name),
                     name);
            break;
        default:
            lua_pushcclosure(L, l_reduce, 1);
            snprintf(doc, sizeof doc, "ty.%s(x, [axis | {axes}], [keepdims | {axis=, "
                     "keepdims=}]) -> array\n  %s%s over the axes (all when nil). "
                     "Also x:%s(...).", name, op_doc(name),
                     table_ops[i].op == TY_OP_ALL || table_ops[i].op == TY_OP_ANY ? ""
                         : " of the elements", name);
            break;
        }
        lty_arg_doc(L, ty, doc);
        lua_pushvalue(L, -1);
        lty_arg_method(L, name);
        lua_setfield(L, ty, name);
    }
    lty_arg_register(L, ty, ty, op_functions);
    lty_arg_doc_others(L, ty);
    lua_settop(L, ty);
}
