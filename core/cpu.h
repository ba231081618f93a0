/*
 * cpu.h -- the CPU backend's kernels, one function per op family.
 *
 * Each kernel computes `out` (an unevaluated array whose node holds op,
 * inputs and params; out->buffer is allocated, contiguous, offset 0) from
 * evaluated inputs out->node->inputs[i], which may have any strides
 * (0 for broadcast, negative for flips) and an offset. Returns 0, or -1 with
 * the error set through ty__error (e.g. an out-of-range index).
 *
 * Shape contracts set up by the op constructors (core/ops*.c):
 *   - elementwise (unary, binary, where, astype): every input has exactly
 *     out's ndim and shape (broadcasting is already applied as 0 strides).
 *   - matmul: a (..., n, k) and b (..., k, m) have out's ndim (>= 2) and the
 *     same batch dims as out (broadcast batch dims have stride 0); a, b and
 *     out share one dtype.
 *   - take_along_axis: idx has out's shape; a has out's shape except along
 *     params.axis.
 *   - scatter_add: idx and src have the same shape; a has out's shape.
 *   - slice_update: v has the shape of the slice region.
 */
#ifndef TYCHO_CPU_H
#define TYCHO_CPU_H

#include "internal.h"

int cpu_creation(ty_array *out);       /* full, arange, linspace, eye */
int cpu_random(ty_array *out);         /* random (params.kind) */
int cpu_unary(ty_array *out);          /* TY_UNARY_OPS */
int cpu_binary(ty_array *out);         /* TY_BINARY_OPS */
int cpu_where(ty_array *out);
int cpu_astype(ty_array *out);
int cpu_copy(ty_array *out);           /* copy and reshape of a strided input */
int cpu_reduce(ty_array *out);         /* TY_REDUCE_OPS */
int cpu_arg_reduce(ty_array *out);     /* argmax, argmin */
int cpu_scan(ty_array *out);           /* cumsum, cumprod */
int cpu_softmax(ty_array *out);        /* softmax, log_softmax */
int cpu_matmul(ty_array *out);
int cpu_concatenate(ty_array *out);
int cpu_pad(ty_array *out);
int cpu_take(ty_array *out);           /* take, take_along_axis */
int cpu_scatter_add(ty_array *out);
int cpu_slice_update(ty_array *out);
int cpu_sort(ty_array *out);           /* sort, argsort */
int cpu_conv(ty_array *out);           /* core/cpu_conv.c */
int cpu_pool(ty_array *out);           /* pool, pool_grad (core/cpu_conv.c) */
int cpu_normalize(ty_array *out);      /* core/cpu_nn.c */
int cpu_attention(ty_array *out);      /* core/cpu_nn.c */
int cpu_softmax_cross_entropy(ty_array *out); /* core/cpu_nn.c */
int cpu_optim_update(ty_array *out);   /* core/cpu_optim.c */

/* Inverse error function in double precision (shared by the random kernel). */
double cpu_erfinv(double x);

#endif
