/*
 * array.h -- internals shared by the array userdata files: lua/array.c
 * (userdata, fields, operators, construction), lua/index.c (indexing and
 * assignment) and lua/print.c (printing). Prefix lty_.
 */
#ifndef TYCHO_LUA_ARRAY_H
#define TYCHO_LUA_ARRAY_H

#include "binding.h"

/* The box at idx, or NULL when idx holds no array userdata (a released box
 * is returned as is: box->a == NULL). */
lty_box *lty_box_test(lua_State *L, int idx);
/* Borrowed array for the value at idx: arrays as they are; anything else is
 * converted by lty_to_array against `like` and the new userdata replaces the
 * value in its stack slot (the collector owns the conversion). */
ty_array *lty_array_anchor(lua_State *L, int idx, ty_array *like);
/* Pushes an array userdata owning `a` (NULL allowed: box->a set later) and
 * returns its box; used as an error-safe holder of intermediate results. */
lty_box *lty_push_holder(lua_State *L, ty_array *a);
/* Replaces the holder's array by r (owned), releasing the old one; raises the
 * core error when r is NULL. */
void lty_holder_set(lua_State *L, lty_box *h, ty_array *r);
/* Evaluates a (with the GC retry) and accounts its memory; raises on error. */
void lty_eval_one(lua_State *L, ty_array *a);
/* Copies a to host memory as dtype into a new scratch userdata pushed on the
 * stack (raises on error). Returns the data. */
void *lty_host_copy(lua_State *L, ty_array *a, ty_dtype dtype);
/* Writes "(2,3)", "(3,)" or "()" (Python tuple style) into buf. */
char *lty_shape_tuple(int ndim, const int64_t *shape, char *buf, size_t size);

/* lua/index.c */
int lty_index_get(lua_State *L);      /* x[key] for non-string keys (x, key) */
int lty_index_set(lua_State *L);      /* __newindex (x, key, value) */

/* lua/print.c */
int lty_print_tostring(lua_State *L); /* __tostring */
void lty_open_print(lua_State *L);    /* ty.set/get_printoptions; ty on top */

#endif
