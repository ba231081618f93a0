/* test_conv.c -- the conv and pooling primitives of the C API: output
 * shapes, small values worked out by hand, options (stride, padding incl.
 * negative, dilations, groups, flip, ceil_mode, count_include_pad), the
 * pooling gradient and selection primitives, VJP/JVP through ty_vjp/ty_jvp,
 * and error messages. Values against torch: tests/lua/test_conv.lua. */
#include <stdlib.h>

#include "test.h"

static const ty_device cpu = {TY_CPU, 0};

static ty_array *arr(const double *v, int ndim, const int64_t *shape)
{
    return ty_from_data(v, TY_FLOAT64, ndim, shape, cpu);
}

static ty_array *seq(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    ty_array *a = ty_arange(1, 1, n, TY_FLOAT64, cpu);
    ty_array *r = ty_reshape(a, ndim, shape);
    ty_release(a);
    return r;
}

TEST(conv1d_by_hand)
{
    ty_array *x = seq(3, (int64_t[]){1, 1, 5});        /* 1 2 3 4 5 */
    ty_array *w = arr((double[]){1, 0, -1}, 3, (int64_t[]){1, 1, 3});
    ty_conv_opts o = {0};
    ty_array *y = ty_conv_general(x, w, &o);
    CHECK(y && ty_dim(y, 2) == 3);
    CHECK_VALUES(y, 1e-12, -2, -2, -2);
    ty_release(y);
    o.pad_lo[0] = 1;
    o.pad_hi[0] = 2;
    o.stride[0] = 2;
    y = ty_conv_general(x, w, &o);                    /* 0 1 2 3 4 5 0 0 */
    CHECK(y && ty_dim(y, 2) == 3);
    CHECK_VALUES(y, 1e-12, -2, -2, 4);
    ty_release(y);
    memset(&o, 0, sizeof o);
    o.flip = true;
    o.dilation[0] = 2;                                /* taps 0, 2, 4 */
    y = ty_conv_general(x, w, &o);
    CHECK_VALUES(y, 1e-12, 4);
    ty_release(y);
    memset(&o, 0, sizeof o);
    o.in_dilation[0] = 2;                             /* 1 0 2 0 3 0 4 0 5 */
    o.pad_hi[0] = -2;                                 /* cropped */
    y = ty_conv_general(x, w, &o);
    CHECK(y && ty_dim(y, 2) == 5);
    CHECK_VALUES(y, 1e-12, -1, 0, -1, 0, -1);
    ty_release(y);
    ty_release(x);
    ty_release(w);
}

TEST(conv2d_groups_and_shapes)
{
    /* depthwise: 2 channels, each summed over a 2x2 window */
    ty_array *x = seq(4, (int64_t[]){1, 2, 3, 3});
    ty_array *w = ty_ones(4, (int64_t[]){2, 1, 2, 2}, TY_FLOAT64, cpu);
    ty_conv_opts o = {.groups = 2};
    ty_array *y = ty_conv_general(x, w, &o);
    CHECK(y && ty_ndim(y) == 4 && ty_dim(y, 1) == 2 && ty_dim(y, 2) == 2 && ty_dim(y, 3) == 2);
    CHECK_VALUES(y, 1e-12, 12, 16, 24, 28, 48, 52, 60, 64);
    ty_release(y);
    /* 3-d shape with stride and padding */
    ty_array *x3 = ty_zeros(5, (int64_t[]){2, 4, 7, 6, 5}, TY_FLOAT32, cpu);
    ty_array *w3 = ty_zeros(5, (int64_t[]){6, 2, 3, 2, 1}, TY_FLOAT32, cpu);
    ty_conv_opts o3 = {.groups = 2, .stride = {2, 1, 3}, .pad_lo = {1, 0, 0},
                       .pad_hi = {1, 0, 2}, .dilation = {1, 2, 1}};
    ty_array *y3 = ty_conv_general(x3, w3, &o3);
    CHECK(y3 && ty_dim(y3, 0) == 2 && ty_dim(y3, 1) == 6 && ty_dim(y3, 2) == 4 &&
          ty_dim(y3, 3) == 4 && ty_dim(y3, 4) == 3);
    CHECK(ty_eval(&y3, 1) == 0);
    ty_release(y3);
    ty_release(x3);
    ty_release(w3);
    ty_release(x);
    ty_release(w);
}

TEST(conv_float32_matches_float64)
{
    int64_t xs[4] = {2, 3, 9, 8}, ws[4] = {5, 3, 3, 3};
    ty_array *x = ty_random_normal(ty_random_key(1), 4, xs, 0, 1, TY_FLOAT64, cpu);
    ty_array *w = ty_random_normal(ty_random_key(2), 4, ws, 0, 1, TY_FLOAT64, cpu);
    ty_conv_opts o = {.stride = {2, 1}, .pad_lo = {1, 1}, .pad_hi = {1, 1}};
    ty_array *y = ty_conv_general(x, w, &o);
    ty_array *xf = ty_astype(x, TY_FLOAT32), *wf = ty_astype(w, TY_FLOAT32);
    ty_array *yf = ty_conv_general(xf, wf, &o);
    double *a = test_values(y), *b = test_values(yf);
    CHECK(a && b);
    double err = 0;
    for (int64_t i = 0; a && b && i < ty_size(y); i++)
        err = fmax(err, fabs(a[i] - b[i]));
    CHECK(err < 1e-4);
    free(a);
    free(b);
    ty_release(x);
    ty_release(w);
    ty_release(y);
    ty_release(xf);
    ty_release(wf);
    ty_release(yf);
}

TEST(pools_by_hand)
{
    ty_array *x = arr((double[]){1, 5, 2, 8, 3, 3, 7}, 1, (int64_t[]){7});
    ty_pool_opts o = {.kernel = {2}};
    ty_array *m = ty_pool(x, 1, TY_POOL_MAX, &o);
    CHECK_VALUES(m, 0, 5, 8, 3);
    ty_array *a = ty_pool(x, 1, TY_POOL_AVG, &o);
    CHECK_VALUES(a, 1e-12, 3, 5, 3);
    ty_release(m);
    ty_release(a);
    /* ceil_mode keeps the partial last window */
    o.ceil_mode = true;
    m = ty_pool(x, 1, TY_POOL_MAX, &o);
    CHECK_VALUES(m, 0, 5, 8, 3, 7);
    a = ty_pool(x, 1, TY_POOL_AVG, &o);
    CHECK_VALUES(a, 1e-12, 3, 5, 3, 7);
    ty_release(m);
    ty_release(a);
    /* padding: count_include_pad decides the divisor */
    ty_pool_opts p = {.kernel = {3}, .stride = {3}, .pad_lo = {1}, .pad_hi = {1},
                      .count_include_pad = true};
    a = ty_pool(x, 1, TY_POOL_AVG, &p);               /* [0 1 5] [2 8 3] [3 7 0] */
    CHECK_VALUES(a, 1e-12, 2, 13.0 / 3, 10.0 / 3);
    ty_release(a);
    p.count_include_pad = false;
    a = ty_pool(x, 1, TY_POOL_AVG, &p);
    CHECK_VALUES(a, 1e-12, 3, 13.0 / 3, 5);
    ty_release(a);
    /* pool_grad routes to the first maximum; select reads t there */
    ty_array *t = arr((double[]){2, 2, 1, 1, 9, 9, 0}, 1, (int64_t[]){7});
    ty_pool_opts q = {.kernel = {2}};
    ty_array *g = arr((double[]){10, 20, 30}, 1, (int64_t[]){3});
    ty_array *gx = ty_pool_grad(t, g, 1, TY_POOL_MAX, &q);
    CHECK_VALUES(gx, 0, 10, 0, 20, 0, 30, 0, 0);
    ty_array *sel = ty_max_pool_select(x, t, 1, &q);    /* argmax of x: 1, 3, 4 */
    CHECK_VALUES(sel, 0, 2, 1, 9);
    ty_array *ga = ty_pool_grad(t, g, 1, TY_POOL_AVG, &q);
    CHECK_VALUES(ga, 1e-12, 5, 5, 10, 10, 15, 15, 0);
    ty_release(gx);
    ty_release(sel);
    ty_release(ga);
    ty_release(g);
    ty_release(t);
    ty_release(x);
}

TEST(pool2d_leading_axes)
{
    ty_array *x = seq(4, (int64_t[]){2, 3, 4, 4});
    ty_pool_opts o = {.kernel = {2, 2}};
    ty_array *m = ty_pool(x, 2, TY_POOL_MAX, &o);
    CHECK(m && ty_ndim(m) == 4 && ty_dim(m, 2) == 2 && ty_dim(m, 3) == 2);
    double *v = test_values(m);
    CHECK(v && v[0] == 6 && v[3] == 16 && v[4] == 22);
    free(v);
    ty_release(m);
    ty_pool_opts d = {.kernel = {2, 2}, .stride = {1, 1}, .dilation = {2, 2}};
    m = ty_pool(x, 2, TY_POOL_MAX, &d);
    CHECK(m && ty_dim(m, 2) == 2 && ty_dim(m, 3) == 2);
    v = test_values(m);
    CHECK(v && v[0] == 11 && v[3] == 16);
    free(v);
    ty_release(m);
    ty_release(x);
}

TEST(conv_vjp_jvp_small)
{
    /* y = conv1d(x, w): dy/dx and dy/dw by hand for ones cotangent */
    ty_array *x = seq(3, (int64_t[]){1, 1, 4});
    ty_array *w = arr((double[]){1, 2}, 3, (int64_t[]){1, 1, 2});
    ty_conv_opts o = {0};
    ty_array *xt = ty_trace_input(x), *wt = ty_trace_input(w);
    ty_array *y = ty_conv_general(xt, wt, &o);
    ty_array *in[2] = {xt, wt}, *g[2] = {NULL, NULL};
    CHECK(ty_vjp(&y, NULL, 1, in, 2, g) == 0);
    CHECK_VALUES(g[0], 1e-12, 1, 3, 3, 2);
    CHECK_VALUES(g[1], 1e-12, 6, 9);                  /* 1+2+3, 2+3+4 */
    ty_array *tx = ty_ones_like(x), *tan[2] = {tx, NULL}, *out_t = NULL;
    CHECK(ty_jvp(&y, 1, in, tan, 2, &out_t) == 0);
    CHECK_VALUES(out_t, 1e-12, 3, 3, 3);
    ty_release(out_t);
    ty_release(tx);
    ty_release(g[0]);
    ty_release(g[1]);
    ty_release(y);
    ty_release(xt);
    ty_release(wt);
    ty_release(x);
    ty_release(w);
}

TEST(conv_errors)
{
    ty_array *x = ty_zeros(4, (int64_t[]){2, 3, 8, 8}, TY_FLOAT32, cpu);
    ty_array *w = ty_zeros(4, (int64_t[]){4, 3, 3, 3}, TY_FLOAT32, cpu);
    ty_array *w2 = ty_zeros(4, (int64_t[]){4, 2, 3, 3}, TY_FLOAT32, cpu);
    ty_array *w9 = ty_zeros(4, (int64_t[]){4, 3, 9, 9}, TY_FLOAT32, cpu);
    ty_array *wd = ty_zeros(4, (int64_t[]){4, 3, 3, 3}, TY_FLOAT64, cpu);
    ty_array *xi = ty_zeros(4, (int64_t[]){2, 3, 8, 8}, TY_INT32, cpu);
    ty_array *x2 = ty_zeros(2, (int64_t[]){2, 3}, TY_FLOAT32, cpu);
    ty_conv_opts o = {0}, og = {.groups = 2};
    CHECK_ERROR(ty_conv_general(x, w2, &o),
                "[conv] weight expects 2 input channels per group, the input has 3");
    CHECK_ERROR(ty_conv_general(x, w, &og), "[conv] groups=2 must divide");
    CHECK_ERROR(ty_conv_general(x, w9, &o),
                "[conv] the kernel (dilated) is larger than the padded input: input "
                "(2,3,8,8), weight (4,3,9,9)");
    CHECK_ERROR(ty_conv_general(x, wd, &o), "[conv] input and weight dtypes differ");
    CHECK_ERROR(ty_conv_general(xi, w, &o), "[conv] input and weight must be float");
    CHECK_ERROR(ty_conv_general(x2, x2, &o), "[conv] input must be (N,C,*spatial)");
    ty_pool_opts p = {.kernel = {2, 2}, .pad_lo = {2, 0}};
    CHECK_ERROR(ty_pool(x, 2, TY_POOL_MAX, &p), "[max_pool] padding should be at most half");
    ty_pool_opts pd = {.kernel = {2, 2}, .dilation = {2, 2}};
    CHECK_ERROR(ty_pool(x, 2, TY_POOL_AVG, &pd), "[avg_pool] average pooling has no dilation");
    ty_pool_opts pk = {.kernel = {2, 2}};
    CHECK_ERROR(ty_pool_grad(x, x, 2, TY_POOL_MAX, &pk),
                "[pool_grad] cotangent (2,3,8,8) does not match the pooled shape");
    CHECK_ERROR(ty_max_pool_select(x, w, 2, &pk), "[max_pool_select] t (4,3,3,3)");
    CHECK_ERROR(ty_pool(xi, 2, TY_POOL_MAX, &pk), "[max_pool] input must be a float array");
    ty_release(x);
    ty_release(w);
    ty_release(w2);
    ty_release(w9);
    ty_release(wd);
    ty_release(xi);
    ty_release(x2);
}

void suite_conv(void)
{
    RUN(conv1d_by_hand);
    RUN(conv2d_groups_and_shapes);
    RUN(conv_float32_matches_float64);
    RUN(pools_by_hand);
    RUN(pool2d_leading_axes);
    RUN(conv_vjp_jvp_small);
    RUN(conv_errors);
}
