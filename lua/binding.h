/*
 * binding.h -- shared internals of the Lua binding (the C files of lua/). Prefix lty_.
 * The binding is the only layer that turns core errors into Lua errors.
 */
#ifndef TYCHO_BINDING_H
#define TYCHO_BINDING_H

#include <lauxlib.h>
#include <lua.h>

#include "tycho.h"

#define LTY_ARRAY_MT "tycho.Array"
#define LTY_KEY_MT "tycho.Key"

/* The array userdata: owns one reference (NULL once released). */
typedef struct lty_box {
    ty_array *a;
} lty_box;

/* Borrowed array at idx; raises "attempt to use a released array" or a type
 * error naming the argument. */
ty_array *lty_check(lua_State *L, int idx);
/* Array at idx or NULL (not an array userdata). */
ty_array *lty_test(lua_State *L, int idx);
/* Pushes a new userdata owning `a`. If a is NULL, raises the core's error
 * message as a Lua error (after one full GC + retry is no longer possible, so
 * callers that allocate use LTY_CALL below). */
void lty_push(lua_State *L, ty_array *a);
/* Converts the value at idx to an owned array: arrays are retained; Lua
 * numbers become weak scalars of a dtype chosen against `like` (may be NULL:
 * float32 for floats, int32 for integers); booleans become bool scalars;
 * nested tables are converted as ty.array does. */
ty_array *lty_to_array(lua_State *L, int idx, ty_array *like);
/* Converts the nested table of numbers or booleans at idx to an owned array
 * of dtype on the default device (raises on a ragged table). */
ty_array *lty_table_to_array(lua_State *L, int idx, ty_dtype dtype);
/* Lua axis (1-based, negative from the end) at idx -> core axis (0-based,
 * negative allowed). */
int lty_axis_arg(lua_State *L, int idx);
/* Reads a shape from a table or from varargs starting at idx. Returns ndim. */
int lty_shape_arg(lua_State *L, int idx, int64_t *shape);
/* Options table helpers: idx is the options table (may be none/nil). */
ty_dtype lty_opt_dtype(lua_State *L, int idx, const char *field, ty_dtype def);
ty_device lty_opt_device(lua_State *L, int idx, ty_device def);
/* Raises the core's current error as a Lua error. */
int lty_error(lua_State *L);
/* Runs a full GC, for a retry after an allocation failure. */
void lty_full_gc(lua_State *L);
/* Steps Lua's collector in proportion to device bytes allocated since the
 * last call (device memory is invisible to it). */
void lty_gc_account(lua_State *L);

/* Module parts, called by luaopen_tycho with the `ty` table on top. */
void lty_open_array(lua_State *L);     /* lua/array.c: metatable, ty.array ... */
void lty_open_ops(lua_State *L);       /* lua/ops.c: every op as ty.op + methods */
void lty_open_random(lua_State *L);    /* lua/random.c: ty.random.* */
void lty_open_runtime(lua_State *L);   /* lua/runtime.c: devices, memory, threads */
void lty_open_grad(lua_State *L);      /* lua/grad.c: ty.stop_gradient, autograd primitives */
void lty_open_io(lua_State *L);        /* lua/io.c: ty.save, ty.load, ty.io.* */
void lty_open_conv(lua_State *L);      /* lua/ops_conv.c: conv, pooling */
void lty_open_nnops(lua_State *L);     /* lua/ops_nn.c: normalize, attention, cross-entropy */
void lty_open_optim(lua_State *L);     /* lua/ops_optim.c: fused optimizer kernels */
void lty_open_linalg(lua_State *L);    /* lua/linalg.c: ty.linalg (LAPACK), einsum */
void lty_open_viz(lua_State *L);       /* lua/viz.c: plots, graphviz, terminal (viz/) */
void lty_open_data(lua_State *L);      /* lua/data.c: ty.io.read_idx/read_csv, ty.data C part */

/* After a failed core call: when the error is an allocation failure
 * ("[alloc] ..."), runs a full GC (and clears the core's cache) and returns 1,
 * so the caller retries once; otherwise returns 0. */
int lty_retry_alloc(lua_State *L);
/* out = expr (a ty_array *), retried once after a full GC on "[alloc]". */
#define LTY_CALL(L, out, expr)                                                \
    do {                                                                      \
        (out) = (expr);                                                       \
        if (!(out) && lty_retry_alloc(L)) (out) = (expr);                     \
    } while (0)
/* rc = expr (an int, 0 or -1), retried once after a full GC on "[alloc]". */
#define LTY_CALL_INT(L, rc, expr)                                             \
    do {                                                                      \
        (rc) = (expr);                                                        \
        if ((rc) != 0 && lty_retry_alloc(L)) (rc) = (expr);                   \
    } while (0)

/* Registers method `name` on arrays (x:name(...)); the function on top. */
void lty_set_method(lua_State *L, const char *name);

int luaopen_tycho(lua_State *L);

#endif
