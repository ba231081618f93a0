/* device.c -- device names, the default device and backend lookup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "vk.h"

static ty_device default_device = {TY_CPU, 0};
static int default_device_ready;

bool ty_device_equal(ty_device a, ty_device b)
{
    return a.kind == b.kind && (a.kind == TY_CPU || a.index == b.index);
}

bool ty_device_available(ty_device device)
{
    if (device.kind == TY_CPU) return true;
    if (device.kind != TY_VULKAN || device.index < 0) return false;
    const vk_device_facts *f = vk_facts(device.index);
    return f && f->usable;
}

/* Why a Vulkan device is not available, for error messages. */
static const char *unavailable_reason(ty_device device, char *buf, size_t size)
{
    int n = vk_enumerate();
    const vk_device_facts *f = vk_facts(device.index);
    if (n == 0) snprintf(buf, size, "no Vulkan driver or device was found");
    else if (!f) snprintf(buf, size, "%d Vulkan device%s found", n, n == 1 ? "" : "s");
    else snprintf(buf, size, "%s %s", f->name, f->unusable_reason);
    return buf;
}

static bool verbose_stderr(void)
{
    const char *v = getenv("TYCHO_VERBOSE");
    return isatty(2) || (v && *v && strcmp(v, "0") != 0);
}

/* The default without TYCHO_DEVICE: the first usable discrete or integrated
 * GPU (devices are sorted), else the CPU with one line saying why when
 * stderr is a terminal or TYCHO_VERBOSE is set. Software Vulkan (lavapipe)
 * is never chosen by default. */
static void choose_default(void)
{
    int n = vk_enumerate();
    const vk_device_facts *soft = NULL, *unusable = NULL;
    for (int i = 0; i < n; i++) {
        const vk_device_facts *f = vk_facts(i);
        bool gpu = f->type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU ||
                   f->type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
        if (gpu && f->usable) {
            default_device = (ty_device){TY_VULKAN, i};
            return;
        }
        if (gpu && !unusable) unusable = f;
        if (!gpu && f->usable && !soft) soft = f;
    }
    if (!verbose_stderr()) return;
    if (unusable)
        fprintf(stderr, "tycho: the Vulkan GPU %s cannot be used (%s); using the CPU\n",
                unusable->name, unusable->unusable_reason);
    else if (soft)
        fprintf(stderr, "tycho: no Vulkan GPU found (%s is a software renderer; "
                        "TYCHO_DEVICE=vulkan selects it); using the CPU\n", soft->name);
    else
        fprintf(stderr, "tycho: no Vulkan GPU found; using the CPU\n");
}

char *ty_device_string(ty_device device, char *buf, size_t size)
{
    if (device.kind == TY_CPU) snprintf(buf, size, "cpu");
    else snprintf(buf, size, "vulkan:%d", device.index);
    return buf;
}

int ty_device_parse(const char *text, ty_device *out)
{
    if (!text) return ty__error("[device] no device name given");
    if (strcmp(text, "cpu") == 0) {
        *out = (ty_device){TY_CPU, 0};
        return 0;
    }
    if (strcmp(text, "vulkan") == 0 || strcmp(text, "gpu") == 0) {
        *out = (ty_device){TY_VULKAN, 0};
        return 0;
    }
    if (strncmp(text, "vulkan:", 7) == 0) {
        char *end;
        long n = strtol(text + 7, &end, 10);
        if (*end == 0 && end != text + 7 && n >= 0 && n < 8) {
            *out = (ty_device){TY_VULKAN, (int)n};
            return 0;
        }
    }
    return ty__error("[device] unknown device '%s' (expected cpu, vulkan or vulkan:N)", text);
}

/* Reads TYCHO_DEVICE once; falls back to the CPU with a line on stderr. */
static void init_default_device(void)
{
    if (default_device_ready) return;
    default_device_ready = 1;
    const char *env = getenv("TYCHO_DEVICE");
    ty_device d;
    if (env && *env && ty_device_parse(env, &d) == 0) {
        char why[512];
        if (ty_device_available(d)) default_device = d;
        else
            fprintf(stderr, "tycho: TYCHO_DEVICE=%s is not available (%s); using the CPU\n",
                    env, unavailable_reason(d, why, sizeof why));
    } else if (env && *env) {
        fprintf(stderr, "tycho: %s; using the CPU\n", ty_error_message());
        ty_error_clear();
    } else {
        choose_default();
    }
}

ty_device ty_default_device(void)
{
    init_default_device();
    return default_device;
}

int ty_set_default_device(ty_device device)
{
    init_default_device();
    if (!ty_device_available(device)) {
        char buf[16], why[512];
        return ty__error("[set_device] %s is not available (%s)",
                         ty_device_string(device, buf, sizeof buf),
                         unavailable_reason(device, why, sizeof why));
    }
    default_device = device;
    return 0;
}

const ty_backend *ty__backend_for(ty_device device)
{
    if (device.kind == TY_CPU) return &ty__cpu_backend;
    if (ty_device_available(device)) return &ty__vk_backend;
    return NULL;
}

int ty_device_count(void)
{
    return 1 + vk_enumerate();
}

static void cpu_name(char *buf, size_t size)
{
    snprintf(buf, size, "cpu");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *v = strchr(line, ':');
        if (!v) break;
        v++;
        while (*v == ' ' || *v == '\t') v++;
        v[strcspn(v, "\n")] = 0;
        if (*v) snprintf(buf, size, "%s", v);
        break;
    }
    fclose(f);
}

int ty_device_get_info(int index, ty_device_info *out)
{
    memset(out, 0, sizeof *out);
    if (index == 0) {
        out->device = (ty_device){TY_CPU, 0};
        cpu_name(out->name, sizeof out->name);
        out->type = "cpu";
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages > 0 && page > 0) out->memory = (uint64_t)pages * (uint64_t)page;
        out->max_allocation = out->memory;
        out->max_buffer_range = out->memory;
        out->float16 = true;
        out->usable = true;
        return 0;
    }
    const vk_device_facts *f = vk_facts(index - 1);
    if (!f) return ty__error("[devices] no device %d (%d found)", index, ty_device_count());
    out->device = (ty_device){TY_VULKAN, index - 1};
    snprintf(out->name, sizeof out->name, "%s", f->name);
    switch (f->type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: out->type = "discrete"; break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: out->type = "integrated"; break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: out->type = "virtual"; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: out->type = "software"; break;
    default: out->type = "other"; break;
    }
    out->memory = f->memory;
    out->subgroup_size = f->subgroup_size;
    out->shared_memory = f->shared_memory;
    out->max_buffer_range = f->max_storage_range;
    out->max_allocation = f->max_allocation;
    out->float16 = f->float16;
    out->cooperative_matrix = f->coopmat;
    out->usable = f->usable;
    if (!f->usable) snprintf(out->note, sizeof out->note, "%s", f->unusable_reason);
    else if (f->type == VK_PHYSICAL_DEVICE_TYPE_CPU)
        snprintf(out->note, sizeof out->note, "software renderer: never the default");
    return 0;
}
