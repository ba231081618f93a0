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

/* Pushes opts[field] (nil when opts == 0) and returns its type. */
static int get_field(lua_State *L, int opts, const char *field)
{
    if (opts == 0) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    return lua_getfield(L, opts, field);
}

bool lty_arg_has(lua_State *L, int opts, const char *field)
{
    int t = get_field(L, opts, field);
    lua_pop(L, 1);
    return t != LUA_TNIL;
}

bool lty_arg_bool(lua_State *L, int opts, const char *field, bool def)
{
    int t = get_field(L, opts, field);
    bool v = t == LUA_TNIL ? def : lua_toboolean(L, -1);
    if (t != LUA_TNIL && t != LUA_TBOOLEAN)
        luaL_error(L, "option '%s' must be a boolean, got %s", field, lua_typename(L, t));
    lua_pop(L, 1);
    return v;
}

double lty_arg_number(lua_State *L, int opts, const char *field, double def)
{
    int t = get_field(L, opts, field);
    double v = def;
    if (t != LUA_TNIL) {
        int ok;
        v = lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_error(L, "option '%s' must be a number, got %s", field,
                            lua_typename(L, t));
    }
    lua_pop(L, 1);
    return v;
}

lua_Integer lty_arg_integer(lua_State *L, int opts, const char *field, lua_Integer def)
{
    int t = get_field(L, opts, field);
    lua_Integer v = def;
    if (t != LUA_TNIL) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok) luaL_error(L, "option '%s' must be an integer, got %s", field,
                            luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

const char *lty_arg_string(lua_State *L, int opts, const char *field, const char *def)
{
    int t = get_field(L, opts, field);
    const char *v = def;
    if (t == LUA_TSTRING) {
        v = lua_tostring(L, -1);       /* anchored by the options table */
    } else if (t != LUA_TNIL) {
        luaL_error(L, "option '%s' must be a string, got %s", field, lua_typename(L, t));
    }
    lua_pop(L, 1);
    return v;
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
    if (a) return lty_check(L, idx);   /* raises if released */
    if (lua_isnoneornil(L, idx))
        luaL_argerror(L, idx, "array expected, got no value");
    a = lty_to_array(L, idx, like);
    lty_push(L, a);
    lua_replace(L, idx);
    return a;
}

ty_array *lty_arg_index(lua_State *L, int idx, const char *fname)
{
    idx = lua_absindex(L, idx);
    ty_array *a = lty_test(L, idx);
    if (a) return lty_check(L, idx);
    if (lua_type(L, idx) == LUA_TNUMBER) {
        int ok;
        lua_Integer v = lua_tointegerx(L, idx, &ok);
        if (!ok) luaL_error(L, "[%s] index must be an integer, got %s", fname,
                            lua_tostring(L, idx));
        a = ty_scalar((double)v, TY_INT32, ty_default_device());
    } else if (lua_type(L, idx) == LUA_TTABLE) {
        ty_array *t = lty_to_array(L, idx, NULL);
        if (t && ty_dtype_is_float(ty_dtype_of(t))) {
            a = ty_astype(t, TY_INT32);
            ty_release(t);
        } else {
            a = t;
        }
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
    lty_arg_axis_value(L, fname, v, ndim, a);
    int core = lty_axis_arg(L, idx);   /* 0-based, negative from the end */
    return core < 0 ? core + ndim : core;
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
     "  An array copied from the raw bytes of a Lua string (uint8 default)."},
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
