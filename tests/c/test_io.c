/* test_io.c -- .npy / .npz / .safetensors round-trips through the C API,
 * loader errors and atomic writes (the Lua tests cover NumPy interop). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

static char dir[64];

static const char *tmp_path(const char *name)
{
    static char buf[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_raw(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static const ty_device cpu = {TY_CPU, 0};

TEST(io_npy_round_trip)
{
    int64_t shape[2] = {2, 3};
    const double want[6] = {1, 2, 3, 4, 5, 6};
    ty_dtype dts[] = {TY_FLOAT32, TY_FLOAT64, TY_FLOAT16, TY_INT32, TY_INT64, TY_UINT8};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++) {
        ty_array *a = ty_arange(1, 1, 6, dts[i], cpu);
        ty_array *r = a ? ty_reshape(a, 2, shape) : NULL;
        CHECK(r && ty_save_npy(tmp_path("a.npy"), r) == 0);
        ty_array *b = ty_load_npy(tmp_path("a.npy"), cpu);
        CHECK(b && ty_dtype_of(b) == dts[i] && ty_ndim(b) == 2 && ty_dim(b, 1) == 3);
        test_expect_values(b, want, 6, 0, __FILE__, __LINE__);
        ty_release(a);
        ty_release(r);
        ty_release(b);
    }
    ty_array *bf = ty_ones(1, shape, TY_BFLOAT16, cpu);
    CHECK(ty_save_npy(tmp_path("bf.npy"), bf) != 0);
    CHECK(strstr(ty_error_message(), "safetensors") != NULL);
    ty_release(bf);
}

TEST(io_npz_and_safetensors_round_trip)
{
    int64_t shape[1] = {5};
    ty_array *x = ty_arange(0, 0.5, 5, TY_FLOAT32, cpu);
    ty_array *y = ty_full(1, shape, 7, TY_INT64, cpu);
    ty_named_array list[2] = {{"x", x}, {"y", y}};
    for (int compress = 0; compress < 2; compress++) {
        CHECK(ty_save_npz(tmp_path("a.npz"), list, 2, compress) == 0);
        ty_named_array *out = NULL;
        int n = 0;
        CHECK(ty_load_npz(tmp_path("a.npz"), cpu, &out, &n) == 0 && n == 2);
        for (int i = 0; i < n; i++) {
            if (strcmp(out[i].name, "x") == 0)
                CHECK_VALUES(out[i].array, 0, 0, 0.5, 1, 1.5, 2);
            else
                CHECK_VALUES(out[i].array, 0, 7, 7, 7, 7, 7);
        }
        ty_named_arrays_free(out, n);
    }
    CHECK(ty_save_safetensors(tmp_path("a.safetensors"), list, 2, "{\"k\": \"v\\n\"}") == 0);
    ty_named_array *out = NULL;
    int n = 0;
    char *meta = NULL;
    CHECK(ty_load_safetensors(tmp_path("a.safetensors"), cpu, &out, &n, &meta) == 0);
    CHECK(n == 2 && meta && strcmp(meta, "{\"k\":\"v\\n\"}") == 0);
    if (n == 2) {
        CHECK(strcmp(out[0].name, "x") == 0 && ty_dtype_of(out[1].array) == TY_INT64);
        CHECK_VALUES(out[0].array, 0, 0, 0.5, 1, 1.5, 2);
    }
    free(meta);
    ty_named_arrays_free(out, n);
    CHECK(ty_save_safetensors(tmp_path("b.safetensors"), list, 2, "{\"k\": 1}") != 0);
    CHECK(strstr(ty_error_message(), "is not a string") != NULL);
    ty_release(x);
    ty_release(y);
}

TEST(io_loader_errors)
{
    write_raw(tmp_path("bad.npy"), "\x93NUMPY\x01\x00\xff\xff{", 11);
    CHECK_ERROR(ty_load_npy(tmp_path("bad.npy"), cpu), "truncated header");
    const char npy[] = "\x93NUMPY\x01\x00\x44\x00{'descr': '<f4', 'fortran_order': False, "
                       "'shape': (3,), }          \n";
    unsigned char shortnpy[sizeof npy + 4] = {0};   /* 4 of the 12 data bytes */
    memcpy(shortnpy, npy, sizeof npy - 1);
    write_raw(tmp_path("short.npy"), shortnpy, sizeof npy - 1 + 4);
    CHECK_ERROR(ty_load_npy(tmp_path("short.npy"), cpu), "truncated data");
    unsigned char st[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    write_raw(tmp_path("bad.safetensors"), st, sizeof st);
    ty_named_array *out = NULL;
    int n = 0;
    CHECK(ty_load_safetensors(tmp_path("bad.safetensors"), cpu, &out, &n, NULL) != 0);
    CHECK(strstr(ty_error_message(), "over the limit") != NULL);
    CHECK(out == NULL && n == 0);
    CHECK(ty_load_npz(tmp_path("bad.npy"), cpu, &out, &n) != 0);
    CHECK(strstr(ty_error_message(), "not a zip archive") != NULL);
}

TEST(io_write_atomic)
{
    CHECK(ty_write_file_atomic(tmp_path("w"), "abc", 3) == 0);
    CHECK(ty_write_file_atomic(tmp_path("w"), "de", 2) == 0);
    FILE *f = fopen(tmp_path("w"), "rb");
    char buf[8] = {0};
    size_t got = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    CHECK(got == 2 && memcmp(buf, "de", 2) == 0);
    CHECK(ty_write_file_atomic(tmp_path("nodir/w"), "x", 1) != 0);
    CHECK(strstr(ty_error_message(), "cannot create a temporary file") != NULL);
}

void suite_io(void)
{
    snprintf(dir, sizeof dir, "/tmp/tycho_ctest_XXXXXX");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "suite_io: cannot create a temporary directory\n");
        return;
    }
    RUN(io_npy_round_trip);
    RUN(io_npz_and_safetensors_round_trip);
    RUN(io_loader_errors);
    RUN(io_write_atomic);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "suite_io: cleanup failed\n");
}
