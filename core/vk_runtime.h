/*
 * vk_runtime.h -- private to the Vulkan runtime (vk_device.c, vk_memory.c,
 * vk_dispatch.c, vk_backend.c). Kernel files use core/vk.h only.
 */
#ifndef TYCHO_VK_RUNTIME_H
#define TYCHO_VK_RUNTIME_H

#include "vk.h"

/* Checks a VkResult; on failure sets the error and returns -1 (or ret). */
const char *vk__result_str(VkResult r);
#define VK_TRY(call, what) do { VkResult r_ = (call); \
    if (r_ != VK_SUCCESS) return ty__error("[vulkan] %s failed: %s", what, \
                                           vk__result_str(r_)); } while (0)

typedef struct vk_pipeline_entry {
    const char *name;                  /* points into vk_shaders[] */
    uint64_t hash;
    int32_t spec[13];                  /* local size, then spec[0..11] */
    int nspec;                         /* total including the local size */
    VkPipeline pipeline;
} vk_pipeline_entry;

typedef struct vk_ring_chunk {
    VkBuffer buffer;
    VkDeviceMemory memory;
    uint8_t *mapped;
    VkDeviceAddress address;
    VkDeviceSize size;
} vk_ring_chunk;

typedef struct vk_free_list {
    vk_block *head;
    size_t count;
} vk_free_list;

#define VK_SMALL_CLASSES 13            /* 256 B .. 1 MiB, powers of two */
#define VK_LARGE_CLASSES 64            /* 4 steps per power of two above */

struct vk_context {
    int index;
    const vk_device_facts *facts;
    VkPhysicalDevice phys;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    VkPhysicalDeviceMemoryProperties memprops;
    uint32_t block_type;               /* memory type of array blocks */
    uint32_t ring_type;                /* host-visible coherent (parameters) */
    uint32_t staging_type;             /* host-visible coherent, cached if any */
    bool direct_map;                   /* blocks are host-visible */
    VkDeviceSize heap_size;            /* heap of block_type */
    VkDeviceSize allocated;            /* bytes of VkDeviceMemory for blocks */

    /* recording */
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkFence fence;
    bool recording;
    bool submitted_unchecked;          /* status not read since a submit */
    uint64_t epoch;                    /* barrier segment (see vk_dispatch) */
    VkPipeline bound;
    uint64_t recorded;                 /* dispatches in the current buffer */
    uint64_t total_dispatches;

    /* pipelines */
    VkPipelineLayout layout;
    VkPipelineCache cache;
    bool cache_dirty;
    vk_pipeline_entry *pipelines;      /* open addressing, power-of-2 size */
    size_t npipelines, pipelines_cap;

    /* parameter ring */
    vk_ring_chunk *ring;
    int nring;
    VkDeviceSize ring_pos;             /* in ring[nring - 1] */

    /* status block */
    vk_ring_chunk status;

    /* staging (discrete GPUs) */
    vk_ring_chunk staging;

    /* scratch buffers released after the fence */
    ty_buffer **scratch;
    int nscratch, scratch_cap;

    /* allocator */
    vk_free_list small[VK_SMALL_CLASSES];
    vk_free_list large[VK_LARGE_CLASSES];
    void *chunks;                      /* vk_chunk list (vk_memory.c) */
    size_t cached;                     /* bytes in free lists */
    vk_block *deferred;                /* destroyed after the fence */
};

/* vk_device.c */
vk_context *vk__context_if_created(int index);
int vk__find_memory_type(vk_context *c, uint32_t bits, VkMemoryPropertyFlags want);
/* A buffer with its own memory (usage always includes device address). */
int vk__create_buffer(vk_context *c, VkDeviceSize size, uint32_t type,
                      VkBufferUsageFlags usage, VkBuffer *buffer, VkDeviceMemory *memory,
                      void **mapped, VkDeviceAddress *address);
void vk__destroy_buffer(vk_context *c, VkBuffer buffer, VkDeviceMemory memory);
int vk__pipeline_cache_save(void);     /* all devices; 0 or -1 */
const char *vk__pipeline_cache_path(int index, char *buf, size_t size);
int vk__validation_errors(void);       /* errors reported by the layer so far */

/* vk_memory.c */
void vk__memory_destroy(vk_context *c);
int vk__clear_cache_ctx(vk_context *c);
void vk__memory_after_fence(vk_context *c);

/* vk_dispatch.c */
int vk__begin(vk_context *c);          /* starts recording if needed */
int vk__submit_wait(vk_context *c);    /* submits and waits; no status check */
int vk__check_status(vk_context *c);
void vk__dispatch_destroy(vk_context *c);
int vk__synchronize_all(void);

#endif /* TYCHO_VK_RUNTIME_H */
