/*
 * vk_kernels_elementwise.c -- host side of the Vulkan elementwise kernels:
 * creation (creation.comp), random (random.comp), unary, binary, where
 * (unary/binary/where.comp), astype and copy (copy.comp). Same contract and
 * semantics as cpu_elementwise.c and cpu_random.c (see cpu.h).
 *
 * Every strided kernel reads one parameter block, vk_ew_params (kernels/
 * elementwise.glsl: EwParams): the output's address and element count, the
 * inputs' addresses (offset folded in) and a collapsed layout: size-1 dims
 * dropped and adjacent dims merged where every operand allows it. Op code
 * and dtypes are specialization constants (branch-free pipelines). When
 * every input is contiguous or a broadcast scalar, the CONTIG variant
 * indexes by the linear id (EW_EPT elements per invocation, coalesced);
 * otherwise one invocation per element walks the collapsed dims.
 */
#include <math.h>
#include <string.h>

#include "vk.h"

_Static_assert(TY_MAX_DIMS == 8, "kernels/common.glsl assumes MAX_DIMS 8");

#define EW_LOCAL 256                   /* workgroup size */
#define EW_EPT 4                       /* elements per invocation (CONTIG) */
#define EW_MAX_IN 3

/* Mirrors EwParams in kernels/elementwise.glsl (std430). */
typedef struct vk_ew_params {
    uint64_t dst;
    uint64_t src[EW_MAX_IN];
    uint64_t n;
    int32_t ndim, pad;
    int64_t shape[TY_MAX_DIMS];
    int64_t strides[EW_MAX_IN][TY_MAX_DIMS];
} vk_ew_params;
_Static_assert(sizeof(vk_ew_params) == 304, "vk_ew_params must match EwParams");

/* Mirrors Params in kernels/creation.comp. */
typedef struct vk_creation_params {
    uint64_t dst, n, bits;
    int64_t istart, istep, cols, k;
    float start, step, last, den;
} vk_creation_params;
_Static_assert(sizeof(vk_creation_params) == 72, "must match creation.comp");

/* Mirrors Params in kernels/random.comp. */
typedef struct vk_random_params {
    uint64_t dst, n;
    uint32_t key0, key1;
    float a, b, lo, hi;
    uint32_t threshold, pad;
    int64_t ilo;
    uint64_t range;
} vk_random_params;
_Static_assert(sizeof(vk_random_params) == 64, "must match random.comp");

/* ---------------------------------------------------------------- layout */

/* An elementwise dispatch being built: parameters, which variant applies,
 * and the buffers it touches. */
typedef struct ew_plan {
    vk_ew_params p;
    int nin;
    bool contig;                       /* every input contiguous or scalar */
    int scalars;                       /* bit k: input k is one element */
    ty_buffer *reads[EW_MAX_IN];
} ew_plan;

/* Fills the plan for inputs that all have the given shape (out's shape, or
 * the input's own for copy): collapses dims jointly, then classifies each
 * input as contiguous, scalar (all strides 0) or strided. */
static void ew_plan_init(ew_plan *pl, ty_array *out, int ndim, const int64_t *shape,
                         ty_array *const *in, int nin)
{
    memset(pl, 0, sizeof *pl);
    vk_ew_params *p = &pl->p;
    pl->nin = nin;
    p->dst = vk_address(out);
    p->n = (uint64_t)out->size;
    for (int k = 0; k < nin; k++) {
        p->src[k] = vk_address(in[k]);
        pl->reads[k] = in[k]->buffer;
    }
    int nd = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        bool merge = nd > 0;
        for (int k = 0; k < nin && merge; k++)
            merge = p->strides[k][nd - 1] == in[k]->strides[d] * shape[d];
        if (merge) {
            p->shape[nd - 1] *= shape[d];
            for (int k = 0; k < nin; k++) p->strides[k][nd - 1] = in[k]->strides[d];
        } else {
            p->shape[nd] = shape[d];
            for (int k = 0; k < nin; k++) p->strides[k][nd] = in[k]->strides[d];
            nd++;
        }
    }
    p->ndim = nd;
    pl->contig = true;
    for (int k = 0; k < nin; k++) {
        bool linear = true, scalar = true;
        int64_t expect = 1;
        for (int d = nd - 1; d >= 0; d--) {
            linear = linear && p->strides[k][d] == expect;
            scalar = scalar && p->strides[k][d] == 0;
            expect *= p->shape[d];
        }
        if (scalar) pl->scalars |= 1 << k;
        else if (!linear) pl->contig = false;
    }
}

/* Records one dispatch of `shader` with `invocations` invocations, writing
 * out and reading `reads`. */
static int ew_dispatch(ty_array *out, const char *shader, const int32_t *spec, int nspec,
                       const void *params, uint32_t params_size, uint64_t invocations,
                       ty_buffer *const *reads, int nreads)
{
    return vk_dispatch_out(out, shader, spec, nspec, EW_LOCAL, params, params_size,
                           invocations, reads, nreads);
}

/* Invocations of a tiled (EW_EPT elements each) dispatch over n elements. */
static uint64_t tiles(uint64_t n)
{
    return (n + EW_EPT - 1) / EW_EPT;
}

/* Dispatches a planned strided kernel; spec gets CONTIG and SCALARS
 * appended (the shader's last two constants). */
static int ew_run(ty_array *out, const char *shader, ew_plan *pl, int32_t *spec, int nspec)
{
    spec[nspec++] = pl->contig;
    spec[nspec++] = pl->contig ? pl->scalars : 0;
    uint64_t n = (uint64_t)out->size;
    return ew_dispatch(out, shader, spec, nspec, &pl->p, sizeof pl->p,
                       pl->contig ? tiles(n) : n, pl->reads, pl->nin);
}

static bool is_float(ty_dtype t)
{
    return ty_dtype_is_float(t);
}

/* ---------------------------------------------------------------- unary, binary, where */

#define CASE_OP_(NAME, name) case TY_OP_##NAME:


int vk_unary(ty_array *out)
{
    ty_op op = out->node->op;
    switch (op) {
    TY_UNARY_OPS(CASE_OP_)
        break;
    default:
        return ty__error("[vulkan] %s is not a unary op", ty_op_name(op));
    }
    if (out->size == 0) return 0;
    ty_array *x = out->node->inputs[0];
    ew_plan pl;
    ew_plan_init(&pl, out, out->ndim, out->shape, &x, 1);
    bool int_domain = !is_float(out->dtype) && !is_float(x->dtype) &&
                      ty__unary_int_capable(op);
    int32_t spec[8] = {(int32_t)(op - TY_OP_NEG), x->dtype, out->dtype, int_domain};
    return ew_run(out, "unary", &pl, spec, 4);
}

int vk_binary(ty_array *out)
{
    ty_op op = out->node->op;
    switch (op) {
    TY_BINARY_OPS(CASE_OP_)
        break;
    default:
        return ty__error("[vulkan] %s is not a binary op", ty_op_name(op));
    }
    if (out->size == 0) return 0;
    ty_array *const *in = out->node->inputs;
    ew_plan pl;
    ew_plan_init(&pl, out, out->ndim, out->shape, in, 2);
    bool int_domain = !is_float(out->dtype) && !is_float(in[0]->dtype) &&
                      !is_float(in[1]->dtype) && op != TY_OP_DIV && op != TY_OP_ATAN2;
    int32_t spec[8] = {(int32_t)(op - TY_OP_ADD), in[0]->dtype, in[1]->dtype, out->dtype,
                       int_domain};
    return ew_run(out, "binary", &pl, spec, 5);
}

int vk_where(ty_array *out)
{
    if (out->size == 0) return 0;
    ty_array *const *in = out->node->inputs;
    ew_plan pl;
    ew_plan_init(&pl, out, out->ndim, out->shape, in, 3);
    bool int_domain = !is_float(out->dtype) && !is_float(in[1]->dtype) &&
                      !is_float(in[2]->dtype);
    int32_t spec[8] = {in[0]->dtype, in[1]->dtype, in[2]->dtype, out->dtype, int_domain};
    return ew_run(out, "where", &pl, spec, 5);
}

/* ---------------------------------------------------------------- copy, astype */

int vk_copy(ty_array *out)
{
    if (out->size == 0) return 0;
    ty_array *x = out->node->inputs[0];
    if (x->size != out->size)
        return ty__error("[copy] input has %lld elements, output %lld",
                         (long long)x->size, (long long)out->size);
    ew_plan pl;
    ew_plan_init(&pl, out, x->ndim, x->shape, &x, 1);
    int32_t spec[8] = {x->dtype, out->dtype, !is_float(out->dtype) && !is_float(x->dtype)};
    uint64_t bytes = (uint64_t)out->size * ty_dtype_size(out->dtype);
    if (pl.contig && !pl.scalars && x->dtype == out->dtype && vk_address(x) % 16 == 0 &&
        vk_address(out) % 16 == 0 && bytes % 16 == 0 && bytes / 16 <= UINT32_MAX) {
        /* a plain byte copy: 16 bytes per load and store */
        pl.p.n = bytes / 16;
        spec[3] = 1;   /* CONTIG */
        spec[4] = 0;   /* SCALAR */
        spec[5] = 1;   /* VEC4 */
        return ew_dispatch(out, "copy", spec, 6, &pl.p, sizeof pl.p, tiles(pl.p.n), pl.reads,
                           pl.nin);
    }
    return ew_run(out, "copy", &pl, spec, 3);
}

int vk_astype(ty_array *out)
{
    return vk_copy(out);
}

/* ---------------------------------------------------------------- creation */

enum { CREATE_FULL, CREATE_ARANGE, CREATE_LINSPACE, CREATE_EYE };

int vk_creation(ty_array *out)
{
    ty_op op = out->node->op;
    const ty_params *pp = &out->node->params;
    if (out->size == 0) return 0;
    vk_creation_params p;
    memset(&p, 0, sizeof p);
    p.dst = vk_address(out);
    p.n = (uint64_t)out->size;
    int32_t spec[3] = {0, out->dtype, 0};
    switch (op) {
    case TY_OP_FULL: {
        uint8_t bits[8] = {0};
        ty__store_f64(bits, out->dtype, 0, pp->value);     /* the CPU's conversion */
        memcpy(&p.bits, bits, sizeof bits);                /* little-endian */
        spec[0] = CREATE_FULL;
        break;
    }
    case TY_OP_ARANGE: {
        double start = pp->value, step = pp->value2;
        double last = start + (double)(out->size - 1) * step;
        bool integral = start == floor(start) && step == floor(step) &&
                        fabs(start) < 0x1p62 && fabs(last) < 0x1p62;
        spec[0] = CREATE_ARANGE;
        spec[2] = integral;
        p.istart = integral ? (int64_t)start : 0;
        p.istep = integral ? (int64_t)step : 0;
        p.start = (float)start;
        p.step = (float)step;
        break;
    }
    case TY_OP_LINSPACE:
        spec[0] = CREATE_LINSPACE;
        p.start = (float)pp->value;
        p.step = (float)(pp->value2 - pp->value);
        p.last = out->size == 1 ? (float)pp->value : (float)pp->value2;
        p.den = out->size == 1 ? 1.0f : (float)(out->size - 1);
        break;
    case TY_OP_EYE:
        if (out->ndim != 2) return ty__error("[eye] output must be 2-d");
        spec[0] = CREATE_EYE;
        p.cols = out->shape[1];
        p.k = pp->k;
        break;
    default:
        return ty__error("[vulkan] %s is not a creation op", ty_op_name(op));
    }
    return ew_dispatch(out, "creation", spec, 3, &p, sizeof p, tiles(p.n), NULL, 0);
}

/* ---------------------------------------------------------------- random */

static double normal_cdf(double x)
{
    return 0.5 * erfc(-x * 0.70710678118654752440);
}

int vk_random(ty_array *out)
{
    const ty_params *pp = &out->node->params;
    vk_random_params p;
    memset(&p, 0, sizeof p);
    switch (pp->kind) {
    case TY_RANDOM_BITS:
        break;
    case TY_RANDOM_UNIFORM:
        p.a = (float)pp->value;
        p.b = (float)(pp->value2 - pp->value);             /* as cpu_random */
        break;
    case TY_RANDOM_NORMAL:
        p.a = (float)pp->value;
        p.b = (float)pp->value2;
        break;
    case TY_RANDOM_RANDINT:
        p.ilo = (int64_t)pp->value;
        p.range = (uint64_t)(int64_t)pp->value2 - (uint64_t)p.ilo + 1;
        break;
    case TY_RANDOM_TRUNCATED_NORMAL: {
        double plo = normal_cdf(pp->value), phi = normal_cdf(pp->value2);
        p.a = (float)plo;
        p.b = (float)(phi - plo);
        p.lo = (float)pp->value;
        p.hi = (float)pp->value2;
        break;
    }
    case TY_RANDOM_BERNOULLI:
        /* (w >> 8) / 2^24 < v  <=>  (w >> 8) < ceil(v 2^24), exactly */
        p.threshold = (uint32_t)ceil(pp->value * 16777216.0);
        break;
    default:
        return ty__error("[random] unknown distribution %d", pp->kind);
    }
    if (out->size == 0) return 0;
    p.dst = vk_address(out);
    p.n = (uint64_t)out->size;
    p.key0 = pp->key.w[0];
    p.key1 = pp->key.w[1];
    bool two = pp->kind == TY_RANDOM_NORMAL || pp->kind == TY_RANDOM_RANDINT;
    int32_t spec[2] = {pp->kind, out->dtype};
    uint64_t per = two ? 2 : 4;                            /* elements per Philox block */
    return ew_dispatch(out, "random", spec, 2, &p, sizeof p, (p.n + per - 1) / per, NULL, 0);
}
