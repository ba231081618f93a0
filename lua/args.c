/* args.c -- argument parsing and registration helpers of the binding. */
#include <stdio.h>
#include <string.h>

#include "args.h"

void lty_arg_doc(lua_State *L, int ty_idx, const char *doc)
{
    ty_idx = lua_absindex(L, ty_idx);
    if (lua_getfield(L, ty_idx, "__doc") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, ty_idx, "__doc");
    }
    lua_pushvalue(L, -2);
    lua_pushstring(L, doc);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

void lty_arg_method(lua_State *L, const char *name)
{
    int top = lua_gettop(L) - 1;
    lty_set_method(L, name);
    lua_settop(L, top);
}

void lty_arg_register(lua_State *L, int idx, int ty_idx, const lty_arg_fn *fns)
{
    idx = lua_absindex(L, idx);
    ty_idx = lua_absindex(L, ty_idx);
    for (const lty_arg_fn *f = fns; f->name; f++) {
        lua_pushstring(L, f->name);    /* a closure: aliases get their own docs */
        lua_pushcclosure(L, f->fn, 1);
        lty_arg_doc(L, ty_idx, f->doc);
        if (f->method) {
            lua_pushvalue(L, -1);
            lty_arg_method(L, f->name);
        }
        lua_setfield(L, idx, f->name);
    }
}

/* ---------------------------------------------------------------- options */

bool lty_arg_is_opts(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE) return false;
    if (lua_getmetatable(L, idx)) {
        lua_pop(L, 1);
        return false;
    }
    return lua_rawlen(L, idx) == 0;
}

/* Option names accepted for a canonical one, as in PyTorch. */
static const struct { const char *alias, *name; } opt_aliases[] = {
    {"keepdim", "keepdims"},
    {"dim", "axis"},
};

static const char *alias_of(const char *name)
{
    for (size_t i = 0; i < sizeof opt_aliases / sizeof opt_aliases[0]; i++)
        if (strcmp(opt_aliases[i].name, name) == 0) return opt_aliases[i].alias;
    return NULL;
}

/* True when the space-separated list `allowed` holds the word key[0..n). */
static bool word_in(const char *allowed, const char *key, size_t n)
{
    for (const char *p = allowed; *p;) {
        size_t w = strcspn(p, " ");
        if (w == n && strncmp(p, key, n) == 0) return true;
        p += w;
        p += strspn(p, " ");
    }
    return false;
}

void lty_arg_check_opts(lua_State *L, int opts, const char *fname, const char *allowed)
{
    if (opts == 0 || lua_type(L, opts) != LUA_TTABLE) return;
    opts = lua_absindex(L, opts);
    lua_pushnil(L);
    while (lua_next(L, opts)) {
        lua_pop(L, 1);
        size_t n = 0;
        const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
        bool ok = key && word_in(allowed, key, n);
        for (size_t i = 0; key && !ok && i < sizeof opt_aliases / sizeof opt_aliases[0]; i++)
            ok = strcmp(key, opt_aliases[i].alias) == 0
                 && word_in(allowed, opt_aliases[i].name, strlen(opt_aliases[i].name));
        if (ok) continue;
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (const char *p = allowed; *p;) {
            size_t w = strcspn(p, " ");
            luaL_addlstring(&b, p, w);
            p += w;
            p += strspn(p, " ");
            if (*p) luaL_addstring(&b, ", ");
        }
        luaL_pushresult(&b);
        const char *expected = lua_tostring(L, -1);
        if (key)
            luaL_error(L, "[%s] unknown option '%s' (expected %s)", fname, key,
                       *expected ? expected : "no options");
        luaL_error(L, "[%s] unknown option [%s] (options are named: expected %s)", fname,
                   luaL_tolstring(L, -2, NULL), *expected ? expected : "no options");
    }
    for (size_t i = 0; i < sizeof opt_aliases / sizeof opt_aliases[0]; i++) {
        int a = lua_getfield(L, opts, opt_aliases[i].alias);
        int c = lua_getfield(L, opts, opt_aliases[i].name);
        lua_pop(L, 2);
        if (a != LUA_TNIL && c != LUA_TNIL)
            luaL_error(L, "[%s] options '%s' and '%s' are the same; give one", fname,
                       opt_aliases[i].name, opt_aliases[i].alias);
    }
}

int lty_arg_field(lua_State *L, int opts, const char *field)
{
    if (opts == 0) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    int t = lua_getfield(L, opts, field);
    const char *alias = t == LUA_TNIL ? alias_of(field) : NULL;
    if (alias) {
        lua_pop(L, 1);
        t = lua_getfield(L, opts, alias);
    }
    return t;
}

bool lty_arg_has(lua_State *L, int opts, const char *field)
{
    int t = lty_arg_field(L, opts, field);
    lua_pop(L, 1);
    return t != LUA_TNIL;
}

bool lty_arg_bool(lua_State *L, int opts, const char *fname, const char *field, bool def)
{
    int t = lty_arg_field(L, opts, field);
    bool v = t == LUA_TNIL ? def : lua_toboolean(L, -1);
    if (t != LUA_TNIL && t != LUA_TBOOLEAN)
        luaL_error(L, "[%s] option '%s' must be a boolean, got %s", fname, field,
                   lua_typename(L, t));
    lua_pop(L, 1);
    return v;
}

double lty_arg_number(lua_State *L, int opts, const char *fname, const char *field,
                      double def)
{
    int t = lty_arg_field(L, opts, field);
    double v = def;
    if (t != LUA_TNIL) {
        int ok;
        v = lua_tonumberx(L, -1, &ok);
        if (!ok || t != LUA_TNUMBER)
            luaL_error(L, "[%s] option '%s' must be a number, got %s", fname, field,
                       lua_typename(L, t));
    }
    lua_pop(L, 1);
    return v;
}

lua_Integer lty_arg_integer(lua_State *L, int opts, const char *fname, const char *field,
                            lua_Integer def)
{
    int t = lty_arg_field(L, opts, field);
    lua_Integer v = def;
    if (t != LUA_TNIL) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok || t != LUA_TNUMBER)
            luaL_error(L, "[%s] option '%s' must be an integer, got %s", fname, field,
                       t == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

const char *lty_arg_string(lua_State *L, int opts, const char *fname, const char *field,
                           const char *def)
{
    int t = lty_arg_field(L, opts, field);
    const char *v = def;
    if (t == LUA_TSTRING) {
        v = lua_tostring(L, -1);       /* anchored by the options table */
    } else if (t != LUA_TNIL) {
        luaL_error(L, "[%s] option '%s' must be a string, got %s", fname, field,
                   lua_typename(L, t));
    }
    lua_pop(L, 1);
    return v;
}

/* ---------------------------------------------------------------- plain arguments */

const char *lty_arg_fname(lua_State *L)
{
    int t = lua_type(L, lua_upvalueindex(1));
    if (t == LUA_TSTRING) return lua_tostring(L, lua_upvalueindex(1));
    if (t == LUA_TNUMBER) return ty_op_name((ty_op)lua_tointeger(L, lua_upvalueindex(1)));
    lua_Debug ar;
    if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name) return ar.name;
    return "?";
}

const char *lty_arg_got(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TNUMBER) return lua_pushfstring(L, "%s", lua_tostring(L, idx));
    return luaL_typename(L, idx);
}

lua_Integer lty_arg_int(lua_State *L, int idx, const char *fname, const char *what)
{
    int ok;
    lua_Integer v = lua_tointegerx(L, idx, &ok);
    if (!ok || lua_type(L, idx) != LUA_TNUMBER)
        luaL_error(L, "[%s] argument %d (%s) must be an integer, got %s", fname, idx, what,
                   lty_arg_got(L, idx));
    return v;
}

lua_Integer lty_arg_opt_int(lua_State *L, int idx, const char *fname, const char *what,
                            lua_Integer def)
{
    return lua_isnoneornil(L, idx) ? def : lty_arg_int(L, idx, fname, what);
}

double lty_arg_num(lua_State *L, int idx, const char *fname, const char *what)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_error(L, "[%s] argument %d (%s) must be a number, got %s", fname, idx, what,
                   lty_arg_got(L, idx));
    return lua_tonumber(L, idx);
}

/* ---------------------------------------------------------------- dtype, device */

ty_dtype lty_arg_dtype(lua_State *L, int idx, const char *fname)
{
    ty_dtype d;
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "[%s] dtype must be a string such as 'float32', got %s", fname,
                   luaL_typename(L, idx));
    if (ty_dtype_from_name(lua_tostring(L, idx), &d) != 0)
        luaL_error(L, "[%s] unknown dtype '%s'", fname, lua_tostring(L, idx));
    return d;
}

ty_device lty_arg_device(lua_State *L, int idx, const char *fname)
{
    ty_device d;
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "[%s] device must be a string such as 'cpu' or 'vulkan:0', got %s",
                   fname, luaL_typename(L, idx));
    if (ty_device_parse(lua_tostring(L, idx), &d) != 0)
        luaL_error(L, "[%s] unknown device '%s' (expected cpu, vulkan or vulkan:N)",
                   fname, lua_tostring(L, idx));
    return d;
}

ty_dtype lty_arg_opt_dtype(lua_State *L, int opts, const char *fname, ty_dtype def)
{
    if (opts == 0) return def;
    ty_dtype d = def;
    if (lua_getfield(L, opts, "dtype") != LUA_TNIL) d = lty_arg_dtype(L, -1, fname);
    lua_pop(L, 1);
    return d;
}

ty_device lty_arg_opt_device(lua_State *L, int opts, const char *fname, ty_device def)
{
    if (opts == 0) return def;
    ty_device d = def;
    if (lua_getfield(L, opts, "device") != LUA_TNIL) d = lty_arg_device(L, -1, fname);
    lua_pop(L, 1);
    return d;
}

/* ---------------------------------------------------------------- shapes */

static int64_t dim_value(lua_State *L, int idx, const char *fname, bool allow_infer)
{
    int ok;
    lua_Integer v = lua_tointegerx(L, idx, &ok);
    if (!ok || v < (allow_infer ? -1 : 0))
        luaL_error(L, "[%s] shape entries must be non-negative integers%s, got %s",
                   fname, allow_infer ? " (or -1)" : "",
                   lua_type(L, idx) == LUA_TNUMBER ? lua_tostring(L, idx)
                                                   : luaL_typename(L, idx));
    return (int64_t)v;
}

int lty_arg_shape(lua_State *L, int idx, const char *fname, bool allow_infer,
                  int64_t *shape, int *next)
{
    idx = lua_absindex(L, idx);
    int ndim = 0;
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_Integer n = luaL_len(L, idx);
        if (n > TY_MAX_DIMS)
            luaL_error(L, "[%s] shape has %d dimensions, at most %d are supported", fname,
                       (int)n, TY_MAX_DIMS);
        for (int i = 0; i < (int)n; i++) {
            lua_geti(L, idx, i + 1);
            shape[ndim++] = dim_value(L, -1, fname, allow_infer);
            lua_pop(L, 1);
        }
        *next = idx + 1;
    } else if (lua_type(L, idx) == LUA_TNUMBER) {
        int top = lua_gettop(L);
        while (idx + ndim <= top && lua_type(L, idx + ndim) == LUA_TNUMBER) {
            if (ndim == TY_MAX_DIMS)
                luaL_error(L, "[%s] shape has more than %d dimensions", fname, TY_MAX_DIMS);
            shape[ndim] = dim_value(L, idx + ndim, fname, allow_infer);
            ndim++;
        }
        *next = idx + ndim;
    } else {
        luaL_error(L, "[%s] shape must be a table such as {2, 3} or numbers, got %s",
                   fname, luaL_typename(L, idx));
    }
    int inferred = 0;
    for (int i = 0; i < ndim; i++) inferred += shape[i] == -1;
    if (inferred > 1) luaL_error(L, "[%s] at most one shape entry may be -1", fname);
    return ndim;
}

int lty_arg_ints(lua_State *L, int idx, const char *fname, const char *what,
                 int64_t *out, int max)
{
    idx = lua_absindex(L, idx);
    int ok;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        out[0] = (int64_t)lua_tointegerx(L, idx, &ok);
        if (!ok) luaL_error(L, "[%s] %s must be integers", fname, what);
        return 1;
    }
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_error(L, "[%s] %s must be a number or a table of numbers, got %s", fname,
                   what, luaL_typename(L, idx));
    lua_Integer n = luaL_len(L, idx);
    if (n > max) luaL_error(L, "[%s] too many %s (%d, at most %d)", fname, what, (int)n, max);
    for (int i = 0; i < (int)n; i++) {
        lua_geti(L, idx, i + 1);
        out[i] = (int64_t)lua_tointegerx(L, -1, &ok);
        if (!ok) luaL_error(L, "[%s] %s must be integers, got %s", fname, what,
                            luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    return (int)n;
}

/* ---------------------------------------------------------------- arrays */

ty_array *lty_arg_array(lua_State *L, int idx, ty_array *like)
{
    idx = lua_absindex(L, idx);
    ty_array *a = lty_test(L, idx);
    if (a) return a;
    int t = lua_type(L, idx);
    if (t != LUA_TNUMBER && t != LUA_TBOOLEAN && (t != LUA_TTABLE || lua_getmetatable(L, idx)))
        luaL_error(L, "[%s] argument %d must be an array, a number or a table, got %s",
                   lty_arg_fname(L), idx, luaL_typename(L, idx));
    a = lty_to_array(L, idx, like);
    lty_push(L, a);
    lua_replace(L, idx);
    return a;
}

/* Raises unless every leaf of the nested table at idx is an integer-valued
 * number or a boolean; *wide is set when one does not fit int32, *bools when
 * a leaf is a boolean. */
static void check_index_table(lua_State *L, int idx, const char *fname, int depth,
                              bool *wide, bool *bools)
{
    idx = lua_absindex(L, idx);
    if (depth > TY_MAX_DIMS) luaL_error(L, "[%s] index table nested too deeply", fname);
    luaL_checkstack(L, 4, "index table nested too deeply");
    lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        int t = lua_geti(L, idx, i);
        if (t == LUA_TTABLE) {
            check_index_table(L, -1, fname, depth + 1, wide, bools);
        } else if (t == LUA_TNUMBER) {
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok) luaL_error(L, "[%s] indices must be integers, got %s", fname,
                                lua_tostring(L, -1));
            if (v != (int32_t)v) *wide = true;
        } else if (t == LUA_TBOOLEAN) {
            *bools = true;
        }
        lua_pop(L, 1);
    }
}

ty_array *lty_arg_index(lua_State *L, int idx, const char *fname)
{
    idx = lua_absindex(L, idx);
    ty_array *a = lty_test(L, idx);
    if (a) return a;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        int ok;
        lua_Integer v = lua_tointegerx(L, idx, &ok);
        if (!ok) luaL_error(L, "[%s] index must be an integer, got %s", fname,
                            lua_tostring(L, idx));
        a = ty_scalar((double)v, v == (int32_t)v ? TY_INT32 : TY_INT64, ty_default_device());
    } else if (lua_type(L, idx) == LUA_TTABLE) {
        bool wide = false, bools = false;
        check_index_table(L, idx, fname, 0, &wide, &bools);
        a = bools ? lty_to_array(L, idx, NULL)
                  : lty_table_to_array(L, idx, wide ? TY_INT64 : TY_INT32);
    } else {
        luaL_error(L, "[%s] indices must be an array or a table of integers, got %s",
                   fname, luaL_typename(L, idx));
    }
    lty_push(L, a);
    lua_replace(L, idx);
    return a;
}

/* ---------------------------------------------------------------- axes */

int lty_arg_axis_value(lua_State *L, const char *fname, lua_Integer axis, int ndim,
                       const ty_array *a)
{
    char buf[160];
    if (axis == 0)
        luaL_error(L, "[%s] axis 0 is invalid: axes are 1-based (1 is the first, -1 the last)",
                   fname);
    if (axis < -ndim || axis > ndim) {
        if (a) ty_shape_string(a, buf, sizeof buf);
        else snprintf(buf, sizeof buf, "with %d dimensions", ndim);
        luaL_error(L, "[%s] axis %d is out of range for shape %s", fname, (int)axis, buf);
    }
    return axis > 0 ? (int)axis - 1 : ndim + (int)axis;
}

int lty_arg_axis(lua_State *L, int idx, const char *fname, int ndim, const ty_array *a)
{
    idx = lua_absindex(L, idx);
    int ok;
    lua_Integer v = lua_tointegerx(L, idx, &ok);
    if (!ok)
        luaL_error(L, "[%s] axis must be an integer, got %s", fname,
                   lua_type(L, idx) == LUA_TNUMBER ? lua_tostring(L, idx)
                                                   : luaL_typename(L, idx));
    return lty_arg_axis_value(L, fname, v, ndim, a);
}

int lty_arg_opt_axis(lua_State *L, int idx, const char *fname, int ndim,
                     const ty_array *a, lua_Integer def)
{
    if (lua_isnoneornil(L, idx)) return lty_arg_axis_value(L, fname, def, ndim, a);
    return lty_arg_axis(L, idx, fname, ndim, a);
}

int lty_arg_axes(lua_State *L, int idx, const char *fname, int ndim,
                 const ty_array *a, int *axes)
{
    idx = lua_absindex(L, idx);
    if (lua_isnoneornil(L, idx)) return 0;
    if (lua_type(L, idx) != LUA_TTABLE) {
        axes[0] = lty_arg_axis(L, idx, fname, ndim, a);
        return 1;
    }
    lua_Integer n = luaL_len(L, idx);
    if (n > ndim && n > 0)
        luaL_error(L, "[%s] %d axes given for an array of %d dimensions", fname, (int)n, ndim);
    for (int i = 0; i < (int)n; i++) {
        lua_geti(L, idx, i + 1);
        axes[i] = lty_arg_axis(L, -1, fname, ndim, a);
        for (int j = 0; j < i; j++)
            if (axes[j] == axes[i])
                luaL_error(L, "[%s] axis %d repeated", fname, axes[i] + 1);
        lua_pop(L, 1);
    }
    return (int)n;
}

/* ---------------------------------------------------------------- docs of others */

/* Help texts of functions defined in lua/array.c, lua/print.c, lua/tycho.c. */
static const struct { const char *name, *doc; } other_docs[] = {
    {"array", "ty.array(value, [dtype | {dtype=, device=}]) -> array\n"
     "  An array from nested tables, a number, a boolean or an array (float32 default)."},
    {"asarray", "ty.asarray(value, [dtype | opts]) -> array\n"
     "  value itself if it already is an array of that dtype, else ty.array(value)."},
    {"is_array", "ty.is_array(v) -> boolean\n  True when v is a tycho array."},
    {"frombuffer", "ty.frombuffer(bytes, [dtype], [shape], [{offset=}]) -> array\n"
     "  An array copied from the raw bytes of a Lua string (uint8 default); without a "
     "shape the byte count must be a multiple of the item size (one shape entry may be "
     "-1)."},
    {"set_printoptions", "ty.set_printoptions{precision=, threshold=, edgeitems=, "
     "linewidth=}\n  How arrays print (NumPy's options)."},
    {"get_printoptions", "ty.get_printoptions() -> table\n  The current print options."},
};

static const struct { const char *name, *doc; } method_docs[] = {
    {"item", "x:item() -> number | integer | boolean\n  The value of a one-element array."},
    {"tolist", "x:tolist() -> table\n  Nested Lua tables of the values (a value for 0-d)."},
    {"eval", "x:eval() -> x\n  Evaluates x now (see ty.eval)."},
    {"copy", "x:copy() -> array\n  A new handle on the same (immutable) values."},
    {"astype", "x:astype(dtype) -> array\n  x converted to dtype ('float32', 'int32', ...)."},
    {"release", "x:release()\n  Frees x's memory now; using x afterwards is an error."},
};

static void doc_if_missing(lua_State *L, int ty_idx, const char *doc)
{
    if (lua_type(L, -1) != LUA_TFUNCTION) return;
    if (lua_getfield(L, ty_idx, "__doc") == LUA_TTABLE) {
        lua_pushvalue(L, -2);
        int t = lua_rawget(L, -2);
        lua_pop(L, 2);
        if (t != LUA_TNIL) return;
    } else {
        lua_pop(L, 1);
    }
    lty_arg_doc(L, ty_idx, doc);
}

void lty_arg_doc_others(lua_State *L, int ty_idx)
{
    ty_idx = lua_absindex(L, ty_idx);
    for (size_t i = 0; i < sizeof other_docs / sizeof other_docs[0]; i++) {
        lua_getfield(L, ty_idx, other_docs[i].name);
        doc_if_missing(L, ty_idx, other_docs[i].doc);
        lua_pop(L, 1);
    }
    int top = lua_gettop(L);
    if (luaL_getmetatable(L, LTY_ARRAY_MT) == LUA_TTABLE &&
        lua_getfield(L, -1, "__methods") == LUA_TTABLE) {
        for (size_t i = 0; i < sizeof method_docs / sizeof method_docs[0]; i++) {
            lua_getfield(L, -1, method_docs[i].name);
            doc_if_missing(L, ty_idx, method_docs[i].doc);
            lua_pop(L, 1);
        }
    }
    lua_settop(L, top);
}
