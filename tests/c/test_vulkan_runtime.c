/* test_vulkan_runtime.c -- the Vulkan runtime: devices, the allocator,
 * copies, dispatch and barriers, the status block, the pipeline cache. Runs
 * on vulkan:0 (lavapipe in CI); skipped when no Vulkan device exists. */
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "vk_runtime.h"

static const ty_device VK0 = {TY_VULKAN, 0};

/* Mirrors the Params block of kernels/test_runtime.comp. */
typedef struct test_params {
    uint64_t in, out, n, status;
    int32_t mode, op;
} test_params;
_Static_assert(sizeof(test_params) == 40, "test_params mirrors the GLSL block");

static ty_buffer *upload_floats(const float *v, size_t n)
{
    ty_buffer *b = ty__buffer_alloc(VK0, n * sizeof(float));
    if (b && vk_upload(b, 0, v, n * sizeof(float)) != 0) {
        ty__buffer_release(b);
        return NULL;
    }
    return b;
}

/* Records out[i] = in[i] * mul + i over n elements. */
static int record_axpi(ty_buffer *in, ty_buffer *out, uint64_t n, int mul)
{
    test_params p = {((vk_block *)in->data)->address, ((vk_block *)out->data)->address, n,
                     vk_status_address(VK0), 0, 0};
    vk_dispatch_desc d = {.shader = "test_runtime", .spec = {mul}, .nspec = 1,
                          .local_size = 64, .params = &p, .params_size = sizeof p,
                          .reads = {in}, .nreads = 1, .writes = {out}, .nwrites = 1};
    vk_grid(VK0, n, 64, d.groups);
    return vk_dispatch(VK0, &d);
}

TEST(vk_devices_listed)
{
    CHECK(ty_device_count() >= 2);
    ty_device_info info;
    CHECK(ty_device_get_info(0, &info) == 0);
    CHECK(strcmp(info.type, "cpu") == 0 && info.memory > 0);
    CHECK(ty_device_get_info(1, &info) == 0);
    CHECK(info.name[0] != 0 && info.usable);
    CHECK(info.max_buffer_range > 0 && info.subgroup_size > 0 && info.shared_memory > 0);
    CHECK(ty_device_get_info(99, &info) != 0);
}

TEST(vk_upload_download)
{
    float v[1000], w[1000];
    for (int i = 0; i < 1000; i++) v[i] = (float)i * 0.5f - 7;
    ty_buffer *b = upload_floats(v, 1000);
    CHECK(b != NULL);
    if (!b) return;
    memset(w, 0, sizeof w);
    CHECK(vk_download(b, 40, w, 400) == 0);
    CHECK(memcmp(w, v + 10, 400) == 0);
    CHECK(vk_download(b, 3996, w, 8) != 0);       /* past the block */
    ty__buffer_release(b);
}

TEST(vk_dispatch_and_spec_constants)
{
    enum { N = 1037 };
    float v[N], w[N];
    for (int i = 0; i < N; i++) v[i] = (float)(i % 17);
    ty_buffer *in = upload_floats(v, N), *out = ty__buffer_alloc(VK0, sizeof w);
    CHECK(in && out);
    if (!in || !out) return;
    CHECK(record_axpi(in, out, N, 3) == 0);
    CHECK(vk_synchronize(VK0) == 0);
    CHECK(vk_download(out, 0, w, sizeof w) == 0);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += w[i] != v[i] * 3 + (float)i;
    CHECK(bad == 0);
    CHECK(vk_synchronize(VK0) == 0);               /* nothing recorded: no-op */
    ty__buffer_release(in);
    ty__buffer_release(out);
}

/* A chain of dependent dispatches in one command buffer, each freeing its
 * input so the allocator hands the same blocks back (RAW, WAR, WAW). */
TEST(vk_barrier_chain_reuses_blocks)
{
    enum { N = 4099, STEPS = 64 };
    static float v[N], w[N];
    for (int i = 0; i < N; i++) v[i] = (float)(i % 5);
    ty_buffer *x = upload_floats(v, N);
    CHECK(x != NULL);
    if (!x) return;
    void *first = x->data;
    int reused = 0;
    for (int s = 0; s < STEPS; s++) {
        ty_buffer *y = ty__buffer_alloc(VK0, sizeof v);
        CHECK(y != NULL);
        if (!y) break;
        reused += y->data == first;
        CHECK(record_axpi(x, y, N, 1) == 0);
        ty__buffer_release(x);                     /* back to the cache */
        x = y;
    }
    CHECK(reused > 0);
    CHECK(vk_synchronize(VK0) == 0);
    CHECK(vk_download(x, 0, w, sizeof w) == 0);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += w[i] != v[i] + (float)STEPS * (float)i;
    CHECK(bad == 0);
    ty__buffer_release(x);
}

TEST(vk_status_reports_index_error)
{
    ty_buffer *b = ty__buffer_alloc(VK0, 64);
    CHECK(b != NULL);
    if (!b) return;
    test_params p = {0, 0, 1024, vk_status_address(VK0), 1, TY_OP_TAKE};
    vk_dispatch_desc d = {.shader = "test_runtime", .local_size = 64, .params = &p,
                          .params_size = sizeof p, .writes = {b}, .nwrites = 1};
    vk_grid(VK0, 1024, 64, d.groups);
    CHECK(vk_dispatch(VK0, &d) == 0);
    CHECK(vk_synchronize(VK0) != 0);
    CHECK(strcmp(ty_error_message(),
                 "[take] index 1029 is out of range for axis 1 of size 1024") == 0);
    ty_error_clear();
    CHECK(vk_synchronize(VK0) == 0);               /* the flag was reset */
    ty__buffer_release(b);
}

/* Past lavapipe's 128 MiB maxStorageBufferRange: upload, kernel, download. */
TEST(vk_allocation_past_storage_range)
{
    const size_t n = (size_t)40 << 20;             /* 160 MiB of float32 */
    float *v = malloc(n * sizeof *v), *w = malloc(n * sizeof *w);
    CHECK(v && w);
    if (!v || !w) goto done;
    for (size_t i = 0; i < n; i++) v[i] = (float)(i & 1023);
    ty_buffer *in = upload_floats(v, n), *out = ty__buffer_alloc(VK0, n * sizeof *v);
    CHECK(in && out);
    if (in && out) {
        CHECK(record_axpi(in, out, n, 2) == 0);
        CHECK(vk_synchronize(VK0) == 0);
        CHECK(vk_download(out, 0, w, n * sizeof *w) == 0);
        size_t bad = 0;
        for (size_t i = 0; i < n; i += 997) bad += w[i] != v[i] * 2 + (float)i;
        bad += w[n - 1] != v[n - 1] * 2 + (float)(n - 1);
        CHECK(bad == 0);
    }
    if (in) ty__buffer_release(in);
    if (out) ty__buffer_release(out);
done:
    free(v);
    free(w);
}

TEST(vk_out_of_memory_is_clean)
{
    ty_memory_stats st;
    ty_memory_stats_get(VK0, &st);
    size_t limit = st.limit;
    ty_memory_limit_set(VK0, (size_t)1 << 50);    /* past the device: Vulkan refuses */
    size_t huge = (size_t)1 << 45;
    CHECK_ERROR(ty__buffer_alloc(VK0, huge), "[alloc] out of device memory: requested");
    int64_t shape[1] = {3};
    ty_memory_limit_set(VK0, limit);
    /* The limit is checked before anything is allocated. */
    CHECK_ERROR(ty__buffer_alloc(VK0, limit + 1), "[alloc] out of memory on vulkan:0");
    /* The next op works. */
    float v[3] = {1, 2, 3};
    ty_array *a = ty_from_data(v, TY_FLOAT32, 1, shape, VK0);
    CHECK_VALUES(a, 0, 1, 2, 3);
    ty_release(a);
}

TEST(vk_cache_and_clear)
{
    ty_clear_cache();
    ty_memory_stats st;
    ty_buffer *b = ty__buffer_alloc(VK0, (size_t)5 << 20);
    CHECK(b != NULL);
    ty__buffer_release(b);
    ty_memory_stats_get(VK0, &st);
    CHECK(st.cached >= ((size_t)5 << 20));
    ty_buffer *c = ty__buffer_alloc(VK0, (size_t)5 << 20);   /* reused */
    ty_memory_stats_get(VK0, &st);
    CHECK(st.cached < ((size_t)5 << 20));
    ty__buffer_release(c);
    ty_clear_cache();
    ty_memory_stats_get(VK0, &st);
    CHECK(st.cached < ((size_t)5 << 20));
}

TEST(vk_to_device_round_trip)
{
    int64_t shape[2] = {3, 4};
    float v[12];
    for (int i = 0; i < 12; i++) v[i] = (float)i;
    ty_array *a = ty_from_data(v, TY_FLOAT32, 2, shape, (ty_device){TY_CPU, 0});
    ty_array *t = ty_transpose(a, NULL);        /* strided CPU view */
    ty_array *g = t ? ty_to_device(t, VK0) : NULL;
    CHECK(g && ty_device_equal(ty_device_of(g), VK0));
    CHECK_VALUES(g, 0, 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11);
    ty_array *back = g ? ty_to_device(g, (ty_device){TY_CPU, 0}) : NULL;
    CHECK_VALUES(back, 0, 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11);
    ty_release(back);
    ty_release(g);
    ty_release(t);
    ty_release(a);
}

TEST(vk_pipeline_cache_written)
{
    char dir[] = "/tmp/tycho-cache-XXXXXX", path[1024];
    CHECK(mkdtemp(dir) != NULL);
    const char *old = getenv("XDG_CACHE_HOME");
    char *saved = old ? strdup(old) : NULL;
    setenv("XDG_CACHE_HOME", dir, 1);
    ty_buffer *b = ty__buffer_alloc(VK0, 256);
    CHECK(b && record_axpi(b, b, 16, 7) == 0);     /* a new pipeline */
    CHECK(vk_synchronize(VK0) == 0);
    CHECK(vk__pipeline_cache_save() == 0);
    struct stat st;
    CHECK(vk__pipeline_cache_path(0, path, sizeof path) != NULL);
    CHECK(stat(path, &st) == 0 && st.st_size > 0);
    remove(path);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/tycho", dir);
    rmdir(sub);
    rmdir(dir);
    if (saved) setenv("XDG_CACHE_HOME", saved, 1);
    else unsetenv("XDG_CACHE_HOME");
    free(saved);
    if (b) ty__buffer_release(b);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Recording cost per dispatch (CPU time; independent dispatches and a chain
 * that needs a barrier each time). Printed, not checked. */
TEST(vk_dispatch_recording_cost)
{
    enum { N = 20000 };
    ty_buffer *a = ty__buffer_alloc(VK0, 256), *b = ty__buffer_alloc(VK0, 256);
    ty_buffer *c = ty__buffer_alloc(VK0, 256);
    CHECK(a && b && c);
    if (!a || !b || !c) return;
    CHECK(record_axpi(a, b, 1, 1) == 0);           /* pipeline created */
    CHECK(vk_synchronize(VK0) == 0);
    double t0 = now();
    for (int i = 0; i < N; i++) record_axpi(a, i & 1 ? b : c, 1, 1);
    double t1 = now();
    CHECK(vk_synchronize(VK0) == 0);
    double t2 = now();
    for (int i = 0; i < N; i++) record_axpi(i & 1 ? b : c, i & 1 ? c : b, 1, 1);
    double t3 = now();
    CHECK(vk_synchronize(VK0) == 0);
    printf("  vulkan: recording a dispatch: %.2f us (no hazard), %.2f us (barrier each)\n",
           (t1 - t0) * 1e6 / N, (t3 - t2) * 1e6 / N);
    ty__buffer_release(a);
    ty__buffer_release(b);
    ty__buffer_release(c);
}

/* An evaluation longer than one submission chunk (512 nodes). */
TEST(vk_long_graph_chunks)
{
    int64_t shape[1] = {257};
    ty_array *x = ty_full(1, shape, 0, TY_FLOAT32, VK0);
    for (int i = 0; i < 1300 && x; i++) {
        ty_array *one = ty_scalar(1, TY_FLOAT32, VK0);
        ty_array *y = ty_binary(TY_OP_ADD, x, one);
        ty_release(one);
        ty_release(x);
        x = y;
    }
    CHECK(x != NULL);
    double *v = test_values(x);
    CHECK(v && v[0] == 1300 && v[256] == 1300);
    free(v);
    ty_release(x);
}

void suite_vulkan(void)
{
    if (!ty_device_available(VK0)) {
        printf("suite_vulkan: skipped (no usable Vulkan device)\n");
        return;
    }
    RUN(vk_devices_listed);
    RUN(vk_upload_download);
    RUN(vk_dispatch_and_spec_constants);
    RUN(vk_barrier_chain_reuses_blocks);
    RUN(vk_status_reports_index_error);
    RUN(vk_allocation_past_storage_range);
    RUN(vk_out_of_memory_is_clean);
    RUN(vk_cache_and_clear);
    RUN(vk_to_device_round_trip);
    RUN(vk_pipeline_cache_written);
    RUN(vk_dispatch_recording_cost);
    RUN(vk_long_graph_chunks);
}
