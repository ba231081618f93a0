/* test_nnops.c -- the nn primitives ty_normalize, ty_attention and
 * ty_softmax_cross_entropy from C: values against hand-computed cases, their
 * VJP/JVP against the closed forms, the Vulkan kernels against the CPU when
 * a Vulkan device exists, and error messages. */
#include <stdlib.h>

#include "test.h"

static ty_device cpu(void) { return (ty_device){TY_CPU, 0}; }

static ty_array *arr(const float *v, int ndim, const int64_t *shape)
{
    return ty_from_data(v, TY_FLOAT32, ndim, shape, cpu());
}

TEST(normalize_values)
{
    const float v[] = {1, 2, 3, 4, 2, 2, 2, 6};
    ty_array *x = arr(v, 2, (int64_t[]){2, 4});
    /* row 0: mean 2.5, var 1.25 -> (x - 2.5)/sqrt(1.25) */
    ty_array *y = ty_normalize(x, 1, (int[]){-1}, 0.0, false);
    double s = 1 / sqrt(1.25);
    CHECK_VALUES(y, 1e-6, -1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s, -1 / sqrt(3), -1 / sqrt(3),
                 -1 / sqrt(3), 3 / sqrt(3));
    /* columns (batch-norm style): axis 0 */
    ty_array *c = ty_normalize(x, 1, (int[]){0}, 1e-12, false);
    CHECK_VALUES(c, 1e-6, -1, 0, 1, -1, 1, 0, -1, 1);
    /* rms over all axes: sqrt(mean(x^2)) = sqrt(78/8) */
    ty_array *r = ty_normalize(x, 2, (int[]){0, 1}, 0.0, true);
    double q = 1 / sqrt(78.0 / 8);
    CHECK_VALUES(r, 1e-6, 1 * q, 2 * q, 3 * q, 4 * q, 2 * q, 2 * q, 2 * q, 6 * q);
    /* eps matters for a constant row */
    const float z[] = {5, 5, 5};
    ty_array *xz = arr(z, 1, (int64_t[]){3});
    ty_array *yz = ty_normalize(xz, 1, (int[]){0}, 1e-5, false);
    CHECK_VALUES(yz, 0, 0, 0, 0);
    ty_release(x); ty_release(y); ty_release(c); ty_release(r); ty_release(xz); ty_release(yz);
}

TEST(normalize_affine_values)
{
    const float v[] = {1, 2, 3, 4, 2, 2, 2, 6};
    ty_array *x = arr(v, 2, (int64_t[]){2, 4});
    const float wv[] = {1, 2, 0, -1}, bv[] = {0.5f};
    ty_array *w = arr(wv, 1, (int64_t[]){4}), *b = arr(bv, 1, (int64_t[]){1});
    /* y = normalize(x) * w + b, w over the last axis, b a broadcast scalar */
    ty_array *y = ty_normalize_affine(x, 1, (int[]){-1}, 0.0, false, w, b);
    double s = 1 / sqrt(1.25), t = 1 / sqrt(3);
    CHECK_VALUES(y, 1e-6, -1.5 * s + 0.5, -1.0 * s + 0.5, 0.5, -1.5 * s + 0.5, -t + 0.5,
                 -2 * t + 0.5, 0.5, -3 * t + 0.5);
    /* weight only, rms, per-row weight (2,1) */
    const float rv[] = {2, -1};
    ty_array *wr = arr(rv, 2, (int64_t[]){2, 1});
    ty_array *r = ty_normalize_affine(x, 2, (int[]){0, 1}, 0.0, true, wr, NULL);
    double q = 1 / sqrt(78.0 / 8);
    CHECK_VALUES(r, 1e-6, 2 * q, 4 * q, 6 * q, 8 * q, -2 * q, -2 * q, -2 * q, -6 * q);
    /* no weight, no bias: ty_normalize */
    ty_array *n = ty_normalize_affine(x, 1, (int[]){-1}, 0.0, false, NULL, NULL);
    CHECK(ty_ndim(n) == 2);
    CHECK_VALUES(n, 1e-6, -1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s, -t, -t, -t, 3 * t);
    /* gradients of sum(y * c): dw = sum over rows of c y, db = sum(c) */
    ty_array *yy = ty_normalize_affine(x, 1, (int[]){-1}, 0.0, false, w, b);
    ty_array *tot = ty_sum(yy, NULL, 0, false);
    ty_array *ins[2] = {w, b}, *gs[2] = {NULL, NULL};
    CHECK(ty_vjp(&tot, NULL, 1, ins, 2, gs) == 0);
    CHECK_VALUES(gs[0], 1e-5, -1.5 * s - t, -0.5 * s - t, 0.5 * s - t, 1.5 * s + 3 * t);
    CHECK_VALUES(gs[1], 1e-6, 8);
    /* JVP along the bias: +1 everywhere */
    const float one[] = {1};
    ty_array *tb = arr(one, 1, (int64_t[]){1}), *jt = NULL;
    CHECK(ty_jvp(&yy, 1, &b, &tb, 1, &jt) == 0);
    CHECK_VALUES(jt, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    ty_release(x); ty_release(w); ty_release(b); ty_release(y); ty_release(wr);
    ty_release(r); ty_release(n); ty_release(yy); ty_release(tot); ty_release(gs[0]);
    ty_release(gs[1]); ty_release(tb); ty_release(jt);
}

TEST(attention_values)
{
    /* one query, two keys: scores (q.k) * scale = {0, s}; v rows {1,0},{0,1} */
    const float qv[] = {1, 0}, kv[] = {0, 1, 1, 0}, vv[] = {1, 0, 0, 1};
    ty_array *q = arr(qv, 2, (int64_t[]){1, 2}), *k = arr(kv, 2, (int64_t[]){2, 2});
    ty_array *v = arr(vv, 2, (int64_t[]){2, 2});
    ty_array *o = ty_attention(q, k, v, NULL, 2.0, false);
    double e = exp(2.0), p0 = 1 / (1 + e), p1 = e / (1 + e);
    CHECK_VALUES(o, 1e-6, p0, p1);
    /* bool mask dropping key 2 */
    const uint8_t mv[] = {1, 0};
    ty_array *m = ty_from_data(mv, TY_BOOL, 1, (int64_t[]){2}, cpu());
    ty_array *om = ty_attention(q, k, v, m, 2.0, false);
    CHECK_VALUES(om, 1e-6, 1, 0);
    /* float mask adding -2 to key 2 cancels the score */
    const float fm[] = {0, -2};
    ty_array *mf = arr(fm, 1, (int64_t[]){2});
    ty_array *of = ty_attention(q, k, v, mf, 2.0, false);
    CHECK_VALUES(of, 1e-6, 0.5, 0.5);
    /* fully masked -> zeros; causal with Lq = 2 > Lk = 1: query 1 sees nothing */
    const uint8_t none[] = {0, 0};
    ty_array *mn = ty_from_data(none, TY_BOOL, 1, (int64_t[]){2}, cpu());
    ty_array *on = ty_attention(q, k, v, mn, 1.0, false);
    CHECK_VALUES(on, 0, 0, 0);
    const float q2v[] = {1, 0, 0, 1};
    ty_array *q2 = arr(q2v, 2, (int64_t[]){2, 2});
    ty_array *k1 = arr(kv, 2, (int64_t[]){1, 2}), *v1 = arr(vv, 2, (int64_t[]){1, 2});
    ty_array *oc = ty_attention(q2, k1, v1, NULL, 1.0, true);
    CHECK_VALUES(oc, 0, 0, 0, 1, 0);
    ty_release(q); ty_release(k); ty_release(v); ty_release(o); ty_release(m);
    ty_release(om); ty_release(mf); ty_release(of); ty_release(mn); ty_release(on);
    ty_release(q2); ty_release(k1); ty_release(v1); ty_release(oc);
}

TEST(cross_entropy_values)
{
    const float lv[] = {0, 0, 0, 1, 2, 3};
    ty_array *x = arr(lv, 2, (int64_t[]){2, 3});
    const int32_t yv[] = {2, 3};
    ty_array *y = ty_from_data(yv, TY_INT32, 1, (int64_t[]){2}, cpu());
    ty_array *l = ty_softmax_cross_entropy(x, y, 1, false, 0);
    double lse = log(exp(1.0) + exp(2.0) + exp(3.0));
    CHECK_VALUES(l, 1e-6, log(3.0), lse - 3);
    /* 0-based, row 1 ignored */
    const int32_t y0[] = {0, -7};
    ty_array *yz = ty_from_data(y0, TY_INT32, 1, (int64_t[]){2}, cpu());
    ty_array *lz = ty_softmax_cross_entropy(x, yz, 0, true, -7);
    CHECK_VALUES(lz, 1e-6, log(3.0), 0);
    /* out of range: an error at evaluation naming the label */
    const int32_t yb[] = {1, 4};
    ty_array *ybad = ty_from_data(yb, TY_INT32, 1, (int64_t[]){2}, cpu());
    ty_array *lb = ty_softmax_cross_entropy(x, ybad, 1, false, 0);
    CHECK(lb != NULL);
    CHECK(ty_eval(&lb, 1) != 0);
    CHECK(strstr(ty_error_message(), "[softmax_cross_entropy] index 4 is out of range") != NULL);
    ty_release(x); ty_release(y); ty_release(l); ty_release(yz); ty_release(lz);
    ty_release(ybad); ty_release(lb);
}

TEST(gradients)
{
    /* d/dlogits of sum(CE) = softmax - onehot */
    const float lv[] = {0, 0, 0, 1, 2, 3};
    ty_array *x = arr(lv, 2, (int64_t[]){2, 3});
    const int32_t yv[] = {2, 3};
    ty_array *y = ty_from_data(yv, TY_INT32, 1, (int64_t[]){2}, cpu());
    ty_array *l = ty_softmax_cross_entropy(x, y, 1, false, 0);
    ty_array *g = NULL;
    CHECK(ty_vjp(&l, NULL, 1, &x, 1, &g) == 0);
    double z = exp(1.0) + exp(2.0) + exp(3.0);
    CHECK_VALUES(g, 1e-6, 1.0 / 3, 1.0 / 3 - 1, 1.0 / 3, exp(1.0) / z, exp(2.0) / z,
                 exp(3.0) / z - 1);
    /* JVP along e_1 of row 0: d loss0 = softmax0[0] - 0 = 1/3; row 1: 0 */
    const float tv[] = {1, 0, 0, 0, 0, 0};
    ty_array *t = arr(tv, 2, (int64_t[]){2, 3});
    ty_array *jt = NULL;
    CHECK(ty_jvp(&l, 1, &x, &t, 1, &jt) == 0);
    CHECK_VALUES(jt, 1e-6, 1.0 / 3, 0);
    /* normalize: the gradient of sum(y) is 0 (y sums to zero per group) */
    ty_array *n = ty_normalize(x, 1, (int[]){1}, 1e-5, false);
    ty_array *s = ty_sum(n, NULL, 0, false);
    ty_array *gn = NULL;
    CHECK(ty_vjp(&s, NULL, 1, &x, 1, &gn) == 0);
    CHECK_VALUES(gn, 1e-5, 0, 0, 0, 0, 0, 0);
    /* attention: gradient wrt v of sum(out) = column sums of P (P rows sum to 1) */
    ty_array *a = ty_attention(x, x, x, NULL, 1.0, false);
    ty_array *sa = ty_sum(a, NULL, 0, false);
    ty_array *in3[1] = {x};
    ty_array *ga = NULL;
    CHECK(ty_vjp(&sa, NULL, 1, in3, 1, &ga) == 0);
    CHECK(ga != NULL && ty_ndim(ga) == 2);
    ty_release(x); ty_release(y); ty_release(l); ty_release(g); ty_release(t); ty_release(jt);
    ty_release(n); ty_release(s); ty_release(gn); ty_release(a); ty_release(sa); ty_release(ga);
}

/* The Vulkan kernels against the CPU on random inputs. */
TEST(vulkan_matches_cpu)
{
    ty_device vk = {TY_VULKAN, 0};
    if (!ty_device_available(vk)) return;
    ty_key key = ty_random_key(7);
    ty_array *x = ty_random_normal(key, 3, (int64_t[]){3, 5, 33}, 0, 1, TY_FLOAT32, cpu());
    ty_array *xv = ty_to_device(x, vk);
    int axes[2] = {0, 2};
    ty_array *a = ty_normalize(x, 2, axes, 1e-5, false);
    ty_array *b = ty_normalize(xv, 2, axes, 1e-5, false);
    double *va = test_values(a), *vb = test_values(b);
    CHECK(va && vb);
    for (int i = 0; va && vb && i < 3 * 5 * 33; i++) CHECK_NEAR(vb[i], va[i], 1e-5);
    free(va); free(vb);
    ty_array *o1 = ty_attention(x, x, x, NULL, 0.2, true);
    ty_array *o2 = ty_attention(xv, xv, xv, NULL, 0.2, true);
    va = test_values(o1);
    vb = test_values(o2);
    CHECK(va && vb);
    for (int i = 0; va && vb && i < 3 * 5 * 33; i++) CHECK_NEAR(vb[i], va[i], 1e-5);
    free(va); free(vb);
    /* affine: the row kernel (vec4 and scalar) and the general one */
    ty_array *w = ty_random_normal(ty_random_key(8), 1, (int64_t[]){33}, 0, 1, TY_FLOAT32, cpu());
    ty_array *wv = ty_to_device(w, vk);
    for (int c = 0; c < 2; c++) {
        int ax[1] = {c ? 1 : 2};
        ty_array *ww = c ? NULL : w, *wwv = c ? NULL : wv;
        ty_array *a1 = ty_normalize_affine(x, 1, ax, 1e-5, c == 1, ww, w);
        ty_array *a2 = ty_normalize_affine(xv, 1, ax, 1e-5, c == 1, wwv, wv);
        va = test_values(a1);
        vb = test_values(a2);
        CHECK(va && vb);
        for (int i = 0; va && vb && i < 3 * 5 * 33; i++) CHECK_NEAR(vb[i], va[i], 1e-5);
        free(va); free(vb);
        ty_release(a1); ty_release(a2);
    }
    ty_release(w); ty_release(wv);
    ty_release(x); ty_release(xv); ty_release(a); ty_release(b); ty_release(o1); ty_release(o2);
}

TEST(errors)
{
    const float lv[] = {0, 0, 0, 1, 2, 3};
    ty_array *x = arr(lv, 2, (int64_t[]){2, 3});
    CHECK_ERROR(ty_normalize(x, 0, NULL, 1e-5, false), "[normalize] at least one axis");
    CHECK_ERROR(ty_normalize(x, 1, (int[]){2}, 1e-5, false), "[normalize] axis");
    CHECK_ERROR(ty_normalize(x, 1, (int[]){0}, -1, false), "[normalize] eps must be");
    ty_array *w4 = ty_zeros(1, (int64_t[]){4}, TY_FLOAT32, cpu());
    CHECK_ERROR(ty_normalize_affine(x, 1, (int[]){1}, 1e-5, false, NULL, w4),
                "[normalize] bias (4,) does not broadcast to x (2,3)");
    ty_release(w4);
    ty_array *k = ty_zeros(2, (int64_t[]){2, 4}, TY_FLOAT32, cpu());
    CHECK_ERROR(ty_attention(x, k, k, NULL, 1, false),
                "[attention] q and k must have the same last axis: q (2,3), k (2,4)");
    ty_array *m = ty_zeros(2, (int64_t[]){3, 3}, TY_BOOL, cpu());
    CHECK_ERROR(ty_attention(x, x, x, m, 1, false),
                "[attention] mask (3,3) does not broadcast to the scores (2,2)");
    CHECK_ERROR(ty_softmax_cross_entropy(x, x, 1, false, 0),
                "[softmax_cross_entropy] labels must be integers");
    ty_array *y = ty_zeros(1, (int64_t[]){3}, TY_INT32, cpu());
    CHECK_ERROR(ty_softmax_cross_entropy(x, y, 1, false, 0),
                "[softmax_cross_entropy] labels (3,) must have the shape of logits (2,3)");
    ty_release(x); ty_release(k); ty_release(m); ty_release(y);
}

void suite_nnops(void)
{
    RUN(normalize_values);
    RUN(normalize_affine_values);
    RUN(attention_values);
    RUN(cross_entropy_values);
    RUN(gradients);
    RUN(vulkan_matches_cpu);
    RUN(errors);
}
