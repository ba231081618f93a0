/* ops.h -- helpers shared by the op constructors (core/ops*.c, random.c). */
#ifndef TYCHO_OPS_H
#define TYCHO_OPS_H

#include "internal.h"

/* "(2,3)" of a into buf (TY_SHAPE_BUF bytes). */
const char *ty__shp(const ty_array *a, char *buf);
/* Checks non-NULL inputs on one device. */
int ty__check_inputs(const char *op, ty_array *const *inputs, int n);
/* NumPy broadcast of the inputs' shapes. */
int ty__broadcast_shapes(const char *op, ty_array *const *inputs, int n, int *ndim,
                         int64_t *shape);
bool ty__same_shape(const ty_array *a, int ndim, const int64_t *shape);
int ty__broadcast_all(ty_array *const *in, int n, int ndim, const int64_t *shape,
                      ty_array **out);
ty_array *ty__elementwise(ty_op op, ty_array *const *inputs, int n, ty_dtype dtype);
ty_array *ty__cast(ty_array *a, ty_dtype dtype);
ty_array *ty__const_like(ty_array *a, double v, ty_dtype dtype);
/* Resolves and sorts axes (NULL/0: all); -1 + error on duplicates/range. */
int ty__resolve_axes(const char *op, const int *axes, int naxes, int ndim, int *out);

/* Releases the n temporaries that follow (NULL ones are skipped) and returns
 * r: `return ty__drop(result, 2, t1, t2)`. */
ty_array *ty__drop(ty_array *r, int n, ...);

#endif
