/* device.c -- device names, the default device and backend lookup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static ty_device default_device = {TY_CPU, 0};
static int default_device_ready;

bool ty_device_equal(ty_device a, ty_device b)
{
    return a.kind == b.kind && (a.kind == TY_CPU || a.index == b.index);
}

bool ty_device_available(ty_device device)
{
    return device.kind == TY_CPU;
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
        if (ty_device_available(d)) default_device = d;
        else
            fprintf(stderr, "tycho: TYCHO_DEVICE=%s is not available (this build has no "
                            "Vulkan backend yet); using the CPU\n", env);
    } else if (env && *env) {
        fprintf(stderr, "tycho: %s; using the CPU\n", ty_error_message());
        ty_error_clear();
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
        char buf[16];
        return ty__error("[set_device] %s is not available (this build has no Vulkan "
                         "backend yet)", ty_device_string(device, buf, sizeof buf));
    }
    default_device = device;
    return 0;
}

const ty_backend *ty__backend_for(ty_device device)
{
    if (device.kind == TY_CPU) return &ty__cpu_backend;
    return NULL;
}
