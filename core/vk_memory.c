/*
 * vk_memory.c -- the caching sub-allocator of the Vulkan backend and host
 * <-> device copies.
 *
 * Blocks up to 1 MiB come from 64 MiB VkBuffers in power-of-two size classes
 * (256 B .. 1 MiB); larger blocks get a buffer of their own, rounded up to a
 * quarter of a power of two. Freed blocks go to the free list of their class
 * and are reused (the dispatcher's epochs order reuse inside a command
 * buffer). ty.clear_cache() destroys free dedicated blocks and chunks without
 * live blocks, after waiting for the device.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_runtime.h"

#define SMALL_MIN 256u
#define SMALL_MAX ((VkDeviceSize)1 << 20)
#define CHUNK_SIZE ((VkDeviceSize)64 << 20)
#define STAGING_MAX ((VkDeviceSize)64 << 20)
#define BLOCK_USAGE (VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | \
                     VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT)

typedef struct vk_chunk {
    VkBuffer buffer;
    VkDeviceMemory memory;
    uint8_t *mapped;
    VkDeviceAddress address;
    VkDeviceSize size, used;
    size_t live;                       /* blocks handed out, not freed */
    bool dedicated;
    struct vk_chunk *next;
} vk_chunk;

static int small_class(VkDeviceSize n)
{
    int k = 0;
    while (((VkDeviceSize)SMALL_MIN << k) < n) k++;
    return k;
}

/* Large class of n (> 1 MiB): 2^e * (4 + q) / 4; -1 when past the table. */
static int large_class(VkDeviceSize n, VkDeviceSize *size)
{
    for (int i = 0; i < VK_LARGE_CLASSES; i++) {
        VkDeviceSize s = (SMALL_MAX << (i / 4)) / 4 * (VkDeviceSize)(4 + i % 4);
        if (s >= n) {
            *size = s;
            return i;
        }
    }
    return -1;
}

static int out_of_memory(vk_context *c, VkDeviceSize requested, const char *why)
{
    char req[32], used[32], total[32];
    ty__format_bytes(requested, req, sizeof req);
    ty__format_bytes(c->allocated - c->cached, used, sizeof used);
    ty__format_bytes(c->heap_size, total, sizeof total);
    return ty__error("[alloc] out of device memory: requested %s, in use %s of %s%s", req,
                     used, total, why ? why : "");
}

static void block_free_list_push(vk_free_list *l, vk_block *b)
{
    b->next = l->head;
    l->head = b;
    l->count++;
}

static vk_block *block_free_list_pop(vk_free_list *l)
{
    vk_block *b = l->head;
    if (b) {
        l->head = b->next;
        l->count--;
        b->next = NULL;
    }
    return b;
}

static void chunk_destroy(vk_context *c, vk_chunk *ch)
{
    vk__destroy_buffer(c, ch->buffer, ch->memory);
    c->allocated -= ch->size;
    free(ch);
}

/* Creates a buffer of size bytes; on failure frees the cache and retries. */
static vk_chunk *chunk_create(vk_context *c, VkDeviceSize size, bool dedicated,
                              VkDeviceSize requested)
{
    const vk_device_facts *f = c->facts;
    if (f->max_allocation && size > f->max_allocation) {
        char lim[32];
        ty__format_bytes(f->max_allocation, lim, sizeof lim);
        char why[128];
        snprintf(why, sizeof why, " (one allocation on this device is at most %s)", lim);
        out_of_memory(c, requested, why);
        return NULL;
    }
    if (c->allocated + size > c->heap_size) {
        if (vk__clear_cache_ctx(c) != 0) return NULL;
        if (c->allocated + size > c->heap_size) {
            out_of_memory(c, requested, NULL);
            return NULL;
        }
    }
    vk_chunk *ch = calloc(1, sizeof *ch);
    if (!ch) return ty__error_null("[alloc] out of host memory");
    for (int attempt = 0; attempt < 2; attempt++) {
        if (vk__create_buffer(c, size, c->block_type, BLOCK_USAGE, &ch->buffer, &ch->memory,
                              c->direct_map ? (void **)&ch->mapped : NULL,
                              &ch->address) == 0)
            break;
        if (attempt == 1 || vk__clear_cache_ctx(c) != 0) {
            free(ch);
            out_of_memory(c, requested, NULL);
            return NULL;
        }
    }
    ch->size = size;
    ch->dedicated = dedicated;
    c->allocated += size;
    if (!dedicated) {
        ch->next = c->chunks;
        c->chunks = ch;
    }
    return ch;
}

static vk_block *block_new(vk_chunk *ch, VkDeviceSize offset, VkDeviceSize size, int cls)
{
    vk_block *b = calloc(1, sizeof *b);
    if (!b) return ty__error_null("[alloc] out of host memory");
    b->buffer = ch->buffer;
    b->offset = offset;
    b->size = size;
    b->address = ch->address + offset;
    b->mapped = ch->mapped ? ch->mapped + offset : NULL;
    b->size_class = cls;
    b->chunk = ch;
    return b;
}

static vk_block *alloc_small(vk_context *c, VkDeviceSize n)
{
    int k = small_class(n);
    VkDeviceSize size = (VkDeviceSize)SMALL_MIN << k;
    vk_block *b = block_free_list_pop(&c->small[k]);
    if (b) {
        c->cached -= b->size;
        ((vk_chunk *)b->chunk)->live++;
        return b;
    }
    vk_chunk *ch = c->chunks;
    for (; ch; ch = ch->next)
        if (ch->size - ch->used >= size) break;
    if (!ch && !(ch = chunk_create(c, CHUNK_SIZE, false, n))) return NULL;
    b = block_new(ch, ch->used, size, k);
    if (!b) return NULL;
    ch->used += size;                  /* sizes are powers of two >= 256 */
    ch->live++;
    return b;
}

static vk_block *alloc_large(vk_context *c, VkDeviceSize n)
{
    VkDeviceSize size = 0;
    int k = large_class(n, &size);
    const VkDeviceSize max = c->facts->max_allocation;
    if (k < 0 || (max && size > max)) {
        /* Past the class table or the device's allocation limit: exact size,
         * not cached. */
        k = -1;
        size = (n + 65535) / 65536 * 65536;
    }
    if (k >= 0) {
        vk_block *b = block_free_list_pop(&c->large[k]);
        if (b) {
            c->cached -= b->size;
            ((vk_chunk *)b->chunk)->live++;
            return b;
        }
    }
    vk_chunk *ch = chunk_create(c, size, true, n);
    if (!ch) return NULL;
    vk_block *b = block_new(ch, 0, size, -1);
    if (!b) {
        chunk_destroy(c, ch);
        return NULL;
    }
    ch->live = 1;
    return b;
}

int vk_buffer_alloc(ty_device device, size_t nbytes, ty_buffer *out)
{
    vk_context *c = vk_context_get(device.index);
    if (!c) return -1;
    VkDeviceSize n = nbytes ? nbytes : 1;
    vk_block *b = n <= SMALL_MAX ? alloc_small(c, n) : alloc_large(c, n);
    if (!b) return -1;
    out->data = b;
    return 0;
}

void vk_buffer_free(ty_buffer *buf)
{
    vk_block *b = buf ? buf->data : NULL;
    if (!b) return;
    vk_context *c = vk__context_if_created(buf->device.index);
    if (!c) return;
    vk_chunk *ch = b->chunk;
    ch->live--;
    buf->data = NULL;
    if (b->size_class >= 0) {
        block_free_list_push(&c->small[b->size_class], b);
        c->cached += b->size;
        return;
    }
    VkDeviceSize size;
    int k = large_class(b->size, &size);
    if (k >= 0 && size == b->size) {
        block_free_list_push(&c->large[k], b);
        c->cached += b->size;
    } else {
        b->next = c->deferred;         /* may still be in use by recorded work */
        c->deferred = b;
    }
}

void vk__memory_after_fence(vk_context *c)
{
    while (c->deferred) {
        vk_block *b = c->deferred;
        c->deferred = b->next;
        chunk_destroy(c, b->chunk);
        free(b);
    }
}

int vk__clear_cache_ctx(vk_context *c)
{
    if (vk__submit_wait(c) != 0) return -1;
    vk__memory_after_fence(c);
    for (int k = 0; k < VK_LARGE_CLASSES; k++) {
        vk_block *b;
        while ((b = block_free_list_pop(&c->large[k]))) {
            c->cached -= b->size;
            chunk_destroy(c, b->chunk);
            free(b);
        }
    }
    /* Small blocks: only chunks with no live block can go. */
    for (int k = 0; k < VK_SMALL_CLASSES; k++) {
        vk_block **p = &c->small[k].head;
        while (*p) {
            vk_block *b = *p;
            if (((vk_chunk *)b->chunk)->live == 0) {
                *p = b->next;
                c->small[k].count--;
                c->cached -= b->size;
                free(b);
            } else {
                p = &b->next;
            }
        }
    }
    vk_chunk **p = (vk_chunk **)&c->chunks;
    while (*p) {
        vk_chunk *ch = *p;
        if (ch->live == 0) {
            *p = ch->next;
            chunk_destroy(c, ch);
        } else {
            p = &ch->next;
        }
    }
    if (c->staging.buffer) {
        vk__destroy_buffer(c, c->staging.buffer, c->staging.memory);
        memset(&c->staging, 0, sizeof c->staging);
    }
    return 0;
}

void vk_clear_cache(void)
{
    for (int i = 0; i < VK_MAX_DEVICES; i++) {
        vk_context *c = vk__context_if_created(i);
        if (c) vk__clear_cache_ctx(c);
    }
}

size_t vk_cached_bytes(ty_device device)
{
    vk_context *c = vk__context_if_created(device.index);
    return c ? c->cached : 0;
}

void vk__memory_destroy(vk_context *c)
{
    vk__clear_cache_ctx(c);
}

/* ---------------------------------------------------------------- copies */

static int staging_get(vk_context *c, VkDeviceSize want)
{
    if (want > STAGING_MAX) want = STAGING_MAX;
    if (c->staging.buffer && c->staging.size >= want) return 0;
    if (c->staging.buffer) vk__destroy_buffer(c, c->staging.buffer, c->staging.memory);
    memset(&c->staging, 0, sizeof c->staging);
    VkDeviceSize size = 1 << 20;
    while (size < want) size *= 2;
    if (vk__create_buffer(c, size, c->staging_type,
                          VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                          &c->staging.buffer, &c->staging.memory,
                          (void **)&c->staging.mapped, NULL) != 0)
        return -1;
    c->staging.size = size;
    return 0;
}

static int copy_range(const ty_buffer *buf, size_t offset, size_t nbytes, vk_context **out)
{
    if (!buf || !buf->data || buf->device.kind != TY_VULKAN)
        return ty__error("[vulkan] copy of a buffer that is not on a Vulkan device");
    if (offset > buf->nbytes || nbytes > buf->nbytes - offset)
        return ty__error("[vulkan] copy of %zu bytes at %zu is outside a buffer of %zu", nbytes,
                         offset, buf->nbytes);
    vk_context *c = vk__context_if_created(buf->device.index);
    if (!c) return ty__error("[vulkan] the device of a buffer has no context");
    /* Recorded work may still use the block: finish it first. */
    if (vk__submit_wait(c) != 0) return -1;
    *out = c;
    return 0;
}

int vk_upload(ty_buffer *dst, size_t dst_offset, const void *src, size_t nbytes)
{
    vk_context *c;
    if (copy_range(dst, dst_offset, nbytes, &c) != 0) return -1;
    vk_block *b = dst->data;
    if (!nbytes) return 0;
    if (b->mapped) {
        memcpy((char *)b->mapped + dst_offset, src, nbytes);
        return 0;
    }
    if (staging_get(c, nbytes) != 0) return -1;
    for (size_t done = 0; done < nbytes;) {
        size_t n = nbytes - done < c->staging.size ? nbytes - done : (size_t)c->staging.size;
        memcpy(c->staging.mapped, (const char *)src + done, n);
        if (vk__begin(c) != 0) return -1;
        VkBufferCopy region = {.srcOffset = 0, .dstOffset = b->offset + dst_offset + done,
                               .size = n};
        vkCmdCopyBuffer(c->cmd, c->staging.buffer, b->buffer, 1, &region);
        if (vk__submit_wait(c) != 0) return -1;
        done += n;
    }
    return 0;
}

int vk_download(const ty_buffer *src, size_t src_offset, void *dst, size_t nbytes)
{
    vk_context *c;
    if (copy_range(src, src_offset, nbytes, &c) != 0) return -1;
    const vk_block *b = src->data;
    if (!nbytes) return 0;
    if (b->mapped) {
        memcpy(dst, (const char *)b->mapped + src_offset, nbytes);
        return 0;
    }
    if (staging_get(c, nbytes) != 0) return -1;
    for (size_t done = 0; done < nbytes;) {
        size_t n = nbytes - done < c->staging.size ? nbytes - done : (size_t)c->staging.size;
        if (vk__begin(c) != 0) return -1;
        VkBufferCopy region = {.srcOffset = b->offset + src_offset + done, .dstOffset = 0,
                               .size = n};
        vkCmdCopyBuffer(c->cmd, b->buffer, c->staging.buffer, 1, &region);
        if (vk__submit_wait(c) != 0) return -1;
        memcpy((char *)dst + done, c->staging.mapped, n);
        done += n;
    }
    return 0;
}
