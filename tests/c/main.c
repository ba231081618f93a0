/* main.c -- runs every C test suite; ends with "N passed, N failed". */
#include <stdlib.h>

#include "test.h"

int test_passed, test_failed;
const char *test_current;
int test_current_failed;

void test_begin(const char *name)
{
    test_current = name;
    test_current_failed = 0;
    ty_error_clear();
}

void test_end(void)
{
    if (test_current_failed) {
        test_failed++;
        fprintf(stderr, "FAIL %s\n", test_current);
    } else {
        test_passed++;
    }
}

double *test_values(ty_array *a)
{
    if (!a) return NULL;
    int64_t n = ty_size(a);
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (ty_copy_to(a, v, TY_FLOAT64) != 0) {
        free(v);
        return NULL;
    }
    return v;
}

void test_expect_values(ty_array *a, const double *expected, int64_t n, double tol,
                        const char *file, int line)
{
    if (!a) {
        fprintf(stderr, "  %s:%d: %s: array is NULL [%s]\n", file, line, test_current,
                ty_error_message());
        test_current_failed = 1;
        return;
    }
    if (ty_size(a) != n) {
        fprintf(stderr, "  %s:%d: %s: size %lld, expected %lld\n", file, line,
                test_current, (long long)ty_size(a), (long long)n);
        test_current_failed = 1;
        return;
    }
    double *v = test_values(a);
    if (!v) {
        fprintf(stderr, "  %s:%d: %s: eval failed [%s]\n", file, line, test_current,
                ty_error_message());
        test_current_failed = 1;
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(v[i] - expected[i]);
        if (!(d <= tol * (1 + fabs(expected[i]))) && !(isnan(v[i]) && isnan(expected[i]))
            && v[i] != expected[i]) {
            fprintf(stderr, "  %s:%d: %s: element %lld is %.9g, expected %.9g\n", file,
                    line, test_current, (long long)i, v[i], expected[i]);
            test_current_failed = 1;
            break;
        }
    }
    free(v);
}

/* Suites live in the other files of tests/c; a missing one is skipped. */
#define SUITES(X) X(suite_array) X(suite_graph) X(suite_elementwise) X(suite_creation) \
    X(suite_random) X(suite_reduce) X(suite_matmul) X(suite_index) X(suite_shape) \
    X(suite_errors) X(suite_memory) X(suite_vulkan) X(suite_jvp) \
    X(suite_vjp) X(suite_io) X(suite_conv) X(suite_nnops) X(suite_optim) \
    X(suite_linalg)
#define DECLARE(s) void s(void) __attribute__((weak));
SUITES(DECLARE)

int main(void)
{
#define CALL(s) if (s) s();
    SUITES(CALL)
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}
