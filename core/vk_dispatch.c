/*
 * vk_dispatch.c -- pipelines, the parameter ring, hazard tracking, command
 * buffer recording and submission, the status block.
 *
 * Barriers: the blocks a dispatch reads and writes carry the epoch (barrier
 * segment) of their last read and write. A dispatch that reads a block
 * written in the current segment, or writes a block read or written in it,
 * gets a global compute -> compute memory barrier and starts a new segment.
 * Every command buffer starts with a barrier ordering it after all earlier
 * work (so epochs of earlier buffers never matter) and ends with one that
 * makes its writes visible to the host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vk_runtime.h"

#define RING_MIN ((VkDeviceSize)1 << 20)
#define PARAM_ALIGN 16

/* ---------------------------------------------------------------- pipelines */

static const vk_shader *find_shader(const char *name)
{
    for (const vk_shader *s = vk_shaders; s->name; s++)
        if (strcmp(s->name, name) == 0) return s;
    return NULL;
}

static uint64_t key_hash(const char *name, const int32_t *spec, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    for (int i = 0; i < n; i++) h = (h ^ (uint32_t)spec[i]) * 1099511628211ull;
    return h ? h : 1;
}

static int pipelines_grow(vk_context *c)
{
    size_t cap = c->pipelines_cap ? c->pipelines_cap * 2 : 64;
    vk_pipeline_entry *t = calloc(cap, sizeof *t);
    if (!t) return ty__error("[vulkan] out of host memory");
    for (size_t i = 0; i < c->pipelines_cap; i++) {
        vk_pipeline_entry *e = &c->pipelines[i];
        if (!e->hash) continue;
        size_t j = e->hash & (cap - 1);
        while (t[j].hash) j = (j + 1) & (cap - 1);
        t[j] = *e;
    }
    free(c->pipelines);
    c->pipelines = t;
    c->pipelines_cap = cap;
    return 0;
}

static VkPipeline create_pipeline(vk_context *c, const vk_shader *sh, const int32_t *spec,
                                  int nspec)
{
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = sh->size,
                                   .pCode = sh->code};
    VkShaderModule module;
    VkResult r = vkCreateShaderModule(c->device, &mi, NULL, &module);
    if (r != VK_SUCCESS) {
        ty__error("[vulkan] vkCreateShaderModule(%s) failed: %s", sh->name,
                  vk__result_str(r));
        return VK_NULL_HANDLE;
    }
    VkSpecializationMapEntry entries[13];
    for (int i = 0; i < nspec; i++)
        entries[i] = (VkSpecializationMapEntry){(uint32_t)i, (uint32_t)(4 * i), 4};
    VkSpecializationInfo si = {.mapEntryCount = (uint32_t)nspec,
                               .pMapEntries = entries,
                               .dataSize = (size_t)nspec * 4,
                               .pData = spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module,
                  .pName = "main",
                  .pSpecializationInfo = &si},
        .layout = c->layout};
    VkPipeline p = VK_NULL_HANDLE;
    r = vkCreateComputePipelines(c->device, c->cache, 1, &ci, NULL, &p);
    vkDestroyShaderModule(c->device, module, NULL);
    if (r != VK_SUCCESS) {
        ty__error("[vulkan] creating the pipeline of %s failed: %s", sh->name,
                  vk__result_str(r));
        return VK_NULL_HANDLE;
    }
    c->cache_dirty = true;
    return p;
}

static VkPipeline get_pipeline(vk_context *c, const vk_dispatch_desc *d)
{
    int32_t spec[13];
    int nspec = d->nspec < 0 ? 0 : d->nspec > 12 ? 12 : d->nspec;
    spec[0] = (int32_t)(d->local_size ? d->local_size : 256);
    memcpy(spec + 1, d->spec, sizeof(int32_t) * (size_t)nspec);
    nspec += 1;
    uint64_t h = key_hash(d->shader, spec, nspec);
    if (c->pipelines_cap) {
        size_t j = h & (c->pipelines_cap - 1);
        for (;; j = (j + 1) & (c->pipelines_cap - 1)) {
            vk_pipeline_entry *e = &c->pipelines[j];
            if (!e->hash) break;
            if (e->hash == h && e->nspec == nspec &&
                !memcmp(e->spec, spec, sizeof(int32_t) * (size_t)nspec) &&
                !strcmp(e->name, d->shader))
                return e->pipeline;
        }
    }
    const vk_shader *sh = find_shader(d->shader);
    if (!sh) {
        ty__error("[vulkan] no shader named '%s' is embedded", d->shader);
        return VK_NULL_HANDLE;
    }
    if ((c->npipelines + 1) * 2 > c->pipelines_cap && pipelines_grow(c) != 0)
        return VK_NULL_HANDLE;
    VkPipeline p = create_pipeline(c, sh, spec, nspec);
    if (!p) return VK_NULL_HANDLE;
    size_t j = h & (c->pipelines_cap - 1);
    while (c->pipelines[j].hash) j = (j + 1) & (c->pipelines_cap - 1);
    vk_pipeline_entry *e = &c->pipelines[j];
    e->name = sh->name;
    e->hash = h;
    memcpy(e->spec, spec, sizeof(int32_t) * (size_t)nspec);
    e->nspec = nspec;
    e->pipeline = p;
    c->npipelines++;
    return p;
}

/* ---------------------------------------------------------------- ring */

/* Copies params into the ring; returns their device address (0 + error). */
static VkDeviceAddress ring_push(vk_context *c, const void *params, uint32_t size)
{
    VkDeviceSize need = size ? size : PARAM_ALIGN;
    vk_ring_chunk *r = c->nring ? &c->ring[c->nring - 1] : NULL;
    VkDeviceSize pos = (c->ring_pos + PARAM_ALIGN - 1) & ~(VkDeviceSize)(PARAM_ALIGN - 1);
    if (!r || pos + need > r->size) {
        VkDeviceSize size_new = r ? r->size * 2 : RING_MIN;
        while (size_new < need) size_new *= 2;
        vk_ring_chunk *t = realloc(c->ring, sizeof *t * (size_t)(c->nring + 1));
        if (!t) {
            ty__error("[vulkan] out of host memory");
            return 0;
        }
        c->ring = t;
        r = &c->ring[c->nring];
        memset(r, 0, sizeof *r);
        if (vk__create_buffer(c, size_new, c->ring_type, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                              &r->buffer, &r->memory, (void **)&r->mapped, &r->address) != 0)
            return 0;
        r->size = size_new;
        c->nring++;
        pos = 0;
    }
    if (size) memcpy(r->mapped + pos, params, size);
    c->ring_pos = pos + need;
    return r->address + pos;
}

static void ring_reset(vk_context *c)
{
    if (c->nring > 1) {
        for (int i = 0; i < c->nring - 1; i++)
            vk__destroy_buffer(c, c->ring[i].buffer, c->ring[i].memory);
        c->ring[0] = c->ring[c->nring - 1];
        c->nring = 1;
    }
    c->ring_pos = 0;
}

/* ---------------------------------------------------------------- recording */

static void memory_barrier(vk_context *c, VkPipelineStageFlags src, VkAccessFlags src_access,
                           VkPipelineStageFlags dst, VkAccessFlags dst_access)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = src_access,
                          .dstAccessMask = dst_access};
    vkCmdPipelineBarrier(c->cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

int vk__begin(vk_context *c)
{
    if (c->recording) return 0;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VK_TRY(vkBeginCommandBuffer(c->cmd, &bi), "vkBeginCommandBuffer");
    c->recording = true;
    c->bound = VK_NULL_HANDLE;
    c->recorded = 0;
    c->epoch++;
    /* Orders this buffer after everything submitted before it. */
    memory_barrier(c, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                   VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                   VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                   VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                       VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
    return 0;
}

/* Waits for c->fence. A blocking vkWaitForFences wakes the thread through
 * the kernel, which costs tens of microseconds after the GPU has finished
 * (H200: 44-49 us per evaluation of one element, against torch's 12-16 us,
 * which spins in cudaDeviceSynchronize). So the fence is polled first, for
 * up to 2 ms (TYCHO_VK_SPIN_US sets it; 0: no polling), then waited on.
 * Measured on the H200 (bench/vk_ops.lua, bench/vk_nn.lua, medians of 3 runs
 * with 0 / 200 / 2000 us): one-element eval 44.8 / 26.1 / 25.4 us; copy of
 * 256M floats 2866 / 2796 / 3226 GB/s; softmax 16384^2 1076 / 1090 / 1170
 * GB/s; layer norm 8192x4096 825 / 1059 / 1032 GB/s. Evaluations longer than
 * the limit cost that much CPU time and then block as before. */
static long long spin_ns(void)
{
    static long long ns = -1;
    if (ns < 0) {
        const char *e = getenv("TYCHO_VK_SPIN_US");
        long long us = e && *e ? atoll(e) : 2000;
        ns = us > 0 ? us * 1000 : 0;
    }
    return ns;
}

static VkResult wait_fence(vk_context *c)
{
    const long long limit = spin_ns();
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        VkResult r = vkGetFenceStatus(c->device, c->fence);
        if (r != VK_NOT_READY) return r;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) > limit) break;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    return vkWaitForFences(c->device, 1, &c->fence, VK_TRUE, UINT64_MAX);
}

int vk__submit_wait(vk_context *c)
{
    if (!c->recording) return 0;
    c->recording = false;
    memory_barrier(c, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                   VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                   VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    VK_TRY(vkEndCommandBuffer(c->cmd), "vkEndCommandBuffer");
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &c->cmd};
    VkResult r = vkQueueSubmit(c->queue, 1, &si, c->fence);
    if (r == VK_SUCCESS) r = wait_fence(c);
    if (r == VK_SUCCESS) r = vkResetFences(c->device, 1, &c->fence);
    if (r == VK_SUCCESS) r = vkResetCommandPool(c->device, c->pool, 0);
    if (r != VK_SUCCESS)
        return ty__error("[vulkan] submitting work failed: %s", vk__result_str(r));
    c->submitted_unchecked = true;
    ring_reset(c);
    for (int i = 0; i < c->nscratch; i++) ty__buffer_release(c->scratch[i]);
    c->nscratch = 0;
    vk__memory_after_fence(c);
    return 0;
}

int vk__check_status(vk_context *c)
{
    if (!c->submitted_unchecked) return 0;
    c->submitted_unchecked = false;
    const uint8_t *s = c->status.mapped;
    uint32_t flag, op;
    int32_t axis;
    int64_t value, dim;
    memcpy(&flag, s, 4);
    if (!flag) return 0;
    memcpy(&op, s + 4, 4);
    memcpy(&axis, s + 8, 4);
    memcpy(&value, s + 16, 8);
    memcpy(&dim, s + 24, 8);
    memset(c->status.mapped, 0, 32);
    const char *name = op < TY_OP_COUNT ? ty_op_name((ty_op)op) : "vulkan";
    return ty__index_error(name, value, axis, dim, ty__ax(0));
}

static int validation_seen;

int vk_synchronize(ty_device device)
{
    vk_context *c = vk__context_if_created(device.index);
    if (!c) return 0;
    if (vk__submit_wait(c) != 0) return -1;
    if (vk__check_status(c) != 0) return -1;
    int errors = vk__validation_errors();
    if (errors != validation_seen) {
        int n = errors - validation_seen;
        validation_seen = errors;
        return ty__error("[vulkan] the validation layer reported %d error%s (see stderr)", n,
                         n == 1 ? "" : "s");
    }
    return 0;
}

int vk__synchronize_all(void)
{
    int rc = 0;
    for (int i = 0; i < VK_MAX_DEVICES; i++) {
        if (!vk__context_if_created(i)) continue;
        if (vk_synchronize((ty_device){TY_VULKAN, i}) != 0 && rc == 0) rc = -1;
    }
    return rc;
}

static inline vk_context *context_fast(ty_device device)
{
    vk_context *c = vk__context_if_created(device.index);
    return c ? c : vk_context_get(device.index);
}

int vk_dispatch(ty_device device, const vk_dispatch_desc *d)
{
    vk_context *c = context_fast(device);
    if (!c) return -1;
    if (d->nreads < 0 || d->nreads > 8 || d->nwrites < 0 || d->nwrites > 4)
        return ty__error("[vulkan] dispatch of %s: bad read/write counts", d->shader);
    uint32_t g[3];
    for (int i = 0; i < 3; i++) {
        g[i] = d->groups[i] ? d->groups[i] : 1;
        if (g[i] > c->facts->max_groups[i])
            return ty__error("[vulkan] dispatch of %s: %u workgroups in dimension %d (at most "
                             "%u)", d->shader, g[i], i, c->facts->max_groups[i]);
    }
    VkPipeline p = get_pipeline(c, d);
    if (!p) return -1;
    if (vk__begin(c) != 0) return -1;
    VkDeviceAddress params = ring_push(c, d->params, d->params_size);
    if (!params) return -1;

    uint64_t e = c->epoch;
    bool hazard = false;
    for (int i = 0; i < d->nreads && !hazard; i++) {
        const vk_block *b = d->reads[i] ? d->reads[i]->data : NULL;
        hazard = b && b->write_epoch == e;
    }
    for (int i = 0; i < d->nwrites && !hazard; i++) {
        const vk_block *b = d->writes[i] ? d->writes[i]->data : NULL;
        hazard = b && (b->write_epoch == e || b->read_epoch == e);
    }
    if (hazard) {
        memory_barrier(c, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
        e = ++c->epoch;
    }
    for (int i = 0; i < d->nreads; i++)
        if (d->reads[i] && d->reads[i]->data) ((vk_block *)d->reads[i]->data)->read_epoch = e;
    for (int i = 0; i < d->nwrites; i++)
        if (d->writes[i] && d->writes[i]->data)
            ((vk_block *)d->writes[i]->data)->write_epoch = e;

    if (p != c->bound) {
        vkCmdBindPipeline(c->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p);
        c->bound = p;
    }
    vkCmdPushConstants(c->cmd, c->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof params,
                       &params);
    vkCmdDispatch(c->cmd, g[0], g[1], g[2]);
    c->recorded++;
    c->total_dispatches++;
    return 0;
}

int vk_dispatch_out(ty_array *out, const char *shader, const int32_t *spec, int nspec,
                    uint32_t local_size, const void *params, uint32_t params_size,
                    uint64_t invocations, ty_buffer *const *reads, int nreads)
{
    vk_dispatch_desc d;
    memset(&d, 0, sizeof d);
    d.shader = shader;
    if (nspec > 0) memcpy(d.spec, spec, sizeof(int32_t) * (size_t)nspec);
    d.nspec = nspec;
    d.local_size = local_size;
    d.params = params;
    d.params_size = params_size;
    vk_grid(out->device, invocations, local_size, d.groups);
    for (int k = 0; k < nreads; k++) d.reads[k] = reads[k];
    d.nreads = nreads;
    d.writes[0] = out->buffer;
    d.nwrites = 1;
    return vk_dispatch(out->device, &d);
}

void vk_grid(ty_device device, uint64_t n, uint32_t local_size, uint32_t groups[3])
{
    const vk_device_facts *f = vk_facts(device.index);
    uint32_t local = local_size ? local_size : 256;
    uint64_t g = (n + local - 1) / local;
    if (!g) g = 1;
    uint32_t maxx = f ? f->max_groups[0] : 65535;
    if (g <= maxx) {
        groups[0] = (uint32_t)g;
        groups[1] = 1;
    } else {
        groups[0] = maxx;
        groups[1] = (uint32_t)((g + maxx - 1) / maxx);
    }
    groups[2] = 1;
}

uint64_t vk_status_address(ty_device device)
{
    vk_context *c = context_fast(device);
    return c ? c->status.address : 0;
}

ty_buffer *vk_scratch(ty_device device, size_t nbytes)
{
    vk_context *c = context_fast(device);
    if (!c) return NULL;
    if (c->nscratch == c->scratch_cap) {
        int cap = c->scratch_cap ? c->scratch_cap * 2 : 16;
        ty_buffer **t = realloc(c->scratch, sizeof *t * (size_t)cap);
        if (!t) return ty__error_null("[vulkan] out of host memory");
        c->scratch = t;
        c->scratch_cap = cap;
    }
    ty_buffer *b = ty__buffer_alloc(device, nbytes);
    if (!b) return NULL;
    c->scratch[c->nscratch++] = b;
    return b;
}

void vk__dispatch_destroy(vk_context *c)
{
    for (size_t i = 0; i < c->pipelines_cap; i++)
        if (c->pipelines[i].hash) vkDestroyPipeline(c->device, c->pipelines[i].pipeline, NULL);
    free(c->pipelines);
    c->pipelines = NULL;
    c->pipelines_cap = c->npipelines = 0;
}
