/* test_kernels.c -- reductions, scans, softmax, matmul and indexing kernels,
 * through the public API, on the CPU backend. */
#include <stdlib.h>

#include "test.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define VALS(...) ((const double[]){__VA_ARGS__})
#define AXES(...) ((const int[]){__VA_ARGS__})

static const ty_device cpu = {TY_CPU, 0};

/* An evaluated array of dtype dt with the given values (row-major). */
static ty_array *mk(ty_dtype dt, int ndim, const int64_t *shape, const double *v)
{
    ty_array *x = ty_from_data(v, TY_FLOAT64, ndim, shape, cpu);
    if (!x || dt == TY_FLOAT64) return x;
    ty_array *y = ty_astype(x, dt);
    ty_release(x);
    if (y && ty_eval(&y, 1) != 0) {
        ty_release(y);
        return NULL;
    }
    return y;
}

/* 0, 1, ..., n-1 as dtype dt with the given shape. */
static ty_array *iota(ty_dtype dt, int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = (double)i;
    ty_array *x = mk(dt, ndim, shape, v);
    free(v);
    return x;
}

static bool has_shape(ty_array *a, int ndim, const int64_t *shape)
{
    if (!a || ty_ndim(a) != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (ty_shape(a)[i] != shape[i]) return false;
    return true;
}

/* Checks that evaluating a fails with a message containing fragment. */
#define CHECK_EVAL_ERROR(a, fragment) do { ty_array *e_ = (a); ty_error_clear(); \
    int rc_ = e_ ? ty_eval(&e_, 1) : -1; \
    if (rc_ == 0 || !strstr(ty_error_message(), fragment)) { \
    fprintf(stderr, "  %s:%d: %s: expected error containing '%s', got '%s'\n", \
            __FILE__, __LINE__, test_current, fragment, ty_error_message()); \
    test_current_failed = 1; } ty_release(e_); } while (0)

/* Checks a's values then releases it. */
#define EXPECT(a, tol, ...) do { ty_array *r_ = (a); CHECK_VALUES(r_, tol, __VA_ARGS__); \
    ty_release(r_); } while (0)

static const double nan_ = NAN;

/* ================================================================ reduce */

/* [[1,2,3],[4,5,6]] as dtype dt. */
static ty_array *m23(ty_dtype dt)
{
    return mk(dt, 2, SHAPE(2, 3), VALS(1, 2, 3, 4, 5, 6));
}

TEST(sum_of_all_elements)
{
    ty_array *x = m23(TY_FLOAT32);
    EXPECT(ty_sum(x, NULL, 0, false), 0, 21);
    ty_release(x);
}

TEST(sum_over_each_axis)
{
    ty_array *x = m23(TY_FLOAT32);
    EXPECT(ty_sum(x, AXES(0), 1, false), 0, 5, 7, 9);
    EXPECT(ty_sum(x, AXES(1), 1, false), 0, 6, 15);
    EXPECT(ty_sum(x, AXES(-1), 1, false), 0, 6, 15);
    ty_release(x);
}

TEST(sum_keepdims_keeps_size_one_axes)
{
    ty_array *x = m23(TY_FLOAT32);
    ty_array *r = ty_sum(x, AXES(1), 1, true);
    CHECK(has_shape(r, 2, SHAPE(2, 1)));
    EXPECT(r, 0, 6, 15);
    ty_release(x);
}

TEST(sum_over_two_non_adjacent_axes)
{
    /* x[i][j][k] = 12i + 4j + k; sum over i, k = 32j + 60 */
    ty_array *x = iota(TY_FLOAT32, 3, SHAPE(2, 3, 4));
    ty_array *r = ty_sum(x, AXES(0, 2), 2, false);
    CHECK(has_shape(r, 1, SHAPE(3)));
    EXPECT(r, 0, 60, 92, 124);
    ty_release(x);
}

TEST(sum_of_transposed_input)
{
    ty_array *x = m23(TY_FLOAT32);
    ty_array *t = ty_transpose(x, NULL);
    EXPECT(ty_sum(t, AXES(1), 1, false), 0, 5, 7, 9);
    EXPECT(ty_sum(t, AXES(0), 1, false), 0, 6, 15);
    ty_release(t);
    ty_release(x);
}

TEST(sum_of_strided_and_flipped_slices)
{
    ty_array *x = iota(TY_FLOAT32, 1, SHAPE(10));
    ty_array *s = ty_slice(x, SHAPE(1), SHAPE(9), SHAPE(2));      /* 1 3 5 7 */
    EXPECT(ty_sum(s, NULL, 0, false), 0, 16);
    ty_array *f = ty_slice(x, SHAPE(8), SHAPE(-1), SHAPE(-3));    /* 8 5 2 */
    EXPECT(ty_sum(f, NULL, 0, false), 0, 15);
    EXPECT(ty_cumsum(f, 0, false), 0, 8, 13, 15);
    ty_release(f);
    ty_release(s);
    ty_release(x);
}

TEST(sum_of_broadcast_input)
{
    ty_array *x = mk(TY_FLOAT32, 1, SHAPE(3), VALS(1, 2, 3));
    ty_array *b = ty_broadcast_to(x, 2, SHAPE(4, 3));
    EXPECT(ty_sum(b, AXES(0), 1, false), 0, 4, 8, 12);
    EXPECT(ty_sum(b, AXES(1), 1, false), 0, 6, 6, 6, 6);
    ty_release(b);
    ty_release(x);
}

TEST(sum_of_bool_counts_true_as_integer)
{
    ty_array *x = mk(TY_BOOL, 1, SHAPE(4), VALS(1, 0, 1, 1));
    ty_array *r = ty_sum(x, NULL, 0, false);
    CHECK(r && ty_dtype_is_integer(ty_dtype_of(r)));
    EXPECT(r, 0, 3);
    ty_release(x);
}

TEST(sum_of_int64_is_exact)
{
    ty_array *x = mk(TY_INT64, 1, SHAPE(3), VALS(1099511627776.0, 1, -2));
    ty_array *r = ty_sum(x, NULL, 0, false);
    int64_t v = 0;
    CHECK(ty_item_int64(r, &v) == 0 && v == 1099511627775LL);
    ty_release(r);
    ty_release(x);
}

TEST(sum_of_half_types)
{
    ty_array *h = mk(TY_FLOAT16, 2, SHAPE(2, 2), VALS(0.5, 1.5, 2, -0.25));
    EXPECT(ty_sum(h, AXES(1), 1, false), 0, 2, 1.75);
    ty_array *b = mk(TY_BFLOAT16, 2, SHAPE(2, 2), VALS(0.5, 1.5, 2, -0.25));
    EXPECT(ty_sum(b, AXES(0), 1, false), 0, 2.5, 1.25);
    ty_release(b);
    ty_release(h);
}

TEST(sum_and_prod_of_empty_axis_are_identities)
{
    ty_array *x = ty_zeros(2, SHAPE(2, 0), TY_FLOAT32, cpu);
    EXPECT(ty_sum(x, AXES(1), 1, false), 0, 0, 0);
    EXPECT(ty_prod(x, AXES(1), 1, false), 0, 1, 1);
    ty_array *e = ty_sum(x, AXES(0), 1, false);
    CHECK(has_shape(e, 1, SHAPE(0)));
    CHECK(e && ty_eval(&e, 1) == 0);
    ty_release(e);
    ty_release(x);
}

TEST(sum_of_many_float32_ones_is_exact)
{
    /* 2^24 + 100 ones: a float32 accumulator would stop at 2^24 */
    int64_t n = (1 << 24) + 100;
    ty_array *x = ty_ones(1, &n, TY_FLOAT32, cpu);
    EXPECT(ty_sum(x, NULL, 0, false), 0, 16777316);
    ty_release(x);
}

TEST(sum_of_rows_and_columns_of_large_matrix)
{
    /* x[i][j] = j: rows sum to 499500, columns to 300 j */
    int64_t n = 300, m = 1000;
    ty_array *row = ty_arange(0, 1, m, TY_FLOAT32, cpu);
    ty_array *x = ty_broadcast_to(row, 2, SHAPE(n, m));
    ty_array *c = ty_contiguous(x);
    ty_array *rows = ty_sum(c, AXES(1), 1, false), *cols = ty_sum(c, AXES(0), 1, false);
    double *rv = test_values(rows), *cv = test_values(cols);
    CHECK(rv && cv);
    for (int64_t i = 0; rv && i < n; i++) CHECK_NEAR(rv[i], 499500, 0);
    for (int64_t j = 0; cv && j < m; j++) CHECK_NEAR(cv[j], 300.0 * (double)j, 0);
    free(rv);
    free(cv);
    ty_release(rows);
    ty_release(cols);
    ty_release(c);
    ty_release(x);
    ty_release(row);
}

TEST(prod_over_axis)
{
    ty_array *x = m23(TY_INT32);
    EXPECT(ty_prod(x, AXES(1), 1, false), 0, 6, 120);
    ty_release(x);
}

TEST(max_and_min_over_axes)
{
    ty_array *x = mk(TY_INT32, 2, SHAPE(2, 3), VALS(3, -7, 5, 1, 9, -2));
    EXPECT(ty_max(x, AXES(0), 1, false), 0, 3, 9, 5);
    EXPECT(ty_min(x, AXES(1), 1, false), 0, -7, -2);
    EXPECT(ty_max(x, NULL, 0, false), 0, 9);
    ty_array *f = mk(TY_FLOAT32, 2, SHAPE(2, 3), VALS(3, -7, 5, 1, 9, -2));
    ty_array *t = ty_transpose(f, NULL);
    EXPECT(ty_min(t, AXES(0), 1, true), 0, -7, -2);
    ty_release(t);
    ty_release(f);
    ty_release(x);
}

TEST(max_and_min_propagate_nan)
{
    ty_array *x = mk(TY_FLOAT32, 2, SHAPE(2, 3), VALS(1, nan_, 3, 4, 5, 6));
    EXPECT(ty_max(x, AXES(1), 1, false), 0, nan_, 6);
    EXPECT(ty_min(x, AXES(1), 1, false), 0, nan_, 4);
    EXPECT(ty_max(x, AXES(0), 1, false), 0, 4, nan_, 6);
    ty_release(x);
}

TEST(all_and_any_test_truthiness)
{
    ty_array *x = mk(TY_FLOAT32, 2, SHAPE(2, 3), VALS(1, 0, nan_, 0.5, -1, 2));
    ty_array *all = ty_all(x, AXES(1), 1, false);
    CHECK(all && ty_dtype_of(all) == TY_BOOL);
    EXPECT(all, 0, 0, 1);
    EXPECT(ty_any(x, AXES(0), 1, false), 0, 1, 1, 1);
    ty_array *z = ty_zeros(1, SHAPE(3), TY_INT32, cpu);
    EXPECT(ty_any(z, NULL, 0, false), 0, 0);
    ty_release(z);
    ty_release(x);
}

TEST(argmax_and_argmin_return_first_occurrence)
{
    ty_array *x = mk(TY_FLOAT32, 2, SHAPE(2, 3), VALS(1, 3, 3, 2, 0, 0));
    EXPECT(ty_argmax(x, 1, false, 0), 0, 1, 0);
    EXPECT(ty_argmin(x, 1, false, 0), 0, 0, 1);
    EXPECT(ty_argmax(x, 0, false, 0), 0, 1, 0, 0);
    ty_release(x);
}

TEST(argmax_adds_index_base_and_keeps_dims)
{
    ty_array *x = mk(TY_INT32, 2, SHAPE(2, 3), VALS(1, 3, 2, 7, 0, 9));
    ty_array *r = ty_argmax(x, -1, true, 1);
    CHECK(has_shape(r, 2, SHAPE(2, 1)));
    EXPECT(r, 0, 2, 3);
    ty_array *t = ty_transpose(x, NULL);
    EXPECT(ty_argmin(t, 0, false, 1), 0, 1, 2);
    ty_release(t);
    ty_release(x);
}

TEST(argmax_treats_first_nan_as_extreme)
{
    ty_array *x = mk(TY_FLOAT64, 1, SHAPE(4), VALS(1, nan_, 5, nan_));
    EXPECT(ty_argmax(x, 0, false, 0), 0, 1);
    EXPECT(ty_argmin(x, 0, false, 0), 0, 1);
    ty_release(x);
}

TEST(cumsum_and_cumprod_along_each_axis)
{
    ty_array *x = m23(TY_FLOAT32);
    EXPECT(ty_cumsum(x, 1, false), 0, 1, 3, 6, 4, 9, 15);
    EXPECT(ty_cumsum(x, 0, false), 0, 1, 2, 3, 5, 7, 9);
    EXPECT(ty_cumprod(x, 1, false), 0, 1, 2, 6, 4, 20, 120);
    ty_release(x);
}

TEST(cumsum_in_reverse_scans_from_the_end)
{
    ty_array *x = m23(TY_INT32);
    EXPECT(ty_cumsum(x, 1, true), 0, 6, 5, 3, 15, 11, 6);
    EXPECT(ty_cumprod(x, 0, true), 0, 4, 10, 18, 4, 5, 6);
    ty_release(x);
}

TEST(cumsum_of_transposed_bool)
{
    ty_array *x = mk(TY_BOOL, 2, SHAPE(2, 3), VALS(1, 0, 1, 1, 1, 0));
    ty_array *t = ty_transpose(x, NULL);   /* [[1,1],[0,1],[1,0]] */
    EXPECT(ty_cumsum(t, 0, false), 0, 1, 1, 1, 2, 2, 2);
    ty_release(t);
    ty_release(x);
}

TEST(softmax_and_log_softmax_along_last_axis)
{
    ty_array *x = mk(TY_FLOAT32, 2, SHAPE(2, 3), VALS(1, 2, 3, 0, 0, 0));
    EXPECT(ty_softmax(x, -1), 1e-6, 0.09003057317038046, 0.24472847105479767,
           0.6652409557748219, 1.0 / 3, 1.0 / 3, 1.0 / 3);
    EXPECT(ty_log_softmax(x, 1), 1e-6, -2.4076059644443806, -1.4076059644443804,
           -0.40760596444438035, -1.0986122886681098, -1.0986122886681098,
           -1.0986122886681098);
    ty_release(x);
}

TEST(softmax_along_first_axis_is_stable_for_large_values)
{
    ty_array *x = mk(TY_FLOAT32, 2, SHAPE(2, 2), VALS(1000, 0, 1000, 1));
    EXPECT(ty_softmax(x, 0), 1e-6, 0.5, 0.2689414213699951, 0.5, 0.7310585786300049);
    ty_array *i = mk(TY_INT32, 1, SHAPE(2), VALS(0, 0));
    EXPECT(ty_softmax(i, 0), 1e-6, 0.5, 0.5);
    ty_release(i);
    ty_release(x);
}

void suite_reduce(void)
{
    RUN(sum_of_all_elements);
    RUN(sum_over_each_axis);
    RUN(sum_keepdims_keeps_size_one_axes);
    RUN(sum_over_two_non_adjacent_axes);
    RUN(sum_of_transposed_input);
    RUN(sum_of_strided_and_flipped_slices);
    RUN(sum_of_broadcast_input);
    RUN(sum_of_bool_counts_true_as_integer);
    RUN(sum_of_int64_is_exact);
    RUN(sum_of_half_types);
    RUN(sum_and_prod_of_empty_axis_are_identities);
    RUN(sum_of_many_float32_ones_is_exact);
    RUN(sum_of_rows_and_columns_of_large_matrix);
    RUN(prod_over_axis);
    RUN(max_and_min_over_axes);
    RUN(max_and_min_propagate_nan);
    RUN(all_and_any_test_truthiness);
    RUN(argmax_and_argmin_return_first_occurrence);
    RUN(argmax_adds_index_base_and_keeps_dims);
    RUN(argmax_treats_first_nan_as_extreme);
    RUN(cumsum_and_cumprod_along_each_axis);
    RUN(cumsum_in_reverse_scans_from_the_end);
    RUN(cumsum_of_transposed_bool);
    RUN(softmax_and_log_softmax_along_last_axis);
    RUN(softmax_along_first_axis_is_stable_for_large_values);
}

/* ================================================================ matmul */

/* [[1,2,3],[4,5,6]] @ [[7,8],[9,10],[11,12]] = [[58,64],[139,154]] */
static void check_small_matmul(ty_dtype dt)
{
    ty_array *a = m23(dt);
    ty_array *b = mk(dt, 2, SHAPE(3, 2), VALS(7, 8, 9, 10, 11, 12));
    ty_array *c = ty_matmul(a, b);
    CHECK(c && ty_dtype_of(c) == dt && has_shape(c, 2, SHAPE(2, 2)));
    EXPECT(c, 0, 58, 64, 139, 154);
    ty_release(b);
    ty_release(a);
}

TEST(matmul_float32) { check_small_matmul(TY_FLOAT32); }
TEST(matmul_float64) { check_small_matmul(TY_FLOAT64); }
TEST(matmul_float16) { check_small_matmul(TY_FLOAT16); }
TEST(matmul_bfloat16) { check_small_matmul(TY_BFLOAT16); }
TEST(matmul_int32) { check_small_matmul(TY_INT32); }
TEST(matmul_int64) { check_small_matmul(TY_INT64); }

TEST(matmul_of_transposed_operands)
{
    ty_array *at = mk(TY_FLOAT32, 2, SHAPE(3, 2), VALS(1, 4, 2, 5, 3, 6));
    ty_array *bt = mk(TY_FLOAT32, 2, SHAPE(2, 3), VALS(7, 9, 11, 8, 10, 12));
    ty_array *a = ty_transpose(at, NULL), *b = ty_transpose(bt, NULL);
    EXPECT(ty_matmul(a, b), 0, 58, 64, 139, 154);
    ty_array *b2 = mk(TY_FLOAT32, 2, SHAPE(3, 2), VALS(7, 8, 9, 10, 11, 12));
    EXPECT(ty_matmul(a, b2), 0, 58, 64, 139, 154);
    ty_release(b2);
    ty_release(b);
    ty_release(a);
    ty_release(bt);
    ty_release(at);
}

TEST(matmul_of_strided_and_flipped_operands)
{
    /* a = every other column of [[1,0,2,0,3],[4,0,5,0,6]]; b rows reversed */
    ty_array *wide = mk(TY_FLOAT32, 2, SHAPE(2, 5), VALS(1, 0, 2, 0, 3, 4, 0, 5, 0, 6));
    ty_array *a = ty_slice(wide, SHAPE(0, 0), SHAPE(2, 5), SHAPE(1, 2));
    ty_array *brev = mk(TY_FLOAT32, 2, SHAPE(3, 2), VALS(11, 12, 9, 10, 7, 8));
    ty_array *b = ty_slice(brev, SHAPE(2, 0), SHAPE(-1, 2), SHAPE(-1, 1));
    EXPECT(ty_matmul(a, b), 0, 58, 64, 139, 154);
    ty_release(b);
    ty_release(brev);
    ty_release(a);
    ty_release(wide);
}

TEST(matmul_batched)
{
    ty_array *a = mk(TY_FLOAT32, 3, SHAPE(2, 2, 2), VALS(1, 2, 3, 4, 0, 1, 1, 0));
    ty_array *b = mk(TY_FLOAT32, 3, SHAPE(2, 2, 2), VALS(5, 6, 7, 8, 1, 2, 3, 4));
    ty_array *c = ty_matmul(a, b);
    CHECK(has_shape(c, 3, SHAPE(2, 2, 2)));
    EXPECT(c, 0, 19, 22, 43, 50, 3, 4, 1, 2);
    ty_release(b);
    ty_release(a);
}

TEST(matmul_broadcasts_batch_dims)
{
    ty_array *a = mk(TY_FLOAT32, 3, SHAPE(2, 2, 2), VALS(1, 2, 3, 4, 0, 1, 1, 0));
    ty_array *b = mk(TY_FLOAT32, 2, SHAPE(2, 2), VALS(5, 6, 7, 8));
    EXPECT(ty_matmul(a, b), 0, 19, 22, 43, 50, 7, 8, 5, 6);
    ty_array *b3 = mk(TY_FLOAT16, 3, SHAPE(1, 2, 2), VALS(5, 6, 7, 8));
    ty_array *a16 = ty_astype(a, TY_FLOAT16);
    EXPECT(ty_matmul(a16, b3), 0, 19, 22, 43, 50, 7, 8, 5, 6);
    ty_release(a16);
    ty_release(b3);
    ty_release(b);
    ty_release(a);
}

TEST(matmul_with_empty_inner_dimension_is_zero)
{
    ty_array *a = ty_zeros(2, SHAPE(2, 0), TY_FLOAT32, cpu);
    ty_array *b = ty_zeros(2, SHAPE(0, 3), TY_FLOAT32, cpu);
    ty_array *c = ty_matmul(a, b);
    CHECK(has_shape(c, 2, SHAPE(2, 3)));
    EXPECT(c, 0, 0, 0, 0, 0, 0, 0);
    ty_release(b);
    ty_release(a);
}

TEST(matmul_of_vector_and_matrix)
{
    ty_array *v = mk(TY_FLOAT32, 1, SHAPE(3), VALS(1, 2, 3));
    ty_array *b = mk(TY_FLOAT32, 2, SHAPE(3, 2), VALS(7, 8, 9, 10, 11, 12));
    EXPECT(ty_matmul(v, b), 0, 58, 64);
    ty_release(b);
    ty_release(v);
}

/* Checks a (n x k) @ b (k x m) against a double loop, with b transposed in
 * memory and a batch of 3 sharing b. */
static void check_large_matmul(ty_dtype dt, double tol)
{
    int64_t n = 67, k = 129, m = 45;
    double *av = malloc(sizeof(double) * (size_t)(3 * n * k));
    double *bv = malloc(sizeof(double) * (size_t)(m * k));
    double *want = malloc(sizeof(double) * (size_t)(3 * n * m));
    for (int64_t i = 0; i < 3 * n * k; i++) av[i] = (double)((i * 7) % 13) - 6;
    for (int64_t i = 0; i < m * k; i++) bv[i] = (double)((i * 5) % 11) - 5;
    for (int64_t bi = 0; bi < 3; bi++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) {
                double s = 0;
                for (int64_t p = 0; p < k; p++) s += av[(bi * n + i) * k + p] * bv[j * k + p];
                want[(bi * n + i) * m + j] = s;
            }
    ty_array *a = mk(dt, 3, SHAPE(3, n, k), av);
    ty_array *bt = mk(dt, 2, SHAPE(m, k), bv);
    ty_array *b = ty_transpose(bt, NULL);
    ty_array *c = ty_matmul(a, b);
    CHECK(has_shape(c, 3, SHAPE(3, n, m)));
    test_expect_values(c, want, 3 * n * m, tol, __FILE__, __LINE__);
    ty_release(c);
    ty_release(b);
    ty_release(bt);
    ty_release(a);
    free(want);
    free(bv);
    free(av);
}

TEST(matmul_large_float32_with_transposed_operand) { check_large_matmul(TY_FLOAT32, 0); }
TEST(matmul_large_float16_with_transposed_operand) { check_large_matmul(TY_FLOAT16, 1e-3); }
TEST(matmul_large_int32_with_transposed_operand) { check_large_matmul(TY_INT32, 0); }

void suite_matmul(void)
{
    RUN(matmul_float32);
    RUN(matmul_float64);
    RUN(matmul_float16);
    RUN(matmul_bfloat16);
    RUN(matmul_int32);
    RUN(matmul_int64);
    RUN(matmul_of_transposed_operands);
    RUN(matmul_of_strided_and_flipped_operands);
    RUN(matmul_batched);
    RUN(matmul_broadcasts_batch_dims);
    RUN(matmul_with_empty_inner_dimension_is_zero);
    RUN(matmul_of_vector_and_matrix);
    RUN(matmul_large_float32_with_transposed_operand);
    RUN(matmul_large_float16_with_transposed_operand);
    RUN(matmul_large_int32_with_transposed_operand);
}

/* ================================================================ index */

TEST(concatenate_along_each_axis)
{
    ty_array *x = m23(TY_FLOAT32);
    ty_array *y = mk(TY_FLOAT32, 2, SHAPE(1, 3), VALS(7, 8, 9));
    ty_array *r0 = ty_concatenate((ty_array *[]){x, y}, 2, 0);
    CHECK(has_shape(r0, 2, SHAPE(3, 3)));
    EXPECT(r0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    ty_array *z = mk(TY_FLOAT32, 2, SHAPE(2, 1), VALS(-1, -2));
    EXPECT(ty_concatenate((ty_array *[]){z, x, z}, 3, 1), 0,
           -1, 1, 2, 3, -1, -2, 4, 5, 6, -2);
    ty_release(z);
    ty_release(y);
    ty_release(x);
}

TEST(concatenate_of_transposed_inputs)
{
    ty_array *x = m23(TY_INT32);
    ty_array *t = ty_transpose(x, NULL);   /* [[1,4],[2,5],[3,6]] */
    EXPECT(ty_concatenate((ty_array *[]){t, t}, 2, -1), 0,
           1, 4, 1, 4, 2, 5, 2, 5, 3, 6, 3, 6);
    ty_release(t);
    ty_release(x);
}

TEST(pad_fills_borders_with_value)
{
    ty_array *x = mk(TY_FLOAT32, 2, SHAPE(2, 2), VALS(1, 2, 3, 4));
    ty_array *r = ty_pad(x, SHAPE(1, 0), SHAPE(0, 2), 9);
    CHECK(has_shape(r, 2, SHAPE(3, 4)));
    EXPECT(r, 0, 9, 9, 9, 9, 1, 2, 9, 9, 3, 4, 9, 9);
    ty_array *t = ty_transpose(x, NULL);
    EXPECT(ty_pad(t, SHAPE(0, 1), SHAPE(0, 0), -1), 0, -1, 1, 3, -1, 2, 4);
    ty_release(t);
    ty_release(x);
}

TEST(take_rows_with_2d_indices)
{
    ty_array *x = m23(TY_FLOAT32);
    ty_array *idx = mk(TY_INT32, 2, SHAPE(2, 2), VALS(1, 0, 1, 1));
    ty_array *r = ty_take(x, idx, 0, 0);
    CHECK(has_shape(r, 3, SHAPE(2, 2, 3)));
    EXPECT(r, 0, 4, 5, 6, 1, 2, 3, 4, 5, 6, 4, 5, 6);
    ty_release(idx);
    ty_release(x);
}

TEST(take_along_last_axis_with_negative_indices)
{
    ty_array *x = m23(TY_INT64);
    ty_array *idx = mk(TY_INT64, 1, SHAPE(3), VALS(-1, 0, -3));
    ty_array *r = ty_take(x, idx, 1, 0);
    CHECK(has_shape(r, 2, SHAPE(2, 3)));
    EXPECT(r, 0, 3, 1, 1, 6, 4, 4);
    ty_release(idx);
    ty_release(x);
}

TEST(take_subtracts_index_base)
{
    ty_array *x = m23(TY_FLOAT32);
    ty_array *t = ty_transpose(x, NULL);   /* [[1,4],[2,5],[3,6]] */
    ty_array *idx = mk(TY_UINT8, 1, SHAPE(2), VALS(3, 1));
    EXPECT(ty_take(t, idx, 0, 1), 0, 3, 6, 1, 4);
    ty_release(idx);
    ty_release(t);
    ty_release(x);
}

TEST(take_rejects_out_of_range_index)
{
    ty_array *x = m23(TY_FLOAT32);
    ty_array *idx = mk(TY_INT32, 1, SHAPE(2), VALS(0, 3));
    CHECK_EVAL_ERROR(ty_take(x, idx, 1, 0),
                     "[take] index 3 is out of range for axis 1 of size 3");
    ty_array *idx1 = mk(TY_INT32, 1, SHAPE(2), VALS(1, 4));
    CHECK_EVAL_ERROR(ty_take(x, idx1, 1, 1),
                     "[take] index 4 is out of range for axis 2 of size 3");
    ty_array *neg = mk(TY_INT32, 1, SHAPE(1), VALS(-3));
    CHECK_EVAL_ERROR(ty_take(x, neg, 0, 0),
                     "[take] index -3 is out of range for axis 0 of size 2");
    ty_release(neg);
    ty_release(idx1);
    ty_release(idx);
    ty_release(x);
}

TEST(take_along_axis_gathers_per_row)
{
    ty_array *x = mk(TY_FLOAT32, 2, SHAPE(2, 3), VALS(10, 30, 20, 60, 40, 50));
    ty_array *idx = mk(TY_INT32, 2, SHAPE(2, 2), VALS(1, 1, 0, 2));
    ty_array *r = ty_take_along_axis(x, idx, 1, 0);
    CHECK(has_shape(r, 2, SHAPE(2, 2)));
    EXPECT(r, 0, 30, 30, 60, 50);
    ty_array *idx0 = mk(TY_INT64, 2, SHAPE(1, 3), VALS(2, 1, 2));
    EXPECT(ty_take_along_axis(x, idx0, 0, 1), 0, 60, 30, 50);
    ty_release(idx0);
    ty_release(idx);
    ty_release(x);
}

TEST(take_along_axis_rejects_out_of_range_index)
{
    ty_array *x = mk(TY_FLOAT32, 2, SHAPE(2, 3), VALS(10, 30, 20, 60, 40, 50));
    ty_array *idx = mk(TY_INT32, 2, SHAPE(2, 1), VALS(1, 7));
    CHECK_EVAL_ERROR(ty_take_along_axis(x, idx, 1, 1),
                     "[take_along_axis] index 7 is out of range for axis 2 of size 3");
    ty_release(idx);
    ty_release(x);
}

TEST(argsort_then_take_along_axis_sorts)
{
    ty_array *x = mk(TY_FLOAT32, 2, SHAPE(2, 3), VALS(10, 30, 20, 60, 40, 50));
    ty_array *order = ty_argsort(x, 1, false, 1);
    EXPECT(ty_take_along_axis(x, order, 1, 1), 0, 10, 20, 30, 40, 50, 60);
    ty_release(order);
    ty_release(x);
}

TEST(scatter_add_accumulates_duplicates)
{
    ty_array *a = mk(TY_FLOAT32, 1, SHAPE(3), VALS(0, 10, 0));
    ty_array *idx = mk(TY_INT32, 1, SHAPE(4), VALS(0, 2, 0, -1));
    ty_array *src = mk(TY_FLOAT32, 1, SHAPE(4), VALS(1, 2, 3, 4));
    EXPECT(ty_scatter_add(a, 0, idx, src, 0), 0, 4, 10, 6);
    ty_release(src);
    ty_release(idx);
    ty_release(a);
}

TEST(scatter_add_along_columns_of_int_matrix)
{
    ty_array *a = ty_zeros(2, SHAPE(2, 3), TY_INT32, cpu);
    ty_array *idx = mk(TY_INT32, 2, SHAPE(2, 2), VALS(3, 3, 1, 2));
    ty_array *src = mk(TY_INT32, 2, SHAPE(2, 2), VALS(5, 6, 7, 8));
    EXPECT(ty_scatter_add(a, 1, idx, src, 1), 0, 0, 0, 11, 7, 8, 0);
    ty_release(src);
    ty_release(idx);
    ty_release(a);
}

TEST(scatter_add_rejects_out_of_range_index)
{
    ty_array *a = ty_zeros(1, SHAPE(3), TY_FLOAT32, cpu);
    ty_array *idx = mk(TY_INT32, 1, SHAPE(2), VALS(1, 3));
    ty_array *src = ty_ones(1, SHAPE(2), TY_FLOAT32, cpu);
    CHECK_EVAL_ERROR(ty_scatter_add(a, 0, idx, src, 0),
                     "[scatter_add] index 3 is out of range for axis 0 of size 3");
    ty_release(src);
    ty_release(idx);
    ty_release(a);
}

TEST(slice_update_with_positive_step)
{
    ty_array *a = iota(TY_FLOAT32, 1, SHAPE(6));
    ty_array *v = mk(TY_FLOAT32, 1, SHAPE(2), VALS(10, 20));
    EXPECT(ty_slice_update(a, v, SHAPE(1), SHAPE(5), SHAPE(2)), 0, 0, 10, 2, 20, 4, 5);
    ty_release(v);
    ty_release(a);
}

TEST(slice_update_with_negative_step_reaching_index_zero)
{
    ty_array *a = iota(TY_INT32, 1, SHAPE(6));
    ty_array *v = mk(TY_INT32, 1, SHAPE(5), VALS(10, 11, 12, 13, 14));
    EXPECT(ty_slice_update(a, v, SHAPE(4), SHAPE(-1), SHAPE(-1)), 0, 14, 13, 12, 11, 10, 5);
    ty_release(v);
    ty_release(a);
}

TEST(slice_update_of_2d_block_from_transposed_value)
{
    ty_array *a = ty_zeros(2, SHAPE(3, 4), TY_FLOAT32, cpu);
    ty_array *w = mk(TY_FLOAT32, 2, SHAPE(2, 2), VALS(1, 2, 3, 4));
    ty_array *v = ty_transpose(w, NULL);   /* [[1,3],[2,4]] */
    EXPECT(ty_slice_update(a, v, SHAPE(1, 0), SHAPE(3, 4), SHAPE(1, 2)), 0,
           0, 0, 0, 0, 1, 0, 3, 0, 2, 0, 4, 0);
    ty_release(v);
    ty_release(w);
    ty_release(a);
}

TEST(sort_ascending_and_descending)
{
    ty_array *x = mk(TY_FLOAT32, 2, SHAPE(2, 3), VALS(3, 1, 2, -1, 5, 0));
    EXPECT(ty_sort(x, 1, false), 0, 1, 2, 3, -1, 0, 5);
    EXPECT(ty_sort(x, 1, true), 0, 3, 2, 1, 5, 0, -1);
    EXPECT(ty_sort(x, 0, false), 0, -1, 1, 0, 3, 5, 2);
    ty_release(x);
}

TEST(sort_of_integers_and_transposed_input)
{
    ty_array *x = mk(TY_INT64, 2, SHAPE(2, 3), VALS(3, 1, 2, -1, 5, 0));
    ty_array *t = ty_transpose(x, NULL);   /* [[3,-1],[1,5],[2,0]] */
    EXPECT(ty_sort(t, 0, false), 0, 1, -1, 2, 0, 3, 5);
    EXPECT(ty_argsort(t, 1, true, 0), 0, 0, 1, 1, 0, 0, 1);
    ty_release(t);
    ty_release(x);
}

TEST(sort_puts_nan_last_in_both_orders)
{
    ty_array *x = mk(TY_FLOAT32, 1, SHAPE(5), VALS(2, nan_, -1, nan_, 7));
    EXPECT(ty_sort(x, 0, false), 0, -1, 2, 7, nan_, nan_);
    EXPECT(ty_sort(x, 0, true), 0, 7, 2, -1, nan_, nan_);
    EXPECT(ty_argsort(x, 0, true, 0), 0, 4, 0, 2, 1, 3);
    ty_release(x);
}

TEST(argsort_is_stable_for_ties)
{
    ty_array *x = mk(TY_INT32, 1, SHAPE(6), VALS(2, 1, 2, 1, 0, 2));
    EXPECT(ty_argsort(x, 0, false, 0), 0, 4, 1, 3, 0, 2, 5);
    EXPECT(ty_argsort(x, 0, true, 0), 0, 0, 2, 5, 1, 3, 4);
    EXPECT(ty_argsort(x, 0, false, 1), 0, 5, 2, 4, 1, 3, 6);
    ty_release(x);
}

TEST(argsort_of_long_rows_is_stable)
{
    /* 1000 values i % 7: ties sorted by original position */
    int64_t n = 1000;
    double *v = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) v[i] = (double)(i % 7);
    ty_array *x = mk(TY_FLOAT32, 1, &n, v);
    ty_array *order = ty_argsort(x, 0, false, 0);
    double *r = test_values(order);
    CHECK(r);
    for (int64_t i = 1; r && i < n; i++) {
        int64_t p = (int64_t)r[i - 1], q = (int64_t)r[i];
        CHECK(p % 7 < q % 7 || (p % 7 == q % 7 && p < q));
        if (test_current_failed) break;
    }
    free(r);
    free(v);
    ty_release(order);
    ty_release(x);
}

void suite_index(void)
{
    RUN(concatenate_along_each_axis);
    RUN(concatenate_of_transposed_inputs);
    RUN(pad_fills_borders_with_value);
    RUN(take_rows_with_2d_indices);
    RUN(take_along_last_axis_with_negative_indices);
    RUN(take_subtracts_index_base);
    RUN(take_rejects_out_of_range_index);
    RUN(take_along_axis_gathers_per_row);
    RUN(take_along_axis_rejects_out_of_range_index);
    RUN(argsort_then_take_along_axis_sorts);
    RUN(scatter_add_accumulates_duplicates);
    RUN(scatter_add_along_columns_of_int_matrix);
    RUN(scatter_add_rejects_out_of_range_index);
    RUN(slice_update_with_positive_step);
    RUN(slice_update_with_negative_step_reaching_index_zero);
    RUN(slice_update_of_2d_block_from_transposed_value);
    RUN(sort_ascending_and_descending);
    RUN(sort_of_integers_and_transposed_input);
    RUN(sort_puts_nan_last_in_both_orders);
    RUN(argsort_is_stable_for_ties);
    RUN(argsort_of_long_rows_is_stable);
}
