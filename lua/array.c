/*
 * array.c -- the array userdata: lifetime, fields, operators with weak Lua
 * scalars, construction from Lua values (ty.array, ty.asarray), item/tolist,
 * and the lty_* helpers of binding.h shared by every binding file.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "array.h"

/* ---------------------------------------------------------------- boxes */

lty_box *lty_box_test(lua_State *L, int idx)
{
    return (lty_box *)luaL_testudata(L, idx, LTY_ARRAY_MT);
}

static ty_array *box_array(lua_State *L, lty_box *box)
{
    if (!box->a) luaL_error(L, "attempt to use a released array");
    return box->a;
}

ty_array *lty_test(lua_State *L, int idx)
{
    lty_box *box = lty_box_test(L, idx);
    return box ? box_array(L, box) : NULL;
}

ty_array *lty_check(lua_State *L, int idx)
{
    lty_box *box = lty_box_test(L, idx);
    if (!box) luaL_typeerror(L, idx, "array");
    return box_array(L, box);
}

lty_box *lty_push_holder(lua_State *L, ty_array *a)
{
    lty_box *box = (lty_box *)lua_newuserdatauv(L, sizeof *box, 0);
    box->a = a;
    luaL_setmetatable(L, LTY_ARRAY_MT);
    return box;
}

void lty_push(lua_State *L, ty_array *a)
{
    if (!a) lty_error(L);
    lty_push_holder(L, a);
}

void lty_holder_set(lua_State *L, lty_box *h, ty_array *r)
{
    if (!r) lty_error(L);
    ty_release(h->a);
    h->a = r;
}

int lty_error(lua_State *L)
{
    const char *msg = ty_error_message();
    return luaL_error(L, "%s", (msg && *msg) ? msg : "[tycho] unknown error");
}

void lty_full_gc(lua_State *L)
{
    lua_gc(L, LUA_GCCOLLECT);
    lua_gc(L, LUA_GCCOLLECT);
    ty_clear_cache();
}

int lty_retry_alloc(lua_State *L)
{
    if (strncmp(ty_error_message(), "[alloc]", 7) != 0) return 0;
    lty_full_gc(L);
    return 1;
}

/* Last seen active bytes on the default device (per process: one session). */
static size_t gc_last_active;

void lty_gc_account(lua_State *L)
{
    ty_memory_stats st;
    if (ty_memory_stats_get(ty_default_device(), &st) != 0) {
        ty_error_clear();
        return;
    }
    if (st.active > gc_last_active) {
        size_t kb = (st.active - gc_last_active) / 1024;
        if (kb > 0) lua_gc(L, LUA_GCSTEP, (int)(kb > (1u << 30) ? (1u << 30) : kb));
    }
    gc_last_active = st.active;
}

void lty_eval_one(lua_State *L, ty_array *a)
{
    int rc;
    LTY_CALL_INT(L, rc, ty_eval(&a, 1));
    if (rc != 0) lty_error(L);
    lty_gc_account(L);
}

void *lty_host_copy(lua_State *L, ty_array *a, ty_dtype dtype)
{
    size_t n = (size_t)ty_size(a) * ty_dtype_size(dtype);
    void *dst = lua_newuserdatauv(L, n ? n : 1, 0);
    int rc;
    LTY_CALL_INT(L, rc, ty_copy_to(a, dst, dtype));
    if (rc != 0) lty_error(L);
    lty_gc_account(L);
    return dst;
}

char *lty_shape_tuple(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, ndim == 1 ? ",)" : ")");
    return buf;
}

/* ---------------------------------------------------------------- arguments */

int lty_axis_arg(lua_State *L, int idx)
{
    lua_Integer k = luaL_checkinteger(L, idx);
    if (k == 0) luaL_argerror(L, idx, "axis 0 is invalid (axes are 1-based)");
    if (k > TY_MAX_DIMS || k < -TY_MAX_DIMS)
        luaL_argerror(L, idx, lua_pushfstring(L, "axis %d is out of range", (int)k));
    return k > 0 ? (int)k - 1 : (int)k;
}

static int64_t shape_entry(lua_State *L, int idx, int i)
{
    int isnum;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (!isnum || v < 0)
        luaL_error(L, "[shape] dimension %d must be a non-negative integer, got %s", i + 1,
                   isnum ? lua_tostring(L, idx) : luaL_typename(L, idx));
    return (int64_t)v;
}

int lty_shape_arg(lua_State *L, int idx, int64_t *shape)
{
    idx = lua_absindex(L, idx);
    int n;
    if (lua_istable(L, idx)) {
        n = (int)luaL_len(L, idx);
        if (n > TY_MAX_DIMS)
            luaL_error(L, "[shape] %d dimensions (at most %d are supported)", n, TY_MAX_DIMS);
        for (int i = 0; i < n; i++) {
            lua_geti(L, idx, i + 1);
            shape[i] = shape_entry(L, -1, i);
            lua_pop(L, 1);
        }
        return n;
    }
    int top = lua_gettop(L);
    n = 0;
    for (int i = idx; i <= top && lua_type(L, i) == LUA_TNUMBER; i++) {
        if (n == TY_MAX_DIMS)
            luaL_error(L, "[shape] too many dimensions (at most %d are supported)",
                       TY_MAX_DIMS);
        shape[n] = shape_entry(L, i, n);
        n++;
    }
    return n;
}

ty_dtype lty_opt_dtype(lua_State *L, int idx, const char *field, ty_dtype def)
{
    idx = lua_absindex(L, idx);
    int t = lua_type(L, idx);
    if (t == LUA_TNONE || t == LUA_TNIL) return def;
    if (t == LUA_TSTRING) {
        lua_pushvalue(L, idx);
    } else if (t == LUA_TTABLE) {
        lua_getfield(L, idx, field);
    } else {
        luaL_typeerror(L, idx, "options table or dtype name");
    }
    ty_dtype d = def;
    if (!lua_isnil(L, -1)) {
        const char *name = lua_tostring(L, -1);
        if (!name || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "[%s] expected a dtype name, got %s", field, luaL_typename(L, -1));
        if (ty_dtype_from_name(name, &d) != 0)
            luaL_error(L, "[%s] unknown dtype '%s'", field, name);
    }
    lua_pop(L, 1);
    return d;
}

ty_device lty_opt_device(lua_State *L, int idx, ty_device def)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx)) return def;
    lua_getfield(L, idx, "device");
    ty_device d = def;
    if (!lua_isnil(L, -1)) {
        const char *text = lua_tostring(L, -1);
        if (!text || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "[device] expected a device name, got %s", luaL_typename(L, -1));
        if (ty_device_parse(text, &d) != 0) lty_error(L);
    }
    lua_pop(L, 1);
    return d;
}

void lty_set_method(lua_State *L, const char *name)
{
    luaL_getmetatable(L, LTY_ARRAY_MT);
    lua_getfield(L, -1, "__methods");
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, name);
    lua_pop(L, 3);
}

/* ---------------------------------------------------------------- conversion */

static void store_value(void *buf, ty_dtype dt, int64_t i, double d, int64_t k, bool isint)
{
    switch (dt) {
    case TY_BOOL: ((uint8_t *)buf)[i] = isint ? k != 0 : d != 0; break;
    case TY_UINT8: ((uint8_t *)buf)[i] = (uint8_t)(isint ? k : (int64_t)d); break;
    case TY_INT32: ((int32_t *)buf)[i] = (int32_t)(isint ? k : (int64_t)d); break;
    case TY_INT64: ((int64_t *)buf)[i] = isint ? k : (int64_t)d; break;
    case TY_FLOAT16: ((uint16_t *)buf)[i] = ty_float_to_half((float)d); break;
    case TY_BFLOAT16: ((uint16_t *)buf)[i] = ty_float_to_bfloat((float)d); break;
    case TY_FLOAT32: ((float *)buf)[i] = (float)d; break;
    case TY_FLOAT64: ((double *)buf)[i] = d; break;
    default: break;
    }
}

/* A nested table being converted: its shape, the leaf kind and the path of
 * the element being visited (for error messages). */
typedef struct nest {
    int ndim;
    int64_t shape[TY_MAX_DIMS];
    int leaf;                          /* LUA_TNUMBER or LUA_TBOOLEAN */
    ty_dtype dtype;
    void *buf;
    int64_t pos;
    lua_Integer path[TY_MAX_DIMS];
} nest;

static const char *nest_path(lua_State *L, const nest *n, int depth)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; i < depth; i++) {
        lua_pushfstring(L, "[%I]", n->path[i]);
        luaL_addvalue(&b);
    }
    if (depth == 0) luaL_addstring(&b, "top level");
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* Reads the shape of the nested table at idx by following first elements. */
static void nest_shape(lua_State *L, int idx, nest *n)
{
    lua_pushvalue(L, idx);
    n->ndim = 0;
    n->leaf = LUA_TNUMBER;
    for (;;) {
        int t = lua_type(L, -1);
        if (t == LUA_TTABLE) {
            if (n->ndim == TY_MAX_DIMS)
                luaL_error(L, "[array] nested table deeper than %d levels", TY_MAX_DIMS);
            lua_Integer len = luaL_len(L, -1);
            n->shape[n->ndim++] = len;
            if (len == 0) break;
            lua_geti(L, -1, 1);
            lua_remove(L, -2);
        } else {
            if (t == LUA_TBOOLEAN) n->leaf = LUA_TBOOLEAN;
            break;
        }
    }
    lua_pop(L, 1);
}

/* Copies the nested table at idx (depth `depth`) into n->buf, checking that
 * it is rectangular and holds leaves of one kind. */
static void nest_fill(lua_State *L, int idx, int depth, nest *n)
{
    if (depth == n->ndim) {
        int t = lua_type(L, idx);
        if (t == LUA_TNUMBER && n->leaf == LUA_TNUMBER) {
            int isint = lua_isinteger(L, idx);
            store_value(n->buf, n->dtype, n->pos++, lua_tonumber(L, idx),
                        isint ? (int64_t)lua_tointeger(L, idx) : 0, isint);
        } else if (t == LUA_TBOOLEAN && n->leaf == LUA_TBOOLEAN) {
            int v = lua_toboolean(L, idx);
            store_value(n->buf, n->dtype, n->pos++, v, v, true);
        } else if (t == LUA_TTABLE) {
            luaL_error(L, "[array] ragged nested table at %s: expected a %s, got a table",
                       nest_path(L, n, depth),
                       n->leaf == LUA_TBOOLEAN ? "boolean" : "number");
        } else {
            luaL_error(L, "[array] expected %s at %s, got %s",
                       n->leaf == LUA_TBOOLEAN ? "a boolean" : "a number",
                       nest_path(L, n, depth), luaL_typename(L, idx));
        }
        return;
    }
    if (!lua_istable(L, idx))
        luaL_error(L, "[array] ragged nested table at %s: expected a table of %I "
                   "elements, got %s", nest_path(L, n, depth),
                   (lua_Integer)n->shape[depth], luaL_typename(L, idx));
    lua_Integer len = luaL_len(L, idx);
    if (len != n->shape[depth])
        luaL_error(L, "[array] ragged nested table at %s: expected %I elements, got %I",
                   nest_path(L, n, depth), (lua_Integer)n->shape[depth], len);
    luaL_checkstack(L, 4, "nested table too deep");
    for (lua_Integer i = 1; i <= len; i++) {
        n->path[depth] = i;
        lua_geti(L, idx, i);
        nest_fill(L, lua_gettop(L), depth + 1, n);
        lua_pop(L, 1);
    }
}

/* Converts the nested table at idx to an owned array of dtype (dtype_given
 * false: bool for boolean leaves, float32 otherwise) on device. */
static ty_array *table_to_array(lua_State *L, int idx, bool dtype_given, ty_dtype dtype,
                                ty_device device)
{
    idx = lua_absindex(L, idx);
    nest n;
    nest_shape(L, idx, &n);
    if (!dtype_given) dtype = n.leaf == LUA_TBOOLEAN ? TY_BOOL : TY_FLOAT32;
    n.dtype = dtype;
    n.pos = 0;
    int64_t size = 1;
    for (int i = 0; i < n.ndim; i++) size *= n.shape[i];
    size_t bytes = (size_t)size * ty_dtype_size(dtype);
    n.buf = lua_newuserdatauv(L, bytes ? bytes : 1, 0);
    nest_fill(L, idx, 0, &n);
    ty_array *a;
    LTY_CALL(L, a, ty_from_data(n.buf, dtype, n.ndim, n.shape, device));
    lua_pop(L, 1);
    if (!a) lty_error(L);
    return a;
}

ty_array *lty_table_to_array(lua_State *L, int idx, ty_dtype dtype)
{
    return table_to_array(L, idx, true, dtype, ty_default_device());
}

/* Dtype of a Lua number used as a weak scalar next to `like` (MLX rules). */
static ty_dtype weak_dtype(lua_State *L, int idx, ty_array *like)
{
    bool isint = lua_isinteger(L, idx);
    if (!like) {
        if (!isint) return TY_FLOAT32;
        lua_Integer v = lua_tointeger(L, idx);
        return (v >= INT32_MIN && v <= INT32_MAX) ? TY_INT32 : TY_INT64;
    }
    ty_dtype d = ty_dtype_of(like);
    if (ty_dtype_is_float(d)) return d;
    if (!isint) return TY_FLOAT32;
    /* An integer the array's dtype cannot hold widens as a strong scalar
     * would (int32 or int64, then the usual promotion), instead of wrapping. */
    lua_Integer v = lua_tointeger(L, idx);
    ty_dtype strong = (v >= INT32_MIN && v <= INT32_MAX) ? TY_INT32 : TY_INT64;
    switch (d) {
    case TY_BOOL: return strong;
    case TY_UINT8: return (v >= 0 && v <= UINT8_MAX) ? d : strong;
    case TY_INT32: return strong;
    default: return d;
    }
}

/* An owned 0-d array of dtype holding the Lua number at idx. */
static ty_array *number_to_array(lua_State *L, int idx, ty_dtype dtype, ty_device device)
{
    ty_array *a;
    if (lua_isinteger(L, idx) && ty_dtype_is_integer(dtype)) {
        uint8_t buf[8];
        store_value(buf, dtype, 0, 0, (int64_t)lua_tointeger(L, idx), true);
        LTY_CALL(L, a, ty_from_data(buf, dtype, 0, NULL, device));
    } else {
        LTY_CALL(L, a, ty_scalar(lua_tonumber(L, idx), dtype, device));
    }
    if (!a) lty_error(L);
    return a;
}

ty_array *lty_to_array(lua_State *L, int idx, ty_array *like)
{
    ty_array *a = lty_test(L, idx);
    if (a) return ty_retain(a);
    ty_device dev = like ? ty_device_of(like) : ty_default_device();
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        return number_to_array(L, idx, weak_dtype(L, idx, like), dev);
    case LUA_TBOOLEAN: {
        ty_array *b;
        LTY_CALL(L, b, ty_scalar(lua_toboolean(L, idx), TY_BOOL, dev));
        if (!b) lty_error(L);
        return b;
    }
    case LUA_TTABLE:
        return table_to_array(L, idx, false, TY_FLOAT32, dev);
    default:
        luaL_error(L, "[array] cannot convert a %s to an array", luaL_typename(L, idx));
        return NULL;
    }
}

ty_array *lty_array_anchor(lua_State *L, int idx, ty_array *like)
{
    idx = lua_absindex(L, idx);
    ty_array *a = lty_test(L, idx);
    if (a) return a;
    a = lty_to_array(L, idx, like);
    lty_push(L, a);
    lua_replace(L, idx);
    return a;
}

/* ---------------------------------------------------------------- lifetime */

static int array_gc(lua_State *L)
{
    lty_box *box = lty_box_test(L, 1);
    if (box && box->a) {
        ty_release(box->a);
        box->a = NULL;
    }
    return 0;
}

/* ---------------------------------------------------------------- fields */

static void push_shape(lua_State *L, ty_array *a)
{
    int nd = ty_ndim(a);
    const int64_t *sh = ty_shape(a);
    lua_createtable(L, nd, 0);
    for (int i = 0; i < nd; i++) {
        lua_pushinteger(L, (lua_Integer)sh[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* Pushes field `key` of a; returns 0 when there is no such field. */
static int push_field(lua_State *L, ty_array *a, const char *key)
{
    if (strcmp(key, "shape") == 0) {
        push_shape(L, a);
    } else if (strcmp(key, "dtype") == 0) {
        lua_pushstring(L, ty_dtype_name(ty_dtype_of(a)));
    } else if (strcmp(key, "ndim") == 0) {
        lua_pushinteger(L, ty_ndim(a));
    } else if (strcmp(key, "size") == 0) {
        lua_pushinteger(L, (lua_Integer)ty_size(a));
    } else if (strcmp(key, "itemsize") == 0) {
        lua_pushinteger(L, (lua_Integer)ty_dtype_size(ty_dtype_of(a)));
    } else if (strcmp(key, "nbytes") == 0) {
        lua_pushinteger(L, (lua_Integer)(ty_size(a) * (int64_t)ty_dtype_size(ty_dtype_of(a))));
    } else if (strcmp(key, "device") == 0) {
        char buf[32];
        lua_pushstring(L, ty_device_string(ty_device_of(a), buf, sizeof buf));
    } else if (strcmp(key, "T") == 0) {
        ty_array *t;
        LTY_CALL(L, t, ty_transpose(a, NULL));
        lty_push(L, t);
    } else {
        return 0;
    }
    return 1;
}

/* __index: methods first, then fields, then indexing (numbers, tables and
 * arrays as keys). Unknown string keys give nil. */
static int array_index(lua_State *L)
{
    ty_array *a = lty_check(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_getmetatable(L, 1);
        lua_getfield(L, -1, "__methods");
        lua_pushvalue(L, 2);
        if (lua_rawget(L, -2) != LUA_TNIL) return 1;
        lua_pop(L, 3);
        if (push_field(L, a, lua_tostring(L, 2))) return 1;
        lua_pushnil(L);
        return 1;
    }
    return lty_index_get(L);
}

static int array_newindex(lua_State *L)
{
    lty_check(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "[index] cannot set field '%s' of an array", lua_tostring(L, 2));
    return lty_index_set(L);
}

static int array_len(lua_State *L)
{
    ty_array *a = lty_check(L, 1);
    if (ty_ndim(a) == 0) return luaL_error(L, "[len] length of a 0-d array");
    lua_pushinteger(L, (lua_Integer)ty_dim(a, 0));
    return 1;
}

/* ---------------------------------------------------------------- operators */

/* a op b where either side may be a Lua number (a weak scalar). */
static int arith(lua_State *L, ty_op op)
{
    ty_array *a = lty_test(L, 1);
    ty_array *b = lty_test(L, 2);
    for (int i = 1; i <= 2; i++) {
        int t = lua_type(L, i);
        if (!lty_test(L, i) && t != LUA_TNUMBER && t != LUA_TBOOLEAN && t != LUA_TTABLE)
            return luaL_error(L, "[%s] cannot combine an array with a %s (operand %d)",
                              ty_op_name(op), luaL_typename(L, i), i);
    }
    ty_array *like = a ? a : b;
    a = lty_array_anchor(L, 1, like);
    b = lty_array_anchor(L, 2, like);
    ty_array *r;
    LTY_CALL(L, r, ty_binary(op, a, b));
    lty_push(L, r);
    return 1;
}

static int array_add(lua_State *L) { return arith(L, TY_OP_ADD); }
static int array_sub(lua_State *L) { return arith(L, TY_OP_SUB); }
static int array_mul(lua_State *L) { return arith(L, TY_OP_MUL); }
static int array_div(lua_State *L) { return arith(L, TY_OP_DIV); }
static int array_mod(lua_State *L) { return arith(L, TY_OP_REMAINDER); }
static int array_pow(lua_State *L) { return arith(L, TY_OP_POW); }
static int array_idiv(lua_State *L) { return arith(L, TY_OP_FLOOR_DIVIDE); }

static int array_unm(lua_State *L)
{
    ty_array *r;
    LTY_CALL(L, r, ty_neg(lty_check(L, 1)));
    lty_push(L, r);
    return 1;
}

static int array_concat(lua_State *L)
{
    return luaL_error(L, "[concat] arrays do not support '..' (use ty.concatenate)");
}

/* ---------------------------------------------------------------- construction */

/* True when the options argument at idx names `field` (a plain string at idx
 * counts as a dtype). */
static bool opt_present(lua_State *L, int idx, const char *field)
{
    if (lua_type(L, idx) == LUA_TSTRING) return strcmp(field, "dtype") == 0;
    if (!lua_istable(L, idx)) return false;
    bool present = lua_getfield(L, idx, field) != LUA_TNIL;
    lua_pop(L, 1);
    return present;
}

/* ty.array(value [, dtype | {dtype=, device=}]): a new array. */
static int ty_array_new(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) lty_arg_check_opts(L, 2, "array", "dtype device");
    ty_dtype dtype = lty_opt_dtype(L, 2, "dtype", TY_FLOAT32);
    bool given = opt_present(L, 2, "dtype");
    ty_device device = lty_opt_device(L, 2, ty_default_device());
    ty_array *src = lty_test(L, 1), *r = NULL;
    switch (lua_type(L, 1)) {
    case LUA_TTABLE:
        r = table_to_array(L, 1, given, dtype, device);
        break;
    case LUA_TNUMBER:
        r = number_to_array(L, 1, dtype, device);
        break;
    case LUA_TBOOLEAN:
        LTY_CALL(L, r, ty_scalar(lua_toboolean(L, 1), given ? dtype : TY_BOOL, device));
        break;
    default:
        if (!src)
            return luaL_error(L, "[array] cannot convert a %s to an array",
                              luaL_typename(L, 1));
        if (!given) dtype = ty_dtype_of(src);
        /* Arrays are immutable values (assignment replaces a box's array),
         * so a copy shares the handle unless dtype or device change. */
        r = ty_retain(src);
        if (dtype != ty_dtype_of(src)) {
            ty_array *c;
            LTY_CALL(L, c, ty_astype(r, dtype));
            ty_release(r);
            r = c;
        }
        if (r && opt_present(L, 2, "device") &&
            !ty_device_equal(ty_device_of(r), device)) {
            ty_array *c;
            LTY_CALL(L, c, ty_to_device(r, device));
            ty_release(r);
            r = c;
        }
        break;
    }
    lty_push(L, r);
    return 1;
}

/* ty.asarray(value [, dtype | opts]): value itself when it already is an
 * array of that dtype; otherwise as ty.array. */
static int ty_asarray(lua_State *L)
{
    ty_array *a = lty_test(L, 1);
    if (a) {
        ty_dtype d = lty_opt_dtype(L, 2, "dtype", ty_dtype_of(a));
        if (d == ty_dtype_of(a)) {
            lua_settop(L, 1);
            return 1;
        }
    }
    return ty_array_new(L);
}

static int ty_is_array(lua_State *L)
{
    lua_pushboolean(L, lty_box_test(L, 1) != NULL);
    return 1;
}

/* ---------------------------------------------------------------- methods */

/* x:item(): the value of a one-element array (integer for integer dtypes,
 * boolean for bool, number for floats). */
static int m_item(lua_State *L)
{
    ty_array *a = lty_check(L, 1);
    if (ty_size(a) != 1) {
        char buf[128];
        return luaL_error(L, "[item] expected an array of one element, got shape %s",
                          lty_shape_tuple(ty_ndim(a), ty_shape(a), buf, sizeof buf));
    }
    ty_dtype d = ty_dtype_of(a);
    int rc;
    if (ty_dtype_is_float(d)) {
        double v;
        LTY_CALL_INT(L, rc, ty_item(a, &v));
        if (rc != 0) lty_error(L);
        lua_pushnumber(L, v);
    } else {
        int64_t v;
        LTY_CALL_INT(L, rc, ty_item_int64(a, &v));
        if (rc != 0) lty_error(L);
        if (d == TY_BOOL) lua_pushboolean(L, v != 0);
        else lua_pushinteger(L, (lua_Integer)v);
    }
    lty_gc_account(L);
    return 1;
}

static void push_element(lua_State *L, const void *data, ty_dtype d, int64_t i)
{
    if (ty_dtype_is_float(d)) lua_pushnumber(L, ((const double *)data)[i]);
    else if (d == TY_BOOL) lua_pushboolean(L, ((const int64_t *)data)[i] != 0);
    else lua_pushinteger(L, (lua_Integer)((const int64_t *)data)[i]);
}

static void push_list(lua_State *L, const void *data, ty_dtype d, int ndim,
                      const int64_t *shape, int axis, int64_t *pos)
{
    if (axis == ndim) {
        push_element(L, data, d, (*pos)++);
        return;
    }
    luaL_checkstack(L, 3, "tolist");
    lua_createtable(L, (int)shape[axis], 0);
    for (int64_t i = 0; i < shape[axis]; i++) {
        push_list(L, data, d, ndim, shape, axis + 1, pos);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* x:tolist(): nested Lua tables (a plain value for a 0-d array). */
static int m_tolist(lua_State *L)
{
    ty_array *a = lty_check(L, 1);
    ty_dtype d = ty_dtype_of(a);
    const void *data = lty_host_copy(L, a, ty_dtype_is_float(d) ? TY_FLOAT64 : TY_INT64);
    int64_t pos = 0;
    push_list(L, data, d, ty_ndim(a), ty_shape(a), 0, &pos);
    return 1;
}

static int m_eval(lua_State *L)
{
    lty_eval_one(L, lty_check(L, 1));
    lua_settop(L, 1);
    return 1;
}

static int m_copy(lua_State *L)
{
    lty_push(L, ty_retain(lty_check(L, 1)));
    return 1;
}

static int m_astype(lua_State *L)
{
    ty_array *a = lty_check(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING)
        return luaL_error(L, "[astype] argument 2 (dtype) must be a dtype name such as "
                          "'float32', got %s", luaL_typename(L, 2));
    ty_dtype d = lty_opt_dtype(L, 2, "astype", TY_DTYPE_COUNT);
    ty_array *r;
    LTY_CALL(L, r, ty_astype(a, d));
    lty_push(L, r);
    return 1;
}

/* x:release(): drops the array's reference now (as __close does). */
static int m_release(lua_State *L)
{
    lty_check(L, 1);
    return array_gc(L);
}

static const luaL_Reg array_meta[] = {
    {"__gc", array_gc},         {"__close", array_gc},     {"__index", array_index},
    {"__newindex", array_newindex}, {"__len", array_len},  {"__add", array_add},
    {"__sub", array_sub},       {"__mul", array_mul},      {"__div", array_div},
    {"__mod", array_mod},       {"__pow", array_pow},      {"__unm", array_unm},
    {"__idiv", array_idiv},     {"__concat", array_concat},
    {"__tostring", lty_print_tostring},
    {NULL, NULL}
};

static const luaL_Reg array_methods[] = {
    {"item", m_item}, {"tolist", m_tolist}, {"eval", m_eval}, {"copy", m_copy},
    {"astype", m_astype}, {"release", m_release},
    {NULL, NULL}
};

/* True when idx holds an options table with at least one key. */
static bool nonempty_opts(lua_State *L, int idx)
{
    if (!lty_arg_is_opts(L, idx)) return false;
    lua_pushnil(L);
    if (!lua_next(L, idx)) return false;
    lua_pop(L, 2);
    return true;
}

/* ty.frombuffer(bytes, [dtype], [shape], [{offset=}]): an array holding a
 * copy of the raw bytes of a Lua string (native byte order), like
 * numpy.frombuffer. Without a shape the byte count (after offset) must be a
 * multiple of the item size; a shape may read a prefix and hold one -1. */
static int ty_frombuffer(lua_State *L)
{
    size_t len;
    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "[frombuffer] argument 1 must be a string of bytes, got %s",
                          luaL_typename(L, 1));
    const char *bytes = lua_tolstring(L, 1, &len);
    int opts = lua_istable(L, 4) ? 4 : nonempty_opts(L, 3) ? 3 : nonempty_opts(L, 2) ? 2 : 0;
    lty_arg_check_opts(L, opts, "frombuffer", "offset dtype");
    ty_dtype dtype = TY_UINT8;
    if (opts != 2 && !lua_isnoneornil(L, 2)) dtype = lty_arg_dtype(L, 2, "frombuffer");
    dtype = lty_arg_opt_dtype(L, opts, "frombuffer", dtype);
    lua_Integer offset = lty_arg_integer(L, opts, "frombuffer", "offset", 0);
    if (offset < 0 || (size_t)offset > len)
        return luaL_error(L, "[frombuffer] offset %I is outside the %I bytes given",
                          offset, (lua_Integer)len);
    size_t es = ty_dtype_size(dtype), nbytes = len - (size_t)offset;
    int64_t shape[TY_MAX_DIMS] = {(int64_t)(nbytes / es)};
    int ndim = 1;
    if (opts != 3 && !lua_isnoneornil(L, 3)) {
        int next, infer = -1;
        ndim = lty_arg_shape(L, 3, "frombuffer", true, shape, &next);
        int64_t known = 1;
        for (int d = 0; d < ndim; d++) {
            if (shape[d] == -1) infer = d;
            else known *= shape[d];
        }
        if (infer >= 0) {
            if (known == 0 || nbytes % (es * (size_t)known) != 0)
                return luaL_error(L, "[frombuffer] cannot infer the -1 entry of the shape: "
                                  "%I bytes are not a multiple of %I", (lua_Integer)nbytes,
                                  (lua_Integer)(es * (size_t)known));
            shape[infer] = (int64_t)(nbytes / (es * (size_t)known));
        }
    } else if (nbytes % es != 0) {
        return luaL_error(L, "[frombuffer] %I bytes are not a multiple of the %s item size "
                          "(%I); give a shape to read a prefix", (lua_Integer)nbytes,
                          ty_dtype_name(dtype), (lua_Integer)es);
    }
    int64_t need = 1;
    for (int d = 0; d < ndim; d++) need *= shape[d];
    if (need < 0 || (size_t)need > nbytes / es) {
        char buf[128];
        return luaL_error(L, "[frombuffer] shape %s needs %I bytes, only %I given",
                          lty_shape_tuple(ndim, shape, buf, sizeof buf),
                          (lua_Integer)((size_t)need * es), (lua_Integer)nbytes);
    }
    lty_push(L, ty_from_data(bytes + offset, dtype, ndim, shape, ty_default_device()));
    return 1;
}

static const luaL_Reg array_funcs[] = {
    {"array", ty_array_new}, {"asarray", ty_asarray}, {"is_array", ty_is_array},
    {"frombuffer", ty_frombuffer},
    {NULL, NULL}
};

void lty_open_array(lua_State *L)
{
    if (luaL_newmetatable(L, LTY_ARRAY_MT)) {
        luaL_setfuncs(L, array_meta, 0);
        lua_newtable(L);
        lua_setfield(L, -2, "__methods");
        lua_pushstring(L, "tycho.Array");
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    for (const luaL_Reg *r = array_methods; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lty_set_method(L, r->name);
    }
    luaL_setfuncs(L, array_funcs, 0);
    lty_open_print(L);
}
