/*
 * tycho.h -- the public C API of tycho's array core.
 *
 * Arrays are refcounted, lazy handles. Building an op checks shapes and
 * dtypes, infers the output shape and records a node; nothing runs until a
 * value is needed (ty_eval, ty_item, ty_copy_to, ...).
 *
 * Conventions
 *   - Functions returning ty_array * return a new owned reference, or NULL on
 *     error; functions returning int return 0 on success and -1 on error.
 *     On error, ty_error_message() names the op and the shapes:
 *     "[matmul] inner dimensions differ: (32,784) @ (512,256)".
 *   - Input arrays are borrowed: an op never consumes its caller's reference.
 *   - Axes are 0-based and may be negative (-1 is the last axis).
 *   - Ops that produce or consume element indices (argmax, argsort, take,
 *     scatter_add, one_hot, permutation) take an `index_base`: 0 for C
 *     conventions, 1 for Lua's (the Lua binding passes 1).
 *   - The core never aborts or prints on bad input.
 */
#ifndef TYCHO_H
#define TYCHO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TY_VERSION "0.1.0"
#define TY_MAX_DIMS 8

typedef struct ty_array ty_array;

/* ---------------------------------------------------------------- errors */

/* Axes in error messages are shown in this base: 0 (the default) for C,
 * 1 for Lua; negative axes are shown as given. */
void ty_set_axis_base(int base);

/* The last error message of this thread ("" when none). */
const char *ty_error_message(void);
void ty_error_clear(void);

/* ---------------------------------------------------------------- dtypes */

/* Ordered by promotion rank (float16 and bfloat16 promote to float32). */
typedef enum ty_dtype {
    TY_BOOL,
    TY_UINT8,
    TY_INT32,
    TY_INT64,
    TY_FLOAT16,
    TY_BFLOAT16,
    TY_FLOAT32,
    TY_FLOAT64,
    TY_DTYPE_COUNT
} ty_dtype;

const char *ty_dtype_name(ty_dtype dtype);            /* "float32", ... */
int ty_dtype_from_name(const char *name, ty_dtype *out); /* also "f32", "int", ... */
size_t ty_dtype_size(ty_dtype dtype);
bool ty_dtype_is_float(ty_dtype dtype);
bool ty_dtype_is_integer(ty_dtype dtype);             /* uint8, int32, int64 */
/* MLX promotion of two array dtypes. */
ty_dtype ty_promote(ty_dtype a, ty_dtype b);

/* Half-precision conversions (round to nearest even). */
float ty_half_to_float(uint16_t h);
uint16_t ty_float_to_half(float f);
float ty_bfloat_to_float(uint16_t b);
uint16_t ty_float_to_bfloat(float f);

/* ---------------------------------------------------------------- devices */

typedef enum ty_device_kind { TY_CPU = 0, TY_VULKAN = 1 } ty_device_kind;

typedef struct ty_device {
    ty_device_kind kind;
    int index;
} ty_device;

ty_device ty_default_device(void);
int ty_set_default_device(ty_device device);
/* Parses "cpu", "vulkan", "vulkan:N", "gpu". */
int ty_device_parse(const char *text, ty_device *out);
/* Writes "cpu" or "vulkan:0" into buf (at least 16 bytes); returns buf. */
char *ty_device_string(ty_device device, char *buf, size_t size);
bool ty_device_equal(ty_device a, ty_device b);
bool ty_device_available(ty_device device);

/* What tycho knows of a device (ty.devices(), `tycho devices`). */
typedef struct ty_device_info {
    ty_device device;
    char name[256];
    const char *type;                  /* "cpu", "discrete", "integrated",
                                          "virtual", "software" */
    uint64_t memory;                   /* bytes (device-local heap, or RAM) */
    uint32_t subgroup_size;            /* 0 for the CPU */
    uint32_t shared_memory;            /* bytes per workgroup */
    uint64_t max_buffer_range;         /* maxStorageBufferRange */
    uint64_t max_allocation;           /* maxMemoryAllocationSize */
    bool float16;                      /* float16 arithmetic in shaders */
    bool cooperative_matrix;           /* matrix units (16x16x16 f16 -> f32) */
    bool usable;                       /* false: note says why */
    char note[128];
} ty_device_info;

/* Devices: index 0 is the CPU, then Vulkan devices vulkan:0, vulkan:1, ...
 * (discrete first, then integrated, then software). */
int ty_device_count(void);
int ty_device_get_info(int index, ty_device_info *out);

/* ---------------------------------------------------------------- runtime */

void ty_set_num_threads(int n);        /* <= 0: number of cores */
int ty_get_num_threads(void);

/* Memory of one backend, in bytes. */
typedef struct ty_memory_stats {
    size_t active;                     /* held by live buffers */
    size_t peak;                       /* highest active since start/reset */
    size_t cached;                     /* freed but kept for reuse */
    size_t limit;                      /* a request past it fails */
} ty_memory_stats;

int ty_memory_stats_get(ty_device device, ty_memory_stats *out);
/* Sets the limit; 0 restores the default (a share of physical memory). */
int ty_memory_limit_set(ty_device device, size_t bytes);
void ty_memory_reset_peak(ty_device device);
void ty_clear_cache(void);

/* Ctrl-C: set from a signal handler; evaluation stops at the next node
 * boundary with the error "interrupted" and clears the flag. */
void ty_interrupt(void);
void ty_interrupt_clear(void);

/* ---------------------------------------------------------------- arrays */

ty_array *ty_retain(ty_array *a);
void ty_release(ty_array *a);          /* NULL is a no-op */

int ty_ndim(const ty_array *a);
const int64_t *ty_shape(const ty_array *a);
int64_t ty_dim(const ty_array *a, int axis);   /* negative axes allowed */
int64_t ty_size(const ty_array *a);
ty_dtype ty_dtype_of(const ty_array *a);
ty_device ty_device_of(const ty_array *a);
bool ty_is_evaluated(const ty_array *a);
/* Writes "(2,3)" into buf; returns buf. */
char *ty_shape_string(const ty_array *a, char *buf, size_t size);

/* A user-visible name, shown by graph export. NULL clears it. */
int ty_set_name(ty_array *a, const char *name);
const char *ty_get_name(const ty_array *a);

/* Evaluates the arrays (and everything they depend on) in one pass. */
int ty_eval(ty_array *const *arrays, int n);

/* Evaluates a and copies its elements, row-major and contiguous, converted
 * to dtype, into dst (ty_size(a) * ty_dtype_size(dtype) bytes). */
int ty_copy_to(ty_array *a, void *dst, ty_dtype dtype);
/* Value of a one-element array, evaluated. */
int ty_item(ty_array *a, double *out);
int ty_item_int64(ty_array *a, int64_t *out);

/* Copies data (row-major, contiguous, of the given dtype) into a new array. */
ty_array *ty_from_data(const void *data, ty_dtype dtype, int ndim,
                       const int64_t *shape, ty_device device);
/* A 0-d array holding value. */
ty_array *ty_scalar(double value, ty_dtype dtype, ty_device device);
/* Moves a to device (a copy; a itself is unchanged). */
ty_array *ty_to_device(ty_array *a, ty_device device);

/* ---------------------------------------------------------------- ops
 * Every op is recorded as a node; the primitives are listed in ty_op.
 * Ops not in the list (mean, var, clip, softmax helpers, ...) are
 * compositions of primitives.
 */

#define TY_UNARY_OPS(X)                                                       \
    X(NEG, neg) X(ABS, abs) X(SIGN, sign) X(EXP, exp) X(LOG, log)             \
    X(LOG1P, log1p) X(EXPM1, expm1) X(SQRT, sqrt) X(RSQRT, rsqrt)             \
    X(SQUARE, square) X(RECIPROCAL, reciprocal) X(SIN, sin) X(COS, cos)       \
    X(TAN, tan) X(TANH, tanh) X(SIGMOID, sigmoid) X(RELU, relu)               \
    X(GELU, gelu) X(GELU_TANH, gelu_tanh) X(SILU, silu)                       \
    X(SOFTPLUS, softplus) X(ERF, erf) X(ERFINV, erfinv) X(FLOOR, floor)       \
    X(CEIL, ceil) X(ROUND, round) X(LOGICAL_NOT, logical_not)                 \
    X(ISNAN, isnan) X(ISINF, isinf) X(ASIN, asin) X(ACOS, acos)               \
    X(ATAN, atan) X(SINH, sinh) X(COSH, cosh) X(LOG2, log2) X(LOG10, log10)   \
    X(EXP2, exp2) X(TRUNC, trunc)

#define TY_BINARY_OPS(X)                                                      \
    X(ADD, add) X(SUB, sub) X(MUL, mul) X(DIV, div)                           \
    X(FLOOR_DIVIDE, floor_divide) X(POW, pow) X(MAXIMUM, maximum)             \
    X(MINIMUM, minimum) X(REMAINDER, remainder) X(ATAN2, atan2)               \
    X(EQ, eq) X(NE, ne) X(LT, lt) X(LE, le) X(GT, gt) X(GE, ge)               \
    X(LOGICAL_AND, logical_and) X(LOGICAL_OR, logical_or)

/* Reductions producing the input dtype (sum/prod promote bool and small
 * integers to int32/int64 as NumPy does; see ty_sum). */
#define TY_REDUCE_OPS(X)                                                      \
    X(SUM, sum) X(PROD, prod) X(MAX, max) X(MIN, min) X(ALL, all) X(ANY, any)

#define TY_OP_ENUM_(NAME, name) TY_OP_##NAME,
typedef enum ty_op {
    TY_OP_NONE = 0,
    /* creation (no inputs) */
    TY_OP_FULL, TY_OP_ARANGE, TY_OP_LINSPACE, TY_OP_EYE, TY_OP_RANDOM,
    /* elementwise */
    TY_UNARY_OPS(TY_OP_ENUM_)
    TY_BINARY_OPS(TY_OP_ENUM_)
    TY_OP_WHERE, TY_OP_ASTYPE,
    /* reductions and scans */
    TY_REDUCE_OPS(TY_OP_ENUM_)
    TY_OP_ARGMAX, TY_OP_ARGMIN, TY_OP_CUMSUM, TY_OP_CUMPROD,
    TY_OP_SOFTMAX, TY_OP_LOG_SOFTMAX,
    /* linear algebra */
    TY_OP_MATMUL,
    /* views (no kernel: the output shares the input's buffer) */
    TY_OP_RESHAPE, TY_OP_TRANSPOSE, TY_OP_BROADCAST_TO, TY_OP_SLICE,
    /* data movement */
    TY_OP_COPY, TY_OP_CONCATENATE, TY_OP_PAD, TY_OP_TAKE, TY_OP_TAKE_ALONG_AXIS,
    TY_OP_SCATTER_ADD, TY_OP_SLICE_UPDATE, TY_OP_SORT, TY_OP_ARGSORT,
    /* neural-network primitives (core/ops_conv.c, ops_nn.c, ops_optim.c) */
    TY_OP_CONV, TY_OP_POOL, TY_OP_POOL_GRAD, TY_OP_NORMALIZE, TY_OP_ATTENTION,
    TY_OP_SOFTMAX_CROSS_ENTROPY, TY_OP_OPTIM_UPDATE,
    TY_OP_COUNT
} ty_op;
#undef TY_OP_ENUM_

const char *ty_op_name(ty_op op);      /* "matmul", "add", ... */

/* creation */
ty_array *ty_full(int ndim, const int64_t *shape, double value, ty_dtype dtype,
                  ty_device device);
ty_array *ty_zeros(int ndim, const int64_t *shape, ty_dtype dtype, ty_device device);
ty_array *ty_ones(int ndim, const int64_t *shape, ty_dtype dtype, ty_device device);
ty_array *ty_full_like(ty_array *a, double value);
ty_array *ty_zeros_like(ty_array *a);
ty_array *ty_ones_like(ty_array *a);
/* n values start, start+step, ... (1-d). */
ty_array *ty_arange(double start, double step, int64_t n, ty_dtype dtype,
                    ty_device device);
/* n values from a to b inclusive. */
ty_array *ty_linspace(double a, double b, int64_t n, ty_dtype dtype, ty_device device);
/* n x m with ones on diagonal k (k > 0 above the main diagonal). */
ty_array *ty_eye(int64_t n, int64_t m, int64_t k, ty_dtype dtype, ty_device device);

/* elementwise: ty_neg(a), ..., ty_add(a, b), ... with NumPy broadcasting.
 * Comparisons and logical ops return bool; div of integers gives float32;
 * floor_divide and remainder follow Python (sign of the divisor). */
#define TY_DECLARE_UNARY_(NAME, name) ty_array *ty_##name(ty_array *a);
#define TY_DECLARE_BINARY_(NAME, name) ty_array *ty_##name(ty_array *a, ty_array *b);
TY_UNARY_OPS(TY_DECLARE_UNARY_)
TY_BINARY_OPS(TY_DECLARE_BINARY_)
#undef TY_DECLARE_UNARY_
#undef TY_DECLARE_BINARY_
ty_array *ty_unary(ty_op op, ty_array *a);
ty_array *ty_binary(ty_op op, ty_array *a, ty_array *b);
ty_array *ty_where(ty_array *cond, ty_array *a, ty_array *b);
/* clip to [lo, hi]; either bound may be NULL. */
ty_array *ty_clip(ty_array *a, ty_array *lo, ty_array *hi);
ty_array *ty_astype(ty_array *a, ty_dtype dtype);
/* Result dtype of a binary op on a and b. */
ty_dtype ty_result_dtype(ty_op op, ty_dtype a, ty_dtype b);

/* reductions over `naxes` axes (naxes == 0 and axes == NULL: all axes) */
#define TY_DECLARE_REDUCE_(NAME, name)                                        \
    ty_array *ty_##name(ty_array *a, const int *axes, int naxes, bool keepdims);
TY_REDUCE_OPS(TY_DECLARE_REDUCE_)
#undef TY_DECLARE_REDUCE_
ty_array *ty_reduce(ty_op op, ty_array *a, const int *axes, int naxes, bool keepdims);
ty_array *ty_mean(ty_array *a, const int *axes, int naxes, bool keepdims);
ty_array *ty_var(ty_array *a, const int *axes, int naxes, bool keepdims, int ddof);
ty_array *ty_std(ty_array *a, const int *axes, int naxes, bool keepdims, int ddof);
ty_array *ty_logsumexp(ty_array *a, const int *axes, int naxes, bool keepdims);
/* Index of the first max/min along axis (int32), plus index_base. */
ty_array *ty_argmax(ty_array *a, int axis, bool keepdims, int index_base);
ty_array *ty_argmin(ty_array *a, int axis, bool keepdims, int index_base);
/* Inclusive scans along axis; reverse scans from the end. */
ty_array *ty_cumsum(ty_array *a, int axis, bool reverse);
ty_array *ty_cumprod(ty_array *a, int axis, bool reverse);
ty_array *ty_softmax(ty_array *a, int axis);
ty_array *ty_log_softmax(ty_array *a, int axis);

/* (..., n, k) @ (..., k, m) with broadcast batch dims; 1-d operands are
 * promoted as in NumPy. */
ty_array *ty_matmul(ty_array *a, ty_array *b);

/* shape */
/* One entry of shape may be -1 (inferred). */
ty_array *ty_reshape(ty_array *a, int ndim, const int64_t *shape);
/* perm == NULL reverses the axes. */
ty_array *ty_transpose(ty_array *a, const int *perm);
ty_array *ty_swapaxes(ty_array *a, int axis1, int axis2);
ty_array *ty_broadcast_to(ty_array *a, int ndim, const int64_t *shape);
/* naxes == 0: every axis of size 1. */
ty_array *ty_squeeze(ty_array *a, const int *axes, int naxes);
/* axis in [-(ndim+1), ndim]. */
ty_array *ty_expand_dims(ty_array *a, int axis);
/* Merges axes start..end (inclusive) into one. */
ty_array *ty_flatten(ty_array *a, int start_axis, int end_axis);
/* start/stop/step per axis, 0-based, stop exclusive, Python semantics for
 * negative steps (start/stop already clamped and resolved by the caller:
 * stop may be -1 with a negative step meaning "before index 0"). */
ty_array *ty_slice(ty_array *a, const int64_t *start, const int64_t *stop,
                   const int64_t *step);
/* A copy of a with the slice region replaced by v (broadcast to it). */
ty_array *ty_slice_update(ty_array *a, ty_array *v, const int64_t *start,
                          const int64_t *stop, const int64_t *step);
ty_array *ty_contiguous(ty_array *a);
ty_array *ty_concatenate(ty_array *const *arrays, int n, int axis);
ty_array *ty_stack(ty_array *const *arrays, int n, int axis);
/* Splits into `sections` equal parts, or at `indices` (0-based, increasing)
 * when nindices > 0; writes up to max_out owned arrays to out; returns the
 * number of parts or -1. */
int ty_split(ty_array *a, int sections, const int64_t *indices, int nindices,
             int axis, ty_array **out, int max_out);
/* before/after: pad widths per axis, constant value. */
ty_array *ty_pad(ty_array *a, const int64_t *before, const int64_t *after, double value);
/* Each element repeated `repeats` times along axis. */
ty_array *ty_repeat(ty_array *a, int64_t repeats, int axis);
/* reps has nreps entries (aligned to the last axes, as NumPy). */
ty_array *ty_tile(ty_array *a, const int64_t *reps, int nreps);
ty_array *ty_flip(ty_array *a, const int *axes, int naxes);

/* indexing: indices are integer arrays; index_base is subtracted from
 * non-negative indices; negative indices count from the end (-1 is the last
 * in either base). Out-of-range indices are an error at evaluation time. */
/* NumPy take: out shape = a.shape[:axis] + idx.shape + a.shape[axis+1:]. */
ty_array *ty_take(ty_array *a, ty_array *indices, int axis, int index_base);
/* NumPy take_along_axis / torch.gather: idx has a's ndim, broadcasts on the
 * other axes. */
ty_array *ty_take_along_axis(ty_array *a, ty_array *indices, int axis, int index_base);
/* torch.scatter_add: a copy of a with src[...] added at positions idx along
 * axis (idx and src have the same shape). */
ty_array *ty_scatter_add(ty_array *a, int axis, ty_array *indices, ty_array *src,
                         int index_base);
/* (..., C) float array with 1 at position idx (bool mask when dtype TY_BOOL). */
ty_array *ty_one_hot(ty_array *indices, int64_t num_classes, ty_dtype dtype,
                     int index_base);

/* sorting along axis (stable; NaN last). */
ty_array *ty_sort(ty_array *a, int axis, bool descending);
ty_array *ty_argsort(ty_array *a, int axis, bool descending, int index_base);
/* The k largest (or smallest) along axis, sorted; either out may be NULL. */
int ty_topk(ty_array *a, int64_t k, int axis, bool largest, int index_base,
            ty_array **values, ty_array **indices);

/* ---------------------------------------------------------------- random
 * Counter-based (Philox-4x32-10). A key is two 32-bit words; draws are a
 * pure function of (key, element index), identical on every backend.
 */

typedef struct ty_key {
    uint32_t w[2];
} ty_key;

ty_key ty_random_key(uint64_t seed);
/* n new keys derived from key. */
void ty_random_split(ty_key key, int n, ty_key *out);
/* The process-wide default key: seed it, or take a fresh subkey of it. */
void ty_random_seed(uint64_t seed);
ty_key ty_random_next_key(void);
/* The global key itself (seeded from the clock if never seeded), and setting
 * it: saving and restoring it replays the same draws (checkpoints). */
ty_key ty_random_get_key(void);
void ty_random_set_key(ty_key key);

/* Uniform in [lo, hi). */
ty_array *ty_random_uniform(ty_key key, int ndim, const int64_t *shape, double lo,
                            double hi, ty_dtype dtype, ty_device device);
ty_array *ty_random_normal(ty_key key, int ndim, const int64_t *shape, double mean,
                           double stddev, ty_dtype dtype, ty_device device);
/* Integers in [lo, hi], both included. */
ty_array *ty_random_randint(ty_key key, int ndim, const int64_t *shape, int64_t lo,
                            int64_t hi, ty_dtype dtype, ty_device device);
/* Standard normal truncated to [lo, hi]. */
ty_array *ty_random_truncated_normal(ty_key key, int ndim, const int64_t *shape,
                                     double lo, double hi, ty_dtype dtype,
                                     ty_device device);
/* bool array, true with probability p. */
ty_array *ty_random_bernoulli(ty_key key, int ndim, const int64_t *shape, double p,
                              ty_device device);
/* A shuffle of index_base .. index_base + n - 1 (int32, or int64 if needed). */
ty_array *ty_random_permutation(ty_key key, int64_t n, int index_base, ty_device device);
/* Raw 32-bit draws, stored as int64 values in [0, 2^32). */
ty_array *ty_random_bits(ty_key key, int ndim, const int64_t *shape, ty_device device);

/* ---------------------------------------------------------------- autograd
 * Transforms over the lazy graph. Every primitive has a VJP and a JVP rule
 * written with differentiable ops, so transforms compose (higher order).
 * Non-differentiable ops (comparisons, argmax, argsort, random, integer
 * results) pass zero gradients.
 */

/* Reverse mode: grads[i] (owned, shaped like inputs[i]) is the sum over j of
 * cotangents[j] (shaped like outputs[j]; NULL: ones) pulled back through the
 * graph behind outputs[j] to inputs[i]; zeros where there is no path. */
int ty_vjp(ty_array *const *outputs, ty_array *const *cotangents, int nout,
           ty_array *const *inputs, int nin, ty_array **grads);
/* Forward mode: out_tangents[j] (owned) is the derivative of outputs[j]
 * along tangents[i] (shaped like inputs[i]; NULL: zero). */
int ty_jvp(ty_array *const *outputs, int nout, ty_array *const *inputs,
           ty_array *const *tangents, int nin, ty_array **out_tangents);
/* a, with no gradient flowing through it (a view; no copy). */
ty_array *ty_stop_gradient(ty_array *a);
/* A distinct handle on a (a view; no copy) to differentiate against: the
 * graph built from it can tell it apart from other uses of a. */
ty_array *ty_trace_input(ty_array *a);
/* Custom VJP: returns a view of `output` whose gradient is given by fn
 * instead of the graph behind output: fn(ctx, g, grads) writes the owned
 * cotangents of inputs[0..nin) (NULL: none) for the cotangent g of output.
 * free_ctx(ctx) runs when the node is released. Used by checkpointing. */
typedef int (*ty_vjp_fn)(void *ctx, ty_array *g, ty_array **grads);
ty_array *ty_custom_vjp(ty_array *output, ty_array *const *inputs, int nin,
                        ty_vjp_fn fn, void *ctx, void (*free_ctx)(void *ctx));
/* While a transform runs, evaluation keeps the graph behind evaluated arrays
 * (it is normally dropped) so the transform can still walk it. Nests. */
void ty_retain_graph_begin(void);
void ty_retain_graph_end(void);


/* ---------------------------------------------------------------- nn
 * Primitives of neural networks, each with CPU and Vulkan kernels and VJP/JVP
 * rules. Spatial options have one entry per spatial axis (at most
 * TY_MAX_SPATIAL, PyTorch order); a 0 entry means the default (1 for
 * strides and dilations, 0 for paddings).
 */
#define TY_MAX_SPATIAL 3

typedef struct ty_conv_opts {
    int64_t stride[TY_MAX_SPATIAL];
    int64_t pad_lo[TY_MAX_SPATIAL];    /* zero padding before, per axis */
    int64_t pad_hi[TY_MAX_SPATIAL];    /* zero padding after, per axis */
    int64_t dilation[TY_MAX_SPATIAL];  /* kernel dilation */
    int64_t in_dilation[TY_MAX_SPATIAL]; /* input dilation (transposed convs) */
    int groups;                        /* 0 or 1: ungrouped */
    bool flip;                         /* flip the kernel spatially */
} ty_conv_opts;

/* General N-d convolution (cross-correlation unless flip), 1..3 spatial
 * axes: x (N, C, *spatial), w (O, C/groups, *kernel) -> (N, O, *out) with
 * out = floor((in_dilated + pad_lo + pad_hi - dilation*(k-1) - 1)/stride) + 1,
 * in_dilated = (in-1)*in_dilation + 1. Transposed convolutions and the
 * gradients of convolutions are expressed with it. */
ty_array *ty_conv_general(ty_array *x, ty_array *w, const ty_conv_opts *opts);

typedef enum ty_pool_kind { TY_POOL_MAX, TY_POOL_AVG } ty_pool_kind;

typedef struct ty_pool_opts {
    int64_t kernel[TY_MAX_SPATIAL];    /* required */
    int64_t stride[TY_MAX_SPATIAL];    /* 0: the kernel size */
    int64_t pad_lo[TY_MAX_SPATIAL];    /* implicit -inf (max) or 0 (avg) */
    int64_t pad_hi[TY_MAX_SPATIAL];
    int64_t dilation[TY_MAX_SPATIAL];  /* max only */
    bool ceil_mode;                    /* as PyTorch */
    bool count_include_pad;            /* avg: divide by the window incl. padding */
} ty_pool_opts;

/* Pools the last nsp axes of x (any leading axes). */
ty_array *ty_pool(ty_array *x, int nsp, ty_pool_kind kind, const ty_pool_opts *opts);
/* The cotangent of x given g, the cotangent of ty_pool(x, ...): max routes
 * each window's g to the first position holding the window's maximum. */
ty_array *ty_pool_grad(ty_array *x, ty_array *g, int nsp, ty_pool_kind kind,
                       const ty_pool_opts *opts);
/* Max pooling's selection applied to t: for each window of x, the value of t
 * at the position of x's maximum (the JVP of max pooling; t shaped like x). */
ty_array *ty_max_pool_select(ty_array *x, ty_array *t, int nsp, const ty_pool_opts *opts);

/* (x - mean) / sqrt(var + eps) over the given axes (biased variance), or
 * with rms: x / sqrt(mean(x^2) + eps). No affine part. */
ty_array *ty_normalize(ty_array *x, int naxes, const int *axes, double eps, bool rms);
/* ty_normalize(x, ...) * weight + bias, fused (one pass over x on Vulkan).
 * weight and bias (either may be NULL) broadcast to x's shape (NumPy rules:
 * e.g. shaped like the trailing normalised axes for layer norm, or
 * (1, C, 1, ...) for per-channel norms); differentiable in all three. The
 * output dtype is the float dtype of x, weight and bias promoted. */
ty_array *ty_normalize_affine(ty_array *x, int naxes, const int *axes, double eps, bool rms,
                              ty_array *weight, ty_array *bias);

/* softmax(q k^T * scale + mask) v. q (..., Lq, D), k (..., Lk, D),
 * v (..., Lk, Dv) with equal leading axes; mask (NULL, bool: true keeps,
 * or float: added) broadcastable to (..., Lq, Lk); causal keeps key j for
 * query i when j <= i + Lk - Lq (bottom-right aligned, as for a KV cache;
 * PyTorch's is_causal when Lq == Lk). A fully masked row gives zeros. */
ty_array *ty_attention(ty_array *q, ty_array *k, ty_array *v, ty_array *mask, double scale,
                       bool causal);

/* -log_softmax(logits)[label] per row: logits (..., C) float, labels (...)
 * integer, counted from index_base. Rows whose raw label equals
 * ignore_index (when has_ignore) give 0. Out-of-range labels are an error. */
ty_array *ty_softmax_cross_entropy(ty_array *logits, ty_array *labels, int index_base,
                                   bool has_ignore, int64_t ignore_index);

/* Fused optimizer steps: one kernel reads param, grad and the state arrays
 * and writes a (1 + nstate, *param.shape) array: the new param, then the new
 * states, in order (slice it). hp: hyperparameters, per kind (core/ops_optim.c
 * documents each). Not differentiable. */
typedef enum ty_optim_kind {
    TY_OPTIM_SGD, TY_OPTIM_ADAM, TY_OPTIM_RMSPROP, TY_OPTIM_ADAGRAD, TY_OPTIM_ADADELTA,
    TY_OPTIM_ADAMAX, TY_OPTIM_LION, TY_OPTIM_KIND_COUNT
} ty_optim_kind;
#define TY_OPTIM_MAX_HP 12
ty_array *ty_optim_update(ty_optim_kind kind, ty_array *param, ty_array *grad, int nstate,
                          ty_array *const *state, const double *hp, int nhp);

/* ---------------------------------------------------------------- linalg
 * Factorizations run on the CPU through LAPACK (OpenBLAS), in float64,
 * whatever the input's device (as MLX does): inputs are evaluated and copied
 * to the host, and the results, evaluated, are put on the input's device.
 * float64 inputs give float64 results, all others float32. Matrices are the
 * last two axes; leading axes are a batch. Errors name the function and the
 * shape: "[linalg.inv] expected square matrices (...,n,n), got (3,4)",
 * singular matrices, matrices not positive definite.
 * Differentiable (custom VJPs, to any order, and forward-mode tangents
 * inside transforms): inv, solve, det, slogdet's logabsdet, cholesky, eigh
 * (distinct eigenvalues), svd's singular values, qr (m >= n, square r);
 * differentiating svd's u/vt, pinv, lstsq or a wide qr is an error (reverse
 * mode). norm and einsum are compositions of ops (lazy, differentiable).
 */
ty_array *ty_linalg_inv(ty_array *a);
/* a (..., n, n); b (..., n, k), or (..., n) when b.ndim is 1 or a.ndim - 1
 * (NumPy 1.x); batch axes broadcast. */
ty_array *ty_linalg_solve(ty_array *a, ty_array *b);
ty_array *ty_linalg_det(ty_array *a);
/* sign (0 when singular) and log|det| (-inf when singular); either may be NULL. */
int ty_linalg_slogdet(ty_array *a, ty_array **sign, ty_array **logabsdet);
/* Lower L with a = L L^T, or upper U = L^T (a = U^T U). */
ty_array *ty_linalg_cholesky(ty_array *a, bool upper);
/* a (..., m, n) = q r; reduced: q (..., m, k), r (..., k, n), k = min(m, n);
 * complete: q (..., m, m), r (..., m, n). */
int ty_linalg_qr(ty_array *a, bool complete, ty_array **q, ty_array **r);
/* a = u diag(s) vt, s descending (..., k); u and vt NULL: values only;
 * full_matrices: u (..., m, m), vt (..., n, n), else (..., m, k), (..., k, n). */
int ty_linalg_svd(ty_array *a, bool full_matrices, ty_array **u, ty_array **s,
                  ty_array **vt);
/* Symmetric eigendecomposition from the lower (or upper) triangle: w
 * ascending (..., n), v (..., n, n) with eigenvectors as columns. */
int ty_linalg_eigh(ty_array *a, bool upper, ty_array **w, ty_array **v);
/* Moore-Penrose pseudo-inverse (..., n, m); singular values <= rcond *
 * max(s) are dropped (NumPy's default rcond is 1e-15). */
ty_array *ty_linalg_pinv(ty_array *a, double rcond);
/* Rank (int32, (...)) from the singular values above tol (tol < 0: max(s) *
 * max(m, n) * eps of the dtype). */
ty_array *ty_linalg_matrix_rank(ty_array *a, double tol);
/* Least squares of a (m, n) x = b (m,) or (m, k) (LAPACK dgelsd; rcond < 0:
 * eps * max(m, n)): x (n,) or (n, k), residuals (k,) (or (1,) for a vector
 * b) when rank == n < m, else (0,); rank; singular values (min(m, n),).
 * residuals, rank and sv may be NULL. */
int ty_linalg_lstsq(ty_array *a, ty_array *b, double rcond, ty_array **x,
                    ty_array **residuals, int64_t *rank, ty_array **sv);
/* numpy.linalg.norm: ord NULL (2-norm / Frobenius), "fro", "nuc", or a number
 * ("2", "-1", "inf", "-inf", "0", "3.5"); naxes 0 (all axes, or the 1-d/2-d
 * input when ord is given), 1 (vector norm) or 2 (matrix norm). */
ty_array *ty_linalg_norm(ty_array *a, const char *ord, const int *axes, int naxes,
                         bool keepdims);
/* numpy.einsum ("ij,jk->ik", implicit output, "...", repeated indices):
 * diagonals, sums, transposes, reshapes and matmuls, contracted pairwise left
 * to right (lazy, differentiable). */
ty_array *ty_einsum(const char *subscripts, ty_array *const *operands, int n);

/* ---------------------------------------------------------------- files
 * Readers validate everything before trusting it (header sizes, shape
 * products, offsets, dtypes, truncation) and fail with a message naming the
 * file and the problem. Writers are atomic: a temporary file in the same
 * directory, fsync, rename; a crash leaves the previous file intact.
 * Arrays are evaluated and read back to the host as needed.
 */

/* A named array, for multi-array formats. */
typedef struct ty_named_array {
    char *name;                        /* owned (malloc) by whoever owns the list */
    ty_array *array;                   /* owned reference */
} ty_named_array;

/* Frees names and releases arrays of a list returned by a loader. */
void ty_named_arrays_free(ty_named_array *list, int n);

/* NumPy .npy (every dtype but bfloat16, which NumPy lacks; C or Fortran
 * order on read). Loaded arrays go to `device`. */
int ty_save_npy(const char *path, ty_array *a);
ty_array *ty_load_npy(const char *path, ty_device device);
/* NumPy .npz (a zip of .npy members; stored or deflated on read). */
int ty_save_npz(const char *path, const ty_named_array *arrays, int n, bool compress);
int ty_load_npz(const char *path, ty_device device, ty_named_array **out, int *n);
/* safetensors: a JSON header (with an optional "__metadata__" object of
 * string pairs, given as metadata_json: a JSON object text or NULL) and raw
 * little-endian data. */
int ty_save_safetensors(const char *path, const ty_named_array *arrays, int n,
                        const char *metadata_json);
int ty_load_safetensors(const char *path, ty_device device, ty_named_array **out, int *n,
                        char **metadata_json /* owned, may be NULL */);
/* IDX (MNIST's format), plain or gzip-compressed: values as stored. */
ty_array *ty_load_idx(const char *path, ty_device device);
/* CSV of numeric columns: float32 (rows, cols); missing values are NaN.
 * With header, *names receives the column names (owned, may be NULL). */
ty_array *ty_load_csv(const char *path, bool header, char delimiter, ty_device device,
                      char ***names, int *ncols);

/* Writes nbytes of data to path atomically (temporary file, fsync, rename). */
int ty_write_file_atomic(const char *path, const void *data, size_t nbytes);

/* ---------------------------------------------------------------- graph
 * Walking an unevaluated graph (for export and autograd).
 */
ty_op ty_node_op(const ty_array *a);               /* TY_OP_NONE if evaluated */
int ty_node_ninputs(const ty_array *a);
ty_array *ty_node_input(const ty_array *a, int i); /* borrowed */
/* A stable unique id of the array handle (creation order, from 1). */
uint64_t ty_array_id(const ty_array *a);

#endif /* TYCHO_H */
