/* memory.c -- per-device memory accounting against a limit, and CPU buffers. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void format_bytes(size_t n, char *buf, size_t size)
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
        format_bytes(nbytes, req, sizeof req);
        format_bytes(m->active, used, sizeof used);
        format_bytes(m->limit, lim, sizeof lim);
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

void ty_clear_cache(void)
{
    /* The CPU backend keeps no cache. */
    vk_clear_cache();
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
    size_t padded = (nbytes + 63) / 64 * 64;
    void *data = aligned_alloc(64, padded ? padded : 64);
    if (!b || !data) {
        free(b);
        free(data);
        mem_unreserve(device, nbytes);
        char req[32];
        format_bytes(nbytes, req, sizeof req);
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
    else free(b->data);
    free(b);
}
