/* ops_nn.c -- Lua binding of the nn primitives: ty.normalize,
 * ty.scaled_dot_product_attention, ty.softmax_cross_entropy (core/ops_nn.c).
 * The norm layers' functions (ty.layer_norm, ty.batch_norm, ...) are written
 * in Lua over ty.normalize (lua/tycho/losses.lua attaches them). */
#include <math.h>
#include <string.h>

#include "binding.h"
#include "args.h"

static int push_result(lua_State *L, ty_array *r)
{
    lty_push(L, r);
    return 1;
}

/* The options table at idx or 0 (none/nil), its keys checked against allowed;
 * raises on other values. */
static int opts_at(lua_State *L, int idx, const char *fname, const char *allowed)
{
    int opts = lty_arg_is_opts(L, idx) ? idx : 0;
    if (!opts && !lua_isnoneornil(L, idx))
        luaL_error(L, "[%s] argument %d must be an options table, got %s", fname, idx,
                   lty_arg_got(L, idx));
    lty_arg_check_opts(L, opts, fname, allowed);
    return opts;
}

/* ty.normalize(x, axes, {eps=1e-5, rms=false, weight=, bias=}) */
static int l_normalize(lua_State *L)
{
    const char *fname = "normalize";
    ty_array *x = lty_arg_array(L, 1, NULL);
    int opts = opts_at(L, 3, fname, "eps rms weight bias");
    double eps = lty_arg_number(L, opts, fname, "eps", 1e-5);
    bool rms = lty_arg_bool(L, opts, fname, "rms", false);
    int axes[TY_MAX_DIMS];
    int n = lty_arg_axes(L, 2, fname, ty_ndim(x), x, axes);
    if (n == 0) {
        n = ty_ndim(x);
        for (int i = 0; i < n; i++) axes[i] = i;
        if (n == 0) return luaL_error(L, "[normalize] cannot normalise a 0-d array");
    }
    ty_array *w = NULL, *b = NULL;
    if (opts && lty_arg_field(L, opts, "weight") != LUA_TNIL)
        w = lty_arg_array(L, lua_gettop(L), x);      /* stays on the stack */
    if (opts && lty_arg_field(L, opts, "bias") != LUA_TNIL)
        b = lty_arg_array(L, lua_gettop(L), x);
    ty_array *r;
    LTY_CALL(L, r, ty_normalize_affine(x, n, axes, eps, rms, w, b));
    return push_result(L, r);
}

/* ty.scaled_dot_product_attention(q, k, v, {mask=, scale=, causal=false}) */
static int l_attention(lua_State *L)
{
    const char *fname = "scaled_dot_product_attention";
    ty_array *q = lty_arg_array(L, 1, NULL);
    ty_array *k = lty_arg_array(L, 2, q);
    ty_array *v = lty_arg_array(L, 3, q);
    int opts = opts_at(L, 4, fname, "mask scale causal");
    bool causal = lty_arg_bool(L, opts, fname, "causal", false);
    int64_t d = ty_ndim(q) > 0 ? ty_dim(q, -1) : 1;
    double scale = lty_arg_number(L, opts, fname, "scale", d > 0 ? 1.0 / sqrt((double)d) : 1.0);
    ty_array *mask = NULL;
    if (opts && lty_arg_field(L, opts, "mask") != LUA_TNIL)
        mask = lty_arg_array(L, lua_gettop(L), q);   /* stays on the stack */
    if (mask && ty_dtype_of(mask) != TY_BOOL && !ty_dtype_is_float(ty_dtype_of(mask)))
        return luaL_error(L, "[%s] mask must be a bool array (true keeps a key) or a float "
                          "array (added to the scores), got %s", fname,
                          ty_dtype_name(ty_dtype_of(mask)));
    /* leading axes broadcast (NumPy rules), e.g. one key/value head for all
     * query heads (multi-query attention) */
    ty_array *qkv[3] = {q, k, v};
    int lead = 0;
    for (int i = 0; i < 3; i++)
        if (ty_ndim(qkv[i]) >= 2 && ty_ndim(qkv[i]) - 2 > lead) lead = ty_ndim(qkv[i]) - 2;
    bool ranks_ok = true;
    for (int i = 0; i < 3; i++) ranks_ok = ranks_ok && ty_ndim(qkv[i]) >= 2;
    if (ranks_ok && lead > 0) {
        int64_t shape[TY_MAX_DIMS];
        for (int a = 0; a < lead; a++) shape[a] = 1;
        bool same = true, ok = true;
        for (int i = 0; i < 3; i++) {
            int nl = ty_ndim(qkv[i]) - 2;
            if (nl != lead) same = false;
            for (int a = 0; a < nl; a++) {
                int64_t dim = ty_dim(qkv[i], a), *s = &shape[lead - nl + a];
                if (*s != dim && *s != 1 && dim != 1) ok = false;
                if (dim != 1) {
                    if (*s != 1 && *s != dim) ok = false;
                    *s = dim;
                }
            }
        }
        if (!ok) {
            char b0[128], b1[128], b2[128];
            return luaL_error(L, "[%s] the leading axes of q %s, k %s and v %s do not "
                              "broadcast", fname, ty_shape_string(q, b0, sizeof b0),
                              ty_shape_string(k, b1, sizeof b1),
                              ty_shape_string(v, b2, sizeof b2));
        }
        for (int i = 0; i < 3 && ok; i++) {
            bool need = !same;
            for (int a = 0; a < lead && !need; a++) need = ty_dim(qkv[i], a) != shape[a];
            if (!need) continue;
            int64_t full[TY_MAX_DIMS];
            for (int a = 0; a < lead; a++) full[a] = shape[a];
            full[lead] = ty_dim(qkv[i], -2);
            full[lead + 1] = ty_dim(qkv[i], -1);
            ty_array *b;
            LTY_CALL(L, b, ty_broadcast_to(qkv[i], lead + 2, full));
            lty_push(L, b);            /* the stack owns it */
            qkv[i] = b;
        }
    }
    ty_array *r;
    LTY_CALL(L, r, ty_attention(qkv[0], qkv[1], qkv[2], mask, scale, causal));
    return push_result(L, r);
}

/* ty.softmax_cross_entropy(logits, labels, {ignore_index=}) */
static int l_softmax_cross_entropy(lua_State *L)
{
    const char *fname = "softmax_cross_entropy";
    ty_array *x = lty_arg_array(L, 1, NULL);
    if (lua_isnoneornil(L, 2))
        return luaL_error(L, "[%s] labels must be an array or a table of integers, got %s",
                          fname, lty_arg_got(L, 2));
    ty_array *y = lty_arg_index(L, 2, fname);
    int opts = opts_at(L, 3, fname, "ignore_index");
    bool has_ignore = lty_arg_has(L, opts, "ignore_index");
    int64_t ig = has_ignore ? (int64_t)lty_arg_integer(L, opts, fname, "ignore_index", 0) : 0;
    ty_array *r;
    if (ty_dtype_is_float(ty_dtype_of(y)) || ty_dtype_of(y) == TY_BOOL) {
        /* float labels (e.g. from ty.array{1, 2}) are truncated to integers */
        ty_array *yi;
        LTY_CALL(L, yi, ty_astype(y, TY_INT32));
        lty_push(L, yi);
        y = yi;
    }
    LTY_CALL(L, r, ty_softmax_cross_entropy(x, y, 1, has_ignore, ig));
    return push_result(L, r);
}

static const lty_arg_fn nn_functions[] = {
    {"normalize", l_normalize,
     "ty.normalize(x, axes, {eps=1e-5, rms=false, weight=, bias=}) -> array\n"
     "  (x - mean) / sqrt(var + eps) over the given axes (a number or a list; nil: all),\n"
     "  with the biased variance; rms=true: x / sqrt(mean(x^2) + eps). Then * weight\n"
     "  + bias when given (each broadcast to x's shape, e.g. shaped like the trailing\n"
     "  normalised axes), in the same pass. A fused primitive on both devices\n"
     "  (ty.layer_norm, ty.rms_norm, ty.group_norm, ... call it).",
     false},
    {"scaled_dot_product_attention", l_attention,
     "ty.scaled_dot_product_attention(q, k, v, {mask=, scale=1/sqrt(D), causal=false}) -> array\n"
     "  softmax(q k^T * scale + mask) v for q (..., Lq, D), k (..., Lk, D), v (..., Lk, Dv)\n"
     "  -> (..., Lq, Dv); the leading axes of q, k, v broadcast (e.g. k, v (B,1,Lk,D)\n"
     "  with q (B,H,Lq,D): one key/value head shared by all query heads).\n"
     "  mask broadcasts to (..., Lq, Lk): bool (true keeps a key) or\n"
     "  float (added to the scores). causal keeps key j for query i when j <= i + Lk - Lq\n"
     "  (bottom-right aligned, as with a key/value cache; PyTorch's is_causal when\n"
     "  Lq == Lk). A query with no kept key gives zeros. A fused primitive (flash-style\n"
     "  kernel on Vulkan).",
     false},
    {"softmax_cross_entropy", l_softmax_cross_entropy,
     "ty.softmax_cross_entropy(logits, labels, {ignore_index=}) -> array\n"
     "  Per-row -log_softmax(logits)[label] for logits (..., C) and integer labels (...)\n"
     "  in 1..C (float labels are truncated to integers); rows whose label equals ignore_index give 0; other labels outside 1..C\n"
     "  are an error. Unreduced (see ty.losses.cross_entropy).",
     false},
    {NULL, NULL, NULL, false},
};

void lty_open_nnops(lua_State *L)
{
    int ty = lua_gettop(L);
    lty_arg_register(L, ty, ty, nn_functions);
    lua_settop(L, ty);
}
