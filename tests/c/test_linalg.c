/* test_linalg.c -- ty_linalg_* (LAPACK) and ty_einsum from C: values on
 * small hand-checked matrices, batching, errors, and a custom VJP. */
#include <stdlib.h>

#include "test.h"

static ty_array *m2(const double *v, int64_t r, int64_t c)
{
    int64_t s[2] = {r, c};
    return ty_from_data(v, TY_FLOAT64, 2, s, (ty_device){TY_CPU, 0});
}

TEST(linalg_inv_det_solve)
{
    const double a[] = {4, 1, 2, 3};
    ty_array *A = m2(a, 2, 2);
    ty_array *I = ty_linalg_inv(A);
    CHECK_VALUES(I, 1e-12, 0.3, -0.1, -0.2, 0.4);
    ty_array *D = ty_linalg_det(A);
    CHECK_VALUES(D, 1e-12, 10);
    const double b[] = {1, 2};
    int64_t n2 = 2;
    ty_array *B = ty_from_data(b, TY_FLOAT64, 1, &n2, (ty_device){TY_CPU, 0});
    ty_array *X = ty_linalg_solve(A, B);
    CHECK_VALUES(X, 1e-12, 0.1, 0.6);
    ty_array *s = NULL, *l = NULL;
    CHECK(ty_linalg_slogdet(A, &s, &l) == 0);
    CHECK_VALUES(s, 0, 1);
    CHECK_VALUES(l, 1e-12, log(10.0));
    ty_release(A), ty_release(I), ty_release(D), ty_release(B), ty_release(X);
    ty_release(s), ty_release(l);
}

TEST(linalg_batched_float32)
{
    const float a[] = {2, 0, 0, 2, 1, 2, 3, 4};
    int64_t shape[3] = {2, 2, 2};
    ty_array *A = ty_from_data(a, TY_FLOAT32, 3, shape, (ty_device){TY_CPU, 0});
    ty_array *D = ty_linalg_det(A);
    CHECK(ty_dtype_of(D) == TY_FLOAT32 && ty_ndim(D) == 1);
    CHECK_VALUES(D, 1e-6, 4, -2);
    ty_array *I = ty_linalg_inv(A);
    CHECK_VALUES(I, 1e-6, 0.5, 0, 0, 0.5, -2, 1, 1.5, -0.5);
    ty_release(A), ty_release(D), ty_release(I);
}

TEST(linalg_factorizations)
{
    const double a[] = {4, 2, 2, 3};
    ty_array *A = m2(a, 2, 2);
    ty_array *L = ty_linalg_cholesky(A, false);
    CHECK_VALUES(L, 1e-12, 2, 0, 1, sqrt(2.0));
    ty_array *U = ty_linalg_cholesky(A, true);
    CHECK_VALUES(U, 1e-12, 2, 1, 0, sqrt(2.0));
    ty_array *w = NULL, *v = NULL;
    const double sy[] = {2, 1, 1, 2};
    ty_array *S = m2(sy, 2, 2);
    CHECK(ty_linalg_eigh(S, false, &w, &v) == 0);
    CHECK_VALUES(w, 1e-12, 1, 3);
    const double r[] = {3, 0, 0, 4, 0, 0};
    ty_array *R = m2(r, 3, 2);
    ty_array *u = NULL, *s = NULL, *vt = NULL;
    CHECK(ty_linalg_svd(R, true, &u, &s, &vt) == 0);
    CHECK_VALUES(s, 1e-12, 4, 3);
    CHECK(ty_dim(u, 0) == 3 && ty_dim(u, 1) == 3 && ty_dim(vt, 0) == 2);
    ty_array *q = NULL, *rr = NULL;
    CHECK(ty_linalg_qr(R, false, &q, &rr) == 0);
    ty_array *qr = ty_matmul(q, rr);
    CHECK_VALUES(qr, 1e-12, 3, 0, 0, 4, 0, 0);
    ty_array *P = ty_linalg_pinv(R, 1e-15);
    CHECK_VALUES(P, 1e-12, 1.0 / 3, 0, 0, 0, 0.25, 0);
    ty_array *x = NULL, *res = NULL, *sv = NULL;
    int64_t rank = 0;
    const double bb[] = {3, 4, 5};
    int64_t n3 = 3;
    ty_array *Bv = ty_from_data(bb, TY_FLOAT64, 1, &n3, (ty_device){TY_CPU, 0});
    CHECK(ty_linalg_lstsq(R, Bv, -1, &x, &res, &rank, &sv) == 0);
    CHECK_VALUES(x, 1e-12, 1, 1);
    CHECK_VALUES(res, 1e-12, 25);
    CHECK(rank == 2);
    ty_release(A), ty_release(L), ty_release(U), ty_release(w), ty_release(v);
    ty_release(S), ty_release(R), ty_release(u), ty_release(s), ty_release(vt);
    ty_release(q), ty_release(rr), ty_release(qr), ty_release(P), ty_release(x);
    ty_release(res), ty_release(sv), ty_release(Bv);
}

TEST(linalg_errors)
{
    ty_array *Z = ty_zeros(2, (int64_t[]){3, 4}, TY_FLOAT32, (ty_device){TY_CPU, 0});
    CHECK_ERROR(ty_linalg_inv(Z), "[linalg.inv] expected square matrices (...,n,n), got (3,4)");
    ty_array *Z3 = ty_zeros(2, (int64_t[]){3, 3}, TY_FLOAT32, (ty_device){TY_CPU, 0});
    CHECK_ERROR(ty_linalg_inv(Z3), "[linalg.inv] singular matrix");
    const double np[] = {1, 2, 2, 1};
    ty_array *N = m2(np, 2, 2);
    CHECK_ERROR(ty_linalg_cholesky(N, false), "not positive definite");
    CHECK_ERROR(ty_linalg_norm(Z, "7", NULL, 0, false), "invalid norm order");
    ty_array *ops[2] = {Z, Z};
    CHECK_ERROR(ty_einsum("ij,jk->ik", ops, 2), "[einsum] index 'j' has sizes 4 and 3");
    ty_release(Z), ty_release(Z3), ty_release(N);
}

TEST(linalg_einsum_norm)
{
    const double a[] = {1, 2, 3, 4, 5, 6};
    ty_array *A = m2(a, 2, 3);
    ty_array *ops[2] = {A, A};
    ty_array *G = ty_einsum("ij,kj->ik", ops, 2);
    CHECK_VALUES(G, 1e-12, 14, 32, 32, 77);
    ty_array *T = ty_einsum("ij->ji", ops, 1);
    CHECK_VALUES(T, 0, 1, 4, 2, 5, 3, 6);
    ty_array *tr = ty_einsum("ii", &G, 1);
    CHECK_VALUES(tr, 1e-12, 91);
    ty_array *nf = ty_linalg_norm(A, NULL, NULL, 0, false);
    CHECK_VALUES(nf, 1e-12, sqrt(91.0));
    int ax = 1;
    ty_array *n1 = ty_linalg_norm(A, "1", &ax, 1, false);
    CHECK_VALUES(n1, 1e-12, 6, 15);
    ty_array *ninf = ty_linalg_norm(A, "inf", NULL, 0, false);
    CHECK_VALUES(ninf, 1e-12, 15);
    ty_release(A), ty_release(G), ty_release(T), ty_release(tr), ty_release(nf);
    ty_release(n1), ty_release(ninf);
}

TEST(linalg_vjp_inv)
{
    const double a[] = {4, 1, 2, 3};
    ty_array *A = m2(a, 2, 2);
    ty_array *I = ty_linalg_inv(A);
    ty_array *g = NULL;
    CHECK(ty_vjp(&I, NULL, 1, &A, 1, &g) == 0);
    /* d sum(inv(A)) / dA = -(inv(A)^T 1 inv(A)^T) */
    ty_array *It = ty_swapaxes(I, 0, 1);
    ty_array *one = ty_ones(2, (int64_t[]){2, 2}, TY_FLOAT64, (ty_device){TY_CPU, 0});
    ty_array *t = ty_matmul(It, one);
    ty_array *e = ty_matmul(t, It);
    ty_array *ne = ty_neg(e);
    double *want = test_values(ne);
    CHECK(want != NULL);
    if (want) CHECK_VALUES(g, 1e-12, want[0], want[1], want[2], want[3]);
    free(want);
    ty_array *d = ty_linalg_det(A), *gd = NULL;
    CHECK(ty_vjp(&d, NULL, 1, &A, 1, &gd) == 0);
    CHECK_VALUES(gd, 1e-12, 3, -2, -1, 4);      /* cofactor matrix */
    ty_release(A), ty_release(I), ty_release(g), ty_release(It), ty_release(one);
    ty_release(t), ty_release(e), ty_release(ne), ty_release(d), ty_release(gd);
}

void suite_linalg(void)
{
    RUN(linalg_inv_det_solve);
    RUN(linalg_batched_float32);
    RUN(linalg_factorizations);
    RUN(linalg_errors);
    RUN(linalg_einsum_norm);
    RUN(linalg_vjp_inv);
}
