/* test_core.c -- arrays, the lazy graph, shape ops, errors and memory. */
#include <stdlib.h>

#include "test.h"

static const ty_device CPU = {TY_CPU, 0};

static ty_array *vec(const double *v, int64_t n)
{
    return ty_from_data(v, TY_FLOAT64, 1, &n, CPU);
}

static ty_array *mat(const float *v, int64_t r, int64_t c)
{
    int64_t shape[2] = {r, c};
    return ty_from_data(v, TY_FLOAT32, 2, shape, CPU);
}

TEST(from_data_keeps_shape_dtype_and_values)
{
    float v[6] = {1, 2, 3, 4, 5, 6};
    ty_array *a = mat(v, 2, 3);
    CHECK(ty_ndim(a) == 2 && ty_dim(a, 0) == 2 && ty_dim(a, -1) == 3);
    CHECK(ty_size(a) == 6 && ty_dtype_of(a) == TY_FLOAT32);
    CHECK(ty_is_evaluated(a));
    CHECK_VALUES(a, 0, 1, 2, 3, 4, 5, 6);
    ty_release(a);
}

TEST(ops_are_lazy_until_evaluated)
{
    ty_array *a = ty_ones(1, (int64_t[]){4}, TY_FLOAT32, CPU);
    ty_array *b = ty_add(a, a);
    CHECK(!ty_is_evaluated(a) && !ty_is_evaluated(b));
    CHECK(ty_node_op(b) == TY_OP_ADD && ty_node_ninputs(b) == 2);
    CHECK(ty_eval(&b, 1) == 0);
    CHECK(ty_is_evaluated(b) && ty_node_op(b) == TY_OP_NONE);
    CHECK_VALUES(b, 0, 2, 2, 2, 2);
    ty_release(a);
    ty_release(b);
}

TEST(deep_chain_evaluates_and_releases_without_recursion)
{
    ty_array *x = ty_zeros(1, (int64_t[]){1}, TY_FLOAT32, CPU);
    ty_array *one = ty_scalar(1, TY_FLOAT32, CPU);
    for (int i = 0; i < 200000; i++) {
        ty_array *y = ty_add(x, one);
        ty_release(x);
        x = y;
    }
    CHECK_VALUES(x, 0, 200000);
    ty_release(x);
    /* an unevaluated deep chain must also be released iteratively */
    x = ty_zeros(1, (int64_t[]){1}, TY_FLOAT32, CPU);
    for (int i = 0; i < 200000; i++) {
        ty_array *y = ty_add(x, one);
        ty_release(x);
        x = y;
    }
    ty_release(x);
    ty_release(one);
}

TEST(intermediate_buffers_are_freed_after_last_use)
{
    ty_memory_stats before, after;
    ty_memory_stats_get(CPU, &before);
    ty_array *a = ty_ones(1, (int64_t[]){1 << 20}, TY_FLOAT32, CPU);
    ty_array *b = ty_exp(a), *c = ty_exp(b), *d = ty_sum(c, NULL, 0, false);
    ty_release(a);
    ty_release(b);
    ty_release(c);
    CHECK(ty_eval(&d, 1) == 0);
    ty_memory_stats_get(CPU, &after);
    CHECK(after.active - before.active < 1024);
    CHECK(after.peak - before.active >= (size_t)(2 << 20) * 4);
    ty_release(d);
}

TEST(views_share_buffers_and_see_strides)
{
    float v[6] = {1, 2, 3, 4, 5, 6};
    ty_array *a = mat(v, 2, 3);
    ty_array *t = ty_transpose(a, NULL);
    CHECK(ty_dim(t, 0) == 3 && ty_dim(t, 1) == 2);
    CHECK_VALUES(t, 0, 1, 4, 2, 5, 3, 6);
    ty_array *r = ty_reshape(t, 1, (int64_t[]){6});
    CHECK_VALUES(r, 0, 1, 4, 2, 5, 3, 6);
    ty_array *e = ty_exp(t);
    double *ev = test_values(e);
    CHECK(ev != NULL);
    if (ev) CHECK_NEAR(ev[1], exp(4), 1e-6);
    free(ev);
    ty_release(a);
    ty_release(t);
    ty_release(r);
    ty_release(e);
}

TEST(broadcasting_follows_numpy)
{
    float v[3] = {1, 2, 3};
    int64_t col_shape[2] = {3, 1};
    ty_array *row = ty_from_data(v, TY_FLOAT32, 1, (int64_t[]){3}, CPU);
    ty_array *col = ty_from_data(v, TY_FLOAT32, 2, col_shape, CPU);
    ty_array *s = ty_add(row, col);
    CHECK(ty_ndim(s) == 2 && ty_dim(s, 0) == 3 && ty_dim(s, 1) == 3);
    CHECK_VALUES(s, 0, 2, 3, 4, 3, 4, 5, 4, 5, 6);
    ty_release(row);
    ty_release(col);
    ty_release(s);
}

TEST(broadcast_error_names_op_and_shapes)
{
    ty_array *a = ty_ones(2, (int64_t[]){2, 3}, TY_FLOAT32, CPU);
    ty_array *b = ty_ones(2, (int64_t[]){4, 3}, TY_FLOAT32, CPU);
    CHECK_ERROR(ty_add(a, b), "[add] shapes (2,3) and (4,3) cannot be broadcast");
    ty_release(a);
    ty_release(b);
}

TEST(matmul_error_names_shapes)
{
    ty_array *a = ty_ones(2, (int64_t[]){32, 784}, TY_FLOAT32, CPU);
    ty_array *b = ty_ones(2, (int64_t[]){512, 256}, TY_FLOAT32, CPU);
    CHECK_ERROR(ty_matmul(a, b), "[matmul] inner dimensions differ: (32,784) @ (512,256)");
    ty_release(a);
    ty_release(b);
}

TEST(reshape_infers_and_rejects)
{
    ty_array *a = ty_arange(0, 1, 6, TY_FLOAT32, CPU);
    ty_array *r = ty_reshape(a, 2, (int64_t[]){-1, 2});
    CHECK(r && ty_dim(r, 0) == 3);
    CHECK_ERROR(ty_reshape(a, 2, (int64_t[]){4, 2}), "[reshape] cannot reshape");
    CHECK_ERROR(ty_reshape(a, 2, (int64_t[]){-1, 4}), "[reshape] cannot reshape");
    ty_release(a);
    ty_release(r);
}

TEST(type_promotion_follows_mlx)
{
    CHECK(ty_promote(TY_INT32, TY_FLOAT16) == TY_FLOAT16);
    CHECK(ty_promote(TY_FLOAT16, TY_BFLOAT16) == TY_FLOAT32);
    CHECK(ty_promote(TY_UINT8, TY_INT32) == TY_INT32);
    CHECK(ty_promote(TY_BOOL, TY_UINT8) == TY_UINT8);
    CHECK(ty_result_dtype(TY_OP_DIV, TY_INT32, TY_INT32) == TY_FLOAT32);
    CHECK(ty_result_dtype(TY_OP_LT, TY_FLOAT32, TY_FLOAT32) == TY_BOOL);
    CHECK(ty_result_dtype(TY_OP_ADD, TY_BOOL, TY_BOOL) == TY_INT32);
}

TEST(slices_with_steps_and_flips)
{
    ty_array *a = ty_arange(0, 1, 10, TY_INT32, CPU);
    ty_array *s = ty_slice(a, (int64_t[]){1}, (int64_t[]){8}, (int64_t[]){3});
    CHECK_VALUES(s, 0, 1, 4, 7);
    ty_array *f = ty_flip(a, NULL, 0);
    CHECK_VALUES(f, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    ty_array *r = ty_slice(a, (int64_t[]){5}, (int64_t[]){-1}, (int64_t[]){-2});
    CHECK_VALUES(r, 0, 5, 3, 1);
    CHECK_ERROR(ty_slice(a, (int64_t[]){3}, (int64_t[]){12}, (int64_t[]){1}),
                "[slice] range 3:12:1 is out of bounds");
    ty_release(a);
    ty_release(s);
    ty_release(f);
    ty_release(r);
}

TEST(slice_update_is_functional)
{
    ty_array *a = ty_zeros(2, (int64_t[]){2, 3}, TY_FLOAT32, CPU);
    ty_array *v = ty_scalar(7, TY_FLOAT32, CPU);
    ty_array *b = ty_slice_update(a, v, (int64_t[]){0, 1}, (int64_t[]){2, 3},
                                  (int64_t[]){1, 1});
    CHECK_VALUES(b, 0, 0, 7, 7, 0, 7, 7);
    CHECK_VALUES(a, 0, 0, 0, 0, 0, 0, 0);
    ty_array *w = ty_ones(1, (int64_t[]){3}, TY_FLOAT32, CPU);
    CHECK_ERROR(ty_slice_update(a, w, (int64_t[]){0, 1}, (int64_t[]){2, 3}, (int64_t[]){1, 1}),
                "cannot assign a value of shape (3,) to a region of shape (2,2)");
    ty_release(a);
    ty_release(v);
    ty_release(b);
    ty_release(w);
}

TEST(concatenate_stack_split)
{
    ty_array *a = ty_arange(1, 1, 4, TY_FLOAT32, CPU);
    ty_array *r = ty_reshape(a, 2, (int64_t[]){2, 2});
    ty_array *pair[2] = {r, r};
    ty_array *c = ty_concatenate(pair, 2, 1);
    CHECK(ty_dim(c, 0) == 2 && ty_dim(c, 1) == 4);
    CHECK_VALUES(c, 0, 1, 2, 1, 2, 3, 4, 3, 4);
    ty_array *s = ty_stack(pair, 2, 0);
    CHECK(ty_ndim(s) == 3 && ty_dim(s, 0) == 2);
    ty_array *parts[4];
    int n = ty_split(a, 2, NULL, 0, 0, parts, 4);
    CHECK(n == 2);
    CHECK_VALUES(parts[1], 0, 3, 4);
    CHECK(ty_split(a, 3, NULL, 0, 0, parts, 4) == -1);
    CHECK(strstr(ty_error_message(), "cannot be split into 3"));
    for (int i = 0; i < n; i++) ty_release(parts[i]);
    ty_release(a);
    ty_release(r);
    ty_release(c);
    ty_release(s);
}

TEST(repeat_tile_pad_squeeze)
{
    ty_array *a = ty_arange(1, 1, 3, TY_FLOAT32, CPU);
    ty_array *r = ty_repeat(a, 2, 0);
    CHECK_VALUES(r, 0, 1, 1, 2, 2, 3, 3);
    ty_array *t = ty_tile(a, (int64_t[]){2, 2}, 2);
    CHECK(ty_ndim(t) == 2 && ty_dim(t, 0) == 2 && ty_dim(t, 1) == 6);
    CHECK_VALUES(t, 0, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3);
    ty_array *p = ty_pad(a, (int64_t[]){1}, (int64_t[]){2}, -1);
    CHECK_VALUES(p, 0, -1, 1, 2, 3, -1, -1);
    ty_array *e = ty_expand_dims(a, 0);
    CHECK(ty_ndim(e) == 2 && ty_dim(e, 0) == 1);
    ty_array *s = ty_squeeze(e, NULL, 0);
    CHECK(ty_ndim(s) == 1);
    CHECK_ERROR(ty_squeeze(r, (int[]){0}, 1), "[squeeze] axis 0 of shape (6,) has size 6");
    ty_release(a);
    ty_release(r);
    ty_release(t);
    ty_release(p);
    ty_release(e);
    ty_release(s);
}

TEST(mean_var_std_logsumexp)
{
    double v[4] = {1, 2, 3, 4};
    ty_array *a = vec(v, 4);
    ty_array *m = ty_mean(a, NULL, 0, false), *var = ty_var(a, NULL, 0, false, 0);
    ty_array *sd = ty_std(a, NULL, 0, false, 1), *lse = ty_logsumexp(a, NULL, 0, false);
    CHECK_VALUES(m, 1e-12, 2.5);
    CHECK_VALUES(var, 1e-12, 1.25);
    CHECK_VALUES(sd, 1e-12, sqrt(5.0 / 3));
    CHECK_VALUES(lse, 1e-12, log(exp(1) + exp(2) + exp(3) + exp(4)));
    ty_release(m);
    ty_release(var);
    ty_release(sd);
    ty_release(lse);
    ty_release(a);
}

TEST(topk_and_one_hot_use_index_base)
{
    float v[5] = {3, 1, 4, 1, 5};
    ty_array *a = ty_from_data(v, TY_FLOAT32, 1, (int64_t[]){5}, CPU);
    ty_array *val, *idx;
    CHECK(ty_topk(a, 2, 0, true, 1, &val, &idx) == 0);
    CHECK_VALUES(val, 0, 5, 4);
    CHECK_VALUES(idx, 0, 5, 3);
    int32_t labels[3] = {1, 3, 2};
    ty_array *l = ty_from_data(labels, TY_INT32, 1, (int64_t[]){3}, CPU);
    ty_array *h = ty_one_hot(l, 3, TY_FLOAT32, 1);
    CHECK_VALUES(h, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0);
    ty_release(a);
    ty_release(val);
    ty_release(idx);
    ty_release(l);
    ty_release(h);
}

TEST(interrupt_stops_evaluation_cleanly)
{
    ty_array *a = ty_ones(1, (int64_t[]){4}, TY_FLOAT32, CPU);
    ty_array *b = ty_exp(a);
    ty_interrupt();
    CHECK(ty_eval(&b, 1) == -1);
    CHECK(strstr(ty_error_message(), "interrupted") != NULL);
    CHECK(ty_eval(&b, 1) == 0);
    CHECK_VALUES(b, 1e-6, exp(1), exp(1), exp(1), exp(1));
    ty_release(a);
    ty_release(b);
}

TEST(memory_limit_refuses_before_allocating)
{
    ty_memory_limit_set(CPU, 1 << 20);
    ty_array *a = ty_ones(1, (int64_t[]){1 << 20}, TY_FLOAT32, CPU);
    CHECK(ty_eval(&a, 1) == -1);
    CHECK(strstr(ty_error_message(), "[alloc] out of memory") != NULL);
    ty_memory_limit_set(CPU, 0);
    CHECK(ty_eval(&a, 1) == 0);
    ty_release(a);
}

TEST(devices_parse_and_mixing_is_an_error)
{
    ty_device d;
    CHECK(ty_device_parse("vulkan:1", &d) == 0 && d.kind == TY_VULKAN && d.index == 1);
    CHECK(ty_device_parse("tpu", &d) == -1);
    CHECK(strstr(ty_error_message(), "unknown device 'tpu'") != NULL);
}

void suite_array(void)
{
    RUN(from_data_keeps_shape_dtype_and_values);
    RUN(type_promotion_follows_mlx);
    RUN(devices_parse_and_mixing_is_an_error);
}

void suite_graph(void)
{
    RUN(ops_are_lazy_until_evaluated);
    RUN(deep_chain_evaluates_and_releases_without_recursion);
    RUN(intermediate_buffers_are_freed_after_last_use);
    RUN(interrupt_stops_evaluation_cleanly);
}

void suite_shape(void)
{
    RUN(views_share_buffers_and_see_strides);
    RUN(broadcasting_follows_numpy);
    RUN(reshape_infers_and_rejects);
    RUN(slices_with_steps_and_flips);
    RUN(slice_update_is_functional);
    RUN(concatenate_stack_split);
    RUN(repeat_tile_pad_squeeze);
    RUN(mean_var_std_logsumexp);
    RUN(topk_and_one_hot_use_index_base);
}

void suite_errors(void)
{
    RUN(broadcast_error_names_op_and_shapes);
    RUN(matmul_error_names_shapes);
}

void suite_memory(void)
{
    RUN(memory_limit_refuses_before_allocating);
}
