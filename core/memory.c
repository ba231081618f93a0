/* memory.c -- per-device memory accounting against a limit, and CPU buffers. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "vk.h"

#define MAX_DEVICES 9   /* cpu + up to 8 Vulkan devices */

typedef struct device_memory {
    size_t active, peak, cached, limit;
    size_t default_limit;              /* computed once: heaps may report
                                          a varying size (lavapipe) */
} device_memory;

static device_memory memory[MAX_DEVICES];
static pthread_mutex_t memory_lock = PTHREAD_MUTEX_INITIALIZER;

static const ty_device memory_cpu = {TY_CPU, 0};

static int slot(ty_device d)
{
    int s = d.kind == TY_CPU ? 0 : 1 + d.index;
    return (s >= 0 && s < MAX_DEVICES) ? s : MAX_DEVICES - 1;
}

/* The default limit: three quarters of physical memory (CPU), nine tenths
 * of the device-local heap (Vulkan). */
static size_t compute_default_limit(ty_device device)
{
    if (device.kind == TY_VULKAN) {
        const vk_device_facts *f = vk_facts(device.index);
        if (f && f->memory) return (size_t)(f->memory / 10 * 9);
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return (size_t)8 << 30;
    return (size_t)pages / 4 * 3 * (size_t)page;
}

/* The default limit of a device, computed on first use (lock held). */
static size_t default_limit(ty_device device)
{
    device_memory *m = &memory[slot(device)];
    if (!m->default_limit) m->default_limit = compute_default_limit(device);
    return m->default_limit;
}

void ty__format_bytes(size_t n, char *buf, size_t size)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0) snprintf(buf, size, "%zu B", n);
    else snprintf(buf, size, "%.2f %s", v, units[u]);
}

int mem_reserve(ty_device device, size_t nbytes)
{
    pthread_mutex_lock(&memory_lock);
    device_memory *m = &memory[slot(device)];
    if (!m->limit) m->limit = default_limit(device);
    if (nbytes > m->limit || m->active > m->limit - nbytes) {
        char req[32], used[32], lim[32], dev[16];
        ty__format_bytes(nbytes, req, sizeof req);
        ty__format_bytes(m->active, used, sizeof used);
        ty__format_bytes(m->limit, lim, sizeof lim);
        pthread_mutex_unlock(&memory_lock);
        return ty__error("[alloc] out of memory on %s: requested %s, in use %s of %s "
                         "(ty.memory_limit changes the limit)",
                         ty_device_string(device, dev, sizeof dev), req, used, lim);
    }
    m->active += nbytes;
    if (m->active > m->peak) m->peak = m->active;
    pthread_mutex_unlock(&memory_lock);
    return 0;
}

void mem_unreserve(ty_device device, size_t nbytes)
{
    pthread_mutex_lock(&memory_lock);
    device_memory *m = &memory[slot(device)];
    m->active = m->active >= nbytes ? m->active - nbytes : 0;
    pthread_mutex_unlock(&memory_lock);
}

int ty_memory_stats_get(ty_device device, ty_memory_stats *out)
{
    pthread_mutex_lock(&memory_lock);
    device_memory *m = &memory[slot(device)];
    if (!m->limit) m->limit = default_limit(device);
    out->active = m->active;
    out->peak = m->peak;
    out->cached = m->cached;
    out->limit = m->limit;
    pthread_mutex_unlock(&memory_lock);
    if (device.kind == TY_VULKAN) out->cached = vk_cached_bytes(device);
    return 0;
}

int ty_memory_limit_set(ty_device device, size_t bytes)
{
    pthread_mutex_lock(&memory_lock);
    memory[slot(device)].limit = bytes ? bytes : default_limit(device);
    pthread_mutex_unlock(&memory_lock);
    return 0;
}

void ty_memory_reset_peak(ty_device device)
{
    pthread_mutex_lock(&memory_lock);
    device_memory *m = &memory[slot(device)];
    m->peak = m->active;
    pthread_mutex_unlock(&memory_lock);
}

/* ---------------------------------------------------------------- CPU cache
 * Large host buffers are kept after release and reused by size class: a
 * fresh allocation of hundreds of MiB costs a page fault per 4 KiB, more than
 * the kernel that fills it. Huge pages are requested for them. */

#define CACHE_MIN ((size_t)64 << 10)       /* smaller ones go to malloc */
#define HUGE_PAGE ((size_t)2 << 20)
#define NCLASSES 256

typedef struct cached_block {
    void *data;
    struct cached_block *next;
} cached_block;

static cached_block *cpu_free[NCLASSES];
static size_t cpu_cached;

/* Size class of n (>= CACHE_MIN): quarter steps between powers of two. */
static int size_class(size_t n, size_t *capacity)
{
    int k = 63 - __builtin_clzll((unsigned long long)n);   /* 2^k <= n */
    size_t base = (size_t)1 << k, quarter = base / 4;
    size_t steps = (n - base + quarter - 1) / quarter;       /* 0..4 */
    *capacity = base + steps * quarter;
    return k * 4 + (int)steps;
}

static void *cpu_block_new(size_t capacity)
{
    size_t align = capacity >= HUGE_PAGE ? HUGE_PAGE : 64;
    void *p = aligned_alloc(align, (capacity + align - 1) / align * align);
    if (p && capacity >= HUGE_PAGE) madvise(p, capacity, MADV_HUGEPAGE);
    return p;
}

/* Frees every cached host block (lock held). */
static void cpu_cache_clear_locked(void)
{
    for (int c = 0; c < NCLASSES; c++)
        while (cpu_free[c]) {
            cached_block *b = cpu_free[c];
            cpu_free[c] = b->next;
            free(b->data);
            free(b);
        }
    cpu_cached = 0;
    memory[0].cached = 0;
}

void ty_clear_cache(void)
{
    pthread_mutex_lock(&memory_lock);
    cpu_cache_clear_locked();
    pthread_mutex_unlock(&memory_lock);
    vk_clear_cache();
}

/* A host block of at least nbytes: from the cache when one fits. */
static void *cpu_data_alloc(size_t nbytes)
{
    if (nbytes < CACHE_MIN) return aligned_alloc(64, (nbytes + 63) / 64 * 64 + 64);
    size_t capacity;
    int c = size_class(nbytes, &capacity);
    pthread_mutex_lock(&memory_lock);
    cached_block *b = c < NCLASSES ? cpu_free[c] : NULL;
    if (b) {
        cpu_free[c] = b->next;
        cpu_cached -= capacity;
        memory[0].cached = cpu_cached;
    }
    pthread_mutex_unlock(&memory_lock);
    if (!b) return cpu_block_new(capacity);
    void *data = b->data;
    free(b);
    return data;
}

/* Returns a host block to the cache (up to a quarter of the limit). */
static void cpu_data_free(void *data, size_t nbytes)
{
    if (nbytes < CACHE_MIN) {
        free(data);
        return;
    }
    size_t capacity;
    int c = size_class(nbytes, &capacity);
    cached_block *b = malloc(sizeof *b);
    pthread_mutex_lock(&memory_lock);
    if (b && c < NCLASSES && cpu_cached + capacity <= default_limit(memory_cpu) / 4) {
        b->data = data;
        b->next = cpu_free[c];
        cpu_free[c] = b;
        cpu_cached += capacity;
        memory[0].cached = cpu_cached;
        data = NULL;
        b = NULL;
    }
    pthread_mutex_unlock(&memory_lock);
    free(b);
    free(data);
}

ty_buffer *ty__buffer_alloc(ty_device device, size_t nbytes)
{
    if (mem_reserve(device, nbytes) != 0) return NULL;
    if (device.kind == TY_VULKAN) {
        ty_buffer *vb = calloc(1, sizeof *vb);
        if (!vb || vk_buffer_alloc(device, nbytes, vb) != 0) {
            if (!vb) ty__error("[alloc] out of host memory");
            free(vb);
            mem_unreserve(device, nbytes);
            return NULL;
        }
        vb->nbytes = nbytes;
        vb->refcount = 1;
        vb->device = device;
        return vb;
    }
    ty_buffer *b = malloc(sizeof *b);
    void *data = cpu_data_alloc(nbytes);
    if (!data) {   /* the cache may hold what the system now refuses */
        ty_clear_cache();
        data = cpu_data_alloc(nbytes);
    }
    if (!b || !data) {
        free(b);
        free(data);
        mem_unreserve(device, nbytes);
        char req[32];
        ty__format_bytes(nbytes, req, sizeof req);
        return ty__error_null("[alloc] out of memory: the system refused %s", req);
    }
    b->data = data;
    b->nbytes = nbytes;
    b->refcount = 1;
    b->device = device;
    return b;
}

void ty__buffer_retain(ty_buffer *b)
{
    __atomic_add_fetch(&b->refcount, 1, __ATOMIC_RELAXED);
}

void ty__buffer_release(ty_buffer *b)
{
    if (!b || __atomic_sub_fetch(&b->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
    mem_unreserve(b->device, b->nbytes);
    if (b->device.kind == TY_VULKAN) vk_buffer_free(b);
    else cpu_data_free(b->data, b->nbytes);
    free(b);
}
