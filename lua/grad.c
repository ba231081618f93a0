/*
 * grad.c -- the C side of autograd in Lua: ty.stop_gradient, and the
 * primitives that lua/tycho/autograd.lua builds ty.grad, ty.vjp, ty.jvp and
 * ty.checkpoint from (package.loaded["tycho._grad"]; not part of the API):
 *
 *   trace(x) -> x'              ty_trace_input
 *   begin() / finish()          ty_retain_graph_begin / end (counted)
 *   suspend() -> n / resume(n)  leave every retain-graph level and come back
 *   vjp(outs, cots, ins) -> grads      lists; cots[i] nil: ones
 *   jvp(outs, ins, tans) -> tangents   lists; tans[i] nil: zeros
 *   custom_vjp(out, ins, fn) -> out'   ty_custom_vjp with a Lua callback
 *
 * custom_vjp's callback fn(g, ins...) -> {grads} runs inside ty_vjp, on the
 * Lua thread that called vjp above (it is kept in `current_L` while the core
 * runs). Its Lua function lives in the registry; the node's free_ctx, which
 * may run wherever the node is released (a __gc, an evaluation), only
 * queues the reference, and the next primitive called from Lua drops it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

#define GRAD_MODULE "tycho._grad"

/* The Lua thread running a vjp/jvp, for callbacks; NULL outside. */
static _Thread_local lua_State *current_L;
/* The error of the last failed callback ("" when none). */
static _Thread_local char callback_error[1024];
/* Retain-graph levels entered from Lua (for suspend/resume). */
static int retain_depth;

/* ------------------------------------------------------------ registry refs */

/* A queue of registry references to drop, each tagged with its Lua state
 * (the main thread), filled by free_ctx from any thread. */
typedef struct pending_ref {
    void *owner;
    int ref;
} pending_ref;

static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static pending_ref *pending;
static size_t pending_n, pending_cap;

static void *main_thread(lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    void *m = lua_tothread(L, -1);
    lua_pop(L, 1);
    return m;
}

static void queue_unref(void *owner, int ref)
{
    pthread_mutex_lock(&pending_lock);
    if (pending_n == pending_cap) {
        size_t cap = pending_cap ? pending_cap * 2 : 16;
        pending_ref *p = realloc(pending, cap * sizeof *p);
        if (!p) {                      /* out of memory: the reference leaks */
            pthread_mutex_unlock(&pending_lock);
            return;
        }
        pending = p;
        pending_cap = cap;
    }
    pending[pending_n++] = (pending_ref){owner, ref};
    pthread_mutex_unlock(&pending_lock);
}

/* Drops the queued references that belong to L's state. */
static void drain_unrefs(lua_State *L)
{
    void *owner = main_thread(L);
    pthread_mutex_lock(&pending_lock);
    size_t keep = 0;
    for (size_t i = 0; i < pending_n; i++) {
        if (pending[i].owner == owner) luaL_unref(L, LUA_REGISTRYINDEX, pending[i].ref);
        else pending[keep++] = pending[i];
    }
    pending_n = keep;
    pthread_mutex_unlock(&pending_lock);
}

/* ------------------------------------------------------------ helpers */

/* Raises the error of a failed vjp/jvp: a callback's Lua error first, else
 * the core's message (without a position: it names the op). */
static int transform_error(lua_State *L)
{
    if (callback_error[0]) {
        lua_pushstring(L, callback_error);
        callback_error[0] = 0;
    } else {
        const char *msg = ty_error_message();
        lua_pushstring(L, (msg && *msg) ? msg : "[grad] unknown error");
    }
    return lua_error(L);
}

/* Borrowed arrays list[1..n] of the table at idx into out (NULL for nil when
 * allow_nil). */
static void read_list(lua_State *L, int idx, int n, ty_array **out, bool allow_nil,
                      const char *what)
{
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, idx, i + 1);
        if (allow_nil && lua_isnil(L, -1)) {
            out[i] = NULL;
        } else {
            out[i] = lty_test(L, -1);
            if (!out[i])
                luaL_error(L, "[autograd] %s[%d] must be an array, got %s", what, i + 1,
                           luaL_typename(L, -1));
        }
        lua_pop(L, 1);
    }
}

/* Pushes a list of the owned arrays arr[0..n) (NULL: nil), taking them. */
static void push_owned_list(lua_State *L, ty_array **arr, int n)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        if (arr[i]) {
            lty_push(L, arr[i]);
            arr[i] = NULL;
            lua_rawseti(L, -2, i + 1);
        }
    }
}

static ty_array **scratch_arrays(lua_State *L, int n)
{
    return (ty_array **)lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(ty_array *), 0);
}

/* ------------------------------------------------------------ public */

static int l_stop_gradient(lua_State *L)
{
    ty_array *x = lty_arg_array(L, 1, NULL);
    ty_array *r;
    LTY_CALL(L, r, ty_stop_gradient(x));
    lty_push(L, r);
    return 1;
}

static const lty_arg_fn grad_functions[] = {
    {"stop_gradient", l_stop_gradient, "ty.stop_gradient(x) -> array\n"
     "  x, with no gradient flowing through it: transforms (ty.grad, ty.vjp, ty.jvp)\n"
     "  treat it as a constant. A view; no copy.", false},
    {NULL, NULL, NULL, false}
};

/* ------------------------------------------------------------ primitives */

static int g_trace(lua_State *L)
{
    ty_array *x = lty_check(L, 1);
    ty_array *r;
    LTY_CALL(L, r, ty_trace_input(x));
    lty_push(L, r);
    return 1;
}

static int g_begin(lua_State *L)
{
    drain_unrefs(L);
    ty_retain_graph_begin();
    retain_depth++;
    return 0;
}

static int g_finish(lua_State *L)
{
    (void)L;
    if (retain_depth > 0) {
        ty_retain_graph_end();
        retain_depth--;
    }
    return 0;
}

static int g_suspend(lua_State *L)
{
    int n = retain_depth;
    for (int i = 0; i < n; i++) ty_retain_graph_end();
    retain_depth = 0;
    lua_pushinteger(L, n);
    return 1;
}

static int g_resume(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    for (lua_Integer i = 0; i < n; i++) ty_retain_graph_begin();
    retain_depth += (int)n;
    return 0;
}

/* vjp(outputs, cotangents, inputs) -> grads (a list as long as inputs). */
static int g_vjp(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    drain_unrefs(L);
    int nout = (int)luaL_len(L, 1), nin = (int)luaL_len(L, 3);
    ty_array **outs = scratch_arrays(L, nout);
    ty_array **cots = scratch_arrays(L, nout);
    ty_array **ins = scratch_arrays(L, nin);
    ty_array **grads = scratch_arrays(L, nin);
    read_list(L, 1, nout, outs, false, "outputs");
    read_list(L, 2, nout, cots, true, "cotangents");
    read_list(L, 3, nin, ins, false, "inputs");
    memset(grads, 0, (size_t)nin * sizeof *grads);
    lua_State *saved = current_L;
    current_L = L;
    callback_error[0] = 0;
    int rc = ty_vjp(outs, cots, nout, ins, nin, grads);
    current_L = saved;
    if (rc != 0) return transform_error(L);
    lty_gc_account(L);
    push_owned_list(L, grads, nin);
    return 1;
}

/* jvp(outputs, inputs, tangents) -> tangents of the outputs. */
static int g_jvp(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    drain_unrefs(L);
    int nout = (int)luaL_len(L, 1), nin = (int)luaL_len(L, 2);
    ty_array **outs = scratch_arrays(L, nout);
    ty_array **ins = scratch_arrays(L, nin);
    ty_array **tans = scratch_arrays(L, nin);
    ty_array **res = scratch_arrays(L, nout);
    read_list(L, 1, nout, outs, false, "outputs");
    read_list(L, 2, nin, ins, false, "inputs");
    read_list(L, 3, nin, tans, true, "tangents");
    memset(res, 0, (size_t)nout * sizeof *res);
    lua_State *saved = current_L;
    current_L = L;
    callback_error[0] = 0;
    int rc = ty_jvp(outs, nout, ins, tans, nin, res);
    current_L = saved;
    if (rc != 0) return transform_error(L);
    lty_gc_account(L);
    push_owned_list(L, res, nout);
    return 1;
}

/* The context of a custom VJP node: the Lua callback (a registry reference
 * in the state `owner`) and the node's inputs (owned). */
typedef struct custom_ctx {
    void *owner;
    int ref;
    int nin;
    ty_array *inputs[];
} custom_ctx;

static void custom_free(void *vctx)
{
    custom_ctx *c = vctx;
    for (int i = 0; i < c->nin; i++) ty_release(c->inputs[i]);
    queue_unref(c->owner, c->ref);
    free(c);
}

/* Runs under lua_pcall: upvalues are light userdata (ctx, g, grads). Calls
 * fn(g, inputs...) and stores the arrays of the list it returns into grads
 * (owned; nil or a non-array leaves NULL). */
static int custom_call(lua_State *L)
{
    custom_ctx *c = lua_touserdata(L, 1);
    ty_array *g = lua_touserdata(L, 2);
    ty_array **grads = lua_touserdata(L, 3);
    luaL_checkstack(L, c->nin + 4, "checkpoint");
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
    lty_push(L, ty_retain(g));
    for (int i = 0; i < c->nin; i++) lty_push(L, ty_retain(c->inputs[i]));
    lua_call(L, 1 + c->nin, 1);
    if (!lua_istable(L, -1))
        return luaL_error(L, "[autograd] a custom VJP must return a list of gradients, got %s",
                          luaL_typename(L, -1));
    int t = lua_gettop(L);
    for (int i = 0; i < c->nin; i++) {
        lua_rawgeti(L, t, i + 1);
        ty_array *a = lty_test(L, -1);
        if (!a && !lua_isnil(L, -1))
            return luaL_error(L, "[autograd] a custom VJP returned a %s as gradient %d",
                              luaL_typename(L, -1), i + 1);
        lua_pop(L, 1);
    }
    for (int i = 0; i < c->nin; i++) {
        lua_rawgeti(L, t, i + 1);
        ty_array *a = lty_test(L, -1);
        grads[i] = a ? ty_retain(a) : NULL;
        lua_pop(L, 1);
    }
    return 0;
}

static int custom_trampoline(void *vctx, ty_array *g, ty_array **grads)
{
    custom_ctx *c = vctx;
    lua_State *L = current_L;
    for (int i = 0; i < c->nin; i++) grads[i] = NULL;
    if (!L || main_thread(L) != c->owner) {
        strcpy(callback_error,
               "[checkpoint] the backward pass of a checkpoint ran outside its Lua state");
        return -1;
    }
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 5)) {
        strcpy(callback_error, "[checkpoint] Lua stack overflow");
        return -1;
    }
    lua_pushcfunction(L, custom_call);
    lua_pushlightuserdata(L, c);
    lua_pushlightuserdata(L, g);
    lua_pushlightuserdata(L, grads);
    int rc = lua_pcall(L, 3, 0, 0);
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (!callback_error[0]) {      /* keep the innermost error */
            strncpy(callback_error, msg ? msg : "[checkpoint] error in the backward pass",
                    sizeof callback_error - 1);
            callback_error[sizeof callback_error - 1] = 0;
        }
        lua_settop(L, top);
        return -1;
    }
    lua_settop(L, top);
    return 0;
}

/* custom_vjp(output, inputs, fn) -> a view of output whose VJP is
 * fn(g, inputs...) -> {grad of each input}. */
static int g_custom_vjp(lua_State *L)
{
    ty_array *out = lty_check(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    drain_unrefs(L);
    int nin = (int)luaL_len(L, 2);
    ty_array **ins = scratch_arrays(L, nin);
    read_list(L, 2, nin, ins, false, "inputs");
    custom_ctx *c = malloc(sizeof *c + (size_t)nin * sizeof(ty_array *));
    if (!c) return luaL_error(L, "[checkpoint] out of memory");
    c->owner = main_thread(L);
    c->nin = nin;
    for (int i = 0; i < nin; i++) c->inputs[i] = ty_retain(ins[i]);
    lua_pushvalue(L, 3);
    c->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    ty_array *r = ty_custom_vjp(out, ins, nin, custom_trampoline, c, custom_free);
    if (!r) {                          /* the node was not made: ctx is ours */
        custom_free(c);
        drain_unrefs(L);
        return lty_error(L);
    }
    lty_push(L, r);
    return 1;
}

static const luaL_Reg grad_primitives[] = {
    {"trace", g_trace},     {"begin", g_begin},       {"finish", g_finish},
    {"suspend", g_suspend}, {"resume", g_resume},     {"vjp", g_vjp},
    {"jvp", g_jvp},         {"custom_vjp", g_custom_vjp}, {NULL, NULL}
};

void lty_open_grad(lua_State *L)
{
    int ty = lua_gettop(L);
    lty_arg_register(L, ty, ty, grad_functions);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    luaL_newlib(L, grad_primitives);
    lua_setfield(L, -2, GRAD_MODULE);
    lua_settop(L, ty);
}
