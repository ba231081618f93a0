/*
 * cpu_matmul.c -- CPU kernel of batched matmul: OpenBLAS sgemm/dgemm for
 * floats (half types through float32 temporaries), a blocked int64 loop for
 * integers.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* A batch of gemms smaller than this (n*k*m) runs batches in parallel. */
#define SMALL_GEMM (64 * 64 * 64)
/* Columns of the output row handled per integer block. */
#define INT_BLOCK 256

/* How one operand's last two dims can be handed to BLAS. */
typedef struct operand {
    const ty_array *a;
    int64_t rows, cols;                /* logical matrix shape */
    bool direct;                       /* strides usable by BLAS as is */
    bool trans;                        /* column-major: pass CblasTrans */
    int64_t ld;                        /* leading dimension when direct */
} operand;

/* Decides whether BLAS can read the operand in place (row- or column-major
 * with a valid leading dimension; size-1 dims have any stride). */
static void operand_init(operand *op, const ty_array *a)
{
    int nd = a->ndim;
    int64_t r = a->shape[nd - 2], c = a->shape[nd - 1];
    int64_t sr = a->strides[nd - 2], sc = a->strides[nd - 1];
    op->a = a;
    op->rows = r;
    op->cols = c;
    op->direct = false;
    op->trans = false;
    op->ld = c > 1 ? c : 1;
    int64_t maxc = c > 1 ? c : 1, maxr = r > 1 ? r : 1;
    if ((c == 1 || sc == 1) && (r == 1 || sr >= maxc)) {
        op->direct = true;
        op->ld = r == 1 ? maxc : sr;
    } else if ((r == 1 || sr == 1) && (c == 1 || sc >= maxr)) {
        op->direct = true;
        op->trans = true;
        op->ld = c == 1 ? maxr : sc;
    }
    if (op->ld > INT32_MAX) op->direct = false;
}

/* Element offset of batch `bi` of a (batch dims of out's shape). */
static int64_t batch_offset(const ty_array *a, const ty_array *out, int64_t bi)
{
    int64_t off = a->offset;
    for (int d = out->ndim - 3; d >= 0; d--) {
        int64_t c = bi % out->shape[d];
        bi /= out->shape[d];
        off += c * a->strides[d];
    }
    return off;
}

/* Copies the matrix of a at element offset `off` into dst (rows x cols,
 * row-major) as float32. */
static void gather_f32(const ty_array *a, int64_t off, float *dst)
{
    int nd = a->ndim;
    int64_t r = a->shape[nd - 2], c = a->shape[nd - 1];
    int64_t sr = a->strides[nd - 2], sc = a->strides[nd - 1];
    const void *data = a->buffer->data;
    for (int64_t i = 0; i < r; i++) {
        int64_t base = off + i * sr;
        float *row = dst + i * c;
        switch (a->dtype) {
        case TY_FLOAT32:
            for (int64_t j = 0; j < c; j++) row[j] = ((const float *)data)[base + j * sc];
            break;
        case TY_FLOAT16:
            for (int64_t j = 0; j < c; j++) {
                row[j] = ty_half_to_float(((const uint16_t *)data)[base + j * sc]);
            }
            break;
        case TY_BFLOAT16:
            for (int64_t j = 0; j < c; j++) {
                row[j] = ty_bfloat_to_float(((const uint16_t *)data)[base + j * sc]);
            }
            break;
        default:
            for (int64_t j = 0; j < c; j++) row[j] = (float)ty__load_f64(data, a->dtype,
                                                                           base + j * sc);
            break;
        }
    }
}

static void gather_f64(const ty_array *a, int64_t off, double *dst)
{
    int nd = a->ndim;
    int64_t r = a->shape[nd - 2], c = a->shape[nd - 1];
    int64_t sr = a->strides[nd - 2], sc = a->strides[nd - 1];
    for (int64_t i = 0; i < r; i++) {
        for (int64_t j = 0; j < c; j++) {
            dst[i * c + j] = ty__load_f64(a->buffer->data, a->dtype, off + i * sr + j * sc);
        }
    }
}

static void gather_i64(const ty_array *a, int64_t off, int64_t *dst)
{
    int nd = a->ndim;
    int64_t r = a->shape[nd - 2], c = a->shape[nd - 1];
    int64_t sr = a->strides[nd - 2], sc = a->strides[nd - 1];
    for (int64_t i = 0; i < r; i++) {
        for (int64_t j = 0; j < c; j++) {
            dst[i * c + j] = ty__load_i64(a->buffer->data, a->dtype, off + i * sr + j * sc);
        }
    }
}

typedef struct matmul_ctx {
    ty_array *out;
    operand a, b;
    int64_t n, k, m;
    int failed;
} matmul_ctx;

/* Per-task scratch for operands that must be copied (allocated lazily). */
typedef struct scratch {
    void *a, *b, *c;
} scratch;

static void scratch_free(scratch *s)
{
    free(s->a);
    free(s->b);
    free(s->c);
}

/* Computes batch bi with sgemm or dgemm; returns -1 on allocation failure. */
static int gemm_batch(matmul_ctx *c, int64_t bi, scratch *s)
{
    ty_array *out = c->out;
    ty_dtype dt = out->dtype;
    int64_t n = c->n, k = c->k, m = c->m;
    int64_t aoff = batch_offset(c->a.a, out, bi), boff = batch_offset(c->b.a, out, bi);
    bool f64 = dt == TY_FLOAT64, f32 = dt == TY_FLOAT32;
    size_t esize = f64 ? sizeof(double) : sizeof(float);
    bool adirect = c->a.direct && (f32 || f64), bdirect = c->b.direct && (f32 || f64);
    const void *pa, *pb;
    int lda, ldb;
    CBLAS_TRANSPOSE ta = CblasNoTrans, tb = CblasNoTrans;
    if (adirect) {
        pa = (const char *)c->a.a->buffer->data + aoff * (int64_t)esize;
        lda = (int)c->a.ld;
        ta = c->a.trans ? CblasTrans : CblasNoTrans;
    } else {
        if (!s->a && !(s->a = malloc(esize * (size_t)(n * k)))) return -1;
        if (f64) gather_f64(c->a.a, aoff, s->a);
        else gather_f32(c->a.a, aoff, s->a);
        pa = s->a;
        lda = (int)(k > 1 ? k : 1);
    }
    if (bdirect) {
        pb = (const char *)c->b.a->buffer->data + boff * (int64_t)esize;
        ldb = (int)c->b.ld;
        tb = c->b.trans ? CblasTrans : CblasNoTrans;
    } else {
        if (!s->b && !(s->b = malloc(esize * (size_t)(k * m)))) return -1;
        if (f64) gather_f64(c->b.a, boff, s->b);
        else gather_f32(c->b.a, boff, s->b);
        pb = s->b;
        ldb = (int)(m > 1 ? m : 1);
    }
    void *pc;
    if (f32 || f64) {
        pc = (char *)out->buffer->data + bi * n * m * (int64_t)esize;
    } else {
        if (!s->c && !(s->c = malloc(sizeof(float) * (size_t)(n * m)))) return -1;
        pc = s->c;
    }
    int ldc = (int)(m > 1 ? m : 1);
    if (f64) {
        cblas_dgemm(CblasRowMajor, ta, tb, (int)n, (int)m, (int)k, 1.0, pa, lda, pb, ldb,
                    0.0, pc, ldc);
    } else {
        cblas_sgemm(CblasRowMajor, ta, tb, (int)n, (int)m, (int)k, 1.0f, pa, lda, pb, ldb,
                    0.0f, pc, ldc);
    }
    if (!f32 && !f64) {
        const float *src = pc;
        uint16_t *dst = (uint16_t *)out->buffer->data + bi * n * m;
        for (int64_t i = 0; i < n * m; i++) {
            dst[i] = dt == TY_FLOAT16 ? ty_float_to_half(src[i]) : ty_float_to_bfloat(src[i]);
        }
    }
    return 0;
}

static void gemm_task(void *ctx, int64_t begin, int64_t end)
{
    matmul_ctx *c = ctx;
    scratch s = {NULL, NULL, NULL};
    for (int64_t bi = begin; bi < end; bi++) {
        if (gemm_batch(c, bi, &s) != 0) {
            __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    scratch_free(&s);
}

/* Integer matmul of one batch: rows [begin, end) of a (n x k) times b
 * (k x m), both gathered as int64; c receives the int64 products. */
typedef struct int_ctx {
    const int64_t *a, *b;
    int64_t k, m;
    void *out;
    ty_dtype dtype;
    int64_t out_base;
} int_ctx;

static void int_rows_task(void *ctx, int64_t begin, int64_t end)
{
    const int_ctx *c = ctx;
    int64_t acc[INT_BLOCK];
    for (int64_t i = begin; i < end; i++) {
        for (int64_t j0 = 0; j0 < c->m; j0 += INT_BLOCK) {
            int64_t w = c->m - j0 < INT_BLOCK ? c->m - j0 : INT_BLOCK;
            memset(acc, 0, sizeof(int64_t) * (size_t)w);
            for (int64_t p = 0; p < c->k; p++) {
                uint64_t av = (uint64_t)c->a[i * c->k + p];
                const int64_t *brow = c->b + p * c->m + j0;
                for (int64_t j = 0; j < w; j++) {
                    acc[j] = (int64_t)((uint64_t)acc[j] + av * (uint64_t)brow[j]);
                }
            }
            for (int64_t j = 0; j < w; j++) {
                ty__store_i64(c->out, c->dtype, c->out_base + i * c->m + j0 + j, acc[j]);
            }
        }
    }
}

static int matmul_int(matmul_ctx *c, int64_t nbatch)
{
    int64_t n = c->n, k = c->k, m = c->m;
    int64_t *a = malloc(sizeof(int64_t) * (size_t)(n * k > 0 ? n * k : 1));
    int64_t *b = malloc(sizeof(int64_t) * (size_t)(k * m > 0 ? k * m : 1));
    if (!a || !b) {
        free(a);
        free(b);
        return ty__error("[matmul] out of memory");
    }
    for (int64_t bi = 0; bi < nbatch; bi++) {
        gather_i64(c->a.a, batch_offset(c->a.a, c->out, bi), a);
        gather_i64(c->b.a, batch_offset(c->b.a, c->out, bi), b);
        int_ctx ic = {a, b, k, m, c->out->buffer->data, c->out->dtype, bi * n * m};
        pool_parallel_for(n, 4096 / (k * m + 1) + 1, int_rows_task, &ic);
    }
    free(a);
    free(b);
    return 0;
}

/* out (..., n, m) = a (..., n, k) @ b (..., k, m), batch dims broadcast. */
int cpu_matmul(ty_array *out)
{
    matmul_ctx c;
    memset(&c, 0, sizeof c);
    c.out = out;
    const ty_array *a = out->node->inputs[0], *b = out->node->inputs[1];
    int nd = out->ndim;
    c.n = out->shape[nd - 2];
    c.m = out->shape[nd - 1];
    c.k = a->shape[nd - 1];
    if (out->size == 0) return 0;
    if (c.k == 0) {
        /* all-zero bits are 0 in every dtype */
        memset(out->buffer->data, 0, (size_t)out->size * ty_dtype_size(out->dtype));
        return 0;
    }
    if (c.n > INT32_MAX || c.m > INT32_MAX || c.k > INT32_MAX) {
        return ty__error("[matmul] matrix dimensions too large for BLAS");
    }
    operand_init(&c.a, a);
    operand_init(&c.b, b);
    int64_t nbatch = out->size / (c.n * c.m);
    if (!ty_dtype_is_float(out->dtype)) return matmul_int(&c, nbatch);
    int64_t work = c.n * c.k * c.m;
    int64_t grain = work < SMALL_GEMM ? SMALL_GEMM / (work + 1) + 1 : nbatch;
    pool_parallel_for(nbatch, grain, gemm_task, &c);
    if (c.failed) return ty__error("[matmul] out of memory");
    return 0;
}
