/* test_elementwise.c -- elementwise ops, dtypes, creation and random draws,
 * through the public API on the CPU device. */
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"                 /* ty__philox, ty__random_word */
#include "test.h"

static const ty_device cpu = {TY_CPU, 0};

/* Arrays made in a test, released after it. */
static ty_array *held[256];
static int nheld;

static ty_array *hold(ty_array *a)
{
    if (a && nheld < (int)(sizeof held / sizeof held[0])) held[nheld++] = a;
    return a;
}

static void release_held(void)
{
    while (nheld > 0) ty_release(held[--nheld]);
}

#define RUN_T(name) do { RUN(name); release_held(); } while (0)

/* A new array of dtype with the given values (made as float64, then cast). */
static ty_array *make(ty_dtype dtype, int ndim, const int64_t *shape, const double *v)
{
    ty_array *a = hold(ty_from_data(v, TY_FLOAT64, ndim, shape, cpu));
    if (!a || dtype == TY_FLOAT64) return a;
    return hold(ty_astype(a, dtype));
}

#define NARGS(...) ((int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double)))
/* VEC(dtype, values...): a 1-d array. */
#define VEC(dt, ...) make((dt), 1, (const int64_t[]){NARGS(__VA_ARGS__)}, \
                          (const double[]){__VA_ARGS__})
#define MAT(dt, r, c, ...) make((dt), 2, (const int64_t[]){(r), (c)}, \
                                (const double[]){__VA_ARGS__})

static ty_array *i64vec(int n, const int64_t *v)
{
    return hold(ty_from_data(v, TY_INT64, 1, (const int64_t[]){n}, cpu));
}

static int64_t item_i64(ty_array *a)
{
    int64_t v = -12345;
    if (ty_item_int64(a, &v) != 0) return -12345;
    return v;
}

/* ---------------------------------------------------------------- binary */

TEST(add_float32_contiguous)
{
    ty_array *c = hold(ty_add(VEC(TY_FLOAT32, 1, 2, 3), VEC(TY_FLOAT32, 10, 20, 30)));
    CHECK(ty_dtype_of(c) == TY_FLOAT32);
    CHECK_VALUES(c, 0, 11, 22, 33);
}

TEST(add_broadcasts_column_against_row)
{
    ty_array *col = MAT(TY_FLOAT32, 2, 1, 1, 2);
    ty_array *row = MAT(TY_FLOAT32, 1, 3, 10, 20, 30);
    ty_array *c = hold(ty_add(col, row));
    CHECK(ty_ndim(c) == 2 && ty_dim(c, 0) == 2 && ty_dim(c, 1) == 3);
    CHECK_VALUES(c, 0, 11, 21, 31, 12, 22, 32);
}

TEST(add_broadcasts_scalar_on_both_sides)
{
    ty_array *s = hold(ty_scalar(100, TY_FLOAT32, cpu));
    CHECK_VALUES(hold(ty_add(VEC(TY_FLOAT32, 1, 2), s)), 0, 101, 102);
    CHECK_VALUES(hold(ty_sub(s, VEC(TY_FLOAT32, 1, 2))), 0, 99, 98);
}

TEST(add_works_in_every_dtype)
{
    for (int d = 0; d < TY_DTYPE_COUNT; d++) {
        ty_dtype dt = (ty_dtype)d;
        ty_array *a = VEC(dt, 1, 2, 0), *b = VEC(dt, 4, 5, 0);
        ty_array *c = hold(ty_add(a, b));
        if (dt == TY_BOOL) {                    /* bool + bool counts, in int32 */
            CHECK(c && ty_dtype_of(c) == TY_INT32);
            CHECK_VALUES(c, 0, 2, 2, 0);
        } else {
            CHECK(c && ty_dtype_of(c) == dt);
            CHECK_VALUES(c, 0, 5, 7, 0);
        }
    }
}

TEST(add_of_mixed_int_and_float_gives_float)
{
    ty_array *c = hold(ty_add(VEC(TY_INT32, 1, 2), VEC(TY_FLOAT16, 0.5, 0.25)));
    CHECK(ty_dtype_of(c) == TY_FLOAT16);
    CHECK_VALUES(c, 0, 1.5, 2.25);
}

TEST(sub_reads_transposed_input)
{
    ty_array *a = MAT(TY_FLOAT32, 2, 3, 1, 2, 3, 4, 5, 6);
    ty_array *at = hold(ty_transpose(a, NULL));                  /* (3,2) */
    ty_array *b = MAT(TY_FLOAT32, 3, 2, 1, 1, 1, 1, 1, 1);
    CHECK_VALUES(hold(ty_sub(at, b)), 0, 0, 3, 1, 4, 2, 5);
}

TEST(mul_reads_strided_and_flipped_slices)
{
    ty_array *a = VEC(TY_FLOAT32, 0, 1, 2, 3, 4, 5, 6, 7);
    ty_array *even = hold(ty_slice(a, (const int64_t[]){0}, (const int64_t[]){8},
                                   (const int64_t[]){2}));       /* 0 2 4 6 */
    ty_array *rev = hold(ty_slice(a, (const int64_t[]){7}, (const int64_t[]){-1},
                                  (const int64_t[]){-2}));       /* 7 5 3 1 */
    CHECK_VALUES(hold(ty_mul(even, rev)), 0, 0, 10, 12, 6);
}

TEST(add_large_transposed_matches_elementwise_formula)
{
    enum { R = 300, C = 500 };
    double *v = malloc(sizeof(double) * R * C);
    for (int i = 0; i < R * C; i++) v[i] = i;
    ty_array *a = make(TY_FLOAT32, 2, (const int64_t[]){R, C}, v);
    free(v);
    ty_array *t = hold(ty_transpose(a, NULL));                    /* (C,R) */
    ty_array *s = hold(ty_add(t, t));
    double *out = test_values(s);
    CHECK(out != NULL);
    int bad = 0;
    for (int j = 0; out && j < C; j++)
        for (int i = 0; i < R; i++)
            if (out[j * R + i] != 2.0 * (i * C + j)) bad++;
    CHECK(bad == 0);
    free(out);
}

TEST(add_large_contiguous_uses_all_threads_correctly)
{
    int64_t n = 1000003;
    ty_array *a = hold(ty_arange(0, 1, n, TY_FLOAT32, cpu));
    ty_array *b = hold(ty_full(1, &n, 0.5, TY_FLOAT32, cpu));
    double *out = test_values(hold(ty_add(a, b)));
    CHECK(out != NULL);
    int bad = 0;
    for (int64_t i = 0; out && i < n; i++)
        if (out[i] != (double)(float)i + 0.5) bad++;
    CHECK(bad == 0);
    free(out);
}

TEST(div_of_integers_gives_float32)
{
    ty_array *c = hold(ty_div(VEC(TY_INT32, 7, -7, 1), VEC(TY_INT32, 2, 2, 0)));
    CHECK(ty_dtype_of(c) == TY_FLOAT32);
    CHECK_VALUES(c, 0, 3.5, -3.5, INFINITY);
}

TEST(floor_divide_of_ints_follows_python_signs)
{
    ty_array *a = VEC(TY_INT32, 7, -7, 7, -7), *b = VEC(TY_INT32, 2, 2, -2, -2);
    CHECK_VALUES(hold(ty_floor_divide(a, b)), 0, 3, -4, -4, 3);
}

TEST(floor_divide_of_floats_follows_python_signs)
{
    ty_array *a = VEC(TY_FLOAT32, 7, -7, 7.5), *b = VEC(TY_FLOAT32, 2, 2, -2);
    CHECK_VALUES(hold(ty_floor_divide(a, b)), 0, 3, -4, -4);
}

TEST(integer_division_by_zero_gives_zero)
{
    ty_array *a = VEC(TY_INT64, 5, -5, 0), *z = VEC(TY_INT64, 0, 0, 0);
    CHECK_VALUES(hold(ty_floor_divide(a, z)), 0, 0, 0, 0);
    CHECK_VALUES(hold(ty_remainder(a, z)), 0, 0, 0, 0);
}

TEST(int64_min_floor_divided_by_minus_one_does_not_trap)
{
    ty_array *a = i64vec(1, (const int64_t[]){INT64_MIN});
    ty_array *m = i64vec(1, (const int64_t[]){-1});
    CHECK(item_i64(hold(ty_floor_divide(a, m))) == INT64_MIN);
    CHECK(item_i64(hold(ty_remainder(a, m))) == 0);
}

TEST(remainder_of_ints_has_sign_of_divisor)
{
    ty_array *a = VEC(TY_INT32, 7, -7, 7, -7), *b = VEC(TY_INT32, 3, 3, -3, -3);
    CHECK_VALUES(hold(ty_remainder(a, b)), 0, 1, 2, -2, -1);
}

TEST(remainder_of_floats_has_sign_of_divisor)
{
    ty_array *a = VEC(TY_FLOAT64, 7.5, -7.5, 7.5, -7.5), *b = VEC(TY_FLOAT64, 2, 2, -2, -2);
    CHECK_VALUES(hold(ty_remainder(a, b)), 0, 1.5, 0.5, -0.5, -1.5);
}

TEST(pow_of_ints_is_exact)
{
    ty_array *a = VEC(TY_INT64, 2, 3, -2, 7), *b = VEC(TY_INT64, 10, 3, 3, 0);
    CHECK_VALUES(hold(ty_pow(a, b)), 0, 1024, 27, -8, 1);
    ty_array *big = i64vec(1, (const int64_t[]){3});
    ty_array *e = i64vec(1, (const int64_t[]){39});
    CHECK(item_i64(hold(ty_pow(big, e))) == 4052555153018976267LL);
}

TEST(pow_of_ints_with_negative_exponent)
{
    ty_array *a = VEC(TY_INT32, 2, 1, -1, -1), *b = VEC(TY_INT32, -1, -5, -3, -2);
    CHECK_VALUES(hold(ty_pow(a, b)), 0, 0, 1, -1, 1);
}

TEST(pow_of_floats)
{
    CHECK_VALUES(hold(ty_pow(VEC(TY_FLOAT32, 2, 4, 9), VEC(TY_FLOAT32, 0.5, -1, 0.5))),
                 1e-6, 1.41421356, 0.25, 3);
}

TEST(maximum_and_minimum_propagate_nan)
{
    ty_array *a = VEC(TY_FLOAT32, NAN, 1, 3), *b = VEC(TY_FLOAT32, 1, NAN, 2);
    CHECK_VALUES(hold(ty_maximum(a, b)), 0, NAN, NAN, 3);
    CHECK_VALUES(hold(ty_minimum(a, b)), 0, NAN, NAN, 2);
    ty_array *c = VEC(TY_FLOAT64, NAN, 1), *d = VEC(TY_FLOAT64, 1, NAN);
    CHECK_VALUES(hold(ty_maximum(c, d)), 0, NAN, NAN);
    CHECK_VALUES(hold(ty_minimum(d, c)), 0, NAN, NAN);
}

TEST(comparisons_of_int64_are_exact)
{
    int64_t big = (int64_t)1 << 53;
    ty_array *a = i64vec(2, (const int64_t[]){big + 1, big});
    ty_array *b = i64vec(2, (const int64_t[]){big, big});
    ty_array *gt = hold(ty_gt(a, b));
    CHECK(ty_dtype_of(gt) == TY_BOOL);
    CHECK_VALUES(gt, 0, 1, 0);
    CHECK_VALUES(hold(ty_eq(a, b)), 0, 0, 1);
}

TEST(comparisons_with_nan_follow_ieee)
{
    ty_array *a = VEC(TY_FLOAT32, NAN, 1, 2), *b = VEC(TY_FLOAT32, NAN, 1, 3);
    CHECK_VALUES(hold(ty_eq(a, b)), 0, 0, 1, 0);
    CHECK_VALUES(hold(ty_ne(a, b)), 0, 1, 0, 1);
    CHECK_VALUES(hold(ty_lt(a, b)), 0, 0, 0, 1);
    CHECK_VALUES(hold(ty_le(a, b)), 0, 0, 1, 1);
    CHECK_VALUES(hold(ty_gt(a, b)), 0, 0, 0, 0);
    CHECK_VALUES(hold(ty_ge(a, b)), 0, 0, 1, 0);
}

TEST(logical_ops_use_truthiness)
{
    ty_array *a = VEC(TY_FLOAT32, 0, 2, NAN, 0), *b = VEC(TY_FLOAT32, 1, 0, 1, 0);
    CHECK_VALUES(hold(ty_logical_and(a, b)), 0, 0, 0, 1, 0);
    CHECK_VALUES(hold(ty_logical_or(a, b)), 0, 1, 1, 1, 0);
    CHECK_VALUES(hold(ty_logical_not(a)), 0, 1, 0, 0, 1);
}

TEST(atan2_covers_all_quadrants)
{
    ty_array *y = VEC(TY_FLOAT64, 1, 1, -1, -1), *x = VEC(TY_FLOAT64, 1, -1, -1, 1);
    CHECK_VALUES(hold(ty_atan2(y, x)), 1e-15, M_PI / 4, 3 * M_PI / 4, -3 * M_PI / 4,
                 -M_PI / 4);
}

TEST(add_of_int32_wraps_on_overflow)
{
    ty_array *a = VEC(TY_INT32, 2147483647), *b = VEC(TY_INT32, 1);
    CHECK_VALUES(hold(ty_add(a, b)), 0, -2147483648.0);
}

TEST(ops_on_empty_arrays_give_empty_arrays)
{
    int64_t shape[2] = {0, 3};
    ty_array *a = hold(ty_zeros(2, shape, TY_FLOAT32, cpu));
    ty_array *c = hold(ty_exp(hold(ty_add(a, a))));
    CHECK(c && ty_size(c) == 0 && ty_dim(c, 1) == 3);
    CHECK(ty_eval(&c, 1) == 0);
}

TEST(ops_on_zero_dim_arrays)
{
    ty_array *a = hold(ty_scalar(3, TY_INT32, cpu)), *b = hold(ty_scalar(4, TY_INT32, cpu));
    ty_array *c = hold(ty_mul(a, b));
    CHECK(ty_ndim(c) == 0);
    CHECK(item_i64(c) == 12);
}

/* ---------------------------------------------------------------- unary */

TEST(neg_abs_sign_of_floats)
{
    ty_array *a = VEC(TY_FLOAT32, -2, 0, 3, NAN);
    CHECK_VALUES(hold(ty_neg(a)), 0, 2, 0, -3, NAN);
    CHECK_VALUES(hold(ty_abs(a)), 0, 2, 0, 3, NAN);
    CHECK_VALUES(hold(ty_sign(a)), 0, -1, 0, 1, NAN);
}

TEST(neg_abs_sign_square_of_int64_are_exact)
{
    int64_t big = ((int64_t)1 << 60) + 1;
    ty_array *a = i64vec(3, (const int64_t[]){-big, 0, 3037000499});
    ty_array *n = hold(ty_neg(a));
    CHECK(ty_dtype_of(n) == TY_INT64);
    int64_t v[3] = {0};
    CHECK(ty_copy_to(n, v, TY_INT64) == 0 && v[0] == big && v[1] == 0);
    CHECK(ty_copy_to(hold(ty_abs(a)), v, TY_INT64) == 0 && v[0] == big);
    CHECK(ty_copy_to(hold(ty_sign(a)), v, TY_INT64) == 0 && v[0] == -1 && v[1] == 0 &&
          v[2] == 1);
    CHECK(ty_copy_to(hold(ty_square(a)), v, TY_INT64) == 0 &&
          v[2] == 3037000499LL * 3037000499LL);
}

TEST(exp_log_sqrt_values)
{
    ty_array *a = VEC(TY_FLOAT32, 0, 1, 4);
    CHECK_VALUES(hold(ty_exp(a)), 1e-6, 1, M_E, 54.59815);
    CHECK_VALUES(hold(ty_log(a)), 1e-6, -INFINITY, 0, 1.3862944);
    CHECK_VALUES(hold(ty_sqrt(a)), 0, 0, 1, 2);
    CHECK_VALUES(hold(ty_rsqrt(VEC(TY_FLOAT64, 4, 0.25))), 1e-15, 0.5, 2);
    CHECK_VALUES(hold(ty_reciprocal(VEC(TY_FLOAT32, 4, -0.5))), 0, 0.25, -2);
}

TEST(unary_on_integers_computes_in_float)
{
    ty_array *e = hold(ty_exp(VEC(TY_INT32, 0, 1)));
    CHECK(ty_dtype_is_float(ty_dtype_of(e)));
    CHECK_VALUES(e, 1e-6, 1, M_E);
}

TEST(sigmoid_is_stable_for_large_inputs)
{
    CHECK_VALUES(hold(ty_sigmoid(VEC(TY_FLOAT32, -1000, 0, 1000, 2))), 1e-6, 0, 0.5, 1,
                 0.8807970779778823);
    CHECK_VALUES(hold(ty_sigmoid(VEC(TY_FLOAT64, -800, 800))), 0, 0, 1);
}

TEST(activations_match_their_formulas)
{
    ty_array *a = VEC(TY_FLOAT64, -1, 0, 1);
    CHECK_VALUES(hold(ty_relu(a)), 0, 0, 0, 1);
    CHECK_VALUES(hold(ty_gelu(a)), 1e-14, -0.15865525393145707, 0, 0.8413447460685429);
    CHECK_VALUES(hold(ty_gelu_tanh(a)), 1e-14, -0.15880800939172324, 0,
                 0.8411919906082768);
    CHECK_VALUES(hold(ty_silu(a)), 1e-14, -0.2689414213699951, 0, 0.7310585786300049);
    CHECK_VALUES(hold(ty_tanh(a)), 1e-14, -0.7615941559557649, 0, 0.7615941559557649);
}

TEST(softplus_is_stable_for_large_inputs)
{
    CHECK_VALUES(hold(ty_softplus(VEC(TY_FLOAT64, -1000, 0, 1000, 1))), 1e-15, 0, M_LN2,
                 1000, 1.3132616875182228);
}

TEST(relu_of_float32_keeps_nan)
{
    CHECK_VALUES(hold(ty_relu(VEC(TY_FLOAT32, -1, NAN, 2))), 0, 0, NAN, 2);
}

TEST(erfinv_inverts_erf_to_double_precision)
{
    ty_array *x = VEC(TY_FLOAT64, -0.999999, -0.5, 0, 0.1, 0.7, 0.99, 0.9999999999);
    double *back = test_values(hold(ty_erf(hold(ty_erfinv(x)))));
    double *orig = test_values(x);
    CHECK(back && orig);
    for (int i = 0; back && orig && i < 7; i++) CHECK_NEAR(back[i], orig[i], 1e-15);
    free(back);
    free(orig);
    CHECK_VALUES(hold(ty_erfinv(VEC(TY_FLOAT64, 0.5))), 1e-14, 0.4769362762044699);
}

TEST(erfinv_of_one_is_infinite_and_beyond_is_nan)
{
    CHECK_VALUES(hold(ty_erfinv(VEC(TY_FLOAT32, 1, -1, 1.5, NAN))), 0, INFINITY, -INFINITY,
                 NAN, NAN);
}

TEST(round_is_half_to_even)
{
    CHECK_VALUES(hold(ty_round(VEC(TY_FLOAT32, 0.5, 1.5, 2.5, -0.5, -1.5, 2.6))), 0, 0, 2, 2,
                 -0.0, -2, 3);
}

TEST(floor_ceil_trunc)
{
    ty_array *a = VEC(TY_FLOAT32, -1.5, 1.5);
    CHECK_VALUES(hold(ty_floor(a)), 0, -2, 1);
    CHECK_VALUES(hold(ty_ceil(a)), 0, -1, 2);
    CHECK_VALUES(hold(ty_trunc(a)), 0, -1, 1);
}

TEST(isnan_isinf)
{
    ty_array *a = VEC(TY_FLOAT32, NAN, INFINITY, -INFINITY, 1);
    CHECK_VALUES(hold(ty_isnan(a)), 0, 1, 0, 0, 0);
    CHECK_VALUES(hold(ty_isinf(a)), 0, 0, 1, 1, 0);
}

TEST(trig_and_log_family)
{
    ty_array *a = VEC(TY_FLOAT64, 0.5);
    CHECK_VALUES(hold(ty_sin(a)), 1e-15, sin(0.5));
    CHECK_VALUES(hold(ty_cos(a)), 1e-15, cos(0.5));
    CHECK_VALUES(hold(ty_tan(a)), 1e-15, tan(0.5));
    CHECK_VALUES(hold(ty_asin(a)), 1e-15, asin(0.5));
    CHECK_VALUES(hold(ty_acos(a)), 1e-15, acos(0.5));
    CHECK_VALUES(hold(ty_atan(a)), 1e-15, atan(0.5));
    CHECK_VALUES(hold(ty_sinh(a)), 1e-15, sinh(0.5));
    CHECK_VALUES(hold(ty_cosh(a)), 1e-15, cosh(0.5));
    CHECK_VALUES(hold(ty_log1p(a)), 1e-15, log1p(0.5));
    CHECK_VALUES(hold(ty_expm1(a)), 1e-15, expm1(0.5));
    CHECK_VALUES(hold(ty_log2(VEC(TY_FLOAT64, 8))), 0, 3);
    CHECK_VALUES(hold(ty_log10(VEC(TY_FLOAT64, 1000))), 1e-15, 3);
    CHECK_VALUES(hold(ty_exp2(VEC(TY_FLOAT64, 10))), 0, 1024);
}

/* ---------------------------------------------------------------- where, astype, copy */

TEST(where_selects_by_broadcast_condition)
{
    ty_array *cond = MAT(TY_BOOL, 2, 1, 1, 0);
    ty_array *a = MAT(TY_FLOAT32, 2, 2, 1, 2, 3, 4);
    ty_array *b = hold(ty_scalar(-1, TY_FLOAT32, cpu));
    CHECK_VALUES(hold(ty_where(cond, a, b)), 0, 1, 2, -1, -1);
}

TEST(where_keeps_int64_exact)
{
    int64_t big = ((int64_t)1 << 60) + 3;
    ty_array *c = VEC(TY_BOOL, 1, 0);
    ty_array *a = i64vec(2, (const int64_t[]){big, big});
    ty_array *b = i64vec(2, (const int64_t[]){7, 7});
    int64_t v[2] = {0};
    CHECK(ty_copy_to(hold(ty_where(c, a, b)), v, TY_INT64) == 0 && v[0] == big && v[1] == 7);
}

TEST(astype_float_to_int_truncates_and_saturates)
{
    ty_array *a = VEC(TY_FLOAT32, -1.7, 2.9, NAN, 1e20, -1e20);
    CHECK_VALUES(hold(ty_astype(a, TY_INT32)), 0, -1, 2, 0, 2147483647.0, -2147483648.0);
    CHECK_VALUES(hold(ty_astype(a, TY_UINT8)), 0, 0, 2, 0, 255, 0);
    int64_t v[5];
    CHECK(ty_copy_to(hold(ty_astype(a, TY_INT64)), v, TY_INT64) == 0 && v[0] == -1 &&
          v[2] == 0 && v[3] == INT64_MAX && v[4] == INT64_MIN);
}

TEST(astype_int_to_narrower_int_wraps)
{
    CHECK_VALUES(hold(ty_astype(VEC(TY_INT32, 300, -1), TY_UINT8)), 0, 44, 255);
}

TEST(astype_to_bool_is_nonzero)
{
    CHECK_VALUES(hold(ty_astype(VEC(TY_FLOAT32, 0, 0.5, -2, NAN), TY_BOOL)), 0, 0, 1, 1, 1);
    CHECK_VALUES(hold(ty_astype(VEC(TY_INT32, 0, 256), TY_BOOL)), 0, 0, 1);
}

TEST(astype_round_trips_every_dtype)
{
    for (int s = 0; s < TY_DTYPE_COUNT; s++) {
        for (int d = 0; d < TY_DTYPE_COUNT; d++) {
            ty_array *a = VEC((ty_dtype)s, 0, 1, 3);
            ty_array *c = hold(ty_astype(a, (ty_dtype)d));
            CHECK(c && ty_dtype_of(c) == (ty_dtype)d);
            if (s == TY_BOOL || d == TY_BOOL) CHECK_VALUES(c, 0, 0, 1, 1);
            else CHECK_VALUES(c, 0, 0, 1, 3);
        }
    }
}

TEST(astype_int64_to_float64_is_exact_below_2_pow_53)
{
    int64_t v = ((int64_t)1 << 53) - 1;
    double d = 0;
    CHECK(ty_item(hold(ty_astype(i64vec(1, &v), TY_FLOAT64)), &d) == 0);
    CHECK(d == 9007199254740991.0);
}

TEST(astype_float16_rounds_to_nearest_even)
{
    ty_array *a = VEC(TY_FLOAT64, 1 + 0x1p-11, 1 + 3 * 0x1p-11, 65519, 65520, 0x1p-24,
                      0x1p-25, 3 * 0x1p-26, -0.0);
    CHECK_VALUES(hold(ty_astype(a, TY_FLOAT16)), 0, 1, 1 + 0x1p-9, 65504, INFINITY,
                 0x1p-24, 0, 0x1p-24, -0.0);
}

TEST(astype_float64_to_float16_rounds_once)
{
    /* Just above a float16 tie: a double-to-float step alone would land on
     * the tie and then round down to even. */
    ty_array *a = VEC(TY_FLOAT64, 1 + 0x1p-11 + 0x1p-40);
    CHECK_VALUES(hold(ty_astype(a, TY_FLOAT16)), 0, 1 + 0x1p-10);
}

TEST(astype_bfloat16_rounds_to_nearest_even)
{
    ty_array *a = VEC(TY_FLOAT32, 1 + 0x1p-8, 1 + 3 * 0x1p-8, 3.0e38f, NAN);
    CHECK_VALUES(hold(ty_astype(a, TY_BFLOAT16)), 0, 1, 1 + 0x1p-6, 3.00405527047391e38, NAN);
}

TEST(contiguous_copies_a_transposed_array_in_row_major_order)
{
    ty_array *a = MAT(TY_INT32, 2, 3, 1, 2, 3, 4, 5, 6);
    ty_array *c = hold(ty_contiguous(hold(ty_transpose(a, NULL))));
    CHECK(ty_dtype_of(c) == TY_INT32);
    CHECK_VALUES(c, 0, 1, 4, 2, 5, 3, 6);
}

TEST(reshape_of_transposed_array_follows_its_row_major_order)
{
    ty_array *a = MAT(TY_FLOAT16, 2, 3, 1, 2, 3, 4, 5, 6);
    ty_array *t = hold(ty_transpose(a, NULL));
    ty_array *r = hold(ty_reshape(t, 1, (const int64_t[]){6}));
    CHECK_VALUES(r, 0, 1, 4, 2, 5, 3, 6);
}

/* ---------------------------------------------------------------- dtypes */

TEST(dtype_names_and_aliases)
{
    ty_dtype d;
    CHECK(strcmp(ty_dtype_name(TY_BFLOAT16), "bfloat16") == 0);
    CHECK(ty_dtype_from_name("f16", &d) == 0 && d == TY_FLOAT16);
    CHECK(ty_dtype_from_name("double", &d) == 0 && d == TY_FLOAT64);
    CHECK(ty_dtype_from_name("int", &d) == 0 && d == TY_INT32);
    CHECK(ty_dtype_from_name("byte", &d) == 0 && d == TY_UINT8);
    CHECK(ty_dtype_from_name("complex64", &d) == -1);
    CHECK(strstr(ty_error_message(), "complex64") != NULL);
    CHECK(ty_dtype_size(TY_BFLOAT16) == 2 && ty_dtype_size(TY_INT64) == 8);
    CHECK(ty_dtype_is_float(TY_FLOAT16) && !ty_dtype_is_float(TY_INT32));
    CHECK(ty_dtype_is_integer(TY_UINT8) && !ty_dtype_is_integer(TY_BOOL));
}

TEST(promotion_follows_mlx)
{
    CHECK(ty_promote(TY_BOOL, TY_UINT8) == TY_UINT8);
    CHECK(ty_promote(TY_UINT8, TY_INT32) == TY_INT32);
    CHECK(ty_promote(TY_INT64, TY_FLOAT16) == TY_FLOAT16);
    CHECK(ty_promote(TY_BFLOAT16, TY_INT32) == TY_BFLOAT16);
    CHECK(ty_promote(TY_FLOAT16, TY_BFLOAT16) == TY_FLOAT32);
    CHECK(ty_promote(TY_FLOAT32, TY_FLOAT64) == TY_FLOAT64);
    CHECK(ty_promote(TY_INT32, TY_INT32) == TY_INT32);
}

TEST(half_conversion_bit_patterns)
{
    CHECK(ty_float_to_half(1.0f) == 0x3c00);
    CHECK(ty_float_to_half(-2.0f) == 0xc000);
    CHECK(ty_float_to_half(65504.0f) == 0x7bff);
    CHECK(ty_float_to_half(INFINITY) == 0x7c00);
    CHECK((ty_float_to_half(NAN) & 0x7c00) == 0x7c00 && (ty_float_to_half(NAN) & 0x3ff));
    CHECK(ty_float_to_half(0x1p-24f) == 0x0001);
    CHECK(ty_float_to_half(0x1p-14f) == 0x0400);
    CHECK(ty_float_to_half(-0.0f) == 0x8000);
    CHECK(ty_half_to_float(0x0001) == 0x1p-24f);
    CHECK(ty_half_to_float(0x03ff) == 1023 * 0x1p-24f);
    CHECK(ty_half_to_float(0xfc00) == -INFINITY);
    CHECK(isnan(ty_half_to_float(0x7e00)));
}

TEST(bfloat_conversion_bit_patterns)
{
    CHECK(ty_float_to_bfloat(1.0f) == 0x3f80);
    CHECK(ty_float_to_bfloat(-INFINITY) == 0xff80);
    CHECK(isnan(ty_bfloat_to_float(ty_float_to_bfloat(NAN))));
    CHECK(ty_float_to_bfloat(3.4028235e38f) == 0x7f80);   /* rounds up to inf */
    CHECK(ty_bfloat_to_float(0x4049) == 3.140625f);
    CHECK(ty_float_to_bfloat(0x1p-133f) == 0x0001);       /* subnormal kept */
}

TEST(num_threads_can_be_set_and_read)
{
    int before = ty_get_num_threads();
    ty_set_num_threads(3);
    CHECK(ty_get_num_threads() == 3);
    ty_set_num_threads(0);
    CHECK(ty_get_num_threads() >= 1);
    ty_set_num_threads(before);
}

void suite_elementwise(void)
{
    RUN_T(add_float32_contiguous);
    RUN_T(add_broadcasts_column_against_row);
    RUN_T(add_broadcasts_scalar_on_both_sides);
    RUN_T(add_works_in_every_dtype);
    RUN_T(add_of_mixed_int_and_float_gives_float);
    RUN_T(sub_reads_transposed_input);
    RUN_T(mul_reads_strided_and_flipped_slices);
    RUN_T(add_large_transposed_matches_elementwise_formula);
    RUN_T(add_large_contiguous_uses_all_threads_correctly);
    RUN_T(div_of_integers_gives_float32);
    RUN_T(floor_divide_of_ints_follows_python_signs);
    RUN_T(floor_divide_of_floats_follows_python_signs);
    RUN_T(integer_division_by_zero_gives_zero);
    RUN_T(int64_min_floor_divided_by_minus_one_does_not_trap);
    RUN_T(remainder_of_ints_has_sign_of_divisor);
    RUN_T(remainder_of_floats_has_sign_of_divisor);
    RUN_T(pow_of_ints_is_exact);
    RUN_T(pow_of_ints_with_negative_exponent);
    RUN_T(pow_of_floats);
    RUN_T(maximum_and_minimum_propagate_nan);
    RUN_T(comparisons_of_int64_are_exact);
    RUN_T(comparisons_with_nan_follow_ieee);
    RUN_T(logical_ops_use_truthiness);
    RUN_T(atan2_covers_all_quadrants);
    RUN_T(add_of_int32_wraps_on_overflow);
    RUN_T(ops_on_empty_arrays_give_empty_arrays);
    RUN_T(ops_on_zero_dim_arrays);
    RUN_T(neg_abs_sign_of_floats);
    RUN_T(neg_abs_sign_square_of_int64_are_exact);
    RUN_T(exp_log_sqrt_values);
    RUN_T(unary_on_integers_computes_in_float);
    RUN_T(sigmoid_is_stable_for_large_inputs);
    RUN_T(activations_match_their_formulas);
    RUN_T(softplus_is_stable_for_large_inputs);
    RUN_T(relu_of_float32_keeps_nan);
    RUN_T(erfinv_inverts_erf_to_double_precision);
    RUN_T(erfinv_of_one_is_infinite_and_beyond_is_nan);
    RUN_T(round_is_half_to_even);
    RUN_T(floor_ceil_trunc);
    RUN_T(isnan_isinf);
    RUN_T(trig_and_log_family);
    RUN_T(where_selects_by_broadcast_condition);
    RUN_T(where_keeps_int64_exact);
    RUN_T(astype_float_to_int_truncates_and_saturates);
    RUN_T(astype_int_to_narrower_int_wraps);
    RUN_T(astype_to_bool_is_nonzero);
    RUN_T(astype_round_trips_every_dtype);
    RUN_T(astype_int64_to_float64_is_exact_below_2_pow_53);
    RUN_T(astype_float16_rounds_to_nearest_even);
    RUN_T(astype_float64_to_float16_rounds_once);
    RUN_T(astype_bfloat16_rounds_to_nearest_even);
    RUN_T(contiguous_copies_a_transposed_array_in_row_major_order);
    RUN_T(reshape_of_transposed_array_follows_its_row_major_order);
    RUN_T(dtype_names_and_aliases);
    RUN_T(promotion_follows_mlx);
    RUN_T(half_conversion_bit_patterns);
    RUN_T(bfloat_conversion_bit_patterns);
    RUN_T(num_threads_can_be_set_and_read);
}

/* ---------------------------------------------------------------- creation */

TEST(full_fills_every_element)
{
    int64_t shape[2] = {2, 3};
    ty_array *a = hold(ty_full(2, shape, 2.5, TY_FLOAT16, cpu));
    CHECK(ty_dtype_of(a) == TY_FLOAT16);
    CHECK_VALUES(a, 0, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5);
    CHECK_VALUES(hold(ty_full(1, shape, -7, TY_INT64, cpu)), 0, -7, -7);
}

TEST(zeros_and_ones)
{
    int64_t n = 3;
    CHECK_VALUES(hold(ty_zeros(1, &n, TY_INT32, cpu)), 0, 0, 0, 0);
    CHECK_VALUES(hold(ty_ones(1, &n, TY_BFLOAT16, cpu)), 0, 1, 1, 1);
}

TEST(full_of_large_array_fills_every_element)
{
    int64_t n = 300001;
    double *v = test_values(hold(ty_full(1, &n, 3, TY_UINT8, cpu)));
    CHECK(v != NULL);
    int bad = 0;
    for (int64_t i = 0; v && i < n; i++) bad += v[i] != 3;
    CHECK(bad == 0);
    free(v);
}

TEST(arange_steps_from_start)
{
    CHECK_VALUES(hold(ty_arange(1, 0.5, 4, TY_FLOAT32, cpu)), 0, 1, 1.5, 2, 2.5);
    CHECK_VALUES(hold(ty_arange(5, -2, 3, TY_INT32, cpu)), 0, 5, 3, 1);
}

TEST(linspace_ends_exactly_at_b)
{
    ty_array *a = hold(ty_linspace(0, 1, 7, TY_FLOAT64, cpu));
    double *v = test_values(a);
    CHECK(v && v[0] == 0 && v[6] == 1.0 && fabs(v[3] - 0.5) < 1e-16);
    free(v);
    CHECK_VALUES(hold(ty_linspace(0.1, 0.7, 3, TY_FLOAT32, cpu)), 1e-7, 0.1, 0.4, 0.7);
}

TEST(linspace_of_one_point_is_a)
{
    CHECK_VALUES(hold(ty_linspace(3, 9, 1, TY_FLOAT32, cpu)), 0, 3);
}

TEST(eye_places_ones_on_diagonal_k)
{
    CHECK_VALUES(hold(ty_eye(2, 3, 0, TY_FLOAT32, cpu)), 0, 1, 0, 0, 0, 1, 0);
    CHECK_VALUES(hold(ty_eye(3, 3, 1, TY_INT32, cpu)), 0, 0, 1, 0, 0, 0, 1, 0, 0, 0);
    CHECK_VALUES(hold(ty_eye(3, 2, -1, TY_BOOL, cpu)), 0, 0, 0, 1, 0, 0, 1);
}

void suite_creation(void)
{
    RUN_T(full_fills_every_element);
    RUN_T(zeros_and_ones);
    RUN_T(full_of_large_array_fills_every_element);
    RUN_T(arange_steps_from_start);
    RUN_T(linspace_ends_exactly_at_b);
    RUN_T(linspace_of_one_point_is_a);
    RUN_T(eye_places_ones_on_diagonal_k);
}

/* ---------------------------------------------------------------- random */

TEST(philox_known_answers)
{
    uint32_t out[4];
    ty__philox((const uint32_t[]){0, 0}, (const uint32_t[]){0, 0, 0, 0}, out);
    CHECK(out[0] == 0x6627e8d5 && out[1] == 0xe169c58d && out[2] == 0xbc57ac4c &&
          out[3] == 0x9b00dbd8);
    ty__philox((const uint32_t[]){0xffffffff, 0xffffffff},
               (const uint32_t[]){0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, out);
    CHECK(out[0] == 0x408f276d && out[1] == 0x41c83b0e && out[2] == 0xa20bc7c6 &&
          out[3] == 0x6d5451fd);
    ty__philox((const uint32_t[]){0xa4093822, 0x299f31d0},
               (const uint32_t[]){0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, out);
    CHECK(out[0] == 0xd16cfe09 && out[1] == 0x94fdcceb && out[2] == 0x5001e420 &&
          out[3] == 0x24126ea1);
}

TEST(random_word_i_is_word_i_mod_4_of_block_i_div_4)
{
    ty_key key = {{123, 456}};
    uint32_t out[4];
    ty__philox(key.w, (const uint32_t[]){1, 0, 0, 0}, out);
    CHECK(ty__random_word(key, 5) == out[1]);
    ty__philox(key.w, (const uint32_t[]){0, 1, 0, 0}, out);
    CHECK(ty__random_word(key, ((uint64_t)1 << 34) + 3) == out[3]);
}

TEST(random_bits_are_the_philox_stream)
{
    ty_key key = {{7, 9}};
    int64_t n = 10;
    ty_array *a = hold(ty_random_bits(key, 1, &n, cpu));
    int64_t v[10] = {0};
    CHECK(ty_copy_to(a, v, TY_INT64) == 0);
    for (int i = 0; i < 10; i++) CHECK(v[i] == (int64_t)ty__random_word(key, (uint64_t)i));
}

TEST(uniform_first_draw_matches_formula)
{
    ty_key key = {{1, 2}};
    int64_t n = 3;
    float v[3];
    CHECK(ty_copy_to(hold(ty_random_uniform(key, 1, &n, -1, 3, TY_FLOAT32, cpu)), v,
                     TY_FLOAT32) == 0);
    for (int i = 0; i < 3; i++) {
        float u = ty__word_to_unit_float(ty__random_word(key, (uint64_t)i));
        CHECK(v[i] == fmaf(4.0f, u, -1.0f));
    }
}

TEST(uniform_stays_in_range_with_right_mean)
{
    int64_t n = 100000;
    ty_array *a = hold(ty_random_uniform(ty_random_key(42), 1, &n, 2, 5, TY_FLOAT32, cpu));
    double *v = test_values(a);
    CHECK(v != NULL);
    double sum = 0;
    int out = 0;
    for (int64_t i = 0; v && i < n; i++) {
        sum += v[i];
        out += v[i] < 2 || v[i] >= 5;
    }
    CHECK(out == 0);
    CHECK_NEAR(sum / (double)n, 3.5, 0.01);
    free(v);
}

TEST(uniform_is_the_same_for_any_thread_count)
{
    int before = ty_get_num_threads();
    int64_t n = 200000;
    ty_key key = ty_random_key(5);
    ty_set_num_threads(1);
    double *one = test_values(hold(ty_random_uniform(key, 1, &n, 0, 1, TY_FLOAT32, cpu)));
    ty_set_num_threads(4);
    double *four = test_values(hold(ty_random_uniform(key, 1, &n, 0, 1, TY_FLOAT32, cpu)));
    ty_set_num_threads(before);
    CHECK(one && four && memcmp(one, four, sizeof(double) * (size_t)n) == 0);
    free(one);
    free(four);
}

TEST(normal_has_requested_mean_and_stddev)
{
    int64_t n = 200000;
    ty_array *a = hold(ty_random_normal(ty_random_key(3), 1, &n, 1, 2, TY_FLOAT32, cpu));
    double *v = test_values(a);
    CHECK(v != NULL);
    double s = 0, s2 = 0;
    for (int64_t i = 0; v && i < n; i++) {
        s += v[i];
        s2 += v[i] * v[i];
    }
    double mean = s / (double)n, var = s2 / (double)n - mean * mean;
    CHECK(fabs(mean - 1) < 0.02);
    CHECK(fabs(sqrt(var) - 2) < 0.02);
    free(v);
}

TEST(randint_includes_both_bounds)
{
    int64_t n = 6000;
    ty_array *a = hold(ty_random_randint(ty_random_key(9), 1, &n, 1, 6, TY_INT32, cpu));
    double *v = test_values(a);
    CHECK(v != NULL);
    int counts[8] = {0}, out = 0;
    for (int64_t i = 0; v && i < n; i++) {
        if (v[i] < 1 || v[i] > 6) out++;
        else counts[(int)v[i]]++;
    }
    CHECK(out == 0);
    for (int k = 1; k <= 6; k++) CHECK(counts[k] > 850 && counts[k] < 1150);
    free(v);
}

TEST(truncated_normal_stays_within_bounds)
{
    int64_t n = 50000;
    ty_array *a = hold(ty_random_truncated_normal(ty_random_key(4), 1, &n, -0.5, 1,
                                                  TY_FLOAT32, cpu));
    double *v = test_values(a);
    CHECK(v != NULL);
    int out = 0;
    double s = 0;
    for (int64_t i = 0; v && i < n; i++) {
        out += v[i] < -0.5 || v[i] > 1;
        s += v[i];
    }
    CHECK(out == 0);
    /* mean of N(0,1) on [-0.5, 1]: (phi(-0.5) - phi(1)) / (Phi(1) - Phi(-0.5)) */
    CHECK(fabs(s / (double)n - 0.20663) < 0.01);
    free(v);
}

TEST(bernoulli_is_true_with_probability_p)
{
    int64_t n = 100000;
    ty_array *a = hold(ty_random_bernoulli(ty_random_key(8), 1, &n, 0.3, cpu));
    CHECK(ty_dtype_of(a) == TY_BOOL);
    double *v = test_values(a);
    CHECK(v != NULL);
    double s = 0;
    for (int64_t i = 0; v && i < n; i++) s += v[i];
    CHECK(fabs(s / (double)n - 0.3) < 0.01);
    free(v);
}

TEST(same_key_gives_same_draws_and_other_keys_differ)
{
    int64_t n = 16;
    double *a = test_values(hold(ty_random_normal(ty_random_key(1), 1, &n, 0, 1,
                                                  TY_FLOAT32, cpu)));
    double *b = test_values(hold(ty_random_normal(ty_random_key(1), 1, &n, 0, 1,
                                                  TY_FLOAT32, cpu)));
    double *c = test_values(hold(ty_random_normal(ty_random_key(2), 1, &n, 0, 1,
                                                  TY_FLOAT32, cpu)));
    CHECK(a && b && c);
    CHECK(a && b && memcmp(a, b, sizeof(double) * (size_t)n) == 0);
    CHECK(a && c && memcmp(a, c, sizeof(double) * (size_t)n) != 0);
    free(a);
    free(b);
    free(c);
}

void suite_random(void)
{
    RUN_T(philox_known_answers);
    RUN_T(random_word_i_is_word_i_mod_4_of_block_i_div_4);
    RUN_T(random_bits_are_the_philox_stream);
    RUN_T(uniform_first_draw_matches_formula);
    RUN_T(uniform_stays_in_range_with_right_mean);
    RUN_T(uniform_is_the_same_for_any_thread_count);
    RUN_T(normal_has_requested_mean_and_stddev);
    RUN_T(randint_includes_both_bounds);
    RUN_T(truncated_normal_stays_within_bounds);
    RUN_T(bernoulli_is_true_with_probability_p);
    RUN_T(same_key_gives_same_draws_and_other_keys_differ);
}
