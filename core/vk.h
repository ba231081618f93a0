/*
 * vk.h -- internals of the Vulkan backend (core/vk_*.c). Prefix vk_.
 *
 * Design
 *   - Buffers are addressed by device address (VK_KHR_buffer_device_address,
 *     core in Vulkan 1.2): kernels receive 64-bit addresses, never descriptor
 *     sets, so an array larger than maxStorageBufferRange needs nothing
 *     special and there are no descriptor sets to manage.
 *   - Every dispatch gets one push constant, the device address of its
 *     parameter block: a kernel-defined struct (addresses of the arrays,
 *     shapes, strides, scalars) that vk_dispatch copies into a host-visible
 *     ring that lives until the command buffer has completed.
 *   - Kernels are GLSL 450 files in kernels/, compiled to SPIR-V by glslc at
 *     build time and embedded (vk_shaders[] in build/vk_shaders.c). A
 *     pipeline is (shader, specialization constants); pipelines are created
 *     on first use, cached for the process and in the VkPipelineCache on disk.
 *   - One evaluation records all its nodes into one command buffer. Hazards
 *     are tracked per block: before a dispatch, a global memory barrier is
 *     recorded only if one of its reads was written, or one of its writes was
 *     read or written, since the last barrier (RAW, WAR, WAW; a block freed
 *     and reused inside the command buffer keeps its history).
 *   - Kernels report bad indices through the status block (vk_status_address):
 *     the first error wins (atomicCompSwap on `flag`); after the fence the
 *     backend turns it into the same message the CPU gives.
 */
#ifndef TYCHO_VK_H
#define TYCHO_VK_H

#include <vulkan/vulkan.h>

#include "internal.h"

/* ---------------------------------------------------------------- devices */

#define VK_MAX_DEVICES 8

/* Facts about one physical device (also what ty_device_info reports). */
typedef struct vk_device_facts {
    char name[256];
    VkPhysicalDeviceType type;
    uint32_t api_version, driver_version, vendor_id;
    uint64_t memory;                   /* device-local heap size */
    uint64_t max_allocation;           /* maxMemoryAllocationSize */
    uint64_t max_storage_range;        /* maxStorageBufferRange */
    uint32_t subgroup_size;
    bool subgroup_arithmetic;          /* subgroupAdd etc. in compute */
    uint32_t shared_memory;            /* maxComputeSharedMemorySize */
    uint32_t max_workgroup_size;       /* maxComputeWorkGroupInvocations */
    uint32_t max_groups[3];            /* maxComputeWorkGroupCount */
    bool float16;                      /* shaderFloat16 arithmetic */
    bool int64;                        /* shaderInt64 */
    bool coopmat;                      /* NV cooperative matrix 16x16x16 f16->f32 */
    bool usable;                       /* has everything tycho needs */
    char unusable_reason[128];
} vk_device_facts;

/* Enumerates devices once (no logical device is created). Returns the count
 * (sorted: discrete, integrated, virtual, then CPU/software), 0 when Vulkan
 * is absent. */
int vk_enumerate(void);
const vk_device_facts *vk_facts(int index);

/* The logical device of index, created on first use; NULL + error. */
typedef struct vk_context vk_context;
vk_context *vk_context_get(int index);

/* ---------------------------------------------------------------- memory */

/* A Vulkan block: what ty_buffer->data points to for Vulkan buffers. */
typedef struct vk_block {
    VkBuffer buffer;                   /* the VkBuffer holding the block */
    VkDeviceSize offset;               /* of the block inside that buffer */
    VkDeviceSize size;                 /* usable bytes (size class) */
    VkDeviceAddress address;           /* device address of the block start */
    void *mapped;                      /* host pointer when host-visible */
    uint64_t write_epoch, read_epoch;  /* hazard tracking, see vk_dispatch */
    int size_class;                    /* -1: dedicated allocation */
    void *chunk;                       /* allocator bookkeeping */
    struct vk_block *next;             /* free list */
} vk_block;

/* ty__buffer_alloc/ty__buffer_release call these for Vulkan devices. */
int vk_buffer_alloc(ty_device device, size_t nbytes, ty_buffer *out);
void vk_buffer_free(ty_buffer *b);
/* Frees every cached block (waits for the device to be idle). */
void vk_clear_cache(void);
/* Cached bytes of a device (for ty_memory_stats). */
size_t vk_cached_bytes(ty_device device);

/* Device address of element `a->offset` of an evaluated Vulkan array. */
static inline uint64_t vk_address(const ty_array *a)
{
    const vk_block *b = (const vk_block *)a->buffer->data;
    return b->address + (uint64_t)a->offset * ty_dtype_size(a->dtype);
}

/* Host <-> device copies of whole buffers (synchronous; staging buffers on
 * discrete GPUs, direct mapping on host-visible memory). */
int vk_upload(ty_buffer *dst, size_t dst_offset, const void *src, size_t nbytes);
int vk_download(const ty_buffer *src, size_t src_offset, void *dst, size_t nbytes);

/* ---------------------------------------------------------------- dispatch */

/* Mirrors Params in kernels/matmul*.comp (std430); used by the matmul, conv
 * (im2col GEMM) and attention kernels. */
typedef struct vk_matmul_params {
    uint64_t a, b, dst;                /* a and b include their offsets */
    int64_t n, m, k;
    int64_t sa_r, sa_c, sb_r, sb_c;    /* strides of the last two dims */
    int64_t batch0;                    /* first batch of this dispatch */
    int64_t row_tile0;                 /* first row tile of this dispatch */
    int64_t batch_shape[6];
    int64_t a_bstrides[6];
    int64_t b_bstrides[6];
    int32_t nbatch_dims;
    int32_t dtype;                     /* matmul_int.comp only */
} vk_matmul_params;
_Static_assert(sizeof(vk_matmul_params) == 248, "vk_matmul_params must match the GLSL");

/* Names one embedded shader and the values of its specialization constants
 * (constant_id 1..nspec; constant_id 0 is always the workgroup size, which
 * vk_dispatch sets from `local_size`). */
typedef struct vk_dispatch_desc {
    const char *shader;                /* file name without .comp, e.g. "unary" */
    int32_t spec[12];
    int nspec;
    uint32_t local_size;               /* workgroup size x (y = z = 1); 0: 256 */
    const void *params;                /* copied into the parameter ring */
    uint32_t params_size;
    uint32_t groups[3];                /* workgroup counts (0 treated as 1) */
    ty_buffer *reads[8];               /* blocks the kernel reads */
    int nreads;
    ty_buffer *writes[4];              /* blocks the kernel writes */
    int nwrites;
} vk_dispatch_desc;

/* Records one dispatch into the current command buffer of the device
 * (starting one if needed), with a barrier before it only where a hazard
 * exists. Returns 0 or -1 with the error set. */
int vk_dispatch(ty_device device, const vk_dispatch_desc *d);

/* The common case of vk_dispatch: one kernel writing out->buffer and reading
 * `reads`, `invocations` invocations of workgroups of `local_size`. */
int vk_dispatch_out(ty_array *out, const char *shader, const int32_t *spec, int nspec,
                    uint32_t local_size, const void *params, uint32_t params_size,
                    uint64_t invocations, ty_buffer *const *reads, int nreads);

/* Splits n invocations into a workgroup grid within maxComputeWorkGroupCount
 * (x first, then y); kernels recover the linear id with vk_linear_id() of
 * common.glsl: gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * local. */
void vk_grid(ty_device device, uint64_t n, uint32_t local_size, uint32_t groups[3]);

/* Address of the device's status block (see common.glsl: vk_status). */
uint64_t vk_status_address(ty_device device);

/* A scratch block for temporaries of one node (freed after the fence). */
ty_buffer *vk_scratch(ty_device device, size_t nbytes);

/* Submits the recorded work, waits on the fence, reads the status block and
 * returns -1 with the same error as the CPU when a kernel reported one. */
int vk_synchronize(ty_device device);

/* The Vulkan backend's entry points (core/vk_kernels.c dispatches per op). */
int vk_run_node(ty_array *out);

/* ---------------------------------------------------------------- kernels
 * Host side of each kernel family (core/vk_kernels_*.c): fills the param
 * struct that mirrors the GLSL block (a _Static_assert checks its size) and
 * calls vk_dispatch. Same contract as the CPU kernels in cpu.h.
 */
int vk_creation(ty_array *out);
int vk_random(ty_array *out);
int vk_unary(ty_array *out);
int vk_binary(ty_array *out);
int vk_where(ty_array *out);
int vk_astype(ty_array *out);
int vk_copy(ty_array *out);
int vk_reduce(ty_array *out);
int vk_arg_reduce(ty_array *out);
int vk_scan(ty_array *out);
int vk_softmax(ty_array *out);
int vk_matmul(ty_array *out);
int vk_concatenate(ty_array *out);
int vk_pad(ty_array *out);
int vk_take(ty_array *out);
int vk_scatter_add(ty_array *out);
int vk_slice_update(ty_array *out);
int vk_sort(ty_array *out);
int vk_conv(ty_array *out);            /* core/vk_kernels_conv.c */
int vk_pool(ty_array *out);            /* pool, pool_grad (core/vk_kernels_conv.c) */
int vk_normalize(ty_array *out);       /* core/vk_kernels_nn.c */
int vk_attention(ty_array *out);       /* core/vk_kernels_nn.c */
int vk_softmax_cross_entropy(ty_array *out); /* core/vk_kernels_nn.c */
int vk_optim_update(ty_array *out);    /* core/vk_kernels_optim.c */

/* The embedded SPIR-V (build/vk_shaders.c, generated from kernels/). */
typedef struct vk_shader {
    const char *name;
    const uint32_t *code;
    size_t size;                       /* bytes */
} vk_shader;
extern const vk_shader vk_shaders[];   /* ends with a NULL name */

#endif /* TYCHO_VK_H */
