/*
 * args.h -- argument parsing and registration helpers shared by lua/ops.c,
 * lua/random.c and lua/runtime.c. Prefix lty_arg_.
 *
 * `fname` is the Lua-facing function name; errors read "[fname] ...".
 * Stack indices may be relative; every helper converts them to absolute.
 */
#ifndef TYCHO_ARGS_H
#define TYCHO_ARGS_H

#include <stdbool.h>

#include "binding.h"

/* A registered function: ty.name, its help text, and optionally a method. */
typedef struct lty_arg_fn {
    const char *name;
    lua_CFunction fn;
    const char *doc;
    bool method;                       /* also x:name(...) */
} lty_arg_fn;

/* Sets t[name] = fn for each entry (t at idx), records its doc in ty.__doc
 * (ty at ty_idx), and registers methods. */
void lty_arg_register(lua_State *L, int idx, int ty_idx, const lty_arg_fn *fns);
/* Records doc for the function on top of the stack (which stays there). */
void lty_arg_doc(lua_State *L, int ty_idx, const char *doc);
/* Documents functions of ty (and array methods) defined by the other binding
 * files, when present and not yet documented; idempotent. */
void lty_arg_doc_others(lua_State *L, int ty_idx);
/* Registers the function on top as method `name` and pops it. */
void lty_arg_method(lua_State *L, const char *name);

/* True when idx holds a plain table with no array part (an options table). */
bool lty_arg_is_opts(lua_State *L, int idx);
/* Raises "[fname] unknown option 'x' (expected a, b)" unless every key of
 * the options table at opts (0: none) is a word of `allowed` (space-separated,
 * e.g. "axis keepdims"). The aliases keepdim (keepdims) and dim (axis) are
 * accepted where their canonical name is; giving both is an error. Every
 * function taking an options table calls it with the keys it reads. */
void lty_arg_check_opts(lua_State *L, int opts, const char *fname, const char *allowed);
/* Pushes opts[field] (or its alias, see above; nil when opts == 0) and
 * returns its type. */
int lty_arg_field(lua_State *L, int opts, const char *field);
/* opts == 0 means "no options table": the default is returned. Errors read
 * "[fname] option 'field' must be ...". */
bool lty_arg_bool(lua_State *L, int opts, const char *fname, const char *field, bool def);
double lty_arg_number(lua_State *L, int opts, const char *fname, const char *field,
                      double def);
lua_Integer lty_arg_integer(lua_State *L, int opts, const char *fname, const char *field,
                            lua_Integer def);
const char *lty_arg_string(lua_State *L, int opts, const char *fname, const char *field,
                           const char *def);
/* The options field (or its alias) is present and not nil. */
bool lty_arg_has(lua_State *L, int opts, const char *field);

/* The Lua-facing name of the running C function, for messages: its upvalue 1
 * when a string (lty_arg_register) or an op (table-driven ops), else the
 * name it was called by. */
const char *lty_arg_fname(lua_State *L);
/* A short description of the value at idx for "got ..." (a number's value,
 * else its type name); may push a string. */
const char *lty_arg_got(lua_State *L, int idx);
/* Positional numbers: raise "[fname] argument 2 (what) must be an integer,
 * got ..." where the index counts self in method calls (the stack index). */
lua_Integer lty_arg_int(lua_State *L, int idx, const char *fname, const char *what);
lua_Integer lty_arg_opt_int(lua_State *L, int idx, const char *fname, const char *what,
                            lua_Integer def);
double lty_arg_num(lua_State *L, int idx, const char *fname, const char *what);

/* dtype name at idx ("float32", "int", ...); raises on an unknown name. */
ty_dtype lty_arg_dtype(lua_State *L, int idx, const char *fname);
/* device string at idx ("cpu", "vulkan:0"); raises on bad text. */
ty_device lty_arg_device(lua_State *L, int idx, const char *fname);
/* opts.dtype / opts.device, or def. */
ty_dtype lty_arg_opt_dtype(lua_State *L, int opts, const char *fname, ty_dtype def);
ty_device lty_arg_opt_device(lua_State *L, int opts, const char *fname, ty_device def);

/* A shape given as a table {2, 3} at idx or as integer varargs from idx.
 * Writes *next, the index after the shape. allow_infer admits one -1. */
int lty_arg_shape(lua_State *L, int idx, const char *fname, bool allow_infer,
                  int64_t *shape, int *next);
/* A list of integers (a table, or a single number) into out[max]; returns n. */
int lty_arg_ints(lua_State *L, int idx, const char *fname, const char *what,
                 int64_t *out, int max);

/* Borrowed array for the argument at idx. Non-arrays (numbers, booleans,
 * nested tables) are converted with lty_to_array against `like`, and the new
 * userdata replaces the argument in its stack slot (so the stack keeps its
 * layout and the collector owns the conversion). Other values raise "[fname]
 * argument N must be an array, ...". */
ty_array *lty_arg_array(lua_State *L, int idx, ty_array *like);
/* Same, converting Lua integers and tables to an int32 index array (int64
 * when a value needs it); non-integer numbers are an error. */
ty_array *lty_arg_index(lua_State *L, int idx, const char *fname);

/* Lua axis (1-based, negative from the end) -> 0-based axis in [0, ndim);
 * raises "[fname] axis 4 is out of range for shape (2,3)". */
int lty_arg_axis_value(lua_State *L, const char *fname, lua_Integer axis, int ndim,
                       const ty_array *a);
/* The axis at idx (an integer), validated for ndim. */
int lty_arg_axis(lua_State *L, int idx, const char *fname, int ndim, const ty_array *a);
/* The axis at idx or def (a Lua axis) when none/nil. */
int lty_arg_opt_axis(lua_State *L, int idx, const char *fname, int ndim,
                     const ty_array *a, lua_Integer def);
/* nil/none -> 0 axes (all); a number; or a table of axes. Returns naxes. */
int lty_arg_axes(lua_State *L, int idx, const char *fname, int ndim,
                 const ty_array *a, int *axes);

#endif
