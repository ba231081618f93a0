/* test.h -- a minimal C test harness. A suite is a function that calls
 * TEST(name) { ... } blocks via RUN; checks count failures and go on. */
#ifndef TY_TEST_H
#define TY_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tycho.h"

extern int test_passed, test_failed;
extern const char *test_current;
extern int test_current_failed;

void test_begin(const char *name);
void test_end(void);

#define TEST(name) static void name(void)
#define RUN(name) do { test_begin(#name); name(); test_end(); } while (0)

#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "  %s:%d: %s: CHECK(%s) failed [%s]\n", __FILE__, __LINE__, \
            test_current, #cond, ty_error_message()); test_current_failed = 1; } } while (0)
#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b); \
    if (!(fabs(a_ - b_) <= (tol) * (1 + fabs(b_))) && !(isnan(a_) && isnan(b_))) { \
    fprintf(stderr, "  %s:%d: %s: %s = %.9g, expected %.9g\n", __FILE__, __LINE__, \
            test_current, #a, a_, b_); test_current_failed = 1; } } while (0)
#define CHECK_ERROR(expr, fragment) do { ty_error_clear(); \
    void *r_ = (void *)(expr); const char *m_ = ty_error_message(); \
    if (r_ != NULL || !strstr(m_, fragment)) { \
    fprintf(stderr, "  %s:%d: %s: expected error containing '%s', got '%s'\n", \
            __FILE__, __LINE__, test_current, fragment, m_); test_current_failed = 1; } } while (0)

/* Evaluates a and copies it to doubles (caller frees); NULL on error. */
double *test_values(ty_array *a);
/* Checks that a has the given values (n of them) within tol. */
void test_expect_values(ty_array *a, const double *expected, int64_t n, double tol,
                        const char *file, int line);
#define CHECK_VALUES(a, tol, ...) do { const double e_[] = {__VA_ARGS__}; \
    test_expect_values((a), e_, (int64_t)(sizeof e_ / sizeof e_[0]), (tol), \
                       __FILE__, __LINE__); } while (0)

#endif
