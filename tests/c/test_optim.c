/* test_optim.c -- ty_optim_update (core/ops_optim.c, cpu_optim.c): values of
 * each kind against the formulas written out here, output layout, strided
 * and float16 inputs, and the constructor's errors. */
#include <stdlib.h>

#include "test.h"

static const ty_device cpu = {TY_CPU, 0};

static ty_array *held[64];
static int nheld;
static ty_array *hold(ty_array *a)
{
    if (a && nheld < 64) held[nheld++] = a;
    return a;
}
static void release_all(void)
{
    while (nheld > 0) ty_release(held[--nheld]);
}

static ty_array *vec(const float *v, int64_t n)
{
    return hold(ty_from_data(v, TY_FLOAT32, 1, (const int64_t[]){n}, cpu));
}

/* Row k of a fused output (1 + nstate, n) as doubles (caller frees). */
static double *row(ty_array *out, int k, int64_t n)
{
    double *all = test_values(out);
    if (!all) return NULL;
    double *r = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) r[i] = all[k * n + i];
    free(all);
    return r;
}

TEST(sgd_momentum_nesterov)
{
    const float p[3] = {1, -2, 0.5f}, g[3] = {0.5f, 0.25f, -1}, b[3] = {0.1f, 0, -0.2f};
    ty_array *st[1] = {vec(b, 3)};
    double hp[6] = {0.1, 0.9, 0.2, 0.01, 1, 0};
    ty_array *out = hold(ty_optim_update(TY_OPTIM_SGD, vec(p, 3), vec(g, 3), 1, st, hp, 6));
    CHECK(out && ty_ndim(out) == 2 && ty_shape(out)[0] == 2 && ty_shape(out)[1] == 3);
    double *np = row(out, 0, 3), *nb = row(out, 1, 3);
    for (int i = 0; np && nb && i < 3; i++) {
        double gg = g[i] + 0.01 * p[i];
        double buf = 0.9 * b[i] + 0.8 * gg;
        CHECK_NEAR(nb[i], buf, 1e-6);
        CHECK_NEAR(np[i], p[i] - 0.1 * (gg + 0.9 * buf), 1e-6);
    }
    free(np);
    free(nb);
    /* first step: the buffer is the gradient */
    hp[5] = 1;
    out = hold(ty_optim_update(TY_OPTIM_SGD, vec(p, 3), vec(g, 3), 1, st, hp, 6));
    nb = row(out, 1, 3);
    for (int i = 0; nb && i < 3; i++) CHECK_NEAR(nb[i], g[i] + 0.01 * p[i], 1e-6);
    free(nb);
    /* no momentum: no state */
    double hp0[6] = {0.5, 0, 0, 0, 0, 0};
    out = hold(ty_optim_update(TY_OPTIM_SGD, vec(p, 3), vec(g, 3), 0, NULL, hp0, 6));
    CHECK(out && ty_shape(out)[0] == 1);
    CHECK_VALUES(out, 1e-6, 0.75, -2.125, 1.0);
    release_all();
}

TEST(adam_amsgrad_and_adamw)
{
    const float p[2] = {1, -1}, g[2] = {0.5f, -0.25f}, m[2] = {0.1f, 0}, v[2] = {0.01f, 0.2f},
                vm[2] = {0.5f, 0};
    ty_array *st[3] = {vec(m, 2), vec(v, 2), vec(vm, 2)};
    double lr = 0.01, b1 = 0.9, b2 = 0.99, eps = 1e-8, wd = 0.1;
    double hp[10] = {lr, b1, b2, eps, wd, 1, lr / 0.19, sqrt(0.0199), 0, 0};
    ty_array *out = hold(ty_optim_update(TY_OPTIM_ADAM, vec(p, 2), vec(g, 2), 3, st, hp, 10));
    double *r[4];
    for (int k = 0; k < 4; k++) r[k] = row(out, k, 2);
    for (int i = 0; r[0] && i < 2; i++) {
        double nm = b1 * m[i] + (1 - b1) * g[i];
        double nv = b2 * v[i] + (1 - b2) * g[i] * g[i];
        double mx = nv > vm[i] ? nv : vm[i];
        double pp = p[i] * (1 - lr * wd);
        CHECK_NEAR(r[1][i], nm, 1e-6);
        CHECK_NEAR(r[2][i], nv, 1e-6);
        CHECK_NEAR(r[3][i], mx, 1e-6);
        CHECK_NEAR(r[0][i], pp - lr / 0.19 * nm / (sqrt(mx) / sqrt(0.0199) + eps), 1e-6);
    }
    for (int k = 0; k < 4; k++) free(r[k]);
    release_all();
}

TEST(other_kinds_one_step)
{
    const float p[2] = {1, -1}, g[2] = {0.5f, -0.25f}, s0[2] = {0.3f, 0.1f}, s1[2] = {0.2f, 0.4f};
    ty_array *st[2] = {vec(s0, 2), vec(s1, 2)};
    /* adagrad */
    double ha[3] = {0.1, 1e-10, 0};
    ty_array *out = hold(ty_optim_update(TY_OPTIM_ADAGRAD, vec(p, 2), vec(g, 2), 1, st, ha, 3));
    CHECK_VALUES(out, 1e-6, 1 - 0.1 * 0.5 / sqrt(0.55), -1 + 0.1 * 0.25 / sqrt(0.1625), 0.55,
                 0.1625);
    /* adadelta */
    double hd[4] = {1, 0.9, 1e-6, 0};
    out = hold(ty_optim_update(TY_OPTIM_ADADELTA, vec(p, 2), vec(g, 2), 2, st, hd, 4));
    double *r = test_values(out);
    for (int i = 0; r && i < 2; i++) {
        double sq = 0.9 * s0[i] + 0.1 * g[i] * g[i];
        double d = sqrt(s1[i] + 1e-6) / sqrt(sq + 1e-6) * g[i];
        CHECK_NEAR(r[i], p[i] - d, 1e-6);
        CHECK_NEAR(r[2 + i], sq, 1e-6);
        CHECK_NEAR(r[4 + i], 0.9 * s1[i] + 0.1 * d * d, 1e-6);
    }
    free(r);
    /* adamax */
    double hx[6] = {0.01, 0.9, 0.5, 1e-8, 0, 0.1};
    out = hold(ty_optim_update(TY_OPTIM_ADAMAX, vec(p, 2), vec(g, 2), 2, st, hx, 6));
    r = test_values(out);
    for (int i = 0; r && i < 2; i++) {
        double m = 0.9 * s0[i] + 0.1 * g[i];
        double u = fmax(0.5 * s1[i], fabs(g[i]) + 1e-8);
        CHECK_NEAR(r[i], p[i] - 0.1 * m / u, 1e-6);
        CHECK_NEAR(r[4 + i], u, 1e-6);
    }
    free(r);
    /* lion: p -= lr*(sign(c) + wd*p) */
    double hl[4] = {0.1, 0.9, 0.99, 0.5};
    out = hold(ty_optim_update(TY_OPTIM_LION, vec(p, 2), vec(g, 2), 1, st, hl, 4));
    /* c = 0.9*s0 + 0.1*g > 0 for both elements */
    CHECK_VALUES(out, 1e-6, 1 * 0.95 - 0.1, -1 * 0.95 - 0.1, 0.99 * 0.3 + 0.01 * 0.5,
                 0.99 * 0.1 - 0.01 * 0.25);
    /* rmsprop, centered, no momentum: states (sq, gavg) */
    double hr[6] = {0.01, 0.9, 1e-8, 0, 0, 1};
    out = hold(ty_optim_update(TY_OPTIM_RMSPROP, vec(p, 2), vec(g, 2), 2, st, hr, 6));
    r = test_values(out);
    for (int i = 0; r && i < 2; i++) {
        double sq = 0.9 * s0[i] + 0.1 * g[i] * g[i], ga = 0.9 * s1[i] + 0.1 * g[i];
        CHECK_NEAR(r[i], p[i] - 0.01 * g[i] / (sqrt(sq - ga * ga) + 1e-8), 1e-6);
        CHECK_NEAR(r[4 + i], ga, 1e-6);
    }
    free(r);
    release_all();
}

TEST(strided_and_half_inputs)
{
    float pv[6] = {1, 2, 3, 4, 5, 6}, gv[6] = {0.5f, -1, 2, 0.25f, -0.5f, 1};
    ty_array *p = hold(ty_from_data(pv, TY_FLOAT32, 2, (const int64_t[]){2, 3}, cpu));
    ty_array *g = hold(ty_from_data(gv, TY_FLOAT32, 2, (const int64_t[]){3, 2}, cpu));
    ty_array *gt = hold(ty_transpose(g, NULL));                    /* strided (2,3) */
    ty_array *gc = hold(ty_contiguous(gt));
    ty_array *m = hold(ty_zeros(2, (const int64_t[]){2, 3}, TY_FLOAT32, cpu));
    ty_array *st[1] = {m};
    double hl[4] = {0.1, 0.9, 0.99, 0};
    ty_array *a = hold(ty_optim_update(TY_OPTIM_LION, p, gt, 1, st, hl, 4));
    ty_array *b = hold(ty_optim_update(TY_OPTIM_LION, p, gc, 1, st, hl, 4));
    double *va = test_values(a), *vb = test_values(b);
    for (int i = 0; va && vb && i < 12; i++) CHECK_NEAR(va[i], vb[i], 0);
    free(va);
    free(vb);
    /* float16 parameter: output float16, computed in float32 */
    ty_array *ph = hold(ty_astype(p, TY_FLOAT16));
    ty_array *mh = hold(ty_astype(m, TY_FLOAT16));
    ty_array *sth[1] = {mh};
    ty_array *h = hold(ty_optim_update(TY_OPTIM_LION, ph, gt, 1, sth, hl, 4));
    CHECK(h && ty_dtype_of(h) == TY_FLOAT16);
    double *vh = test_values(h), *vr = test_values(a);
    for (int i = 0; vh && vr && i < 12; i++) CHECK_NEAR(vh[i], vr[i], 2e-3);
    free(vh);
    free(vr);
    release_all();
}

TEST(errors)
{
    const float p[2] = {1, 2}, q[3] = {1, 2, 3};
    double hp[10] = {0.1, 0.9, 0.99, 1e-8, 0, 0, 0.1, 1, 0, 0};
    ty_array *st[2] = {vec(p, 2), vec(p, 2)};
    CHECK_ERROR(ty_optim_update(TY_OPTIM_ADAM, vec(p, 2), vec(q, 3), 2, st, hp, 10),
                "[optim_update] adam: grad shape (3,) does not match param (2,)");
    ty_array *st2[2] = {vec(p, 2), vec(q, 3)};
    CHECK_ERROR(ty_optim_update(TY_OPTIM_ADAM, vec(p, 2), vec(p, 2), 2, st2, hp, 10),
                "[optim_update] adam: state 2 shape (3,) does not match param (2,)");
    CHECK_ERROR(ty_optim_update(TY_OPTIM_ADAM, vec(p, 2), vec(p, 2), 1, st, hp, 10),
                "adam expects 2 or 3 state arrays");
    CHECK_ERROR(ty_optim_update(TY_OPTIM_ADAM, vec(p, 2), vec(p, 2), 2, st, hp, 4),
                "[optim_update] adam takes 10 hyperparameters, got 4");
    CHECK_ERROR(ty_optim_update(TY_OPTIM_SGD, vec(p, 2), vec(p, 2), 0, NULL, hp, 6),
                "sgd expects 1 state arrays");                   /* momentum 0.9 */
    CHECK_ERROR(ty_optim_update(TY_OPTIM_KIND_COUNT, vec(p, 2), vec(p, 2), 0, NULL, hp, 6),
                "unknown optimizer kind");
    int32_t iv[2] = {1, 2};
    ty_array *pi = hold(ty_from_data(iv, TY_INT32, 1, (const int64_t[]){2}, cpu));
    CHECK_ERROR(ty_optim_update(TY_OPTIM_LION, pi, vec(p, 2), 1, st, hp, 4),
                "param must be a float array, got int32");
    release_all();
}

void suite_optim(void)
{
    RUN(sgd_momentum_nesterov);
    RUN(adam_amsgrad_and_adamw);
    RUN(other_kinds_one_step);
    RUN(strided_and_half_inputs);
    RUN(errors);
}
