/*
 * internal.h -- cross-file internals of core/. Not installed.
 *
 * Prefixes: ty__ for shared internals (errors, arrays, graph), cpu_ for the
 * CPU backend, pool_ for the thread pool, mem_ for memory accounting.
 */
#ifndef TYCHO_INTERNAL_H
#define TYCHO_INTERNAL_H

#include "tycho.h"

#include <stdarg.h>

/* ---------------------------------------------------------------- errors */

/* Formats the thread-local error message; always returns -1. */
int ty__error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, returning NULL (for constructors). */
void *ty__error_null(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "[op] index V is out of range for axis A of size D", with a hint when a
 * 0 is given where indices count from 1. Returns -1. */
int ty__index_error(const char *op, int64_t value, int axis_shown, int64_t dim, int base);

/* An axis as error messages show it (see ty_set_axis_base). */
int ty__ax(int axis);

/* Writes "(2,3)" for a shape into buf. */
char *ty__shape_str(int ndim, const int64_t *shape, char *buf, size_t size);
#define TY_SHAPE_BUF 128

/* ---------------------------------------------------------------- buffers */

/* A block of memory on one device, shared by an array and its views. */
typedef struct ty_buffer {
    void *data;               /* host pointer (CPU); backend handle otherwise */
    size_t nbytes;
    int refcount;
    ty_device device;
} ty_buffer;

/* Allocates nbytes on device, counted against its limit; NULL + error when
 * over the limit or out of memory ("[alloc] out of memory: requested ..."). */
ty_buffer *ty__buffer_alloc(ty_device device, size_t nbytes);
void ty__buffer_retain(ty_buffer *b);
void ty__buffer_release(ty_buffer *b);

/* ---------------------------------------------------------------- nodes */

/* Parameters of a node; which fields an op uses is documented at ty_op use
 * sites in ops*.c and below. All axes are resolved (0-based, non-negative). */
typedef struct ty_params {
    int axis;                          /* argmax/argmin, cumsum/cumprod, softmax,
                                          log_softmax, concatenate, take,
                                          take_along_axis, scatter_add, sort,
                                          argsort */
    int naxes;                         /* reductions: number of reduced axes */
    int axes[TY_MAX_DIMS];             /* reductions: reduced axes, sorted;
                                          transpose: the permutation */
    bool keepdims;                     /* (shape already reflects it) */
    bool reverse;                      /* cumsum/cumprod */
    bool descending;                   /* sort/argsort */
    int index_base;                    /* argmax/argmin/argsort: added to
                                          results; take/take_along_axis/
                                          scatter_add: subtracted from idx */
    int64_t start[TY_MAX_DIMS];        /* slice/slice_update: start per axis;
                                          pad: width before */
    int64_t stop[TY_MAX_DIMS];         /* slice/slice_update: stop (exclusive);
                                          pad: width after */
    int64_t step[TY_MAX_DIMS];         /* slice/slice_update: step (nonzero) */
    double value;                      /* full: fill; arange: start;
                                          linspace: a; pad: fill value;
                                          random: lo (or mean, or p) */
    double value2;                     /* arange: step; linspace: b;
                                          random: hi (or stddev) */
    int64_t k;                         /* eye: diagonal offset */
    int kind;                          /* random: a ty_random_kind; pool,
                                          pool_grad: a ty_pool_kind;
                                          optim_update: a ty_optim_kind */
    ty_key key;                        /* random */
    /* nn primitives (core/ops_conv.c, ops_nn.c, ops_optim.c) */
    int nsp;                           /* conv, pool: spatial axes */
    ty_conv_opts conv;                 /* conv: resolved (no 0 defaults) */
    ty_pool_opts pool;                 /* pool, pool_grad: resolved */
    bool flag;                         /* normalize: rms; attention: causal;
                                          softmax_cross_entropy: has_ignore */
    double hp[TY_OPTIM_MAX_HP];        /* optim_update: hyperparameters;
                                          normalize: hp[0] eps; attention:
                                          hp[0] scale */
} ty_params;

typedef enum ty_random_kind {
    TY_RANDOM_BITS,                    /* int64 in [0, 2^32) */
    TY_RANDOM_UNIFORM,                 /* [value, value2) */
    TY_RANDOM_NORMAL,                  /* mean value, stddev value2 */
    TY_RANDOM_RANDINT,                 /* integers in [value, value2] */
    TY_RANDOM_TRUNCATED_NORMAL,        /* standard normal in [value, value2] */
    TY_RANDOM_BERNOULLI                /* bool, true with probability value */
} ty_random_kind;

#define TY_MAX_INPUTS_INLINE 3

typedef struct ty_node {
    ty_op op;
    int ninputs;
    ty_array **inputs;                 /* owned references */
    ty_params params;
    struct ty_custom *custom;          /* custom VJP (owned), or NULL */
} ty_node;

/* ---------------------------------------------------------------- arrays */

struct ty_array {
    int refcount;
    int ndim;
    int64_t shape[TY_MAX_DIMS];
    int64_t strides[TY_MAX_DIMS];      /* in elements; valid once evaluated */
    int64_t offset;                    /* in elements, into buffer */
    int64_t size;                      /* product of shape */
    ty_dtype dtype;
    ty_device device;
    ty_buffer *buffer;                 /* set once evaluated */
    ty_node *node;                     /* set while unevaluated */
    char *name;
    uint64_t id;                       /* creation order, for stable walks */
    uint64_t visit;                    /* evaluation pass that last saw it */
};

/* Drops a's node and its references to the inputs (after evaluation). */
void ty__detach_node(ty_array *a);

/* A new unevaluated array with the given node (inputs retained). */
ty_array *ty__array_new_node(ty_op op, int ninputs, ty_array *const *inputs,
                             const ty_params *params, int ndim, const int64_t *shape,
                             ty_dtype dtype, ty_device device);
/* A new evaluated array owning a fresh contiguous buffer. */
ty_array *ty__array_new_buffer(int ndim, const int64_t *shape, ty_dtype dtype,
                               ty_device device);
/* Contiguous row-major strides for shape. */
void ty__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
bool ty__is_contiguous(const ty_array *a);
int64_t ty__shape_size(int ndim, const int64_t *shape);
/* Where an array of dtype created "on device" lives: float64 arrays always
 * live on the CPU (the Vulkan backend has no float64). */
static inline ty_device ty__home_device(ty_device device, ty_dtype dtype)
{
    if (dtype == TY_FLOAT64) device = (ty_device){TY_CPU, 0};
    return device;
}

/* Resolves a possibly negative axis; -1 + error when out of range. */
int ty__axis(const char *op, int axis, int ndim);

/* Element pointer of an evaluated CPU array at element offset `index` (in
 * elements from the array's buffer start, i.e. already including offset). */
static inline void *ty__elem_ptr(const ty_array *a, int64_t index)
{
    return (char *)a->buffer->data + index * (int64_t)ty_dtype_size(a->dtype);
}

/* ---------------------------------------------------------------- backends */

/* A backend runs nodes of its device. run_node computes `out` (whose node
 * holds op, inputs and params) into out->buffer, which the evaluator has
 * allocated contiguous (out->strides contiguous, out->offset 0). Every input
 * is evaluated and may be non-contiguous (any strides, including 0 for
 * broadcast and negative for flips) with an offset. Returns 0 or -1 with the
 * error set. View ops (reshape of contiguous input, transpose, broadcast_to,
 * slice) never reach a backend. */
typedef struct ty_backend {
    const char *name;
    int (*run_node)(ty_array *out);
    int (*synchronize)(void);          /* optional */
} ty_backend;

extern const ty_backend ty__cpu_backend;
extern const ty_backend ty__vk_backend;    /* core/vk_backend.c */
const ty_backend *ty__backend_for(ty_device device);

/* ---------------------------------------------------------------- memory */

/* "1.50 GiB" style byte counts for messages. */
void ty__format_bytes(size_t n, char *buf, size_t size);

int mem_reserve(ty_device device, size_t nbytes);   /* -1 + error if over limit */
void mem_unreserve(ty_device device, size_t nbytes);

/* Unary ops computed exactly in int64 when input and output are integers
 * (every backend: others load integers as floats). core/ops.c. */
bool ty__unary_int_capable(ty_op op);

/* ---------------------------------------------------------------- threads */

/* Runs fn(ctx, begin, end) over [0, n) split into chunks of at least `grain`
 * items across the pool's threads; returns when all chunks are done. Runs
 * inline when n <= grain or one thread is configured. Not reentrant: a
 * nested call from inside fn runs inline. */
typedef void (*pool_fn)(void *ctx, int64_t begin, int64_t end);
void pool_parallel_for(int64_t n, int64_t grain, pool_fn fn, void *ctx);
int pool_num_threads(void);

/* ---------------------------------------------------------------- dtypes */

/* Loads element i (element offset into data) as double / int64; stores. */
double ty__load_f64(const void *data, ty_dtype dtype, int64_t i);
int64_t ty__load_i64(const void *data, ty_dtype dtype, int64_t i);
void ty__store_f64(void *data, ty_dtype dtype, int64_t i, double v);
void ty__store_i64(void *data, ty_dtype dtype, int64_t i, int64_t v);

/* ---------------------------------------------------------------- random */

/* Philox-4x32-10 of counter (c0, c1, c2, c3) under key; out gets 4 words. */
void ty__philox(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]);
/* Raw 32-bit draw number i of key (i-th word of the philox stream). */
uint32_t ty__random_word(ty_key key, uint64_t i);
/* Uniform [0,1) float from a word (24-bit mantissa, identical everywhere). */
static inline float ty__word_to_unit_float(uint32_t w)
{
    return (float)(w >> 8) * (1.0f / 16777216.0f);
}

/* ---------------------------------------------------------------- autograd */

/* Identity views (TY_OP_RESHAPE to the same shape) carry one of these kinds
 * in params.kind: the evaluator treats them as views; autograd stops at
 * STOP and treats TRACE as a leaf to differentiate against. */
enum { TY_VIEW_PLAIN = 0, TY_VIEW_STOP = 1, TY_VIEW_TRACE = 2, TY_VIEW_CUSTOM = 3 };

/* A custom VJP (ty_custom_vjp): a TY_VIEW_CUSTOM node's inputs are the
 * output it views (input 0) and the inputs fn differentiates against. */
typedef struct ty_custom {
    ty_vjp_fn fn;
    void *ctx;
    void (*free_ctx)(void *ctx);
} ty_custom;

/* Runs free_ctx and frees c (NULL is a no-op). */
void ty__custom_free(ty_custom *c);

/* VJP rule of out's node (core/autograd_vjp.c): given g, the cotangent of
 * out (same shape and dtype as out), writes to in_grads[i] the cotangent of
 * input i (owned, shaped like the input), or NULL when none flows to it
 * (non-differentiable input). Built only from public ops, so it can itself
 * be differentiated. Returns 0, or -1 with the error set. */
int ty__vjp_rule(ty_array *out, ty_array *g, ty_array **in_grads);
/* JVP rule (core/autograd_jvp.c): given the tangents of the node's inputs
 * (in_tangents[i] NULL = zero), writes the tangent of out (owned, shaped like
 * out) or NULL when it is zero. */
int ty__jvp_rule(ty_array *out, ty_array *const *in_tangents, ty_array **out_tangent);

/* Rules of the nn primitives, same contracts as above: conv, pool and
 * pool_grad in core/autograd_conv.c; normalize, attention and
 * softmax_cross_entropy in core/autograd_nn.c. optim_update has none. */
int ty__vjp_conv_rule(ty_array *out, ty_array *g, ty_array **in_grads);
int ty__jvp_conv_rule(ty_array *out, ty_array *const *in_tangents, ty_array **out_tangent);
int ty__vjp_nn_rule(ty_array *out, ty_array *g, ty_array **in_grads);
int ty__jvp_nn_rule(ty_array *out, ty_array *const *in_tangents, ty_array **out_tangent);

extern int ty__retain_graph;

/* ---------------------------------------------------------------- eval */

extern volatile int ty__interrupted;

#endif /* TYCHO_INTERNAL_H */
