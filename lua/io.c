/*
 * io.c -- files: ty.save, ty.load (by extension: .npy, .npz, .safetensors)
 * and ty.io.* (one function per format, and write_atomic).
 */
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "io_internal.h"

/* The extension of path (".npy"), or "" when none. */
static const char *ext_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    return dot && dot != (slash ? slash + 1 : path) ? dot : "";
}

/* The options table at idx (0 when none/nil), checked against `allowed`. */
static int opts_arg(lua_State *L, int idx, const char *fname, const char *allowed)
{
    if (lua_isnoneornil(L, idx)) return 0;
    if (!lua_istable(L, idx))
        luaL_error(L, "[%s] argument %d (options) must be a table, got %s", fname, idx,
                   luaL_typename(L, idx));
    lty_arg_check_opts(L, idx, fname, allowed);
    return idx;
}

static ty_device device_opt(lua_State *L, int idx, const char *fname)
{
    int opts = opts_arg(L, idx, fname, "device");
    return lty_arg_opt_device(L, opts, fname, ty_default_device());
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(((const ty_named_array *)a)->name, ((const ty_named_array *)b)->name);
}

/* The table name -> array at idx as a list (a userdata on the stack owns it;
 * names and arrays are borrowed from the table), sorted by name. */
static ty_named_array *named_arg(lua_State *L, int idx, const char *fname, int *n)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx) || lty_test(L, idx))
        luaL_error(L, "[%s] argument %d must be a table of name = array, got %s", fname, idx,
                   lty_test(L, idx) ? "an array" : luaL_typename(L, idx));
    int count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        lua_pop(L, 1);
    }
    ty_named_array *list = lua_newuserdatauv(L, sizeof *list * (size_t)(count ? count : 1), 0);
    int k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "[%s] array names must be strings, got %s", fname,
                       luaL_typename(L, -2));
        const char *name = lua_tostring(L, -2);
        ty_array *a = lty_test(L, -1);
        if (!a)
            luaL_error(L, "[%s] the value of '%s' must be an array, got %s", fname, name,
                       luaL_typename(L, -1));
        if (strlen(name) != lua_rawlen(L, -2))
            luaL_error(L, "[%s] the name '%s' holds a NUL character", fname, name);
        list[k].name = (char *)name;   /* anchored by the table */
        list[k].array = a;
        k++;
        lua_pop(L, 1);
    }
    qsort(list, (size_t)k, sizeof *list, cmp_names);
    *n = k;
    return list;
}

/* Writes s as a JSON string literal at out (NULL: only counts); returns the
 * length. */
static size_t json_quote(char *out, const char *s, size_t len)
{
    size_t n = 0;
    if (out) out[n] = '"';
    n++;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            if (out) {
                out[n] = '\\';
                out[n + 1] = (char)c;
            }
            n += 2;
        } else if (c < 0x20) {
            if (out) snprintf(out + n, 7, "\\u%04x", c);
            n += 6;
        } else {
            if (out) out[n] = (char)c;
            n++;
        }
    }
    if (out) out[n] = '"';
    return n + 1;
}

/* The metadata table at idx (string -> string) as JSON text, pushed; NULL
 * when idx is nil. */
static const char *metadata_arg(lua_State *L, int idx, const char *fname)
{
    idx = lua_absindex(L, idx);
    if (lua_isnil(L, idx)) return NULL;
    if (!lua_istable(L, idx) || lty_test(L, idx))
        luaL_error(L, "[%s] option 'metadata' must be a table of strings, got %s", fname,
                   luaL_typename(L, idx));
    /* two passes: the size, then the text (in a userdata the GC owns) */
    char *out = NULL;
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t n = 0;
        if (out) out[n] = '{';
        n++;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "[%s] option 'metadata' must map strings to strings", fname);
            size_t kl, vl;
            const char *k = lua_tolstring(L, -2, &kl), *v = lua_tolstring(L, -1, &vl);
            if (n > 1) {
                if (out) out[n] = ',';
                n++;
            }
            n += json_quote(out ? out + n : NULL, k, kl);
            if (out) out[n] = ':';
            n++;
            n += json_quote(out ? out + n : NULL, v, vl);
            lua_pop(L, 1);
        }
        if (out) out[n] = '}';
        n++;
        if (pass == 0) {
            total = n;
            out = lua_newuserdatauv(L, total + 1, 0);
        }
    }
    out[total] = 0;
    lua_pushlstring(L, out, total);
    return lua_tostring(L, -1);
}

/* Pushes a table name -> array for a loaded list (and frees the list). */
static void push_named(lua_State *L, ty_named_array *list, int n)
{
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        ty_array *a = list[i].array;
        list[i].array = NULL;
        lty_push(L, a);
        lua_setfield(L, -2, list[i].name);
    }
    ty_named_arrays_free(list, n);
}

/* Pushes the metadata JSON text as a table of strings (and frees it). */
static void push_metadata(lua_State *L, char *json)
{
    lua_newtable(L);
    if (!json) return;
    char **keys, **values;
    int n;
    int rc = ty__json_string_pairs(json, strlen(json), "[load] metadata", &keys, &values, &n);
    free(json);
    if (rc != 0) lty_error(L);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, values[i]);
        lua_setfield(L, -2, keys[i]);
    }
    ty__string_pairs_free(keys, values, n);
}

/* ---------------------------------------------------------------- per format */

static int do_save_npy(lua_State *L, const char *path, int vidx)
{
    ty_array *a = lty_check(L, vidx);
    int rc;
    LTY_CALL_INT(L, rc, ty_save_npy(path, a));
    if (rc != 0) return lty_error(L);
    return 0;
}

static int do_save_npz(lua_State *L, const char *path, int vidx, bool compress,
                       const char *fname)
{
    int n;
    ty_named_array *list = named_arg(L, vidx, fname, &n);
    int rc;
    LTY_CALL_INT(L, rc, ty_save_npz(path, list, n, compress));
    if (rc != 0) return lty_error(L);
    return 0;
}

static int do_save_safetensors(lua_State *L, const char *path, int vidx, int meta_idx,
                               const char *fname)
{
    int n;
    ty_named_array *list = named_arg(L, vidx, fname, &n);
    const char *meta = meta_idx ? metadata_arg(L, meta_idx, fname) : NULL;
    int rc;
    LTY_CALL_INT(L, rc, ty_save_safetensors(path, list, n, meta));
    if (rc != 0) return lty_error(L);
    return 0;
}

static int do_load_npy(lua_State *L, const char *path, ty_device device)
{
    ty_array *a;
    LTY_CALL(L, a, ty_load_npy(path, device));
    if (!a) return lty_error(L);
    lty_push(L, a);
    return 1;
}

static int do_load_npz(lua_State *L, const char *path, ty_device device)
{
    ty_named_array *list;
    int n, rc;
    LTY_CALL_INT(L, rc, ty_load_npz(path, device, &list, &n));
    if (rc != 0) return lty_error(L);
    push_named(L, list, n);
    return 1;
}

static int do_load_safetensors(lua_State *L, const char *path, ty_device device)
{
    ty_named_array *list;
    char *meta;
    int n, rc;
    LTY_CALL_INT(L, rc, ty_load_safetensors(path, device, &list, &n, &meta));
    if (rc != 0) return lty_error(L);
    push_named(L, list, n);
    push_metadata(L, meta);
    return 2;
}

/* ---------------------------------------------------------------- ty.save / ty.load */

static const char *unknown_type(lua_State *L, const char *fname, const char *path)
{
    const char *ext = ext_of(path);
    if (!*ext)
        luaL_error(L, "[%s] '%s' has no file extension (expected .npy, .npz or .safetensors)",
                   fname, path);
    luaL_error(L, "[%s] unknown file type '%s' (expected .npy, .npz or .safetensors)", fname,
               ext);
    return NULL;
}

static int l_save(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int opts = opts_arg(L, 3, "save", "metadata compress");
    const char *ext = ext_of(path);
    bool has_meta = opts && lty_arg_has(L, opts, "metadata");
    bool has_compress = opts && lty_arg_has(L, opts, "compress");
    if (strcmp(ext, ".npy") == 0 || strcmp(ext, ".npz") == 0) {
        if (has_meta)
            luaL_error(L, "[save] option 'metadata' is only stored in .safetensors files");
    }
    if (has_compress && strcmp(ext, ".npz") != 0)
        luaL_error(L, "[save] option 'compress' applies to .npz files only");
    if (strcmp(ext, ".npy") == 0) {
        if (!lty_test(L, 2))
            luaL_error(L, "[save] a .npy file holds one array, got %s (use .npz or "
                       ".safetensors for a table of arrays)", luaL_typename(L, 2));
        return do_save_npy(L, path, 2);
    }
    if (strcmp(ext, ".npz") == 0)
        return do_save_npz(L, path, 2, lty_arg_bool(L, opts, "save", "compress", false),
                           "save");
    if (strcmp(ext, ".safetensors") == 0) {
        int meta = 0;
        if (has_meta) {
            lty_arg_field(L, opts, "metadata");
            meta = lua_gettop(L);
        }
        return do_save_safetensors(L, path, 2, meta, "save");
    }
    unknown_type(L, "save", path);
    return 0;
}

static int l_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    ty_device device = device_opt(L, 2, "load");
    const char *ext = ext_of(path);
    if (strcmp(ext, ".npy") == 0) return do_load_npy(L, path, device);
    if (strcmp(ext, ".npz") == 0) return do_load_npz(L, path, device);
    if (strcmp(ext, ".safetensors") == 0) return do_load_safetensors(L, path, device);
    unknown_type(L, "load", path);
    return 0;
}

/* ---------------------------------------------------------------- ty.io.* */

static int l_save_npy(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    return do_save_npy(L, path, 2);
}

static int l_load_npy(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    return do_load_npy(L, path, device_opt(L, 2, "load_npy"));
}

static int l_save_npz(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int opts = opts_arg(L, 3, "save_npz", "compress");
    return do_save_npz(L, path, 2, lty_arg_bool(L, opts, "save_npz", "compress", false),
                       "save_npz");
}

static int l_load_npz(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    return do_load_npz(L, path, device_opt(L, 2, "load_npz"));
}

static int l_save_safetensors(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int opts = opts_arg(L, 3, "save_safetensors", "metadata");
    int meta = 0;
    if (opts && lty_arg_has(L, opts, "metadata")) {
        lty_arg_field(L, opts, "metadata");
        meta = lua_gettop(L);
    }
    return do_save_safetensors(L, path, 2, meta, "save_safetensors");
}

static int l_load_safetensors(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    return do_load_safetensors(L, path, device_opt(L, 2, "load_safetensors"));
}

static int l_write_atomic(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    if (ty_write_file_atomic(path, data, len) != 0) return lty_error(L);
    return 0;
}

static const lty_arg_fn io_top[] = {
    {"save", l_save, "ty.save(path, value, [{metadata=, compress=}])\n"
     "  Saves by extension, atomically (temporary file, fsync, rename): .npy: one\n"
     "  array (NumPy; not bfloat16); .npz: a table name -> array (compress=true\n"
     "  deflates); .safetensors: a table name -> array, metadata = a table of\n"
     "  string -> string.", false},
    {"load", l_load, "ty.load(path, [{device=}]) -> array | table[, metadata]\n"
     "  Loads by extension: .npy -> an array; .npz -> a table name -> array;\n"
     "  .safetensors -> a table name -> array and a table of metadata strings.\n"
     "  Files are validated before use; nothing in a file is executed.", false},
    {NULL, NULL, NULL, false},
};

static const lty_arg_fn io_functions[] = {
    {"save_npy", l_save_npy, "ty.io.save_npy(path, array)\n"
     "  Writes a NumPy .npy file (format 1.0) atomically. bfloat16 is refused.", false},
    {"load_npy", l_load_npy, "ty.io.load_npy(path, [{device=}]) -> array\n"
     "  Reads a NumPy .npy file (versions 1-3, C or Fortran order; dtypes <f2 <f4\n"
     "  <f8 <i4 <i8 |u1 |b1).", false},
    {"save_npz", l_save_npz, "ty.io.save_npz(path, {name = array, ...}, [{compress=}])\n"
     "  Writes a NumPy .npz archive (deflated with compress=true) atomically.", false},
    {"load_npz", l_load_npz, "ty.io.load_npz(path, [{device=}]) -> {name = array, ...}\n"
     "  Reads a NumPy .npz archive (stored or deflated members, CRC checked).", false},
    {"save_safetensors", l_save_safetensors,
     "ty.io.save_safetensors(path, {name = array, ...}, [{metadata = {k = v}}])\n"
     "  Writes a safetensors file (tensors sorted by name) atomically.", false},
    {"load_safetensors", l_load_safetensors,
     "ty.io.load_safetensors(path, [{device=}]) -> {name = array, ...}, metadata\n"
     "  Reads a safetensors file; metadata is a table of strings (maybe empty).", false},
    {"write_atomic", l_write_atomic, "ty.io.write_atomic(path, string)\n"
     "  Writes a string to path atomically: a temporary file in the same\n"
     "  directory, fsync, rename; on failure the previous file is unchanged.", false},
    {NULL, NULL, NULL, false},
};

void lty_open_io(lua_State *L)
{
    int ty = lua_gettop(L);
    lty_arg_register(L, ty, ty, io_top);
    lua_newtable(L);
    lty_arg_register(L, -1, ty, io_functions);
    lua_setfield(L, ty, "io");
    lua_settop(L, ty);
}
