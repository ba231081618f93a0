/*
 * vk_device.c -- Vulkan instance, device enumeration and facts, logical
 * devices, the on-disk pipeline cache and the validation-layer messenger.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vk_runtime.h"

static VkInstance instance;
static int ndevices = -1;              /* -1: not enumerated yet */
static VkPhysicalDevice physical[VK_MAX_DEVICES];
static vk_device_facts facts[VK_MAX_DEVICES];
static VkPhysicalDeviceProperties props[VK_MAX_DEVICES];
static vk_context *contexts[VK_MAX_DEVICES];
static pthread_mutex_t device_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t context_lock = PTHREAD_MUTEX_INITIALIZER;

static VkDebugUtilsMessengerEXT messenger;
static volatile int validation_errors;

const char *vk__result_str(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
    case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    case VK_ERROR_INVALID_SHADER_NV: return "VK_ERROR_INVALID_SHADER_NV";
    case VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS:
        return "VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS";
    default: return "VkResult error";
    }
}

/* ---------------------------------------------------------------- validation */

static VKAPI_ATTR VkBool32 VKAPI_CALL
debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
               VkDebugUtilsMessageTypeFlagsEXT type,
               const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    (void)type;
    (void)user;
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        __atomic_add_fetch(&validation_errors, 1, __ATOMIC_RELAXED);
        fprintf(stderr, "tycho: vulkan validation error: %s\n",
                data && data->pMessage ? data->pMessage : "(no message)");
    } else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        fprintf(stderr, "tycho: vulkan validation warning: %s\n",
                data && data->pMessage ? data->pMessage : "(no message)");
    }
    return VK_FALSE;
}

int vk__validation_errors(void)
{
    return __atomic_load_n(&validation_errors, __ATOMIC_RELAXED);
}

static bool validation_requested(void)
{
    const char *v = getenv("TYCHO_VALIDATION");
    return v && *v && strcmp(v, "0") != 0;
}

static bool has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || !n) return false;
    VkLayerProperties *l = calloc(n, sizeof *l);
    bool found = false;
    if (l && vkEnumerateInstanceLayerProperties(&n, l) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(l[i].layerName, name);
    free(l);
    return found;
}

static bool has_instance_extension(const char *layer, const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || !n)
        return false;
    VkExtensionProperties *e = calloc(n, sizeof *e);
    bool found = false;
    if (e && vkEnumerateInstanceExtensionProperties(layer, &n, e) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(e[i].extensionName, name);
    free(e);
    return found;
}

/* ---------------------------------------------------------------- exit */

static void at_exit(void)
{
    vk__pipeline_cache_save();
    int errors = vk__validation_errors();
    if (errors) {
        fprintf(stderr, "tycho: the Vulkan validation layer reported %d error%s\n", errors,
                errors == 1 ? "" : "s");
        fflush(stdout);
        fflush(stderr);
        _exit(1);
    }
}

/* ---------------------------------------------------------------- enumeration */

static int type_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
    }
}

static bool has_device_extension(VkPhysicalDevice pd, const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || !n)
        return false;
    VkExtensionProperties *e = calloc(n, sizeof *e);
    bool found = false;
    if (e && vkEnumerateDeviceExtensionProperties(pd, NULL, &n, e) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(e[i].extensionName, name);
    free(e);
    return found;
}

/* NV cooperative matrix with a 16x16x16 f16 x f16 -> f32 subgroup shape. */
static bool detect_coopmat(VkPhysicalDevice pd)
{
    if (!has_device_extension(pd, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME)) return false;
    PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV get =
        (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)vkGetInstanceProcAddr(
            instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
    if (!get) return false;
    uint32_t n = 0;
    if (get(pd, &n, NULL) != VK_SUCCESS || !n) return false;
    VkCooperativeMatrixPropertiesNV *p = calloc(n, sizeof *p);
    if (!p) return false;
    for (uint32_t i = 0; i < n; i++)
        p[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
    bool found = false;
    if (get(pd, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = p[i].MSize == 16 && p[i].NSize == 16 && p[i].KSize == 16 &&
                    p[i].AType == VK_COMPONENT_TYPE_FLOAT16_NV &&
                    p[i].BType == VK_COMPONENT_TYPE_FLOAT16_NV &&
                    p[i].CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
                    p[i].DType == VK_COMPONENT_TYPE_FLOAT32_NV &&
                    p[i].scope == VK_SCOPE_SUBGROUP_NV;
    free(p);
    if (!found) return false;
    VkPhysicalDeviceCooperativeMatrixFeaturesNV cm = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &cm};
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    return cm.cooperativeMatrix;
}

static void read_facts(VkPhysicalDevice pd, vk_device_facts *f, VkPhysicalDeviceProperties *pp)
{
    memset(f, 0, sizeof *f);
    vkGetPhysicalDeviceProperties(pd, pp);
    snprintf(f->name, sizeof f->name, "%s", pp->deviceName);
    f->type = pp->deviceType;
    f->api_version = pp->apiVersion;
    f->driver_version = pp->driverVersion;
    f->vendor_id = pp->vendorID;
    f->max_storage_range = pp->limits.maxStorageBufferRange;
    f->shared_memory = pp->limits.maxComputeSharedMemorySize;
    f->max_workgroup_size = pp->limits.maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) f->max_groups[i] = pp->limits.maxComputeWorkGroupCount[i];

    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
        if ((mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            mp.memoryHeaps[i].size > f->memory)
            f->memory = mp.memoryHeaps[i].size;

    if (VK_API_VERSION_MINOR(pp->apiVersion) < 2 && VK_API_VERSION_MAJOR(pp->apiVersion) == 1) {
        snprintf(f->unusable_reason, sizeof f->unusable_reason,
                 "Vulkan %u.%u (tycho needs 1.2)", VK_API_VERSION_MAJOR(pp->apiVersion),
                 VK_API_VERSION_MINOR(pp->apiVersion));
        return;
    }
    VkPhysicalDeviceVulkan11Properties p11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &p11};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    f->max_allocation = p11.maxMemoryAllocationSize;
    f->subgroup_size = p11.subgroupSize;
    f->subgroup_arithmetic =
        (p11.subgroupSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
        (p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);

    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &f11};
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    f->float16 = f12.shaderFloat16;
    f->int64 = f2.features.shaderInt64;
    f->coopmat = detect_coopmat(pd);

    const char *missing = NULL;
    if (!f12.bufferDeviceAddress) missing = "bufferDeviceAddress";
    else if (!f2.features.shaderInt64) missing = "shaderInt64";
    else if (!f2.features.shaderInt16) missing = "shaderInt16";
    else if (!f12.shaderInt8) missing = "shaderInt8";
    else if (!f12.storageBuffer8BitAccess) missing = "storageBuffer8BitAccess";
    else if (!f11.storageBuffer16BitAccess) missing = "storageBuffer16BitAccess";
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties q[16];
    if (nq > 16) nq = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, q);
    bool compute = false;
    for (uint32_t i = 0; i < nq; i++) compute |= (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) != 0;
    if (!compute) missing = "a compute queue";
    if (missing) {
        snprintf(f->unusable_reason, sizeof f->unusable_reason, "lacks %s", missing);
        return;
    }
    f->usable = true;
}

static int enumerate_locked(void)
{
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "tycho",
                             .pEngineName = "tycho",
                             .apiVersion = VK_API_VERSION_1_2};
    const char *layers[1], *exts[2];
    uint32_t nlayers = 0, nexts = 0;
    bool validate = validation_requested();
    VkValidationFeatureEnableEXT enables[] = {
        VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT vf = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                  .enabledValidationFeatureCount = 1,
                                  .pEnabledValidationFeatures = enables};
    const void *next = NULL;
    bool debug_utils = false;
    if (validate) {
        const char *layer = "VK_LAYER_KHRONOS_validation";
        if (has_layer(layer)) {
            layers[nlayers++] = layer;
            if (has_instance_extension(layer, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME)) {
                exts[nexts++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
                next = &vf;
            }
        } else {
            fprintf(stderr, "tycho: TYCHO_VALIDATION is set but %s is not installed\n",
                    layer);
        }
        if (has_instance_extension(NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
            exts[nexts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
            debug_utils = true;
        }
    }
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pNext = next,
                               .pApplicationInfo = &app,
                               .enabledLayerCount = nlayers,
                               .ppEnabledLayerNames = layers,
                               .enabledExtensionCount = nexts,
                               .ppEnabledExtensionNames = exts};
    if (vkCreateInstance(&ci, NULL, &instance) != VK_SUCCESS) {
        instance = VK_NULL_HANDLE;
        return 0;
    }
    if (debug_utils) {
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                instance, "vkCreateDebugUtilsMessengerEXT");
        VkDebugUtilsMessengerCreateInfoEXT mi = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = debug_callback};
        if (!create || create(instance, &mi, NULL, &messenger) != VK_SUCCESS)
            fprintf(stderr, "tycho: could not install the validation messenger\n");
    }
    uint32_t n = 0;
    if (vkEnumeratePhysicalDevices(instance, &n, NULL) != VK_SUCCESS || !n) return 0;
    VkPhysicalDevice all[32];
    if (n > 32) n = 32;
    VkResult r = vkEnumeratePhysicalDevices(instance, &n, all);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return 0;
    int count = 0;
    /* Stable sort by type rank: discrete, integrated, virtual, CPU. */
    for (int rank = 0; rank <= 4 && count < VK_MAX_DEVICES; rank++)
        for (uint32_t i = 0; i < n && count < VK_MAX_DEVICES; i++) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(all[i], &p);
            if (type_rank(p.deviceType) != rank) continue;
            physical[count] = all[i];
            read_facts(all[i], &facts[count], &props[count]);
            count++;
        }
    atexit(at_exit);
    return count;
}

int vk_enumerate(void)
{
    pthread_mutex_lock(&device_lock);
    if (ndevices < 0) ndevices = enumerate_locked();
    int n = ndevices;
    pthread_mutex_unlock(&device_lock);
    return n;
}

const vk_device_facts *vk_facts(int index)
{
    if (index < 0 || index >= vk_enumerate()) return NULL;
    return &facts[index];
}

/* ---------------------------------------------------------------- pipeline cache */

static const char *cache_dir(char *buf, size_t size)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg) snprintf(buf, size, "%s/tycho", xdg);
    else if (home && *home) snprintf(buf, size, "%s/.cache/tycho", home);
    else return NULL;
    return buf;
}

const char *vk__pipeline_cache_path(int index, char *buf, size_t size)
{
    char dir[512];
    if (index < 0 || index >= vk_enumerate() || !cache_dir(dir, sizeof dir)) return NULL;
    char uuid[2 * VK_UUID_SIZE + 1];
    for (unsigned i = 0; i < VK_UUID_SIZE; i++)
        snprintf(uuid + 2 * i, 3, "%02x", props[index].pipelineCacheUUID[i]);
    snprintf(buf, size, "%s/pipelines-%04x-%04x-%s.bin", dir, props[index].vendorID,
             props[index].deviceID, uuid);
    return buf;
}

static void *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *data = NULL;
    long n;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < (64l << 20) &&
        fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n)) &&
        fread(data, 1, (size_t)n, f) == (size_t)n) {
        *size = (size_t)n;
    } else {
        free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

static int make_dirs(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return (mkdir(buf, 0755) == 0 || errno == EEXIST) ? 0 : -1;
}

static int save_one(vk_context *c)
{
    char path[1024], dir[512], tmp[1100];
    if (!c->cache || !c->cache_dirty) return 0;
    if (!vk__pipeline_cache_path(c->index, path, sizeof path) ||
        !cache_dir(dir, sizeof dir))
        return ty__error("[vulkan] no cache directory (set XDG_CACHE_HOME or HOME)");
    size_t size = 0;
    VK_TRY(vkGetPipelineCacheData(c->device, c->cache, &size, NULL), "vkGetPipelineCacheData");
    void *data = malloc(size ? size : 1);
    if (!data) return ty__error("[vulkan] out of host memory saving the pipeline cache");
    VkResult r = vkGetPipelineCacheData(c->device, c->cache, &size, data);
    if (r != VK_SUCCESS) {
        free(data);
        return ty__error("[vulkan] vkGetPipelineCacheData failed: %s", vk__result_str(r));
    }
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int rc = -1;
    FILE *f = NULL;
    if (make_dirs(dir) == 0 && (f = fopen(tmp, "wb"))) {
        bool ok = fwrite(data, 1, size, f) == size;
        ok = (fclose(f) == 0) && ok;
        if (ok && rename(tmp, path) == 0) rc = 0;
        else remove(tmp);
    }
    free(data);
    if (rc != 0) return ty__error("[vulkan] could not write %s: %s", path, strerror(errno));
    c->cache_dirty = false;
    return 0;
}

int vk__pipeline_cache_save(void)
{
    int rc = 0;
    for (int i = 0; i < VK_MAX_DEVICES; i++)
        if (contexts[i] && save_one(contexts[i]) != 0) rc = -1;
    return rc;
}

/* ---------------------------------------------------------------- memory types */

int vk__find_memory_type(vk_context *c, uint32_t bits, VkMemoryPropertyFlags want)
{
    for (uint32_t i = 0; i < c->memprops.memoryTypeCount; i++)
        if ((bits & (1u << i)) &&
            (c->memprops.memoryTypes[i].propertyFlags & want) == want)
            return (int)i;
    return -1;
}

int vk__create_buffer(vk_context *c, VkDeviceSize size, uint32_t type,
                      VkBufferUsageFlags usage, VkBuffer *buffer, VkDeviceMemory *memory,
                      void **mapped, VkDeviceAddress *address)
{
    *buffer = VK_NULL_HANDLE;
    *memory = VK_NULL_HANDLE;
    if (mapped) *mapped = NULL;
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = size,
                             .usage = usage | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VK_TRY(vkCreateBuffer(c->device, &bi, NULL, buffer), "vkCreateBuffer");
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(c->device, *buffer, &req);
    if (!(req.memoryTypeBits & (1u << type))) {
        vkDestroyBuffer(c->device, *buffer, NULL);
        *buffer = VK_NULL_HANDLE;
        return ty__error("[vulkan] no suitable memory type for a buffer");
    }
    VkMemoryAllocateFlagsInfo flags = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
                                       .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT};
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .pNext = &flags,
                               .allocationSize = req.size,
                               .memoryTypeIndex = type};
    VkResult r = vkAllocateMemory(c->device, &ai, NULL, memory);
    if (r == VK_SUCCESS) r = vkBindBufferMemory(c->device, *buffer, *memory, 0);
    if (r == VK_SUCCESS && mapped &&
        (c->memprops.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
        r = vkMapMemory(c->device, *memory, 0, VK_WHOLE_SIZE, 0, mapped);
    if (r != VK_SUCCESS) {
        vk__destroy_buffer(c, *buffer, *memory);
        *buffer = VK_NULL_HANDLE;
        *memory = VK_NULL_HANDLE;
        return ty__error("[vulkan] allocating %llu bytes failed: %s",
                         (unsigned long long)size, vk__result_str(r));
    }
    if (address) {
        VkBufferDeviceAddressInfo di = {.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO,
                                        .buffer = *buffer};
        *address = vkGetBufferDeviceAddress(c->device, &di);
    }
    return 0;
}

void vk__destroy_buffer(vk_context *c, VkBuffer buffer, VkDeviceMemory memory)
{
    if (buffer) vkDestroyBuffer(c->device, buffer, NULL);
    if (memory) vkFreeMemory(c->device, memory, NULL);
}

/* ---------------------------------------------------------------- contexts */

#define BLOCK_USAGE (VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | \
                     VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT)

/* Chooses the memory types of blocks, the parameter ring and staging. */
static int choose_memory(vk_context *c)
{
    vkGetPhysicalDeviceMemoryProperties(c->phys, &c->memprops);
    VkBuffer probe;
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = 256,
                             .usage = BLOCK_USAGE | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VK_TRY(vkCreateBuffer(c->device, &bi, NULL, &probe), "vkCreateBuffer");
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(c->device, probe, &req);
    vkDestroyBuffer(c->device, probe, NULL);
    const VkMemoryPropertyFlags DL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                                HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                                HC = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                                CA = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    uint32_t bits = req.memoryTypeBits;
    int block = -1;
    bool discrete = c->facts->type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU;
    if (!discrete) {
        block = vk__find_memory_type(c, bits, DL | HV | HC);
        if (block < 0) block = vk__find_memory_type(c, bits, HV | HC);
        c->direct_map = block >= 0;
    }
    if (block < 0) block = vk__find_memory_type(c, bits, DL);
    if (block < 0) block = vk__find_memory_type(c, bits, 0);
    int ring = vk__find_memory_type(c, bits, DL | HV | HC);
    if (ring < 0) ring = vk__find_memory_type(c, bits, HV | HC);
    int staging = vk__find_memory_type(c, bits, HV | HC | CA);
    if (staging < 0) staging = vk__find_memory_type(c, bits, HV | HC);
    if (block < 0 || ring < 0 || staging < 0)
        return ty__error("[vulkan] %s has no suitable memory types", c->facts->name);
    c->block_type = (uint32_t)block;
    c->ring_type = (uint32_t)ring;
    c->staging_type = (uint32_t)staging;
    c->heap_size = c->memprops.memoryHeaps[c->memprops.memoryTypes[block].heapIndex].size;
    return 0;
}

static void load_pipeline_cache(vk_context *c)
{
    char path[1024];
    size_t size = 0;
    void *data = NULL;
    if (vk__pipeline_cache_path(c->index, path, sizeof path)) data = read_file(path, &size);
    /* The driver checks the header (vendor, device, cache UUID) and ignores
     * data it cannot use; a corrupt file is retried empty. */
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                    .initialDataSize = data ? size : 0,
                                    .pInitialData = data};
    if (vkCreatePipelineCache(c->device, &ci, NULL, &c->cache) != VK_SUCCESS) {
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        if (vkCreatePipelineCache(c->device, &ci, NULL, &c->cache) != VK_SUCCESS)
            c->cache = VK_NULL_HANDLE;
    }
    free(data);
}

static int create_device(vk_context *c)
{
    const vk_device_facts *f = c->facts;
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(c->phys, &nq, NULL);
    VkQueueFamilyProperties q[16];
    if (nq > 16) nq = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(c->phys, &nq, q);
    int family = -1;
    /* Prefer a compute queue without graphics (async compute), else any. */
    for (uint32_t i = 0; i < nq && family < 0; i++)
        if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
            family = (int)i;
    for (uint32_t i = 0; i < nq && family < 0; i++)
        if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) family = (int)i;
    if (family < 0) return ty__error("[vulkan] %s has no compute queue", f->name);
    c->queue_family = (uint32_t)family;

    /* Enable what tycho uses, where supported. */
    VkPhysicalDeviceCooperativeMatrixFeaturesNV cm = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    VkPhysicalDeviceVulkan12Features s12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features s11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &s12};
    VkPhysicalDeviceFeatures2 s2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &s11};
    vkGetPhysicalDeviceFeatures2(c->phys, &s2);

    VkPhysicalDeviceVulkan12Features e12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .pNext = f->coopmat ? &cm : NULL,
        .bufferDeviceAddress = VK_TRUE,
        .storageBuffer8BitAccess = VK_TRUE,
        .uniformAndStorageBuffer8BitAccess = s12.uniformAndStorageBuffer8BitAccess,
        .shaderInt8 = s12.shaderInt8,
        .shaderFloat16 = s12.shaderFloat16,
        .shaderBufferInt64Atomics = s12.shaderBufferInt64Atomics,
        .shaderSharedInt64Atomics = s12.shaderSharedInt64Atomics,
        .vulkanMemoryModel = s12.vulkanMemoryModel,
        .vulkanMemoryModelDeviceScope = s12.vulkanMemoryModelDeviceScope,
        .scalarBlockLayout = s12.scalarBlockLayout,
        .subgroupBroadcastDynamicId = s12.subgroupBroadcastDynamicId,
        .shaderSubgroupExtendedTypes = s12.shaderSubgroupExtendedTypes,
        .hostQueryReset = s12.hostQueryReset};
    VkPhysicalDeviceVulkan11Features e11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .pNext = &e12,
        .storageBuffer16BitAccess = VK_TRUE,
        .uniformAndStorageBuffer16BitAccess = s11.uniformAndStorageBuffer16BitAccess};
    VkPhysicalDeviceFeatures2 e2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &e11};
    e2.features.shaderInt64 = VK_TRUE;
    e2.features.shaderInt16 = s2.features.shaderInt16;
    e2.features.shaderFloat64 = s2.features.shaderFloat64;
    e2.features.robustBufferAccess = VK_FALSE;
    cm.cooperativeMatrix = VK_TRUE;

    const char *exts[2];
    uint32_t nexts = 0;
    if (f->coopmat) exts[nexts++] = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    float priority = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                  .queueFamilyIndex = c->queue_family,
                                  .queueCount = 1,
                                  .pQueuePriorities = &priority};
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                             .pNext = &e2,
                             .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &qi,
                             .enabledExtensionCount = nexts,
                             .ppEnabledExtensionNames = exts};
    VK_TRY(vkCreateDevice(c->phys, &di, NULL, &c->device), "vkCreateDevice");
    vkGetDeviceQueue(c->device, c->queue_family, 0, &c->queue);

    if (choose_memory(c) != 0) return -1;
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
                                  .queueFamilyIndex = c->queue_family};
    VK_TRY(vkCreateCommandPool(c->device, &pi, NULL, &c->pool), "vkCreateCommandPool");
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = c->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VK_TRY(vkAllocateCommandBuffers(c->device, &ai, &c->cmd), "vkAllocateCommandBuffers");
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VK_TRY(vkCreateFence(c->device, &fi, NULL, &c->fence), "vkCreateFence");
    VkPushConstantRange range = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
                                 .offset = 0,
                                 .size = sizeof(uint64_t)};
    VkPipelineLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                     .pushConstantRangeCount = 1,
                                     .pPushConstantRanges = &range};
    VK_TRY(vkCreatePipelineLayout(c->device, &li, NULL, &c->layout),
           "vkCreatePipelineLayout");
    load_pipeline_cache(c);

    /* The status block: 32 bytes, zeroed, host-visible. */
    if (vk__create_buffer(c, 256, c->ring_type, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                          &c->status.buffer, &c->status.memory, (void **)&c->status.mapped,
                          &c->status.address) != 0)
        return -1;
    c->status.size = 256;
    memset(c->status.mapped, 0, 256);
    c->epoch = 1;
    return 0;
}

vk_context *vk__context_if_created(int index)
{
    return (index >= 0 && index < VK_MAX_DEVICES) ? contexts[index] : NULL;
}

vk_context *vk_context_get(int index)
{
    if (index >= 0 && index < VK_MAX_DEVICES && contexts[index]) return contexts[index];
    int n = vk_enumerate();
    if (index < 0 || index >= n)
        return ty__error_null("[vulkan] no Vulkan device vulkan:%d (%d found)", index, n);
    if (!facts[index].usable)
        return ty__error_null("[vulkan] %s is not usable: %s", facts[index].name,
                              facts[index].unusable_reason);
    pthread_mutex_lock(&context_lock);
    vk_context *c = contexts[index];
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) {
            pthread_mutex_unlock(&context_lock);
            return ty__error_null("[vulkan] out of host memory");
        }
        c->index = index;
        c->facts = &facts[index];
        c->phys = physical[index];
        if (create_device(c) != 0) {
            /* Leaves the partly created device (an error path of set-up). */
            if (c->device) vkDestroyDevice(c->device, NULL);
            free(c);
            c = NULL;
        } else {
            contexts[index] = c;
        }
    }
    pthread_mutex_unlock(&context_lock);
    return c;
}
