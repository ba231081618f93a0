/*
 * runtime.c -- threads, memory accounting, devices and moving arrays between
 * them: ty.set_num_threads, ty.memory, ty.devices, ty.set_device, x:to(...).
 */
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "args.h"

static int l_set_num_threads(lua_State *L)
{
    lua_Integer n = lty_arg_int(L, 1, "set_num_threads", "threads");
    if (n > 4096) luaL_error(L, "[set_num_threads] %d threads is too many", (int)n);
    ty_set_num_threads((int)n);
    return 0;
}

static int l_get_num_threads(lua_State *L)
{
    lua_pushinteger(L, ty_get_num_threads());
    return 1;
}

/* The device at idx (a name), or the default device when none/nil. */
static ty_device device_arg(lua_State *L, int idx, const char *fname)
{
    if (lua_isnoneornil(L, idx)) return ty_default_device();
    return lty_arg_device(L, idx, fname);
}

static int l_memory(lua_State *L)
{
    ty_device device = device_arg(L, 1, "memory");
    ty_memory_stats st;
    if (ty_memory_stats_get(device, &st) != 0) return lty_error(L);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)st.active);
    lua_setfield(L, -2, "active");
    lua_pushinteger(L, (lua_Integer)st.peak);
    lua_setfield(L, -2, "peak");
    lua_pushinteger(L, (lua_Integer)st.cached);
    lua_setfield(L, -2, "cached");
    lua_pushinteger(L, (lua_Integer)st.limit);
    lua_setfield(L, -2, "limit");
    return 1;
}

/* memory_limit([bytes], [device]) -> previous limit. nil (or no argument)
 * only returns the current limit; 0 restores the default; a limit past
 * math.maxinteger bytes is clamped to it (no limit in practice). */
static int l_memory_limit(lua_State *L)
{
    ty_device device = device_arg(L, 2, "memory_limit");
    bool set = !lua_isnoneornil(L, 1);
    lua_Integer bytes = 0;
    if (set) {
        if (lua_type(L, 1) != LUA_TNUMBER)
            luaL_error(L, "[memory_limit] expected a number of bytes >= 0, got %s",
                       luaL_typename(L, 1));
        if (lua_isinteger(L, 1)) {
            bytes = lua_tointeger(L, 1);
        } else {
            lua_Number v = lua_tonumber(L, 1);
            if (isnan(v) || isinf(v))
                luaL_error(L, "[memory_limit] expected a finite number of bytes, got %s",
                           lua_tostring(L, 1));
            if (v != floor(v))
                luaL_error(L, "[memory_limit] expected a whole number of bytes, got %s",
                           lua_tostring(L, 1));
            bytes = v >= 0x1p63 ? LUA_MAXINTEGER : (lua_Integer)v;
        }
        if (bytes < 0)
            luaL_error(L, "[memory_limit] expected a number of bytes >= 0, got %s",
                       lua_tostring(L, 1));
    }
    ty_memory_stats st;
    if (ty_memory_stats_get(device, &st) != 0) return lty_error(L);
    if (set && ty_memory_limit_set(device, (size_t)bytes) != 0) return lty_error(L);
    lua_pushinteger(L, st.limit > (size_t)LUA_MAXINTEGER ? LUA_MAXINTEGER
                                                         : (lua_Integer)st.limit);
    return 1;
}

static int l_reset_peak_memory(lua_State *L)
{
    ty_memory_reset_peak(device_arg(L, 1, "reset_peak_memory"));
    return 0;
}

static int l_clear_cache(lua_State *L)
{
    (void)L;
    ty_clear_cache();
    return 0;
}

/* Pushes the facts of device number i of ty_device_get_info (0: the CPU). */
static void push_device_info(lua_State *L, const ty_device_info *info)
{
    char buf[32];
    lua_createtable(L, 0, 14);
    lua_pushstring(L, ty_device_string(info->device, buf, sizeof buf));
    lua_setfield(L, -2, "name");
    lua_pushstring(L, info->name);
    lua_setfield(L, -2, "description");
    lua_pushstring(L, info->type);
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, info->device.kind == TY_CPU ? 0 : info->device.index);
    lua_setfield(L, -2, "index");
    lua_pushinteger(L, (lua_Integer)info->memory);
    lua_setfield(L, -2, "memory");
    lua_pushinteger(L, (lua_Integer)info->subgroup_size);
    lua_setfield(L, -2, "subgroup_size");
    lua_pushinteger(L, (lua_Integer)info->shared_memory);
    lua_setfield(L, -2, "shared_memory");
    lua_pushinteger(L, (lua_Integer)info->max_buffer_range);
    lua_setfield(L, -2, "max_buffer_range");
    lua_pushinteger(L, (lua_Integer)info->max_allocation);
    lua_setfield(L, -2, "max_allocation");
    lua_pushboolean(L, info->float16);
    lua_setfield(L, -2, "float16");
    lua_pushboolean(L, info->cooperative_matrix);
    lua_setfield(L, -2, "cooperative_matrix");
    lua_pushboolean(L, info->usable);
    lua_setfield(L, -2, "usable");
    lua_pushstring(L, info->note);
    lua_setfield(L, -2, "note");
}

/* devices() -> {{name=, description=, type=, index=, memory=, ...}, ...}: the CPU,
 * then every Vulkan device found (usable or not). */
static int l_devices(lua_State *L)
{
    lua_newtable(L);
    int n = ty_device_count();
    for (int i = 0; i < n; i++) {
        ty_device_info info;
        if (ty_device_get_info(i, &info) != 0) return lty_error(L);
        push_device_info(L, &info);
        lua_seti(L, -2, i + 1);
    }
    return 1;
}

static int l_default_device(lua_State *L)
{
    char buf[32];
    lua_pushstring(L, ty_device_string(ty_default_device(), buf, sizeof buf));
    return 1;
}

static int l_set_device(lua_State *L)
{
    ty_device device = lty_arg_device(L, 1, "set_device");
    if (ty_set_default_device(device) != 0) return lty_error(L);
    return 0;
}

/* to(x, device) -> a copy of x on device (x itself when already there). */
static int l_to(lua_State *L)
{
    ty_array *x = lty_check(L, 1);
    ty_device device = lty_arg_device(L, 2, "to");
    if (ty_device_equal(ty_device_of(x), device)) {
        lua_settop(L, 1);
        return 1;
    }
    if (!ty_device_available(device)) {
        char buf[32];
        luaL_error(L, "[to] device %s is not available",
                   ty_device_string(device, buf, sizeof buf));
    }
    ty_array *r;
    LTY_CALL(L, r, ty_to_device(x, device));
    lty_push(L, r);
    return 1;
}

/* ty.time(): seconds on a monotonic clock, for timing. */
static int l_time(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

/* ty.isatty([stream]): whether "stdout" (default), "stderr" or "stdin" is a
 * terminal. */
static int l_isatty(lua_State *L)
{
    static const char *const names[] = {"stdin", "stdout", "stderr", NULL};
    int fd = luaL_checkoption(L, 1, "stdout", names);
    lua_pushboolean(L, isatty(fd));
    return 1;
}

static const lty_arg_fn runtime_functions[] = {
    {"time", l_time, "ty.time() -> seconds\n"
     "  A monotonic clock with sub-microsecond resolution, for timing code.", false},
    {"isatty", l_isatty, "ty.isatty([\"stdout\"|\"stderr\"|\"stdin\"]) -> boolean\n"
     "  Whether the stream is a terminal (progress bars draw only there).", false},
    {"set_num_threads", l_set_num_threads, "ty.set_num_threads(n)\n"
     "  Threads used by CPU kernels (n <= 0: one per core).", false},
    {"get_num_threads", l_get_num_threads, "ty.get_num_threads() -> n\n"
     "  Threads used by CPU kernels.", false},
    {"memory", l_memory, "ty.memory([device]) -> {active=, peak=, cached=, limit=}\n"
     "  Memory of a device's backend, in bytes (default device when nil).", false},
    {"memory_limit", l_memory_limit, "ty.memory_limit([bytes], [device]) -> previous limit\n"
     "  Allocations past the limit fail with an [alloc] error. ty.memory_limit() only "
     "returns the current limit; 0 restores the default; values past "
     "math.maxinteger mean no limit.", false},
    {"reset_peak_memory", l_reset_peak_memory, "ty.reset_peak_memory([device])\n"
     "  Sets the peak of ty.memory() to the memory in use now.", false},
    {"clear_cache", l_clear_cache, "ty.clear_cache()\n"
     "  Returns cached (freed but kept) buffers to the system.", false},
    {"devices", l_devices, "ty.devices() -> {{name=, description=, type=, ...}, ...}\n"
     "  Every device found: the CPU first, then Vulkan devices (name = 'vulkan:N',\n"
     "  index N, description = the hardware) with type ('discrete', 'integrated',\n"
     "  'virtual', 'software'), memory, subgroup_size, shared_memory,\n"
     "  max_buffer_range, max_allocation, float16, cooperative_matrix, usable, note.",
     false},
    {"default_device", l_default_device, "ty.default_device() -> name\n"
     "  The device new arrays go to ('cpu', 'vulkan:0', ...).", false},
    {"set_device", l_set_device, "ty.set_device(name)\n"
     "  Sets the default device: 'cpu', 'vulkan' or 'vulkan:N' (error if unavailable).",
     false},
    {"to", l_to, "ty.to(x, device) -> array\n"
     "  A copy of x on device (x itself if already there). Also x:to(device).", true},
    {NULL, NULL, NULL, false}
};

void lty_open_runtime(lua_State *L)
{
    int ty = lua_gettop(L);
    lty_arg_register(L, ty, ty, runtime_functions);
    lty_arg_doc_others(L, ty);
    lua_settop(L, ty);
}
