/*
 * cpu_nn.c -- CPU kernels of normalize, attention and softmax_cross_entropy
 * (node layouts in core/ops_nn.c; kernel contract in cpu.h).
 *
 *   normalize: each group of the kept axes is independent (parallel over
 *     groups); two passes in double (mean, then the sum of squared
 *     deviations: no cancellation), then one writing pass that applies the
 *     optional weight and bias. The reduced axes are merged where the strides
 *     of x, out, weight and bias allow, the innermost one read as runs.
 *   attention: scores Q K^T by sgemm (dgemm for float64), masks, a stable
 *     softmax per row (a fully masked row gives zeros), then P V by gemm.
 *     Small batches run in parallel as (batch, block of 64 queries) tasks;
 *     large ones one at a time (in chunks of queries bounding the scores'
 *     memory) with multithreaded BLAS and the rows' softmax in parallel.
 *   softmax_cross_entropy: labels are checked first (serially: the error
 *     names the first bad one), then rows are computed in parallel in double.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

#define RUN 256

/* OpenBLAS's thread count (weak: absent with another BLAS). */
void openblas_set_num_threads(int) __attribute__((weak));

static inline double ld(const void *data, ty_dtype dt, int64_t i)
{
    if (dt == TY_FLOAT32) return ((const float *)data)[i];
    if (dt == TY_FLOAT64) return ((const double *)data)[i];
    return ty__load_f64(data, dt, i);
}

static inline void st(void *data, ty_dtype dt, int64_t i, double v)
{
    if (dt == TY_FLOAT32) ((float *)data)[i] = (float)v;
    else if (dt == TY_FLOAT64) ((double *)data)[i] = v;
    else ty__store_f64(data, dt, i, v);
}

/* ---------------------------------------------------------------- normalize */

/* Arrays a normalize kernel walks: x, out, then weight and bias (views
 * broadcast to x's shape) when present. */
enum { NX, NO, NW, NB, NARR };

typedef struct norm_ctx {
    const ty_array *arr[NARR];         /* NULL: absent weight/bias */
    int kn, rn;
    int64_t kshape[TY_MAX_DIMS], ks[NARR][TY_MAX_DIMS];
    int64_t rshape[TY_MAX_DIMS], rs[NARR][TY_MAX_DIMS];
    int64_t m;                         /* elements per group */
    double eps;
    bool rms;
} norm_ctx;

/* Runs BODY for each innermost run (at most RUN long) of the group whose
 * first elements are at base[a]: off[a] the run's first offsets, n_ its
 * length, is[a] the inner strides. */
#define NORM_RUNS(c, base, BODY)                                                   \
    do {                                                                           \
        int64_t len_ = (c)->rshape[(c)->rn - 1];                                   \
        int64_t nouter_ = (c)->m / len_;                                           \
        int64_t coord_[TY_MAX_DIMS] = {0};                                         \
        int64_t o_[NARR];                                                          \
        for (int a_ = 0; a_ < NARR; a_++) o_[a_] = (base)[a_];                     \
        for (int64_t u_ = 0; u_ < nouter_; u_++) {                                 \
            for (int64_t r0_ = 0; r0_ < len_; r0_ += RUN) {                        \
                int64_t n_ = len_ - r0_ < RUN ? len_ - r0_ : RUN;                  \
                int64_t off[NARR];                                                 \
                for (int a_ = 0; a_ < NARR; a_++) off[a_] = o_[a_] + r0_ * is[a_]; \
                BODY                                                               \
            }                                                                      \
            for (int d_ = (c)->rn - 2; d_ >= 0; d_--) {                            \
                coord_[d_]++;                                                      \
                for (int a_ = 0; a_ < NARR; a_++) o_[a_] += (c)->rs[a_][d_];       \
                if (coord_[d_] < (c)->rshape[d_]) break;                           \
                for (int a_ = 0; a_ < NARR; a_++)                                  \
                    o_[a_] -= coord_[d_] * (c)->rs[a_][d_];                        \
                coord_[d_] = 0;                                                    \
            }                                                                      \
        }                                                                          \
    } while (0)

static void norm_task(void *ctx, int64_t begin, int64_t end)
{
    const norm_ctx *c = ctx;
    const ty_array *x = c->arr[NX], *w = c->arr[NW], *bb = c->arr[NB];
    const void *xd = x->buffer->data;
    const void *wd = w ? w->buffer->data : NULL, *bd = bb ? bb->buffer->data : NULL;
    void *od = c->arr[NO]->buffer->data;
    ty_dtype xdt = x->dtype, odt = c->arr[NO]->dtype;
    ty_dtype wdt = w ? w->dtype : xdt, bdt = bb ? bb->dtype : xdt;
    int64_t is[NARR];
    for (int a = 0; a < NARR; a++) is[a] = c->rs[a][c->rn - 1];
    int64_t xs_ = is[NX], os_ = is[NO], ws_ = is[NW], bs_ = is[NB];
    bool fast = xdt == TY_FLOAT32 && odt == TY_FLOAT32 && xs_ == 1 && os_ == 1 &&
                (!w || ws_ == 1) && (!bb || bs_ == 1);
    double buf[RUN];
    for (int64_t g = begin; g < end; g++) {
        int64_t base[NARR] = {0}, rem = g;
        for (int a = 0; a < NARR; a++) base[a] = c->arr[a] ? c->arr[a]->offset : 0;
        base[NO] = 0;
        for (int d = c->kn - 1; d >= 0; d--) {
            int64_t i = rem % c->kshape[d];
            rem /= c->kshape[d];
            for (int a = 0; a < NARR; a++) base[a] += i * c->ks[a][d];
        }
        double mean = 0, ss = 0;
        if (!c->rms) {
            double s = 0;
            if (fast) {
                NORM_RUNS(c, base, {
                    const float *xp = (const float *)xd + off[NX];
                    for (int64_t j = 0; j < n_; j++) s += xp[j];
                });
            } else {
                NORM_RUNS(c, base, {
                    for (int64_t j = 0; j < n_; j++) s += ld(xd, xdt, off[NX] + j * xs_);
                });
            }
            mean = s / (double)c->m;
        }
        if (fast) {
            NORM_RUNS(c, base, {
                const float *xp = (const float *)xd + off[NX];
                for (int64_t j = 0; j < n_; j++) {
                    double v = xp[j] - mean;
                    ss += v * v;
                }
            });
        } else {
            NORM_RUNS(c, base, {
                for (int64_t j = 0; j < n_; j++) {
                    double v = ld(xd, xdt, off[NX] + j * xs_) - mean;
                    ss += v * v;
                }
            });
        }
        double r = 1.0 / sqrt(ss / (double)c->m + c->eps);
        if (fast) {
            NORM_RUNS(c, base, {
                const float *xp = (const float *)xd + off[NX];
                float *op = (float *)od + off[NO];
                if (w && bb) {
                    const float *wp = (const float *)wd + off[NW];
                    const float *bp = (const float *)bd + off[NB];
                    for (int64_t j = 0; j < n_; j++)
                        op[j] = (float)(((double)xp[j] - mean) * r * wp[j] + bp[j]);
                } else if (w) {
                    const float *wp = (const float *)wd + off[NW];
                    for (int64_t j = 0; j < n_; j++)
                        op[j] = (float)(((double)xp[j] - mean) * r * wp[j]);
                } else if (bb) {
                    const float *bp = (const float *)bd + off[NB];
                    for (int64_t j = 0; j < n_; j++)
                        op[j] = (float)(((double)xp[j] - mean) * r + bp[j]);
                } else {
                    for (int64_t j = 0; j < n_; j++) op[j] = (float)(((double)xp[j] - mean) * r);
                }
            });
        } else {
            NORM_RUNS(c, base, {
                for (int64_t j = 0; j < n_; j++) buf[j] = (ld(xd, xdt, off[NX] + j * xs_) - mean) * r;
                if (w)
                    for (int64_t j = 0; j < n_; j++) buf[j] *= ld(wd, wdt, off[NW] + j * ws_);
                if (bb)
                    for (int64_t j = 0; j < n_; j++) buf[j] += ld(bd, bdt, off[NB] + j * bs_);
                for (int64_t j = 0; j < n_; j++) st(od, odt, off[NO] + j * os_, buf[j]);
            });
        }
    }
}

int cpu_normalize(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_params *p = &node->params;
    if (out->size == 0) return 0;
    norm_ctx c;
    memset(&c, 0, sizeof c);
    const ty_array *x = node->inputs[0];
    int in = 1;
    c.arr[NX] = x;
    c.arr[NO] = out;
    if (p->kind & 1) c.arr[NW] = node->inputs[in++];
    if (p->kind & 2) c.arr[NB] = node->inputs[in++];
    c.eps = p->hp[0];
    c.rms = p->flag;
    c.m = 1;
    bool red[TY_MAX_DIMS] = {false};
    for (int i = 0; i < p->naxes; i++) red[p->axes[i]] = true;
    for (int d = 0; d < x->ndim; d++) {
        int64_t s = x->shape[d];
        if (red[d]) {
            c.m *= s;
            if (s == 1) continue;
            /* merge with the previous reduced dim when every layout allows */
            bool merge = c.rn > 0;
            for (int a = 0; merge && a < NARR; a++)
                merge = !c.arr[a] || c.rs[a][c.rn - 1] == c.arr[a]->strides[d] * s;
            if (merge) {
                c.rshape[c.rn - 1] *= s;
                for (int a = 0; a < NARR; a++)
                    if (c.arr[a]) c.rs[a][c.rn - 1] = c.arr[a]->strides[d];
                continue;
            }
            c.rshape[c.rn] = s;
            for (int a = 0; a < NARR; a++)
                if (c.arr[a]) c.rs[a][c.rn] = c.arr[a]->strides[d];
            c.rn++;
        } else {
            c.kshape[c.kn] = s;
            for (int a = 0; a < NARR; a++)
                if (c.arr[a]) c.ks[a][c.kn] = c.arr[a]->strides[d];
            c.kn++;
        }
    }
    if (c.rn == 0) {                   /* every reduced axis has size 1 */
        c.rshape[0] = 1;
        c.rn = 1;
    }
    int64_t ngroups = out->size / c.m;
    int64_t grain = 65536 / (c.m > 0 ? c.m : 1);
    if (grain < 1) grain = 1;
    pool_parallel_for(ngroups, grain, norm_task, &c);
    return 0;
}

/* ---------------------------------------------------------------- attention */

#define ATT_BQ 64
/* Workspace of one task (elements) past which batches run one at a time
 * with multithreaded BLAS instead of (batch, query block) tasks in parallel. */
#define ATT_BIG (1 << 24)
/* Scores held at once in the one-batch path (elements). */
#define ATT_CHUNK (1 << 22)

typedef struct att_ctx {
    ty_array *out;
    const ty_array *q, *k, *v, *mask;
    int nb;                            /* leading (batch) axes */
    int64_t lq, lk, d, dv, nqb;
    double scale;
    bool causal, mask_bool;
    /* one-batch path: the chunk being processed */
    int64_t b, i0;
    void *S;
} att_ctx;

/* Offset of batch b's first element in a (leading axes only). */
static int64_t batch_offset(const ty_array *a, int nb, int64_t b)
{
    int64_t off = a->offset;
    for (int d = nb - 1; d >= 0; d--) {
        int64_t i = b % a->shape[d];
        b /= a->shape[d];
        off += i * a->strides[d];
    }
    return off;
}

/* The phases of attention in type T with gemm GEMM:
 *   NAME_kv:     gathers batch b's K (lk x d) and V (lk x dv)
 *   NAME_scores: gathers Q rows i0..i0+bq and computes S = scale Q K^T
 *   NAME_rows:   masks and softmaxes rows r0..r1 of S (a zero row when
 *                nothing is kept)
 *   NAME_out:    O = S V, stored into out's rows i0..i0+bq */
#define ATT_KERNEL(NAME, T, GEMM)                                                          \
    static void NAME##_kv(const att_ctx *c, int64_t b, T *K, T *V)                        \
    {                                                                                      \
        const ty_array *k = c->k, *v = c->v;                                              \
        int nd = k->ndim;                                                                 \
        int64_t ko = batch_offset(k, c->nb, b), vo = batch_offset(v, c->nb, b);           \
        for (int64_t j = 0; j < c->lk; j++) {                                             \
            for (int64_t e = 0; e < c->d; e++)                                            \
                K[j * c->d + e] = (T)ld(k->buffer->data, k->dtype,                         \
                                        ko + j * k->strides[nd - 2] + e * k->strides[nd - 1]); \
            for (int64_t e = 0; e < c->dv; e++)                                           \
                V[j * c->dv + e] = (T)ld(v->buffer->data, v->dtype,                        \
                                         vo + j * v->strides[nd - 2] + e * v->strides[nd - 1]); \
        }                                                                                  \
    }                                                                                      \
    static void NAME##_scores(const att_ctx *c, int64_t b, int64_t i0, int64_t bq, T *Q,     \
                              const T *K, T *S)                                            \
    {                                                                                      \
        const ty_array *q = c->q;                                                          \
        int nd = q->ndim;                                                                  \
        int64_t d = c->d, lk = c->lk;                                                      \
        int64_t qo = batch_offset(q, c->nb, b);                                            \
        for (int64_t i = 0; i < bq; i++)                                                   \
            for (int64_t e = 0; e < d; e++)                                                \
                Q[i * d + e] = (T)ld(q->buffer->data, q->dtype,                             \
                                     qo + (i0 + i) * q->strides[nd - 2] + e * q->strides[nd - 1]); \
        if (d > 0 && lk > 0)                                                               \
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)bq, (int)lk, (int)d,        \
                 (T)c->scale, Q, (int)d, K, (int)d, (T)0, S, (int)lk);                     \
        else                                                                               \
            for (int64_t t = 0; t < bq * lk; t++) S[t] = 0;                               \
    }                                                                                      \
    static void NAME##_rows(const att_ctx *c, int64_t b, int64_t i0, T *S, int64_t r0,      \
                            int64_t r1)                                                    \
    {                                                                                      \
        int64_t lk = c->lk;                                                                \
        const ty_array *m = c->mask;                                                       \
        int nd = c->q->ndim;                                                               \
        int64_t mo = m ? batch_offset(m, c->nb, b) : 0;                                    \
        for (int64_t i = r0; i < r1; i++) {                                                \
            T *row = S + i * lk;                                                           \
            int64_t gi = i0 + i;                                                           \
            for (int64_t j = 0; j < lk; j++) {                                             \
                bool keep = !c->causal || j <= gi + lk - c->lq;                            \
                if (keep && m) {                                                           \
                    double mv = ld(m->buffer->data, m->dtype,                              \
                                   mo + gi * m->strides[nd - 2] + j * m->strides[nd - 1]); \
                    if (c->mask_bool) keep = mv != 0;                                      \
                    else row[j] += (T)mv;                                                  \
                }                                                                          \
                if (!keep) row[j] = (T)-INFINITY;                                          \
            }                                                                              \
            T mx = (T)-INFINITY;                                                           \
            for (int64_t j = 0; j < lk; j++)                                               \
                if (row[j] > mx || isnan(row[j])) mx = row[j];                             \
            if (isinf(mx) && mx < 0) {                                                     \
                for (int64_t j = 0; j < lk; j++) row[j] = 0;                               \
                continue;                                                                  \
            }                                                                              \
            double s = 0;                                                                  \
            for (int64_t j = 0; j < lk; j++) {                                             \
                row[j] = (T)exp((double)(row[j] - mx));                                    \
                s += row[j];                                                               \
            }                                                                              \
            T inv = (T)(1.0 / s);                                                          \
            for (int64_t j = 0; j < lk; j++) row[j] *= inv;                                \
        }                                                                                  \
    }                                                                                      \
    static void NAME##_out(const att_ctx *c, int64_t b, int64_t i0, int64_t bq, const T *S, \
                           const T *V, T *O)                                               \
    {                                                                                      \
        int64_t lk = c->lk, dv = c->dv;                                                    \
        if (lk > 0)                                                                        \
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)bq, (int)dv, (int)lk,     \
                 (T)1, S, (int)lk, V, (int)dv, (T)0, O, (int)dv);                          \
        else                                                                               \
            for (int64_t t = 0; t < bq * dv; t++) O[t] = 0;                               \
        void *od = c->out->buffer->data;                                                   \
        int64_t ob = (b * c->lq + i0) * dv;                                                \
        for (int64_t t = 0; t < bq * dv; t++) st(od, c->out->dtype, ob + t, (double)O[t]); \
    }                                                                                      \
    static void NAME##_block(att_ctx *c, int64_t b, int64_t i0, int64_t bq, T *ws)         \
    {                                                                                      \
        /* causal: keys past the block's last query's limit are masked for all */        \
        int64_t lk = c->lk;                                                                \
        if (c->causal) {                                                                   \
            int64_t lim = i0 + bq + c->lk - c->lq;                                         \
            if (lim < lk) lk = lim < 0 ? 0 : lim;                                          \
        }                                                                                  \
        att_ctx cc = *c;                                                                   \
        cc.lk = lk;                                                                        \
        cc.lq = c->lq - (c->lk - lk); /* keeps j <= i + lk - lq for the causal test */    \
        T *Q = ws, *K = Q + bq * c->d, *V = K + lk * c->d, *S = V + lk * c->dv;            \
        T *O = S + bq * lk;                                                                \
        NAME##_kv(&cc, b, K, V);                                                           \
        NAME##_scores(&cc, b, i0, bq, Q, K, S);                                            \
        NAME##_rows(&cc, b, i0, S, 0, bq);                                                 \
        cc.lq = c->lq;                                                                     \
        NAME##_out(&cc, b, i0, bq, S, V, O);                                               \
    }

ATT_KERNEL(att_f32, float, cblas_sgemm)
ATT_KERNEL(att_f64, double, cblas_dgemm)

/* Small batches: tasks (batch, block of ATT_BQ queries) in parallel. */
static void att_task(void *ctx, int64_t begin, int64_t end)
{
    att_ctx *c = ctx;
    bool f64 = c->out->dtype == TY_FLOAT64;
    size_t esize = f64 ? sizeof(double) : sizeof(float);
    size_t n = (size_t)(ATT_BQ * c->d + c->lk * c->d + c->lk * c->dv + ATT_BQ * c->lk +
                        ATT_BQ * c->dv);
    void *ws = malloc(n * esize + 16);
    if (!ws) return;                   /* the caller probed the allocation */
    for (int64_t t = begin; t < end; t++) {
        int64_t b = t / c->nqb, qb = t % c->nqb;
        int64_t i0 = qb * ATT_BQ, bq = c->lq - i0 < ATT_BQ ? c->lq - i0 : ATT_BQ;
        if (f64) att_f64_block(c, b, i0, bq, ws);
        else att_f32_block(c, b, i0, bq, ws);
    }
    free(ws);
}

/* Big batches: rows of the current chunk's scores in parallel. */
static void att_rows_task(void *ctx, int64_t begin, int64_t end)
{
    const att_ctx *c = ctx;
    if (c->out->dtype == TY_FLOAT64) att_f64_rows(c, c->b, c->i0, c->S, begin, end);
    else att_f32_rows(c, c->b, c->i0, c->S, begin, end);
}

int cpu_attention(ty_array *out)
{
    const ty_node *node = out->node;
    if (out->size == 0) return 0;
    att_ctx c;
    memset(&c, 0, sizeof c);
    c.out = out;
    c.q = node->inputs[0];
    c.k = node->inputs[1];
    c.v = node->inputs[2];
    c.mask = node->ninputs > 3 ? node->inputs[3] : NULL;
    c.mask_bool = node->params.kind == 1;
    c.causal = node->params.flag;
    c.scale = node->params.hp[0];
    int nd = out->ndim;
    c.nb = nd - 2;
    c.lq = c.q->shape[nd - 2];
    c.lk = c.k->shape[nd - 2];
    c.d = c.q->shape[nd - 1];
    c.dv = c.v->shape[nd - 1];
    if (c.lk > INT32_MAX || c.d > INT32_MAX || c.dv > INT32_MAX)
        return ty__error("[attention] too many keys or features for the CPU kernel");
    int64_t nbatch = 1;
    for (int d = 0; d < c.nb; d++) nbatch *= out->shape[d];
    bool f64 = out->dtype == TY_FLOAT64;
    size_t esize = f64 ? sizeof(double) : sizeof(float);
    int64_t per_task = ATT_BQ * (c.d + c.lk + c.dv) + c.lk * (c.d + c.dv);
    if (per_task < ATT_BIG) {
        c.nqb = (c.lq + ATT_BQ - 1) / ATT_BQ;
        size_t n = (size_t)(ATT_BQ * c.d + c.lk * c.d + c.lk * c.dv + ATT_BQ * c.lk +
                            ATT_BQ * c.dv);
        void *probe = malloc(n * esize + 16);
        if (!probe) return ty__error("[attention] out of host memory for the workspace");
        free(probe);
        int64_t work = ATT_BQ * c.lk * (c.d + c.dv);
        int64_t grain = work >= 65536 ? 1 : 65536 / (work > 0 ? work : 1);
        /* BLAS calls inside the pool's tasks run single-threaded: OpenBLAS's
         * own threads would compete with the pool's */
        int64_t ntasks = nbatch * c.nqb;
        bool parallel = ntasks > grain && pool_num_threads() > 1;
        if (parallel && openblas_set_num_threads) openblas_set_num_threads(1);
        pool_parallel_for(ntasks, grain, att_task, &c);
        if (parallel && openblas_set_num_threads) openblas_set_num_threads(pool_num_threads());
        return 0;
    }
    int64_t ch = c.lk > 0 ? ATT_CHUNK / c.lk : c.lq;
    if (ch < ATT_BQ) ch = ATT_BQ;
    if (ch > c.lq) ch = c.lq;
    size_t n = (size_t)(c.lk * c.d + c.lk * c.dv + ch * c.d + ch * c.lk + ch * c.dv);
    char *ws = malloc(n * esize + 16);
    if (!ws) return ty__error("[attention] out of host memory for the workspace");
    void *K = ws, *V = ws + esize * (size_t)(c.lk * c.d);
    void *Q = (char *)V + esize * (size_t)(c.lk * c.dv);
    void *S = (char *)Q + esize * (size_t)(ch * c.d);
    void *O = (char *)S + esize * (size_t)(ch * c.lk);
    c.S = S;
    for (int64_t b = 0; b < nbatch; b++) {
        if (f64) att_f64_kv(&c, b, K, V);
        else att_f32_kv(&c, b, K, V);
        for (int64_t i0 = 0; i0 < c.lq; i0 += ch) {
            int64_t bq = c.lq - i0 < ch ? c.lq - i0 : ch;
            c.b = b;
            c.i0 = i0;
            if (f64) att_f64_scores(&c, b, i0, bq, Q, K, S);
            else att_f32_scores(&c, b, i0, bq, Q, K, S);
            int64_t grain = 16384 / (c.lk > 0 ? c.lk : 1) + 1;
            pool_parallel_for(bq, grain, att_rows_task, &c);
            if (f64) att_f64_out(&c, b, i0, bq, S, V, O);
            else att_f32_out(&c, b, i0, bq, S, V, O);
        }
    }
    free(ws);
    return 0;
}

/* ---------------------------------------------------------------- cross-entropy */

typedef struct ce_ctx {
    ty_array *out;
    const ty_array *x;
    const int64_t *lab;                /* resolved labels (-1: ignored) */
    int nb;
    int64_t ncls, cs;
} ce_ctx;

static void ce_task(void *ctx, int64_t begin, int64_t end)
{
    const ce_ctx *c = ctx;
    const ty_array *x = c->x;
    const void *xd = x->buffer->data;
    for (int64_t r = begin; r < end; r++) {
        if (c->lab[r] < 0) {
            st(c->out->buffer->data, c->out->dtype, r, 0.0);
            continue;
        }
        int64_t off = batch_offset(x, c->nb, r);
        double mx = -INFINITY;
        for (int64_t j = 0; j < c->ncls; j++) {
            double v = ld(xd, x->dtype, off + j * c->cs);
            if (v > mx || isnan(v)) mx = v;
            if (isnan(v)) break;
        }
        double s = 0, shift = isinf(mx) ? 0 : mx;
        for (int64_t j = 0; j < c->ncls; j++) s += exp(ld(xd, x->dtype, off + j * c->cs) - shift);
        double loss = log(s) + shift - ld(xd, x->dtype, off + c->lab[r] * c->cs);
        st(c->out->buffer->data, c->out->dtype, r, loss);
    }
}

int cpu_softmax_cross_entropy(ty_array *out)
{
    const ty_node *node = out->node;
    const ty_params *p = &node->params;
    const ty_array *x = node->inputs[0], *y = node->inputs[1];
    if (out->size == 0) return 0;
    int64_t nrows = out->size, ncls = x->shape[x->ndim - 1];
    int64_t *lab = malloc(sizeof(int64_t) * (size_t)nrows);
    if (!lab) return ty__error("[softmax_cross_entropy] out of host memory");
    /* labels in row-major order */
    int64_t coord[TY_MAX_DIMS] = {0}, off = y->offset;
    for (int64_t r = 0; r < nrows; r++) {
        int64_t raw = ty__load_i64(y->buffer->data, y->dtype, off);
        if (p->flag && raw == p->k) {
            lab[r] = -1;
        } else {
            int64_t j = raw - p->index_base;
            if (j < 0 || j >= ncls) {
                free(lab);
                return ty__index_error("softmax_cross_entropy", raw, ty__ax(x->ndim - 1), ncls,
                                       p->index_base);
            }
            lab[r] = j;
        }
        for (int d = y->ndim - 1; d >= 0; d--) {
            coord[d]++;
            off += y->strides[d];
            if (coord[d] < y->shape[d]) break;
            off -= coord[d] * y->strides[d];
            coord[d] = 0;
        }
    }
    ce_ctx c = {out, x, lab, x->ndim - 1, ncls, x->strides[x->ndim - 1]};
    int64_t grain = 32768 / ncls;
    if (grain < 1) grain = 1;
    pool_parallel_for(nrows, grain, ce_task, &c);
    free(lab);
    return 0;
}
