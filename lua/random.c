/*
 * random.c -- ty.random: explicit keys (Key userdata) and draws. Without a
 * key option, a draw takes a fresh subkey of the global key (ty.random.seed).
 * Also the shortcuts ty.rand and ty.randn.
 */
#include <stdio.h>
#include <string.h>

#include "args.h"

static ty_key *push_key(lua_State *L, ty_key key)
{
    ty_key *k = lua_newuserdatauv(L, sizeof *k, 0);
    *k = key;
    luaL_setmetatable(L, LTY_KEY_MT);
    return k;
}

static ty_key check_key(lua_State *L, int idx, const char *fname)
{
    ty_key *k = luaL_testudata(L, idx, LTY_KEY_MT);
    if (!k)
        luaL_error(L, "[%s] expected a key from ty.random.key, got %s", fname,
                   luaL_typename(L, idx));
    return *k;
}

/* opts.key, or a fresh subkey of the global key. */
static ty_key opt_key(lua_State *L, int opts, const char *fname)
{
    ty_key key;
    if (opts && lua_getfield(L, opts, "key") != LUA_TNIL) {
        key = check_key(L, -1, fname);
        lua_pop(L, 1);
        return key;
    }
    if (opts) lua_pop(L, 1);
    return ty_random_next_key();
}

static uint64_t seed_arg(lua_State *L, int idx, const char *fname)
{
    int ok;
    lua_Integer s = lua_tointegerx(L, idx, &ok);
    if (!ok) luaL_error(L, "[%s] seed must be an integer, got %s", fname, luaL_typename(L, idx));
    return (uint64_t)s;
}

static int l_seed(lua_State *L)
{
    ty_random_seed(seed_arg(L, 1, "seed"));
    return 0;
}

static int l_key(lua_State *L)
{
    push_key(L, ty_random_key(seed_arg(L, 1, "key")));
    return 1;
}

static int l_split(lua_State *L)
{
    ty_key key = check_key(L, 1, "split");
    lua_Integer n = lty_arg_opt_int(L, 2, "split", "number of keys", 2);
    if (n < 1 || n > 1 << 20)
        luaL_error(L, "[split] number of keys must be between 1 and %d, got %I", 1 << 20, n);
    ty_key *keys = lua_newuserdatauv(L, sizeof *keys * (size_t)n, 0);
    ty_random_split(key, (int)n, keys);
    lua_createtable(L, (int)n, 0);
    for (int i = 0; i < (int)n; i++) {
        push_key(L, keys[i]);
        lua_seti(L, -2, i + 1);
    }
    return 1;
}

static int key_tostring(lua_State *L)
{
    ty_key k = check_key(L, 1, "tostring");
    char buf[48];
    snprintf(buf, sizeof buf, "Key(0x%08x, 0x%08x)", (unsigned)k.w[0], (unsigned)k.w[1]);
    lua_pushstring(L, buf);
    return 1;
}

static int key_eq(lua_State *L)
{
    ty_key a = check_key(L, 1, "=="), b = check_key(L, 2, "==");
    lua_pushboolean(L, a.w[0] == b.w[0] && a.w[1] == b.w[1]);
    return 1;
}

static int l_get_state(lua_State *L)
{
    push_key(L, ty_random_get_key());
    return 1;
}

static int l_set_state(lua_State *L)
{
    ty_random_set_key(check_key(L, 1, "set_state"));
    return 0;
}

/* 16 lowercase hex digits: w[0] then w[1]. */
static int l_key_to_string(lua_State *L)
{
    ty_key k = check_key(L, 1, "key_to_string");
    char buf[24];
    snprintf(buf, sizeof buf, "%08x%08x", (unsigned)k.w[0], (unsigned)k.w[1]);
    lua_pushstring(L, buf);
    return 1;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int l_key_from_string(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TSTRING)
        luaL_error(L, "[key_from_string] expected a string, got %s", luaL_typename(L, 1));
    size_t len;
    const char *s = lua_tolstring(L, 1, &len);
    ty_key k = {{0, 0}};
    bool ok = len == 16;
    for (size_t i = 0; ok && i < 16; i++) {
        int v = hex_value(s[i]);
        if (v < 0) ok = false;
        else k.w[i / 8] = (k.w[i / 8] << 4) | (uint32_t)v;
    }
    if (!ok)
        luaL_error(L, "[key_from_string] expected 16 hex digits (from ty.random.key_to_string), "
                   "got \"%s\"", len > 40 ? "(a longer string)" : s);
    push_key(L, k);
    return 1;
}

/* The common tail of a draw: (shape..., [opts]) from idx. */
typedef struct draw_args {
    int ndim;
    int64_t shape[TY_MAX_DIMS];
    int opts;
    ty_key key;
    ty_dtype dtype;
    ty_device device;
} draw_args;

/* allowed: the option keys (see lty_arg_check_opts). A dtype (positional or
 * an option) other than def_dtype is an error when fixed_dtype. */
static void parse_draw(lua_State *L, int idx, const char *fname, ty_dtype def_dtype,
                       const char *allowed, bool fixed_dtype, draw_args *d)
{
    int next;
    if (lua_isnoneornil(L, idx) || lty_arg_is_opts(L, idx)) {
        d->ndim = 0;                   /* no shape: one 0-d draw */
        next = idx + (lua_isnil(L, idx) ? 1 : 0);
    } else {
        d->ndim = lty_arg_shape(L, idx, fname, false, d->shape, &next);
    }
    d->opts = 0;
    if (lty_arg_is_opts(L, next)) d->opts = next;
    else if (lua_type(L, next) == LUA_TSTRING) d->opts = -next;   /* a dtype name */
    else if (!lua_isnoneornil(L, next))
        luaL_error(L, "[%s] expected an options table after the shape, got %s", fname,
                   luaL_typename(L, next));
    lty_arg_check_opts(L, d->opts > 0 ? d->opts : 0, fname, allowed);
    d->dtype = def_dtype;
    d->device = ty_default_device();
    if (d->opts < 0) {
        d->dtype = lty_arg_dtype(L, -d->opts, fname);
        d->opts = 0;
    }
    d->dtype = lty_arg_opt_dtype(L, d->opts, fname, d->dtype);
    if (fixed_dtype && d->dtype != def_dtype)
        luaL_error(L, "[%s] draws are %s, dtype '%s' is not supported (convert with "
                   ":astype)", fname, ty_dtype_name(def_dtype), ty_dtype_name(d->dtype));
    d->device = lty_arg_opt_device(L, d->opts, fname, d->device);
    d->key = opt_key(L, d->opts, fname);
}

static int push_draw(lua_State *L, ty_array *a)
{
    lty_push(L, a);
    return 1;
}

/* uniform(shape, {low=0, high=1, key=, dtype=, device=}) */
static int l_uniform(lua_State *L)
{
    draw_args d;
    const char *fname = lty_arg_fname(L);
    parse_draw(L, 1, fname, TY_FLOAT32, "low high key dtype device", false, &d);
    double lo = lty_arg_number(L, d.opts, fname, "low", 0);
    double hi = lty_arg_number(L, d.opts, fname, "high", 1);
    return push_draw(L, ty_random_uniform(d.key, d.ndim, d.shape, lo, hi, d.dtype, d.device));
}

static int l_normal(lua_State *L)
{
    draw_args d;
    const char *fname = lty_arg_fname(L);
    parse_draw(L, 1, fname, TY_FLOAT32, "mean std key dtype device", false, &d);
    double mean = lty_arg_number(L, d.opts, fname, "mean", 0);
    double std = lty_arg_number(L, d.opts, fname, "std", 1);
    return push_draw(L, ty_random_normal(d.key, d.ndim, d.shape, mean, std, d.dtype,
                                         d.device));
}

/* randint(lo, hi, shape, opts): both bounds included, like math.random(m, n). */
static int l_randint(lua_State *L)
{
    lua_Integer lo = lty_arg_int(L, 1, "randint", "lo"), hi = lty_arg_int(L, 2, "randint", "hi");
    draw_args d;
    parse_draw(L, 3, "randint", TY_INT32, "key dtype device", false, &d);
    return push_draw(L, ty_random_randint(d.key, d.ndim, d.shape, (int64_t)lo, (int64_t)hi,
                                          d.dtype, d.device));
}

static int l_truncated_normal(lua_State *L)
{
    double lo = lty_arg_num(L, 1, "truncated_normal", "lo");
    double hi = lty_arg_num(L, 2, "truncated_normal", "hi");
    draw_args d;
    parse_draw(L, 3, "truncated_normal", TY_FLOAT32, "key dtype device", false, &d);
    return push_draw(L, ty_random_truncated_normal(d.key, d.ndim, d.shape, lo, hi, d.dtype,
                                                   d.device));
}

static int l_bernoulli(lua_State *L)
{
    double p = 0.5;
    int idx = 1;
    if (lua_type(L, 1) == LUA_TNUMBER && (lua_type(L, 2) == LUA_TTABLE ||
                                          lua_type(L, 2) == LUA_TNUMBER)) {
        p = lua_tonumber(L, 1);
        idx = 2;
    } else if (lua_type(L, 1) == LUA_TNUMBER && lua_isnoneornil(L, 2)) {
        p = lua_tonumber(L, 1);
        idx = 2;
    }
    draw_args d;
    parse_draw(L, idx, "bernoulli", TY_BOOL, "key dtype device", true, &d);
    return push_draw(L, ty_random_bernoulli(d.key, d.ndim, d.shape, p, d.device));
}

/* permutation(n | x, opts): a shuffle of 1..n, or of the rows of array x. */
static int l_permutation(lua_State *L)
{
    ty_array *x = lty_test(L, 1);
    int opts = lty_arg_is_opts(L, 2) ? 2 : 0;
    lty_arg_check_opts(L, opts, "permutation", "key device");
    ty_key key = opt_key(L, opts, "permutation");
    ty_device device = lty_arg_opt_device(L, opts, "permutation", ty_default_device());
    if (!x) {
        int ok;
        lua_Integer n = lua_tointegerx(L, 1, &ok);
        if (!ok) luaL_error(L, "[permutation] expected a length or an array, got %s",
                            luaL_typename(L, 1));
        return push_draw(L, ty_random_permutation(key, (int64_t)n, 1, device));
    }
    if (ty_ndim(x) == 0) luaL_error(L, "[permutation] cannot shuffle a 0-d array");
    ty_array *perm = ty_random_permutation(key, ty_dim(x, 0), 1, ty_device_of(x));
    lty_push(L, perm);
    return push_draw(L, ty_take(x, perm, 0, 1));
}

static int l_bits(lua_State *L)
{
    draw_args d;
    parse_draw(L, 1, "bits", TY_INT64, "key dtype device", true, &d);
    return push_draw(L, ty_random_bits(d.key, d.ndim, d.shape, d.device));
}

static const lty_arg_fn random_functions[] = {
    {"seed", l_seed, "ty.random.seed(n)\n  Reseeds the global key used by draws without a key.",
     false},
    {"key", l_key, "ty.random.key(n) -> Key\n  A PRNG key from an integer seed.", false},
    {"get_state", l_get_state, "ty.random.get_state() -> Key\n"
     "  The global key (the state behind draws without key=); with set_state, replays\n"
     "  the same draws: ty.random.set_state(ty.random.get_state()) changes nothing.", false},
    {"set_state", l_set_state, "ty.random.set_state(key)\n"
     "  Makes key the global key: the draws that followed get_state() returning key\n"
     "  follow again.", false},
    {"key_to_string", l_key_to_string, "ty.random.key_to_string(key) -> string\n"
     "  The key as 16 hex digits (its two 32-bit words), for files and checkpoints.",
     false},
    {"key_from_string", l_key_from_string, "ty.random.key_from_string(s) -> Key\n"
     "  The key written by key_to_string (exactly 16 hex digits, else an error).", false},
    {"split", l_split, "ty.random.split(key, [n=2]) -> {Key, ...}\n"
     "  n new independent keys derived from key.", false},
    {"uniform", l_uniform, "ty.random.uniform(shape, [{low=0, high=1, key=, dtype=, "
     "device=}]) -> array\n  Uniform draws in [low, high).", false},
    {"normal", l_normal, "ty.random.normal(shape, [{mean=0, std=1, key=, dtype=, "
     "device=}]) -> array\n  Normal (Gaussian) draws.", false},
    {"randint", l_randint, "ty.random.randint(lo, hi, shape, [{key=, dtype='int32'}]) -> "
     "array\n  Integers in [lo, hi], both included (like math.random(lo, hi)).", false},
    {"bernoulli", l_bernoulli, "ty.random.bernoulli(p, shape, [{key=}]) -> bool array\n"
     "  true with probability p.", false},
    {"permutation", l_permutation, "ty.random.permutation(n | x, [{key=}]) -> array\n"
     "  A shuffle of 1..n, or x with its rows (first axis) shuffled.", false},
    {"truncated_normal", l_truncated_normal, "ty.random.truncated_normal(lo, hi, shape, "
     "[{key=, dtype=}]) -> array\n  Standard normal draws restricted to [lo, hi].", false},
    {"bits", l_bits, "ty.random.bits(shape, [{key=, device=}]) -> int64 array\n"
     "  Raw 32-bit draws, as values in [0, 2^32).", false},
    {NULL, NULL, NULL, false}
};

static const lty_arg_fn shortcut_functions[] = {
    {"rand", l_uniform, "ty.rand(shape, [opts]) -> array\n"
     "  Same as ty.random.uniform: draws in [0, 1).", false},
    {"randn", l_normal, "ty.randn(shape, [opts]) -> array\n"
     "  Same as ty.random.normal: standard normal draws.", false},
    {NULL, NULL, NULL, false}
};

void lty_open_random(lua_State *L)
{
    int ty = lua_gettop(L);
    if (luaL_newmetatable(L, LTY_KEY_MT)) {
        lua_pushcfunction(L, key_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushcfunction(L, key_eq);
        lua_setfield(L, -2, "__eq");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushliteral(L, "ty.random -- random draws from explicit keys (Philox, counter-based).\n"
                    "  Each draw takes {key=} (ty.random.key(n), ty.random.split(key)) or "
                    "a fresh\n  subkey of the global key (ty.random.seed(n)); options "
                    "name dtype= and device=.");
    lua_setfield(L, -2, "__doc");
    lty_arg_register(L, -1, ty, random_functions);
    lua_setfield(L, ty, "random");
    lty_arg_register(L, ty, ty, shortcut_functions);
    lty_arg_doc_others(L, ty);
    lua_settop(L, ty);
}
