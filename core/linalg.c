/* linalg.c -- ty_linalg_* (LAPACK through OpenBLAS) and ty_einsum.
 *
 * The factorizations run on the CPU through LAPACK, in float64, whatever the
 * input's device: inputs are evaluated and copied to the host, the results
 * are computed there and put back on the input's device as evaluated arrays
 * (float64 for float64 inputs, float32 otherwise). Matrices are the last two
 * axes; leading axes are a batch (a loop of LAPACK calls).
 *
 * Gradients: the results carry custom VJPs (ty_custom_vjp) written with
 * differentiable ops and the ty_linalg_* functions themselves, so they
 * compose to higher orders: inv, solve, det, slogdet (logabsdet), cholesky,
 * eigh, svd (singular values only), qr (m >= n). Inside transforms
 * (ty__retain_graph > 0) each result also gets a zero-valued tangent term
 * (see tangent()) so that ty_jvp, which follows a custom VJP's viewed output,
 * sees the right derivative. The other results (svd's u/vt, pinv, lstsq, a
 * wide qr) raise an error when differentiated in reverse mode.
 * ty_linalg_norm and ty_einsum are compositions of ops (lazy, differentiable;
 * matrix norms 2, -2 and 'nuc' go through the singular values).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* ---------------------------------------------------------------- LAPACK */

extern void dgetrf_(const int *m, const int *n, double *a, const int *lda, int *ipiv,
                    int *info);
extern void dgetri_(const int *n, double *a, const int *lda, const int *ipiv, double *work,
                    const int *lwork, int *info);
extern void dgesv_(const int *n, const int *nrhs, double *a, const int *lda, int *ipiv,
                   double *b, const int *ldb, int *info);
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info,
                    size_t uplo_len);
extern void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau,
                    double *work, const int *lwork, int *info);
extern void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda,
                    const double *tau, double *work, const int *lwork, int *info);
extern void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda,
                    double *s, double *u, const int *ldu, double *vt, const int *ldvt,
                    double *work, const int *lwork, int *iwork, int *info, size_t jobz_len);
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a,
                    const int *lda, double *w, double *work, const int *lwork, int *iwork,
                    const int *liwork, int *info, size_t jobz_len, size_t uplo_len);
extern void dgelsd_(const int *m, const int *n, const int *nrhs, double *a, const int *lda,
                    double *b, const int *ldb, double *s, const double *rcond, int *rank,
                    double *work, const int *lwork, int *iwork, int *info);

#define LA_MAX_N 46340 /* n*n fits an int */

/* An element count for malloc (at least 1). */
static size_t cnt(int64_t x) { return x > 0 ? (size_t)x : 1; }

/* ---------------------------------------------------------------- helpers */

static ty_dtype out_dtype(const ty_array *a)
{
    return ty_dtype_of(a) == TY_FLOAT64 ? TY_FLOAT64 : TY_FLOAT32;
}

static ty_dtype out_dtype2(const ty_array *a, const ty_array *b)
{
    return (ty_dtype_of(a) == TY_FLOAT64 || ty_dtype_of(b) == TY_FLOAT64) ? TY_FLOAT64
                                                                           : TY_FLOAT32;
}

/* Checks a is a stack of matrices (square when `square`); *batch, *m, *n. */
static int check_mats(const char *fname, ty_array *a, bool square, int64_t *batch,
                      int64_t *m, int64_t *n)
{
    char buf[TY_SHAPE_BUF];
    if (!a) return ty__error("[%s] argument is NULL", fname);
    int nd = ty_ndim(a);
    const int64_t *s = ty_shape(a);
    if (nd < 2 || (square && s[nd - 1] != s[nd - 2]))
        return ty__error("[%s] expected %s (...,%s), got %s", fname,
                         square ? "square matrices" : "matrices", square ? "n,n" : "m,n",
                         ty__shp(a, buf));
    if (s[nd - 1] > LA_MAX_N || s[nd - 2] > LA_MAX_N)
        return ty__error("[%s] matrices too large for LAPACK: %s", fname, ty__shp(a, buf));
    int64_t b = 1;
    for (int i = 0; i < nd - 2; i++) b *= s[i];
    *batch = b;
    *m = s[nd - 2];
    *n = s[nd - 1];
    return 0;
}

/* Evaluates a and copies it (row-major) to a new double buffer. */
static double *host_copy(const char *fname, ty_array *a)
{
    int64_t n = ty_size(a);
    double *d = malloc(sizeof *d * cnt(n));
    if (!d) {
        ty__error("[%s] out of host memory", fname);
        return NULL;
    }
    /* nothing to copy (and ty_copy_to of an empty broadcast view recursed) */
    if (n > 0 && ty_copy_to(a, d, TY_FLOAT64) != 0) {
        free(d);
        return NULL;
    }
    return d;
}

/* An evaluated array of dtype on device from row-major doubles. */
static ty_array *make_out(const double *d, int ndim, const int64_t *shape, ty_dtype dtype,
                          ty_device device)
{
    if (dtype == TY_FLOAT64) return ty_from_data(d, TY_FLOAT64, ndim, shape, device);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    float *f = malloc(sizeof *f * cnt(n));
    if (!f) return ty__error_null("[linalg] out of host memory");
    for (int64_t i = 0; i < n; i++) f[i] = (float)d[i];
    ty_array *r = ty_from_data(f, TY_FLOAT32, ndim, shape, device);
    free(f);
    return r;
}

/* row-major (m x n) -> column-major with leading dimension ld >= m. */
static void to_col(const double *src, int64_t m, int64_t n, double *dst, int64_t ld)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) dst[j * ld + i] = src[i * n + j];
}

/* column-major (leading dimension ld) -> row-major (m x n). */
static void from_col(const double *src, int64_t ld, int64_t m, int64_t n, double *dst)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) dst[i * n + j] = src[j * ld + i];
}

/* shape of a with the last two axes replaced by (r, c) (c < 0: one axis r;
 * r < 0 too: none). */
static int mat_shape(const ty_array *a, int64_t r, int64_t c, int64_t *shape)
{
    int nd = ty_ndim(a) - 2;
    memcpy(shape, ty_shape(a), sizeof *shape * (size_t)nd);
    if (r >= 0) shape[nd++] = r;
    if (c >= 0) shape[nd++] = c;
    return nd;
}

static int imax(int a, int b) { return a > b ? a : b; }

/* ---------------------------------------------------------------- custom VJPs */

enum {
    G_INV, G_SOLVE, G_DET, G_LOGDET, G_CHOL, G_EIGH_W, G_EIGH_V, G_SVD_S, G_QR_Q, G_QR_R,
    G_NONE
};

typedef struct la_ctx {
    int kind;
    bool flag;                         /* cholesky/eigh: upper */
    const char *fname;                 /* G_NONE: for the message */
    int nin;
    ty_array *in[2];
} la_ctx;

static void ctx_free(void *p)
{
    la_ctx *c = p;
    for (int i = 0; i < c->nin; i++) ty_release(c->in[i]);
    free(c);
}

static ty_array *mT(ty_array *a) { return ty_swapaxes(a, -1, -2); }

/* a @ b releasing both. */
static ty_array *mm_own(ty_array *a, ty_array *b)
{
    ty_array *r = (a && b) ? ty_matmul(a, b) : NULL;
    ty_release(a);
    ty_release(b);
    return r;
}

/* expand x (...) to (..., 1, 1), releasing x. */
static ty_array *expand2_own(ty_array *x)
{
    ty_array *t = x ? ty_expand_dims(x, -1) : NULL;
    ty_release(x);
    ty_array *r = t ? ty_expand_dims(t, -1) : NULL;
    ty_release(t);
    return r;
}

/* 0.5 * (x + x^T), releasing x. */
static ty_array *sym_own(ty_array *x)
{
    if (!x) return NULL;
    ty_array *t = mT(x);
    ty_array *s = t ? ty_add(x, t) : NULL;
    ty_array *h = s ? ty__const_like(s, 0.5, ty_dtype_of(s)) : NULL;
    ty_array *r = h ? ty_mul(s, h) : NULL;
    return ty__drop(r, 4, x, t, s, h);
}

/* An (n, n) constant like a's dtype/device: eye (which 0), tril ones with
 * diagonal 0.5 (which 1), strictly lower ones (which 2). */
static ty_array *const_mat(ty_array *a, int64_t n, int which)
{
    ty_dtype dt = ty_dtype_of(a);
    ty_device dev = ty_device_of(a);
    if (which == 0) return ty_eye(n, n, 0, dt, dev);
    double *d = calloc(cnt(n * n), sizeof *d);
    if (!d) return ty__error_null("[linalg] out of host memory");
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++)
            d[i * n + j] = i == j ? (which == 2 ? 0.0 : 0.5) : 1.0;
    int64_t shape[2] = {n, n};
    ty_array *r = make_out(d, 2, shape, dt == TY_FLOAT64 ? TY_FLOAT64 : TY_FLOAT32, dev);
    free(d);
    if (r && ty_dtype_of(r) != dt) {
        ty_array *c = ty_astype(r, dt);
        ty_release(r);
        r = c;
    }
    return r;
}

static ty_array *un_own(ty_op op, ty_array *x);
static ty_array *red_own(ty_op op, ty_array *x, const int *axes, int naxes, bool keep);

/* F_ij = 1/(w_j - w_i) for w_j != w_i, else 0 (eigenvector derivatives). */
static ty_array *eig_F(ty_array *w)
{
    ty_array *wj = ty_expand_dims(w, -2), *wi = ty_expand_dims(w, -1);
    ty_array *D = (wj && wi) ? ty_sub(wj, wi) : NULL;
    ty_array *z = D ? ty__const_like(D, 0.0, ty_dtype_of(D)) : NULL;
    ty_array *o = D ? ty__const_like(D, 1.0, ty_dtype_of(D)) : NULL;
    ty_array *eq = (z && o) ? ty_eq(D, z) : NULL;
    ty_array *Ds = eq ? ty_where(eq, o, D) : NULL;
    ty_array *R = Ds ? ty_reciprocal(Ds) : NULL;
    ty_array *F = R ? ty_where(eq, z, R) : NULL;
    ty__drop(NULL, 8, wj, wi, D, z, o, eq, Ds, R);
    return F;
}

/* The cofactor matrix det(A) A^-T of square A (...,n,n), valid for singular
 * A too: with A = U diag(s) V^T, cof = det(U) det(V^T) U diag(p) V^T where
 * p_i = prod_{j != i} s_j. Not differentiable (first-order use only). */
static ty_array *cofactor_svd(ty_array *A)
{
    ty_array *u = NULL, *s = NULL, *vt = NULL;
    if (ty_linalg_svd(A, false, &u, &s, &vt) != 0) return NULL;
    int64_t n = ty_dim(A, -1);
    ty_array *sd = ty_stop_gradient(s);
    ty_array *srow = sd ? ty_expand_dims(sd, -2) : NULL;        /* (...,1,n) */
    ty_array *eye = srow ? const_mat(srow, n, 0) : NULL;
    ty_array *z = eye ? ty__const_like(eye, 0, ty_dtype_of(eye)) : NULL;
    ty_array *isdiag = z ? ty_ne(eye, z) : NULL;
    ty_array *one = srow ? ty__const_like(srow, 1, ty_dtype_of(srow)) : NULL;
    ty_array *M = (isdiag && one) ? ty_where(isdiag, one, srow) : NULL; /* (...,n,n) */
    int last = -1;
    ty_array *p = M ? ty_reduce(TY_OP_PROD, M, &last, 1, false) : NULL; /* (...,n) */
    ty_array *prow = p ? ty_expand_dims(p, -2) : NULL;
    ty_array *up = prow ? ty_mul(u, prow) : NULL;
    ty_array *c = up ? ty_matmul(up, vt) : NULL;
    ty_array *du = c ? ty_linalg_det(u) : NULL, *dv = du ? ty_linalg_det(vt) : NULL;
    ty_array *dd = dv ? ty_mul(du, dv) : NULL;
    ty_array *de = expand2_own(dd);
    ty_array *r = de ? ty_mul(c, de) : NULL;
    ty_array *rs = r ? ty_stop_gradient(r) : NULL;
    return ty__drop(rs, 18, u, s, vt, sd, srow, eye, z, isdiag, one, M, p, prow, up, c, du, dv,
                    de, r);
}

static int la_vjp(void *p, ty_array *g, ty_array **grads)
{
    la_ctx *c = p;
    ty_array *A = c->in[0];
    switch (c->kind) {
    case G_INV: { /* -X^T g X^T */
        ty_array *X = ty_linalg_inv(A);
        if (!X) return -1;
        ty_array *t = mm_own(mT(X), ty_retain(g));
        ty_array *u = mm_own(t, mT(X));
        ty_release(X);
        grads[0] = u ? ty_neg(u) : NULL;
        ty_release(u);
        return grads[0] ? 0 : -1;
    }
    case G_SOLVE: { /* gB = A^-T g, gA = -gB X^T */
        ty_array *B = c->in[1];
        ty_array *Ai = ty_linalg_inv(A);
        ty_array *X = ty_linalg_solve(A, B);
        ty_array *gB = (Ai && X) ? mm_own(mT(Ai), ty_retain(g)) : NULL;
        ty_array *t = gB ? mm_own(ty_retain(gB), mT(X)) : NULL;
        ty_release(Ai);
        ty_release(X);
        ty_array *gA = t ? ty_neg(t) : NULL;
        ty_release(t);
        if (!gA) {
            ty_release(gB);
            return -1;
        }
        grads[0] = gA;
        grads[1] = gB;
        return 0;
    }
    case G_DET: { /* g det A^-T (the cofactor matrix; through the SVD when A is singular) */
        ty_array *Ai = ty_linalg_inv(A);
        if (!Ai) {
            ty_array *cof = cofactor_svd(A);
            ty_array *ge = cof ? expand2_own(ty_retain(g)) : NULL;
            grads[0] = ge ? ty_mul(ge, cof) : NULL;
            ty__drop(NULL, 2, cof, ge);
            return grads[0] ? 0 : -1;
        }
        ty_array *d = ty_linalg_det(A);
        ty_array *gd = (d && Ai) ? ty_mul(g, d) : NULL;
        ty_array *ge = expand2_own(gd);
        ty_array *AiT = Ai ? mT(Ai) : NULL;
        grads[0] = (ge && AiT) ? ty_mul(ge, AiT) : NULL;
        ty__drop(NULL, 4, d, Ai, ge, AiT);
        return grads[0] ? 0 : -1;
    }
    case G_LOGDET: { /* g A^-T */
        ty_array *Ai = ty_linalg_inv(A);
        if (!Ai) {
            char buf[TY_SHAPE_BUF];
            ty__error("[linalg.slogdet] no gradient at a singular matrix (log|det| = -inf) "
                      "in %s", ty__shp(A, buf));
            return -1;
        }
        ty_array *AiT = Ai ? mT(Ai) : NULL;
        ty_array *ge = expand2_own(ty_retain(g));
        grads[0] = (ge && AiT) ? ty_mul(ge, AiT) : NULL;
        ty__drop(NULL, 3, Ai, AiT, ge);
        return grads[0] ? 0 : -1;
    }
    case G_CHOL: { /* sym(L^-T Phi(L^T gL) L^-1) */
        ty_array *L = ty_linalg_cholesky(A, false);
        if (!L) return -1;
        ty_array *gL = c->flag ? mT(g) : ty_retain(g);
        int64_t n = ty_dim(A, -1);
        ty_array *W = const_mat(L, n, 1);
        ty_array *P0 = gL ? mm_own(mT(L), gL) : NULL;
        ty_array *P = (P0 && W) ? ty_mul(P0, W) : NULL;
        ty_array *Li = ty_linalg_inv(L);
        ty_array *S = (P && Li) ? mm_own(mm_own(mT(Li), ty_retain(P)), ty_retain(Li)) : NULL;
        ty__drop(NULL, 5, L, W, P0, P, Li);
        grads[0] = sym_own(S);
        return grads[0] ? 0 : -1;
    }
    case G_EIGH_W: { /* V diag(g) V^T */
        ty_array *w = NULL, *V = NULL;
        if (ty_linalg_eigh(A, c->flag, &w, &V) != 0) return -1;
        ty_array *ge = ty_expand_dims(g, -2);
        ty_array *Vg = ge ? ty_mul(V, ge) : NULL;
        grads[0] = Vg ? mm_own(ty_retain(Vg), mT(V)) : NULL;
        ty__drop(NULL, 4, w, V, ge, Vg);
        return grads[0] ? 0 : -1;
    }
    case G_EIGH_V: { /* sym(V (F o V^T g) V^T), F_ij = 1/(w_j - w_i) */
        ty_array *w = NULL, *V = NULL;
        if (ty_linalg_eigh(A, c->flag, &w, &V) != 0) return -1;
        ty_array *F = eig_F(w);
        ty_array *VtG = mm_own(mT(V), ty_retain(g));
        ty_array *H = (F && VtG) ? ty_mul(F, VtG) : NULL;
        ty_array *r = H ? mm_own(mm_own(ty_retain(V), ty_retain(H)), mT(V)) : NULL;
        ty__drop(NULL, 5, w, V, F, VtG, H);
        grads[0] = sym_own(r);
        return grads[0] ? 0 : -1;
    }
    case G_SVD_S: { /* U diag(g) V^T (reduced) */
        ty_array *U = NULL, *s = NULL, *Vt = NULL;
        if (ty_linalg_svd(A, false, &U, &s, &Vt) != 0) return -1;
        ty_array *Us = ty_stop_gradient(U), *Vs = ty_stop_gradient(Vt);
        ty_array *ge = ty_expand_dims(g, -2);
        ty_array *Ug = (ge && Us) ? ty_mul(Us, ge) : NULL;
        grads[0] = (Ug && Vs) ? ty_matmul(Ug, Vs) : NULL;
        ty__drop(NULL, 7, U, s, Vt, Us, Vs, ge, Ug);
        return grads[0] ? 0 : -1;
    }
    case G_QR_Q:
    case G_QR_R: { /* b = gQ + Q copyltu(M), M = R gR^T - gQ^T Q; gA = b R^-T */
        ty_array *Q = NULL, *R = NULL;
        if (ty_linalg_qr(A, false, &Q, &R) != 0) return -1;
        ty_array *M = c->kind == G_QR_Q ? un_own(TY_OP_NEG, mm_own(mT(g), ty_retain(Q)))
                                        : mm_own(ty_retain(R), mT(g));
        ty_array *W = const_mat(R, ty_dim(R, -1), 1);
        ty_array *X = (M && W) ? ty_mul(M, W) : NULL;
        ty_array *XT = X ? mT(X) : NULL;
        ty_array *C = XT ? ty_add(X, XT) : NULL;
        ty_array *QC = C ? ty_matmul(Q, C) : NULL;
        ty_array *b = QC ? (c->kind == G_QR_Q ? ty_add(g, QC) : ty_retain(QC)) : NULL;
        ty_array *Ri = ty_linalg_inv(R);
        grads[0] = (b && Ri) ? mm_own(ty_retain(b), mT(Ri)) : NULL;
        ty__drop(NULL, 10, Q, R, M, W, X, XT, C, QC, b, Ri);
        return grads[0] ? 0 : -1;
    }
    default: {
        const char *why = "";
        if (!strcmp(c->fname, "linalg.qr"))
            why = " here: only when r is square (m >= n; mode='complete' needs m == n)";
        else if (!strcmp(c->fname, "linalg.svd"))
            why = " through u or vt (only s is; ty.stop_gradient them if they need no gradient)";
        else if (!strcmp(c->fname, "linalg.pinv") || !strcmp(c->fname, "linalg.lstsq"))
            why = " (linalg.solve and linalg.inv are)";
        return ty__error("[%s] is not differentiable%s", c->fname, why);
    }
    }
}

/* out (owned raw result) -> a view of it with the custom VJP `kind` against
 * ins[0..nin); releases out. */
/* The forward-mode tangent of a result, as an expression that evaluates to
 * zero: built on dA = A - stop_gradient(A) (and dB), so that out + T has
 * out's value and, under ty_jvp, the derivative's tangent (ty_jvp follows a
 * custom VJP's viewed output). Constants: out, aux0, aux1 (eigh: the other
 * result; svd values: reduced u and vt). NULL when it cannot be built. */
static ty_array *tangent(int kind, bool flag, ty_array *const *ins, ty_array *out,
                         ty_array *aux0, ty_array *aux1)
{
    ty_array *A = ins[0];
    ty_array *sA = ty_stop_gradient(A);
    ty_array *dA = sA ? ty_sub(A, sA) : NULL;
    ty_release(sA);
    if (!dA) return NULL;
    int last2[2] = {-2, -1}, m2 = -2;
    ty_array *T = NULL;
    switch (kind) {
    case G_INV:
        T = un_own(TY_OP_NEG, mm_own(mm_own(ty_retain(out), ty_retain(dA)), ty_retain(out)));
        break;
    case G_SOLVE: {
        ty_array *B = ins[1], *sB = ty_stop_gradient(B);
        ty_array *dB = sB ? ty_sub(B, sB) : NULL;
        ty_array *Ai = ty_linalg_inv(A);
        ty_array *sAi = Ai ? ty_stop_gradient(Ai) : NULL;
        ty_array *dAX = mm_own(ty_retain(dA), ty_retain(out));
        ty_array *r = (dB && dAX) ? ty_sub(dB, dAX) : NULL;
        T = (sAi && r) ? ty_matmul(sAi, r) : NULL;
        ty__drop(NULL, 6, sB, dB, Ai, sAi, dAX, r);
        break;
    }
    case G_DET:
    case G_LOGDET: {
        ty_array *Ai = ty_linalg_inv(A);
        ty_array *sAi = Ai ? ty_stop_gradient(Ai) : NULL;
        ty_array *AiT = sAi ? mT(sAi) : NULL;
        ty_array *pr = AiT ? ty_mul(AiT, dA) : NULL;
        ty_array *tr = red_own(TY_OP_SUM, pr, last2, 2, false);
        T = (tr && kind == G_DET) ? ty_mul(out, tr) : ty_retain(tr);
        ty__drop(NULL, 4, Ai, sAi, AiT, tr);
        break;
    }
    case G_CHOL: {
        ty_array *L = flag ? mT(out) : ty_retain(out);
        ty_array *Li = L ? ty_linalg_inv(L) : NULL;
        ty_array *sLi = Li ? ty_stop_gradient(Li) : NULL;
        ty_array *W = L ? const_mat(L, ty_dim(L, -1), 1) : NULL;
        ty_array *Mx = sLi ? mm_own(mm_own(ty_retain(sLi), ty_retain(dA)), mT(sLi)) : NULL;
        ty_array *P = (Mx && W) ? ty_mul(Mx, W) : NULL;
        ty_array *TL = P ? ty_matmul(L, P) : NULL;
        T = TL ? (flag ? mT(TL) : ty_retain(TL)) : NULL;
        ty__drop(NULL, 7, L, Li, sLi, W, Mx, P, TL);
        break;
    }
    case G_EIGH_W: /* diag(V^T dA V) */
        if (aux0) {
            ty_array *dAV = mm_own(ty_retain(dA), ty_retain(aux0));
            ty_array *pr = dAV ? ty_mul(aux0, dAV) : NULL;
            T = red_own(TY_OP_SUM, pr, &m2, 1, false);
            ty_release(dAV);
        }
        break;
    case G_EIGH_V: { /* V (F o V^T dA V) */
        ty_array *F = aux0 ? eig_F(aux0) : NULL;
        ty_array *H = mm_own(mm_own(mT(out), ty_retain(dA)), ty_retain(out));
        ty_array *FH = (F && H) ? ty_mul(F, H) : NULL;
        T = FH ? ty_matmul(out, FH) : NULL;
        ty__drop(NULL, 3, F, H, FH);
        break;
    }
    case G_QR_Q:
    case G_QR_R: { /* JAX's qr_jvp (real, m >= n) */
        ty_array *Q = kind == G_QR_Q ? out : aux0, *R = kind == G_QR_R ? out : aux0;
        if (!Q || !R) break;
        ty_array *Ri = ty_linalg_inv(R);
        ty_array *sRi = Ri ? ty_stop_gradient(Ri) : NULL;
        ty_array *dxr = sRi ? ty_matmul(dA, sRi) : NULL;
        ty_array *qt = dxr ? mm_own(mT(Q), ty_retain(dxr)) : NULL;
        ty_array *Ls = const_mat(R, ty_dim(R, -1), 2);
        ty_array *lo = (qt && Ls) ? ty_mul(qt, Ls) : NULL;
        ty_array *loT = lo ? mT(lo) : NULL;
        ty_array *om = loT ? ty_sub(lo, loT) : NULL;
        if (om && kind == G_QR_Q) {
            ty_array *d = ty_sub(om, qt);
            ty_array *qd = d ? ty_matmul(Q, d) : NULL;
            T = qd ? ty_add(qd, dxr) : NULL;
            ty__drop(NULL, 2, d, qd);
        } else if (om) {
            T = mm_own(ty_sub(qt, om), ty_retain(R));
        }
        ty__drop(NULL, 8, Ri, sRi, dxr, qt, Ls, lo, loT, om);
        break;
    }
    case G_SVD_S: /* diag(U^T dA V) */
        if (aux0 && aux1) {
            ty_array *dAV = mm_own(ty_retain(dA), mT(aux1));
            ty_array *pr = dAV ? ty_mul(aux0, dAV) : NULL;
            T = red_own(TY_OP_SUM, pr, &m2, 1, false);
            ty_release(dAV);
        }
        break;
    default:
        break;
    }
    ty_release(dA);
    return T;
}

static ty_array *wrap2(ty_array *out, ty_array *const *ins, int nin, int kind, bool flag,
                       const char *fname, ty_array *aux0, ty_array *aux1)
{
    if (!out) return NULL;
    if (ty__retain_graph > 0 && kind != G_NONE) {
        ty_array *T = tangent(kind, flag, ins, out, aux0, aux1);
        ty_array *o2 = T ? ty_add(out, T) : NULL;
        ty_release(T);
        if (o2) {
            ty_release(out);
            out = o2;
        } else {
            ty_error_clear();          /* no tangent: forward mode sees zero */
        }
    }
    la_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        ty_release(out);
        return ty__error_null("[%s] out of host memory", fname);
    }
    c->kind = kind;
    c->flag = flag;
    c->fname = fname;
    c->nin = nin;
    for (int i = 0; i < nin; i++) c->in[i] = ty_retain(ins[i]);
    ty_array *r = ty_custom_vjp(out, ins, nin, la_vjp, c, ctx_free);
    if (!r) ctx_free(c);
    ty_release(out);
    return r;
}

static ty_array *wrap(ty_array *out, ty_array *const *ins, int nin, int kind, bool flag,
                      const char *fname)
{
    return wrap2(out, ins, nin, kind, flag, fname, NULL, NULL);
}

/* ---------------------------------------------------------------- inv, det */

ty_array *ty_linalg_inv(ty_array *a)
{
    const char *fn = "linalg.inv";
    int64_t batch, m, n;
    if (check_mats(fn, a, true, &batch, &m, &n) != 0) return NULL;
    double *d = host_copy(fn, a);
    if (!d) return NULL;
    int N = (int)n, lwork = imax(1, N * 64), info = 0;
    int *ipiv = malloc(sizeof *ipiv * (size_t)imax(1, N));
    double *work = malloc(sizeof *work * (size_t)lwork);
    double *col = malloc(sizeof *col * cnt(n * n));
    ty_array *r = NULL;
    if (!ipiv || !work || !col) {
        ty__error("[%s] out of host memory", fn);
        goto done;
    }
    for (int64_t b = 0; b < batch && n > 0; b++) {
        double *mat = d + b * n * n;
        to_col(mat, n, n, col, n);
        int lda = imax(1, N);
        dgetrf_(&N, &N, col, &lda, ipiv, &info);
        if (info > 0) {
            char buf[TY_SHAPE_BUF];
            ty__error("[%s] singular matrix (U[%d,%d] is zero) in %s", fn, info, info,
                      ty__shp(a, buf));
            goto done;
        }
        dgetri_(&N, col, &lda, ipiv, work, &lwork, &info);
        if (info != 0) {
            ty__error("[%s] LAPACK dgetri failed (info %d)", fn, info);
            goto done;
        }
        from_col(col, n, n, n, mat);
    }
    r = make_out(d, ty_ndim(a), ty_shape(a), out_dtype(a), ty_device_of(a));
    r = wrap(r, &a, 1, G_INV, false, fn);
done:
    free(d);
    free(ipiv);
    free(work);
    free(col);
    return r;
}

/* LU of each matrix: sign and log|det| (sign 0, logabs -inf when singular). */
static int lu_logdet(const char *fn, ty_array *a, double **sign_out, double **log_out,
                     int64_t *batch_out)
{
    int64_t batch, m, n;
    if (check_mats(fn, a, true, &batch, &m, &n) != 0) return -1;
    double *d = host_copy(fn, a);
    if (!d) return -1;
    int N = (int)n, info = 0, lda = imax(1, N);
    int *ipiv = malloc(sizeof *ipiv * (size_t)imax(1, N));
    double *col = malloc(sizeof *col * cnt(n * n));
    double *sg = malloc(sizeof *sg * cnt(batch));
    double *lg = malloc(sizeof *lg * cnt(batch));
    if (!ipiv || !col || !sg || !lg) {
        free(d), free(ipiv), free(col), free(sg), free(lg);
        return ty__error("[%s] out of host memory", fn);
    }
    for (int64_t b = 0; b < batch; b++) {
        double s = 1, l = 0;
        if (n > 0) {
            to_col(d + b * n * n, n, n, col, n);
            dgetrf_(&N, &N, col, &lda, ipiv, &info);
            for (int i = 0; i < N; i++) {
                double u = col[(int64_t)i * n + i];
                if (ipiv[i] != i + 1) s = -s;
                if (u < 0) s = -s;
                if (u == 0) s = 0;
                l += log(fabs(u));
            }
            if (s == 0) l = -INFINITY;
        }
        sg[b] = s;
        lg[b] = l;
    }
    free(d), free(ipiv), free(col);
    *sign_out = sg;
    *log_out = lg;
    *batch_out = batch;
    return 0;
}

ty_array *ty_linalg_det(ty_array *a)
{
    double *sg, *lg;
    int64_t batch;
    if (lu_logdet("linalg.det", a, &sg, &lg, &batch) != 0) return NULL;
    for (int64_t b = 0; b < batch; b++) sg[b] = sg[b] * exp(lg[b]);
    int64_t shape[TY_MAX_DIMS];
    int nd = mat_shape(a, -1, -1, shape);
    ty_array *r = make_out(sg, nd, shape, out_dtype(a), ty_device_of(a));
    free(sg), free(lg);
    return wrap(r, &a, 1, G_DET, false, "linalg.det");
}

int ty_linalg_slogdet(ty_array *a, ty_array **sign, ty_array **logabsdet)
{
    double *sg, *lg;
    int64_t batch;
    if (sign) *sign = NULL;
    if (logabsdet) *logabsdet = NULL;
    if (lu_logdet("linalg.slogdet", a, &sg, &lg, &batch) != 0) return -1;
    int64_t shape[TY_MAX_DIMS];
    int nd = mat_shape(a, -1, -1, shape);
    ty_dtype dt = out_dtype(a);
    ty_array *s = make_out(sg, nd, shape, dt, ty_device_of(a));
    ty_array *l = make_out(lg, nd, shape, dt, ty_device_of(a));
    free(sg), free(lg);
    l = wrap(l, &a, 1, G_LOGDET, false, "linalg.slogdet");
    if (!s || !l) {
        ty_release(s), ty_release(l);
        return -1;
    }
    if (sign) *sign = s;
    else ty_release(s);
    if (logabsdet) *logabsdet = l;
    else ty_release(l);
    return 0;
}

/* ---------------------------------------------------------------- solve */

/* A (..., n, n) and B (..., n, k) with equal batch shapes. */
static ty_array *solve_mats(ty_array *A, ty_array *B)
{
    const char *fn = "linalg.solve";
    int64_t batch, n, n2, k, bb;
    if (check_mats(fn, A, true, &batch, &n, &n2) != 0) return NULL;
    if (check_mats(fn, B, false, &bb, &n2, &k) != 0) return NULL;
    double *a = host_copy(fn, A);
    double *b = a ? host_copy(fn, B) : NULL;
    int N = (int)n, K = (int)k, info = 0, ld = imax(1, N);
    int *ipiv = malloc(sizeof *ipiv * (size_t)imax(1, N));
    double *ca = malloc(sizeof *ca * cnt(n * n));
    double *cb = malloc(sizeof *cb * cnt(n * k));
    ty_array *r = NULL;
    if (!a || !b) goto done;
    if (!ipiv || !ca || !cb) {
        ty__error("[%s] out of host memory", fn);
        goto done;
    }
    for (int64_t i = 0; i < batch && n > 0 && k > 0; i++) {
        to_col(a + i * n * n, n, n, ca, n);
        to_col(b + i * n * k, n, k, cb, n);
        dgesv_(&N, &K, ca, &ld, ipiv, cb, &ld, &info);
        if (info > 0) {
            char buf[TY_SHAPE_BUF];
            ty__error("[%s] singular matrix (U[%d,%d] is zero) in %s", fn, info, info,
                      ty__shp(A, buf));
            goto done;
        }
        from_col(cb, n, n, k, b + i * n * k);
    }
    r = make_out(b, ty_ndim(B), ty_shape(B), out_dtype2(A, B), ty_device_of(A));
    ty_array *ins[2] = {A, B};
    r = wrap(r, ins, 2, G_SOLVE, false, fn);
done:
    free(a), free(b), free(ipiv), free(ca), free(cb);
    return r;
}

ty_array *ty_linalg_solve(ty_array *a, ty_array *b)
{
    const char *fn = "linalg.solve";
    int64_t batch, m, n;
    char b0[TY_SHAPE_BUF], b1[TY_SHAPE_BUF];
    if (check_mats(fn, a, true, &batch, &m, &n) != 0) return NULL;
    if (!b) return ty__error_null("[%s] argument is NULL", fn);
    ty_array *ab[2] = {a, b};
    if (ty__check_inputs(fn, ab, 2) != 0) return NULL;
    int na = ty_ndim(a), nb = ty_ndim(b);
    bool vec = nb == 1 || nb == na - 1;
    if (nb < 1 || (!vec && nb < 2) || ty_dim(b, vec ? -1 : -2) != n)
        return ty__error_null("[%s] a %s and b %s do not match (expected b (...,n) or "
                              "(...,n,k))", fn, ty__shp(a, b0), ty__shp(b, b1));
    ty_array *B = vec ? ty_expand_dims(b, -1) : ty_retain(b);
    if (!B) return NULL;
    /* broadcast the batch axes */
    int nbB = ty_ndim(B) - 2, nbA = na - 2;
    int nbt = nbA > nbB ? nbA : nbB;
    int64_t bs[TY_MAX_DIMS];
    for (int i = 0; i < nbt; i++) {
        int ia = i - (nbt - nbA), ib = i - (nbt - nbB);
        int64_t da = ia >= 0 ? ty_shape(a)[ia] : 1, db = ib >= 0 ? ty_shape(B)[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            ty_release(B);
            return ty__error_null("[%s] batch shapes of a %s and b %s do not broadcast", fn,
                                  ty__shp(a, b0), ty__shp(b, b1));
        }
        bs[i] = da > db ? da : db;
        if (da == 0 || db == 0) bs[i] = 0;
    }
    bs[nbt] = n, bs[nbt + 1] = n;
    ty_array *Ab = ty_broadcast_to(a, nbt + 2, bs);
    bs[nbt + 1] = ty_dim(B, -1);
    ty_array *Bb = ty_broadcast_to(B, nbt + 2, bs);
    ty_release(B);
    ty_array *X = (Ab && Bb) ? solve_mats(Ab, Bb) : NULL;
    ty_release(Ab), ty_release(Bb);
    if (X && vec) {
        int ax = -1;
        ty_array *s = ty_squeeze(X, &ax, 1);
        ty_release(X);
        X = s;
    }
    return X;
}

/* ---------------------------------------------------------------- cholesky */

ty_array *ty_linalg_cholesky(ty_array *a, bool upper)
{
    const char *fn = "linalg.cholesky";
    int64_t batch, m, n;
    if (check_mats(fn, a, true, &batch, &m, &n) != 0) return NULL;
    double *d = host_copy(fn, a);
    if (!d) return NULL;
    double *col = malloc(sizeof *col * cnt(n * n));
    ty_array *r = NULL;
    if (!col) {
        ty__error("[%s] out of host memory", fn);
        goto done;
    }
    int N = (int)n, lda = imax(1, N), info = 0;
    for (int64_t b = 0; b < batch && n > 0; b++) {
        double *mat = d + b * n * n;
        to_col(mat, n, n, col, n);
        dpotrf_("L", &N, col, &lda, &info, 1);
        if (info > 0) {
            char buf[TY_SHAPE_BUF];
            ty__error("[%s] matrix is not positive definite (leading minor %d) in %s", fn,
                      info, ty__shp(a, buf));
            goto done;
        }
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double v = j <= i ? col[j * n + i] : 0.0; /* L[i][j] */
                if (upper) mat[j * n + i] = v;
                else mat[i * n + j] = v;
            }
    }
    r = make_out(d, ty_ndim(a), ty_shape(a), out_dtype(a), ty_device_of(a));
    r = wrap(r, &a, 1, G_CHOL, upper, fn);
done:
    free(d), free(col);
    return r;
}

/* ---------------------------------------------------------------- qr */

int ty_linalg_qr(ty_array *a, bool complete, ty_array **q, ty_array **r_out)
{
    const char *fn = "linalg.qr";
    int64_t batch, m, n;
    *q = *r_out = NULL;
    if (check_mats(fn, a, false, &batch, &m, &n) != 0) return -1;
    int64_t k = m < n ? m : n;
    int64_t qc = complete ? m : k;    /* columns of Q, rows of R */
    int64_t wc = n > qc ? n : qc;     /* columns of the work matrix */
    double *d = host_copy(fn, a);
    if (!d) return -1;
    double *col = malloc(sizeof *col * cnt(m * wc));
    double *tau = malloc(sizeof *tau * cnt(k));
    double *qd = malloc(sizeof *qd * cnt(batch * m * qc));
    double *rd = calloc(cnt(batch * qc * n), sizeof *rd);
    int M = (int)m, N = (int)n, K = (int)k, QC = (int)qc, lda = imax(1, M), info = 0;
    int lwork = imax(1, (int)(wc * 64));
    double *work = malloc(sizeof *work * (size_t)lwork);
    int rc = -1;
    if (!col || !tau || !qd || !rd || !work) {
        ty__error("[%s] out of host memory", fn);
        goto done;
    }
    for (int64_t b = 0; b < batch; b++) {
        if (m == 0 || n == 0) {
            /* Q is the identity's first columns, R is empty or zero */
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < qc; j++) qd[b * m * qc + i * qc + j] = i == j;
            continue;
        }
        memset(col, 0, sizeof *col * (size_t)(m * wc));
        to_col(d + b * m * n, m, n, col, m);
        dgeqrf_(&M, &N, col, &lda, tau, work, &lwork, &info);
        if (info != 0) {
            ty__error("[%s] LAPACK dgeqrf failed (info %d)", fn, info);
            goto done;
        }
        double *rb = rd + b * qc * n;
        for (int64_t i = 0; i < qc && i < m; i++)
            for (int64_t j = i; j < n; j++) rb[i * n + j] = col[j * m + i];
        dorgqr_(&M, &QC, &K, col, &lda, tau, work, &lwork, &info);
        if (info != 0) {
            ty__error("[%s] LAPACK dorgqr failed (info %d)", fn, info);
            goto done;
        }
        from_col(col, m, m, qc, qd + b * m * qc);
    }
    int64_t shape[TY_MAX_DIMS];
    ty_dtype dt = out_dtype(a);
    int nd = mat_shape(a, m, qc, shape);
    ty_array *Qr = make_out(qd, nd, shape, dt, ty_device_of(a));
    nd = mat_shape(a, qc, n, shape);
    ty_array *Rr = make_out(rd, nd, shape, dt, ty_device_of(a));
    /* differentiable when R is square (m >= n, reduced, or m == n) */
    bool diff = m >= n && qc == n;
    *q = (Qr && Rr) ? wrap2(ty_retain(Qr), &a, 1, diff ? G_QR_Q : G_NONE, false, fn, Rr, NULL)
                    : NULL;
    *r_out = (Qr && Rr) ? wrap2(ty_retain(Rr), &a, 1, diff ? G_QR_R : G_NONE, false, fn, Qr,
                                NULL)
                        : NULL;
    ty_release(Qr), ty_release(Rr);
    if (!*q || !*r_out) {
        ty_release(*q), ty_release(*r_out);
        *q = *r_out = NULL;
        goto done;
    }
    rc = 0;
done:
    free(d), free(col), free(tau), free(qd), free(rd), free(work);
    return rc;
}

/* ---------------------------------------------------------------- svd */

/* Host SVD of every matrix of a: s (batch x k) and, when u/vt are non-NULL,
 * u (batch x m x uc), vt (batch x vr x n), row-major. */
/* -1 + error when the n doubles of d (a's data) hold a NaN or an infinity:
 * LAPACK's SVD drivers do not converge on them (and print to stderr). */
static int check_finite(const char *fn, const double *d, int64_t n, ty_array *a)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(d[i])) {
            char buf[TY_SHAPE_BUF];
            return ty__error("[%s] input %s contains %s (element %lld)", fn, ty__shp(a, buf),
                             isnan(d[i]) ? "NaN" : "an infinity", (long long)i + 1);
        }
    return 0;
}

static int svd_host(const char *fn, ty_array *a, bool full, double **s_out, double **u_out,
                    double **vt_out, int64_t *batch_o, int64_t *m_o, int64_t *n_o)
{
    int64_t batch, m, n;
    if (check_mats(fn, a, false, &batch, &m, &n) != 0) return -1;
    int64_t k = m < n ? m : n;
    bool uv = u_out != NULL;
    int64_t uc = full ? m : k, vr = full ? n : k;
    double *d = host_copy(fn, a);
    if (!d) return -1;
    if (check_finite(fn, d, batch * m * n, a) != 0) {
        free(d);
        return -1;
    }
    double *col = malloc(sizeof *col * cnt(m * n));
    double *s = malloc(sizeof *s * cnt(batch * k));
    double *u = uv ? malloc(sizeof *u * cnt(batch * m * uc)) : NULL;
    double *vt = uv ? malloc(sizeof *vt * cnt(batch * vr * n)) : NULL;
    double *cu = uv ? malloc(sizeof *cu * cnt(m * uc)) : NULL;
    double *cvt = uv ? malloc(sizeof *cvt * cnt(vr * n)) : NULL;
    int *iwork = malloc(sizeof *iwork * (size_t)imax(1, (int)(8 * k)));
    double *work = NULL;
    int M = (int)m, N = (int)n, lda = imax(1, M), ldu = imax(1, M), ldvt = imax(1, (int)vr);
    int info = 0, lwork = -1;
    char jobz = uv ? (full ? 'A' : 'S') : 'N';
    double wq = 0, dummy = 0;
    if (!col || !s || !iwork || (uv && (!u || !vt || !cu || !cvt))) {
        ty__error("[%s] out of host memory", fn);
        goto fail;
    }
    if (k > 0) {
        dgesdd_(&jobz, &M, &N, col, &lda, s, uv ? cu : &dummy, &ldu, uv ? cvt : &dummy, &ldvt,
                &wq, &lwork, iwork, &info, 1);
        lwork = imax(1, (int)wq + 1);
        work = malloc(sizeof *work * (size_t)lwork);
        if (!work) {
            ty__error("[%s] out of host memory", fn);
            goto fail;
        }
    }
    for (int64_t b = 0; b < batch; b++) {
        if (k == 0) {
            if (uv) {
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < uc; j++) u[b * m * uc + i * uc + j] = i == j;
                for (int64_t i = 0; i < vr; i++)
                    for (int64_t j = 0; j < n; j++) vt[b * vr * n + i * n + j] = i == j;
            }
            continue;
        }
        to_col(d + b * m * n, m, n, col, m);
        dgesdd_(&jobz, &M, &N, col, &lda, s + b * k, uv ? cu : &dummy, &ldu,
                uv ? cvt : &dummy, &ldvt, work, &lwork, iwork, &info, 1);
        if (info != 0) {
            ty__error("[%s] SVD did not converge (LAPACK dgesdd info %d)", fn, info);
            goto fail;
        }
        if (uv) {
            from_col(cu, m, m, uc, u + b * m * uc);
            from_col(cvt, vr, vr, n, vt + b * vr * n);
        }
    }
    free(d), free(col), free(cu), free(cvt), free(iwork), free(work);
    *s_out = s;
    if (uv) *u_out = u, *vt_out = vt;
    *batch_o = batch, *m_o = m, *n_o = n;
    return 0;
fail:
    free(d), free(col), free(s), free(u), free(vt), free(cu), free(cvt), free(iwork);
    free(work);
    return -1;
}

int ty_linalg_svd(ty_array *a, bool full_matrices, ty_array **u, ty_array **s, ty_array **vt)
{
    const char *fn = "linalg.svd";
    double *sd = NULL, *ud = NULL, *vd = NULL;
    int64_t batch, m, n;
    bool uv = u && vt;
    if (u) *u = NULL;
    if (vt) *vt = NULL;
    *s = NULL;
    if (svd_host(fn, a, full_matrices, &sd, uv ? &ud : NULL, uv ? &vd : NULL, &batch, &m,
                 &n) != 0)
        return -1;
    int64_t k = m < n ? m : n, shape[TY_MAX_DIMS];
    ty_dtype dt = out_dtype(a);
    ty_device dev = ty_device_of(a);
    int nd = mat_shape(a, k, -1, shape);
    /* reduced u and vt for the forward-mode tangent of s, inside transforms */
    ty_array *ur = NULL, *vr_ = NULL;
    if (ty__retain_graph > 0) {
        double *s2 = NULL, *u2 = NULL, *v2 = NULL;
        int64_t b2, m2, n2, sh[TY_MAX_DIMS];
        if (svd_host(fn, a, false, &s2, &u2, &v2, &b2, &m2, &n2) == 0) {
            int nd2 = mat_shape(a, m, k, sh);
            ur = make_out(u2, nd2, sh, dt, dev);
            nd2 = mat_shape(a, k, n, sh);
            vr_ = make_out(v2, nd2, sh, dt, dev);
        }
        free(s2), free(u2), free(v2);
        ty_error_clear();
    }
    *s = wrap2(make_out(sd, nd, shape, dt, dev), &a, 1, G_SVD_S, false, fn, ur, vr_);
    ty_release(ur), ty_release(vr_);
    int rc = *s ? 0 : -1;
    if (uv && rc == 0) {
        int64_t uc = full_matrices ? m : k, vr = full_matrices ? n : k;
        nd = mat_shape(a, m, uc, shape);
        *u = wrap(make_out(ud, nd, shape, dt, dev), &a, 1, G_NONE, false, fn);
        nd = mat_shape(a, vr, n, shape);
        *vt = wrap(make_out(vd, nd, shape, dt, dev), &a, 1, G_NONE, false, fn);
        if (!*u || !*vt) {
            ty_release(*u), ty_release(*vt), ty_release(*s);
            *u = *vt = *s = NULL;
            rc = -1;
        }
    }
    free(sd), free(ud), free(vd);
    return rc;
}

ty_array *ty_linalg_pinv(ty_array *a, double rcond)
{
    const char *fn = "linalg.pinv";
    double *sd = NULL, *ud = NULL, *vd = NULL;
    int64_t batch, m, n;
    if (svd_host(fn, a, false, &sd, &ud, &vd, &batch, &m, &n) != 0) return NULL;
    int64_t k = m < n ? m : n, shape[TY_MAX_DIMS];
    double *p = calloc(cnt(batch * n * m), sizeof *p);
    ty_array *r = NULL;
    if (!p) {
        ty__error("[%s] out of host memory", fn);
        goto done;
    }
    for (int64_t b = 0; b < batch; b++) {
        const double *s = sd + b * k, *u = ud + b * m * k, *vt = vd + b * k * n;
        double smax = 0;
        for (int64_t i = 0; i < k; i++) smax = s[i] > smax ? s[i] : smax;
        double *pb = p + b * n * m;
        for (int64_t l = 0; l < k; l++) {
            if (!(s[l] > rcond * smax)) continue;
            double inv = 1.0 / s[l];
            for (int64_t i = 0; i < n; i++) {
                double vi = vt[l * n + i] * inv;
                for (int64_t j = 0; j < m; j++) pb[i * m + j] += vi * u[j * k + l];
            }
        }
    }
    {
        int nd = mat_shape(a, n, m, shape);
        r = wrap(make_out(p, nd, shape, out_dtype(a), ty_device_of(a)), &a, 1, G_NONE, false,
                 fn);
    }
done:
    free(sd), free(ud), free(vd), free(p);
    return r;
}

ty_array *ty_linalg_matrix_rank(ty_array *a, double tol)
{
    const char *fn = "linalg.matrix_rank";
    double *sd = NULL;
    int64_t batch, m, n;
    if (svd_host(fn, a, false, &sd, NULL, NULL, &batch, &m, &n) != 0) return NULL;
    int64_t k = m < n ? m : n, shape[TY_MAX_DIMS];
    double eps = ty_dtype_of(a) == TY_FLOAT64 ? DBL_EPSILON : FLT_EPSILON;
    int32_t *rk = malloc(sizeof *rk * cnt(batch));
    if (!rk) {
        free(sd);
        return ty__error_null("[%s] out of host memory", fn);
    }
    for (int64_t b = 0; b < batch; b++) {
        const double *s = sd + b * k;
        double smax = 0;
        for (int64_t i = 0; i < k; i++) smax = s[i] > smax ? s[i] : smax;
        double t = tol >= 0 ? tol : smax * (double)(m > n ? m : n) * eps;
        int32_t c = 0;
        for (int64_t i = 0; i < k; i++) c += s[i] > t;
        rk[b] = c;
    }
    int nd = mat_shape(a, -1, -1, shape);
    ty_array *r = ty_from_data(rk, TY_INT32, nd, shape, ty_device_of(a));
    free(sd), free(rk);
    return r;
}

/* ---------------------------------------------------------------- eigh */

int ty_linalg_eigh(ty_array *a, bool upper, ty_array **w_out, ty_array **v_out)
{
    const char *fn = "linalg.eigh";
    int64_t batch, m, n;
    if (w_out) *w_out = NULL;
    if (v_out) *v_out = NULL;
    if (check_mats(fn, a, true, &batch, &m, &n) != 0) return -1;
    double *d = host_copy(fn, a);
    if (!d) return -1;
    double *w = malloc(sizeof *w * cnt(batch * n));
    double *col = malloc(sizeof *col * cnt(n * n));
    int N = (int)n, lda = imax(1, N), info = 0;
    int lwork = imax(1, 1 + 6 * N + 2 * N * N), liwork = imax(1, 3 + 5 * N);
    double *work = malloc(sizeof *work * (size_t)lwork);
    int *iwork = malloc(sizeof *iwork * (size_t)liwork);
    int rc = -1;
    if (!w || !col || !work || !iwork) {
        ty__error("[%s] out of host memory", fn);
        goto done;
    }
    for (int64_t b = 0; b < batch && n > 0; b++) {
        double *mat = d + b * n * n;
        to_col(mat, n, n, col, n);
        dsyevd_("V", upper ? "U" : "L", &N, col, &lda, w + b * n, work, &lwork, iwork,
                &liwork, &info, 1, 1);
        if (info != 0) {
            ty__error("[%s] eigenvalues did not converge (LAPACK dsyevd info %d)", fn, info);
            goto done;
        }
        from_col(col, n, n, n, mat);
    }
    {
        int64_t shape[TY_MAX_DIMS];
        ty_dtype dt = out_dtype(a);
        int nd = mat_shape(a, n, -1, shape);
        ty_array *Wr = make_out(w, nd, shape, dt, ty_device_of(a));
        ty_array *Vr = make_out(d, ty_ndim(a), ty_shape(a), dt, ty_device_of(a));
        ty_array *W = (Wr && Vr) ? wrap2(ty_retain(Wr), &a, 1, G_EIGH_W, upper, fn, Vr, NULL)
                                 : NULL;
        ty_array *V = (Wr && Vr) ? wrap2(ty_retain(Vr), &a, 1, G_EIGH_V, upper, fn, Wr, NULL)
                                 : NULL;
        ty_release(Wr), ty_release(Vr);
        if (!W || !V) {
            ty_release(W), ty_release(V);
            goto done;
        }
        if (w_out) *w_out = W;
        else ty_release(W);
        if (v_out) *v_out = V;
        else ty_release(V);
        rc = 0;
    }
done:
    free(d), free(w), free(col), free(work), free(iwork);
    return rc;
}

/* ---------------------------------------------------------------- lstsq */

int ty_linalg_lstsq(ty_array *a, ty_array *b, double rcond, ty_array **x_out,
                    ty_array **residuals, int64_t *rank_out, ty_array **sv_out)
{
    const char *fn = "linalg.lstsq";
    char b0[TY_SHAPE_BUF], b1[TY_SHAPE_BUF];
    *x_out = NULL;
    if (residuals) *residuals = NULL;
    if (sv_out) *sv_out = NULL;
    if (!a || !b) return ty__error("[%s] argument is NULL", fn);
    ty_array *ab[2] = {a, b};
    if (ty__check_inputs(fn, ab, 2) != 0) return -1;
    if (ty_ndim(a) != 2)
        return ty__error("[%s] expected a matrix a (m,n), got %s", fn, ty__shp(a, b0));
    int64_t m = ty_dim(a, 0), n = ty_dim(a, 1);
    bool vec = ty_ndim(b) == 1;
    if ((ty_ndim(b) != 1 && ty_ndim(b) != 2) || ty_dim(b, 0) != m)
        return ty__error("[%s] a %s and b %s do not match (expected b (m,) or (m,k))", fn,
                         ty__shp(a, b0), ty__shp(b, b1));
    if (m > LA_MAX_N || n > LA_MAX_N)
        return ty__error("[%s] matrix too large for LAPACK: %s", fn, ty__shp(a, b0));
    int64_t k = vec ? 1 : ty_dim(b, 1), mn = m < n ? m : n, ldb = m > n ? m : n;
    double *ad = host_copy(fn, a);
    double *bd = ad ? host_copy(fn, b) : NULL;
    double *ca = malloc(sizeof *ca * cnt(m * n));
    double *cb = calloc(cnt(ldb * k), sizeof *cb);
    double *s = malloc(sizeof *s * cnt(mn));
    double *xd = calloc(cnt(n * k), sizeof *xd);
    double *res = calloc(cnt(k), sizeof *res);
    double *work = NULL;
    int *iwork = NULL;
    int rc = -1, rank = 0;
    if (!ad || !bd) goto done;
    if (check_finite(fn, ad, m * n, a) != 0) goto done;
    if (!ca || !cb || !s || !xd || !res) {
        ty__error("[%s] out of host memory", fn);
        goto done;
    }
    if (rcond < 0) rcond = (ty_dtype_of(a) == TY_FLOAT64 ? DBL_EPSILON : FLT_EPSILON) *
                           (double)(m > n ? m : n);
    if (mn > 0 && k > 0) {
        to_col(ad, m, n, ca, m);
        to_col(bd, m, k, cb, ldb);
        int M = (int)m, N = (int)n, K = (int)k, lda = imax(1, M), LDB = imax(1, (int)ldb);
        int info = 0, lwork = -1, iwq = 0;
        double wq = 0;
        dgelsd_(&M, &N, &K, ca, &lda, cb, &LDB, s, &rcond, &rank, &wq, &lwork, &iwq, &info);
        lwork = imax(1, (int)wq + 1);
        work = malloc(sizeof *work * (size_t)lwork);
        iwork = malloc(sizeof *iwork * (size_t)imax(1, iwq > 0 ? iwq : (int)(12 * mn + 64)));
        if (!work || !iwork) {
            ty__error("[%s] out of host memory", fn);
            goto done;
        }
        dgelsd_(&M, &N, &K, ca, &lda, cb, &LDB, s, &rcond, &rank, work, &lwork, iwork, &info);
        if (info != 0) {
            ty__error("[%s] SVD did not converge (LAPACK dgelsd info %d)", fn, info);
            goto done;
        }
        from_col(cb, ldb, n, k, xd);
        for (int64_t j = 0; j < k; j++) {
            double acc = 0;
            for (int64_t i = n; i < m; i++) acc += cb[j * ldb + i] * cb[j * ldb + i];
            res[j] = acc;
        }
    } else {
        for (int64_t i = 0; i < mn; i++) s[i] = 0;
    }
    {
        ty_dtype dt = out_dtype2(a, b);
        ty_device dev = ty_device_of(a);
        int64_t xs[2] = {n, k};
        ty_array *X = wrap(make_out(xd, vec ? 1 : 2, xs, dt, dev), &a, 1, G_NONE, false, fn);
        bool has_res = rank == n && m > n;
        int64_t rs = has_res ? k : 0;
        ty_array *R = make_out(res, 1, &rs, dt, dev);
        ty_array *S = make_out(s, 1, &mn, dt, dev);
        if (!X || !R || !S) {
            ty_release(X), ty_release(R), ty_release(S);
            goto done;
        }
        *x_out = X;
        if (residuals) *residuals = R;
        else ty_release(R);
        if (sv_out) *sv_out = S;
        else ty_release(S);
        if (rank_out) *rank_out = rank;
        rc = 0;
    }
done:
    free(ad), free(bd), free(ca), free(cb), free(s), free(xd), free(res), free(work);
    free(iwork);
    return rc;
}

/* ---------------------------------------------------------------- norm */

/* float copy of a (float inputs retained; others as float32). */
static ty_array *as_float(ty_array *a)
{
    if (ty_dtype_is_float(ty_dtype_of(a))) return ty_retain(a);
    return ty_astype(a, TY_FLOAT32);
}

static ty_array *un_own(ty_op op, ty_array *x)
{
    ty_array *r = x ? ty_unary(op, x) : NULL;
    ty_release(x);
    return r;
}

static ty_array *red_own(ty_op op, ty_array *x, const int *axes, int naxes, bool keep)
{
    ty_array *r = x ? ty_reduce(op, x, axes, naxes, keep) : NULL;
    ty_release(x);
    return r;
}

/* s^(1/p) for s >= 0 (owned), with a zero gradient where s == 0 (as
 * PyTorch: the norm of a zero vector has gradient 0, not NaN):
 * where(s > 0, root(where(s > 0, s, 1)), 0). */
static ty_array *safe_root_own(ty_array *s, double p)
{
    if (!s) return NULL;
    ty_dtype dt = ty_dtype_of(s);
    ty_array *z = ty__const_like(s, 0, dt), *one = ty__const_like(s, 1, dt);
    ty_array *pos = z ? ty_gt(s, z) : NULL;
    ty_array *ss = pos && one ? ty_where(pos, s, one) : NULL;
    ty_array *root = NULL;
    if (ss && p == 2) root = ty_sqrt(ss);
    else if (ss) {
        ty_array *ip = ty__const_like(ss, 1.0 / p, dt);
        root = ip ? ty_pow(ss, ip) : NULL;
        ty_release(ip);
    }
    ty_array *r = root ? ty_where(pos, root, z) : NULL;
    return ty__drop(r, 6, s, z, one, pos, ss, root);
}

static ty_array *vector_norm(ty_array *x, double p, int axis, bool keep)
{
    ty_array *ax = ty_abs(x);
    if (isinf(p)) return red_own(p > 0 ? TY_OP_MAX : TY_OP_MIN, ax, &axis, 1, keep);
    if (p == 1) return red_own(TY_OP_SUM, ax, &axis, 1, keep);
    if (p == 2)
        return safe_root_own(red_own(TY_OP_SUM, un_own(TY_OP_SQUARE, ax), &axis, 1, keep), 2);
    if (p == 0) {
        ty_array *z = ax ? ty__const_like(ax, 0, ty_dtype_of(ax)) : NULL;
        ty_array *nz = z ? ty_ne(ax, z) : NULL;
        ty_array *f = nz ? ty_astype(nz, ty_dtype_of(x)) : NULL;
        ty__drop(NULL, 3, ax, z, nz);
        return red_own(TY_OP_SUM, f, &axis, 1, keep);
    }
    ty_array *pp = ax ? ty__const_like(ax, p, ty_dtype_of(ax)) : NULL;
    ty_array *pw = pp ? ty_pow(ax, pp) : NULL;
    ty_array *s = red_own(TY_OP_SUM, pw, &axis, 1, keep);
    if (p > 0) return ty__drop(safe_root_own(s, p), 2, ax, pp);
    ty_array *ip = s ? ty__const_like(s, 1.0 / p, ty_dtype_of(s)) : NULL;
    ty_array *r = ip ? ty_pow(s, ip) : NULL;
    return ty__drop(r, 4, ax, pp, s, ip);
}

/* 2, -2, nuc over axes (r, c): singular values of the moved matrices. */
static ty_array *sv_norm(ty_array *x, int r, int c, int kind, bool keep)
{
    int nd = ty_ndim(x), perm[TY_MAX_DIMS], j = 0;
    for (int i = 0; i < nd; i++)
        if (i != r && i != c) perm[j++] = i;
    perm[j++] = r;
    perm[j++] = c;
    ty_array *t = ty_transpose(x, perm);
    ty_array *s = NULL;
    int rc = t ? ty_linalg_svd(t, false, NULL, &s, NULL) : -1;
    ty_release(t);
    if (rc != 0) return NULL;
    int last = -1;
    ty_array *v = red_own(kind == 0 ? TY_OP_SUM : kind > 0 ? TY_OP_MAX : TY_OP_MIN, s, &last,
                          1, false);
    if (v && keep) {
        int lo = r < c ? r : c, hi = r < c ? c : r;
        ty_array *e = ty_expand_dims(v, lo);
        ty_release(v);
        v = e ? ty_expand_dims(e, hi) : NULL;
        ty_release(e);
    }
    return v;
}

static ty_array *norm_impl(ty_array *a, const char *ord, const int *axes_in, int naxes,
                           bool keepdims);

/* float16/bfloat16 norms accumulate in float32 (300 squared overflows
 * float16) and are rounded back once. */
ty_array *ty_linalg_norm(ty_array *a, const char *ord, const int *axes_in, int naxes,
                         bool keepdims)
{
    if (a && (ty_dtype_of(a) == TY_FLOAT16 || ty_dtype_of(a) == TY_BFLOAT16)) {
        ty_array *f = ty_astype(a, TY_FLOAT32);
        ty_array *r = f ? norm_impl(f, ord, axes_in, naxes, keepdims) : NULL;
        ty_array *h = r ? ty_astype(r, ty_dtype_of(a)) : NULL;
        return ty__drop(h, 2, f, r);
    }
    return norm_impl(a, ord, axes_in, naxes, keepdims);
}

static ty_array *norm_impl(ty_array *a, const char *ord, const int *axes_in, int naxes,
                           bool keepdims)
{
    const char *fn = "linalg.norm";
    char buf[TY_SHAPE_BUF];
    if (!a) return ty__error_null("[%s] argument is NULL", fn);
    int nd = ty_ndim(a);
    bool fro = false, nuc = false, has_p = false;
    double p = 2;
    if (ord && *ord) {
        if (!strcmp(ord, "fro")) fro = true;
        else if (!strcmp(ord, "nuc")) nuc = true;
        else {
            char *end;
            p = strtod(ord, &end);
            if (end == ord || *end) return ty__error_null("[%s] unknown ord '%s'", fn, ord);
            has_p = true;
        }
    }
    bool has_ord = fro || nuc || has_p;
    int axes[2];
    if (naxes == 0) {
        if (!has_ord) {
            ty_array *x = as_float(a);
            int64_t m1 = -1;
            ty_array *f = x ? ty_reshape(x, 1, &m1) : NULL;
            ty_array *r = vector_norm(f, 2, 0, false);
            ty__drop(NULL, 2, x, f);
            if (r && keepdims) {
                int64_t ones[TY_MAX_DIMS];
                for (int i = 0; i < nd; i++) ones[i] = 1;
                ty_array *k = ty_reshape(r, nd, ones);
                ty_release(r);
                r = k;
            }
            return r;
        }
        if (nd == 1) axes[0] = 0, naxes = 1;
        else if (nd == 2) axes[0] = 0, axes[1] = 1, naxes = 2;
        else
            return ty__error_null("[%s] ord needs a 1-d or 2-d input or an axis, got %s", fn,
                                  ty__shp(a, buf));
    } else if (naxes > 2) {
        return ty__error_null("[%s] axis must name 1 or 2 axes, got %d", fn, naxes);
    } else {
        for (int i = 0; i < naxes; i++) {
            int ax = axes_in[i] < 0 ? axes_in[i] + nd : axes_in[i];
            if (ax < 0 || ax >= nd)
                return ty__error_null("[%s] axis %d is out of range for shape %s", fn,
                                      ty__ax(axes_in[i]), ty__shp(a, buf));
            axes[i] = ax;
        }
        if (naxes == 2 && axes[0] == axes[1])
            return ty__error_null("[%s] duplicate axes", fn);
    }
    ty_array *x = as_float(a);
    if (!x) return NULL;
    ty_array *r = NULL;
    if (naxes == 1) {
        if (fro || nuc) {
            ty_release(x);
            return ty__error_null("[%s] ord '%s' is for matrices, not vectors", fn, ord);
        }
        r = vector_norm(x, p, axes[0], keepdims);
    } else {
        int rr = axes[0], cc = axes[1];
        if (!has_ord || fro) {
            r = safe_root_own(red_own(TY_OP_SUM, ty_square(x), axes, 2, keepdims), 2);
        } else if (nuc || p == 2 || p == -2) {
            r = sv_norm(x, rr, cc, nuc ? 0 : (p > 0 ? 1 : -1), keepdims);
        } else if (p == 1 || p == -1 || isinf(p)) {
            /* 1: max over columns of column sums; inf: max over rows of row sums */
            int sum_ax = (p == 1 || p == -1) ? rr : cc, red_ax = sum_ax == rr ? cc : rr;
            ty_array *s = red_own(TY_OP_SUM, ty_abs(x), &sum_ax, 1, true);
            r = red_own(p > 0 ? TY_OP_MAX : TY_OP_MIN, s, &red_ax, 1, true);
            if (r && !keepdims) {
                int sq[2] = {rr, cc};
                ty_array *q = ty_squeeze(r, sq, 2);
                ty_release(r);
                r = q;
            }
        } else {
            ty_release(x);
            return ty__error_null("[%s] invalid norm order %s for matrices", fn, ord);
        }
    }
    ty_release(x);
    return r;
}

/* ---------------------------------------------------------------- einsum */

#define EIN_MAX_OPS 32
#define EIN_LABELS 512 /* letters < 128, ellipsis dims 256+ */

typedef struct ein_term {
    int n;                             /* number of labels == ndim */
    int lab[TY_MAX_DIMS];
    ty_array *a;                       /* owned */
} ein_term;

static int ein_find(const ein_term *t, int l)
{
    for (int i = 0; i < t->n; i++)
        if (t->lab[i] == l) return i;
    return -1;
}

/* Parses one term (letters and at most one "...") into labels; *ell receives
 * the position of the ellipsis among labels (or -1); returns letter count. */
static int ein_parse_term(const char *s, size_t len, int *letters, int *ell)
{
    int n = 0;
    *ell = -1;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == ' ') continue;
        if (ch == '.') {
            if (*ell >= 0 || i + 2 >= len + 0 || s[i + 1] != '.' || s[i + 2] != '.') return -2;
            *ell = n;
            i += 2;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))) return -1;
        if (n >= TY_MAX_DIMS) return -3;
        letters[n++] = ch;
    }
    return n;
}

/* The error of ein_parse_term's code rc < 0 on term s (len chars). */
static void ein_term_error(const char *fn, int rc, const char *s, size_t len)
{
    if (rc == -1) {
        for (size_t i = 0; i < len; i++) {
            char ch = s[i];
            if (ch != ' ' && ch != '.' && !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))) {
                ty__error("[%s] invalid subscript '%c' in '%.*s': subscripts are letters a-z, "
                          "A-Z (and one '...')", fn, ch, (int)len, s);
                return;
            }
        }
    }
    if (rc == -2)
        ty__error("[%s] term '%.*s' has a '.' outside a single '...' ellipsis", fn, (int)len, s);
    else
        ty__error("[%s] term '%.*s' has more than %d indices", fn, (int)len, s, TY_MAX_DIMS);
}

/* Sums t's axes whose labels fail keep(label). */
static int ein_sum_out(ein_term *t, const bool *keep)
{
    int axes[TY_MAX_DIMS], na = 0, nl = 0, lab[TY_MAX_DIMS];
    for (int i = 0; i < t->n; i++) {
        if (keep[t->lab[i]]) lab[nl++] = t->lab[i];
        else axes[na++] = i;
    }
    if (na == 0) return 0;
    ty_array *r = ty_sum(t->a, axes, na, false);
    if (!r) return -1;
    ty_release(t->a);
    t->a = r;
    t->n = nl;
    memcpy(t->lab, lab, sizeof lab);
    return 0;
}

/* Broadcasts t's axes of size 1 to size[label]. */
static int ein_expand(ein_term *t, const int64_t *size)
{
    int64_t shape[TY_MAX_DIMS];
    bool need = false;
    for (int i = 0; i < t->n; i++) {
        shape[i] = size[t->lab[i]];
        if (shape[i] != ty_shape(t->a)[i]) need = true;
    }
    if (!need) return 0;
    ty_array *r = ty_broadcast_to(t->a, t->n, shape);
    if (!r) return -1;
    ty_release(t->a);
    t->a = r;
    return 0;
}

/* Takes the diagonal of repeated labels. */
static int ein_diagonal(ein_term *t)
{
    for (int p = 0; p < t->n; p++)
        for (int q = p + 1; q < t->n; q++) {
            if (t->lab[p] != t->lab[q]) continue;
            int64_t d = ty_shape(t->a)[p];
            if (ty_shape(t->a)[q] != d) {
                char buf[TY_SHAPE_BUF];
                return ty__error("[einsum] repeated index '%c' has sizes %lld and %lld in %s",
                                 t->lab[p] < 128 ? t->lab[p] : '.', (long long)d,
                                 (long long)ty_shape(t->a)[q], ty__shp(t->a, buf));
            }
            ty_array *e = ty_eye(d, d, 0, ty_dtype_of(t->a), ty_device_of(t->a));
            int64_t es[TY_MAX_DIMS];
            for (int i = 0; i < t->n; i++) es[i] = (i == p || i == q) ? d : 1;
            ty_array *er = e ? ty_reshape(e, t->n, es) : NULL;
            ty_array *m = er ? ty_mul(t->a, er) : NULL;
            ty_array *s = m ? ty_sum(m, &q, 1, false) : NULL;
            ty__drop(NULL, 3, e, er, m);
            if (!s) return -1;
            ty_release(t->a);
            t->a = s;
            for (int i = q; i + 1 < t->n; i++) t->lab[i] = t->lab[i + 1];
            t->n--;
            q--;
        }
    return 0;
}

/* Transposes t to the label order `lab` (same set). */
static int ein_permute(ein_term *t, const int *lab, int n)
{
    int perm[TY_MAX_DIMS];
    bool id = true;
    for (int i = 0; i < n; i++) {
        perm[i] = ein_find(t, lab[i]);
        if (perm[i] != i) id = false;
    }
    if (id) return 0;
    ty_array *r = ty_transpose(t->a, perm);
    if (!r) return -1;
    ty_release(t->a);
    t->a = r;
    memcpy(t->lab, lab, sizeof *lab * (size_t)n);
    return 0;
}

/* Contracts A and B into A; keep: labels needed afterwards. */
static int ein_contract(ein_term *A, ein_term *B, const bool *keep, const int64_t *size)
{
    bool ka[EIN_LABELS], kb[EIN_LABELS];
    for (int l = 0; l < EIN_LABELS; l++) ka[l] = kb[l] = keep[l];
    for (int i = 0; i < B->n; i++) ka[B->lab[i]] = true;
    for (int i = 0; i < A->n; i++) kb[A->lab[i]] = true;
    if (ein_sum_out(A, ka) != 0 || ein_sum_out(B, kb) != 0) return -1;
    int bat[TY_MAX_DIMS], con[TY_MAX_DIMS], ao[TY_MAX_DIMS], bo[TY_MAX_DIMS];
    int nb = 0, nc = 0, na = 0, nbo = 0;
    for (int i = 0; i < A->n; i++) {
        int l = A->lab[i];
        if (ein_find(B, l) >= 0) {
            if (keep[l]) bat[nb++] = l;
            else con[nc++] = l;
        } else {
            ao[na++] = l;
        }
    }
    for (int i = 0; i < B->n; i++)
        if (ein_find(A, B->lab[i]) < 0) bo[nbo++] = B->lab[i];
    if (nb + na + nbo > TY_MAX_DIMS)
        return ty__error("[einsum] intermediate result has more than %d axes", TY_MAX_DIMS);
    /* shared labels: broadcast size-1 sides */
    int64_t sz[EIN_LABELS];
    for (int l = 0; l < EIN_LABELS; l++) sz[l] = size[l];
    for (int i = 0; i < A->n; i++)
        if (ein_find(B, A->lab[i]) < 0) sz[A->lab[i]] = ty_shape(A->a)[i];
    for (int i = 0; i < B->n; i++)
        if (ein_find(A, B->lab[i]) < 0) sz[B->lab[i]] = ty_shape(B->a)[i];
    if (ein_expand(A, sz) != 0 || ein_expand(B, sz) != 0) return -1;
    int la[TY_MAX_DIMS * 2], lb[TY_MAX_DIMS * 2], n = 0;
    for (int i = 0; i < nb; i++) la[n++] = bat[i];
    for (int i = 0; i < na; i++) la[n++] = ao[i];
    for (int i = 0; i < nc; i++) la[n++] = con[i];
    if (ein_permute(A, la, n) != 0) return -1;
    n = 0;
    for (int i = 0; i < nb; i++) lb[n++] = bat[i];
    for (int i = 0; i < nc; i++) lb[n++] = con[i];
    for (int i = 0; i < nbo; i++) lb[n++] = bo[i];
    if (ein_permute(B, lb, n) != 0) return -1;
    int64_t Bt = 1, M = 1, K = 1, N = 1;
    for (int i = 0; i < nb; i++) Bt *= sz[bat[i]];
    for (int i = 0; i < na; i++) M *= sz[ao[i]];
    for (int i = 0; i < nc; i++) K *= sz[con[i]];
    for (int i = 0; i < nbo; i++) N *= sz[bo[i]];
    int64_t s3a[3] = {Bt, M, K}, s3b[3] = {Bt, K, N};
    ty_array *a3 = ty_reshape(A->a, 3, s3a), *b3 = ty_reshape(B->a, 3, s3b);
    ty_array *p = (a3 && b3) ? ty_matmul(a3, b3) : NULL;
    int64_t os[TY_MAX_DIMS];
    int on = 0, olab[TY_MAX_DIMS];
    for (int i = 0; i < nb; i++) olab[on] = bat[i], os[on++] = sz[bat[i]];
    for (int i = 0; i < na; i++) olab[on] = ao[i], os[on++] = sz[ao[i]];
    for (int i = 0; i < nbo; i++) olab[on] = bo[i], os[on++] = sz[bo[i]];
    ty_array *r = p ? ty_reshape(p, on, os) : NULL;
    ty__drop(NULL, 3, a3, b3, p);
    if (!r) return -1;
    ty_release(A->a);
    A->a = r;
    A->n = on;
    memcpy(A->lab, olab, sizeof olab);
    return 0;
}

ty_array *ty_einsum(const char *subscripts, ty_array *const *operands, int n)
{
    const char *fn = "einsum";
    if (!subscripts) return ty__error_null("[%s] subscripts is NULL", fn);
    if (n < 1 || n > EIN_MAX_OPS)
        return ty__error_null("[%s] expected 1 to %d operands, got %d", fn, EIN_MAX_OPS, n);
    for (int i = 0; i < n; i++)
        if (!operands[i]) return ty__error_null("[%s] operand %d is NULL", fn, i + 1);
    if (ty__check_inputs(fn, operands, n) != 0) return NULL;
    const char *arrow = strstr(subscripts, "->");
    size_t inlen = arrow ? (size_t)(arrow - subscripts) : strlen(subscripts);
    ein_term t[EIN_MAX_OPS];
    memset(t, 0, sizeof t);
    int letters[TY_MAX_DIMS], ell[EIN_MAX_OPS];
    int max_ell = 0, count[EIN_LABELS] = {0};
    int64_t size[EIN_LABELS];
    for (int l = 0; l < EIN_LABELS; l++) size[l] = 1;
    bool any_ell = false;
    ty_array *result = NULL;
    const char *s = subscripts;
    char buf[TY_SHAPE_BUF];
    /* parse the input terms */
    for (int i = 0; i < n; i++) {
        const char *end = memchr(s, ',', inlen - (size_t)(s - subscripts));
        if (i == n - 1) {
            if (end) {
                ty__error("[%s] subscripts '%s' name more operands than the %d given", fn,
                          subscripts, n);
                goto fail;
            }
            end = subscripts + inlen;
        } else if (!end) {
            ty__error("[%s] subscripts '%s' name %d operands, got %d", fn, subscripts, i + 1,
                      n);
            goto fail;
        }
        int nl = ein_parse_term(s, (size_t)(end - s), letters, &ell[i]);
        int nd = ty_ndim(operands[i]);
        if (nl < 0) {
            ein_term_error(fn, nl, s, (size_t)(end - s));
            goto fail;
        }
        if (nl > nd || (ell[i] < 0 && nl != nd)) {
            ty__error("[%s] term '%.*s' does not fit operand %d of shape %s", fn,
                      (int)(end - s), s, i + 1, ty__shp(operands[i], buf));
            goto fail;
        }
        int e = ell[i] >= 0 ? nd - nl : 0;
        if (ell[i] >= 0) any_ell = true;
        if (e > max_ell) max_ell = e;
        /* labels: letters, with ellipsis dims placeholders (fixed below) */
        t[i].n = nd;
        int k = 0;
        for (int j = 0; j < nl; j++) {
            if (j == ell[i])
                for (int q = 0; q < e; q++) t[i].lab[k++] = -(e - q); /* -e..-1 */
            t[i].lab[k++] = letters[j];
        }
        if (ell[i] == nl)
            for (int q = 0; q < e; q++) t[i].lab[k++] = -(e - q);
        t[i].a = ty_retain(operands[i]);
        s = end + 1;
    }
    /* ellipsis labels right-aligned: -r (r-th from the right) -> 256 + max_ell - r */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < t[i].n; j++) {
            if (t[i].lab[j] < 0) t[i].lab[j] = 256 + max_ell + t[i].lab[j];
            int l = t[i].lab[j];
            int64_t d = ty_shape(t[i].a)[j];
            if (d != 1) {
                if (size[l] != 1 && size[l] != d) {
                    ty__error("[%s] index '%c' has sizes %lld and %lld (operand %d %s)", fn,
                              l < 128 ? l : '.', (long long)size[l], (long long)d, i + 1,
                              ty__shp(t[i].a, buf));
                    goto fail;
                }
                size[l] = d;
            }
        }
    for (int i = 0; i < n; i++) {
        bool seen[EIN_LABELS] = {false};
        for (int j = 0; j < t[i].n; j++) {
            if (!seen[t[i].lab[j]]) count[t[i].lab[j]]++;
            seen[t[i].lab[j]] = true;
        }
    }
    /* output labels */
    int out[TY_MAX_DIMS], nout = 0;
    bool in_out[EIN_LABELS] = {false};
    if (arrow) {
        int e = -1;
        int nl = ein_parse_term(arrow + 2, strlen(arrow + 2), letters, &e);
        if (nl < 0) {
            ein_term_error(fn, nl, arrow + 2, strlen(arrow + 2));
            goto fail;
        }
        if (nl + (e >= 0 ? max_ell : 0) > TY_MAX_DIMS) {
            ty__error("[%s] bad output subscripts '%s'", fn, arrow + 2);
            goto fail;
        }
        for (int j = 0; j <= nl; j++) {
            if (j == e)
                for (int q = 0; q < max_ell; q++) out[nout++] = 256 + q;
            if (j < nl) {
                int l = letters[j];
                if (!count[l]) {
                    ty__error("[%s] output index '%c' appears in no input", fn, l);
                    goto fail;
                }
                if (in_out[l]) {
                    ty__error("[%s] output index '%c' appears twice", fn, l);
                    goto fail;
                }
                out[nout++] = l;
                in_out[l] = true;
            }
        }
        for (int q = 0; q < nout; q++) in_out[out[q]] = true;
    } else {
        (void)any_ell;
        for (int q = 0; q < max_ell; q++) out[nout++] = 256 + q;
        for (int l = 0; l < 128; l++) {
            if (count[l] != 1) continue;
            /* appears in one operand: once there? */
            int times = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < t[i].n; j++) times += t[i].lab[j] == l;
            if (times == 1) {
                if (nout >= TY_MAX_DIMS) {
                    ty__error("[%s] output has more than %d axes", fn, TY_MAX_DIMS);
                    goto fail;
                }
                out[nout++] = l;
            }
        }
        for (int q = 0; q < nout; q++) in_out[out[q]] = true;
    }
    /* diagonals, then sum what only one operand has */
    for (int i = 0; i < n; i++) {
        if (ein_diagonal(&t[i]) != 0) goto fail;
        bool keep[EIN_LABELS];
        for (int l = 0; l < EIN_LABELS; l++) keep[l] = in_out[l];
        for (int j = 0; j < n; j++)
            if (j != i)
                for (int q = 0; q < t[j].n; q++) keep[t[j].lab[q]] = true;
        if (ein_sum_out(&t[i], keep) != 0) goto fail;
    }
    /* pairwise, left to right */
    for (int i = 1; i < n; i++) {
        bool keep[EIN_LABELS];
        for (int l = 0; l < EIN_LABELS; l++) keep[l] = in_out[l];
        for (int j = i + 1; j < n; j++)
            for (int q = 0; q < t[j].n; q++) keep[t[j].lab[q]] = true;
        if (ein_contract(&t[0], &t[i], keep, size) != 0) goto fail;
    }
    if (ein_sum_out(&t[0], in_out) != 0) goto fail;
    /* labels of the output missing from the result are size-1 broadcasts */
    for (int q = 0; q < nout; q++)
        if (ein_find(&t[0], out[q]) < 0) {
            ty_array *e = ty_expand_dims(t[0].a, t[0].n);
            if (!e) goto fail;
            ty_release(t[0].a);
            t[0].a = e;
            t[0].lab[t[0].n++] = out[q];
        }
    if (ein_permute(&t[0], out, nout) != 0) goto fail;
    if (ein_expand(&t[0], size) != 0) goto fail;
    result = ty_retain(t[0].a);
fail:
    for (int i = 0; i < n; i++) ty_release(t[i].a);
    return result;
}
