/*
 * ops_conv.c -- convolution and pooling for Lua: ty.conv_general,
 * ty.conv1d/2d/3d, ty.conv_transpose1d/2d/3d, ty.max_pool1d/2d/3d,
 * ty.avg_pool1d/2d/3d, ty.adaptive_avg_pool1d/2d/3d, ty.adaptive_max_pool1d/2d/3d
 * (PyTorch semantics and layouts: NCL, NCHW, NCDHW; a missing batch axis is
 * accepted). Intermediate arrays are pushed on the Lua stack as soon as they
 * exist, so a raised error never leaks them.
 */
#include <stdio.h>
#include <string.h>

#include "args.h"

/* Spatial axes from the function name: the digit before the final 'd'. */
static int name_nsp(const char *fname)
{
    size_t n = strlen(fname);
    if (n >= 2 && fname[n - 1] == 'd' && fname[n - 2] >= '1' && fname[n - 2] <= '3')
        return fname[n - 2] - '0';
    return 0;
}

/* Pushes r (raising the core's error, with the core op's "[prefix]" renamed
 * to "[fname]" when given) and returns the borrowed array. */
static ty_array *push_named(lua_State *L, ty_array *r, const char *fname)
{
    if (!r) {
        const char *msg = ty_error_message();
        if (fname && msg[0] == '[') {
            const char *close = strchr(msg, ']');
            if (close) return (luaL_error(L, "[%s]%s", fname, close + 1), NULL);
        }
        lty_error(L);
    }
    lty_push(L, r);
    return r;
}

static char *shp(const ty_array *a, char *buf)
{
    return ty_shape_string(a, buf, 64);
}

/* opts[field]: nil -> def everywhere; a number -> every axis; a table of 1
 * or nsp numbers. Returns true when the field was given. */
static bool spatial(lua_State *L, int opts, const char *fname, const char *field, int nsp,
                    int64_t def, int64_t *out)
{
    for (int d = 0; d < nsp; d++) out[d] = def;
    if (!opts) return false;
    int t = lty_arg_field(L, opts, field);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return false;
    }
    int64_t v[8];
    char what[64];
    snprintf(what, sizeof what, "option '%s'", field);
    int n = lty_arg_ints(L, -1, fname, what, v, 8);
    lua_pop(L, 1);
    if (n == 1)
        for (int d = 0; d < nsp; d++) out[d] = v[0];
    else if (n == nsp)
        for (int d = 0; d < nsp; d++) out[d] = v[d];
    else
        luaL_error(L, "[%s] option '%s' needs 1 or %d values, got %d", fname, field, nsp, n);
    return true;
}

/* A size or list of sizes at idx (positional), like spatial(). */
static void spatial_pos(lua_State *L, int idx, const char *fname, const char *what, int nsp,
                        int64_t *out)
{
    int64_t v[8];
    if (lua_isnoneornil(L, idx)) luaL_error(L, "[%s] %s is required", fname, what);
    int n = lty_arg_ints(L, idx, fname, what, v, 8);
    if (n == 1)
        for (int d = 0; d < nsp; d++) out[d] = v[0];
    else if (n == nsp)
        for (int d = 0; d < nsp; d++) out[d] = v[d];
    else
        luaL_error(L, "[%s] %s needs 1 or %d values, got %d", fname, what, nsp, n);
}

/* Accepts x with nsp+2 axes, or nsp+1 (no batch axis: one is added, and
 * *unbatched set). Returns the (possibly reshaped) input, pushed. */
static ty_array *batched(lua_State *L, ty_array *x, int nsp, const char *fname,
                         const char *layout, bool *unbatched)
{
    char b[64];
    *unbatched = false;
    if (ty_ndim(x) == nsp + 2) return x;
    if (ty_ndim(x) == nsp + 1) {
        *unbatched = true;
        return push_named(L, ty_expand_dims(x, 0), fname);
    }
    luaL_error(L, "[%s] expected input %s (or without the batch axis), got %s", fname, layout,
               shp(x, b));
    return NULL;
}

static const char *layout_of(int nsp)
{
    return nsp == 1 ? "(N,C,L)" : nsp == 2 ? "(N,C,H,W)" : "(N,C,D,H,W)";
}

/* Drops the batch axis added by batched(); pushes the result. */
static ty_array *unbatch(lua_State *L, ty_array *y, bool unbatched, const char *fname)
{
    if (!unbatched) return y;
    int axis = 0;
    return push_named(L, ty_squeeze(y, &axis, 1), fname);
}

/* y + bias reshaped to (O, 1, ...) (pushed). */
static ty_array *add_bias(lua_State *L, ty_array *y, int opts, int bias_pos, const char *fname,
                          int nsp)
{
    ty_array *b = NULL;
    char sb[64], sy[64];
    if (bias_pos && lty_test(L, bias_pos)) b = lty_test(L, bias_pos);
    if (!b && opts) {
        if (lty_arg_field(L, opts, "bias") != LUA_TNIL) {
            b = lty_test(L, -1);
            if (!b) luaL_error(L, "[%s] option 'bias' must be an array, got %s", fname,
                               luaL_typename(L, -1));
        } else {
            lua_pop(L, 1);
        }
    }
    if (!b) return y;
    int64_t O = ty_shape(y)[1];
    if (ty_size(b) != O || ty_ndim(b) != 1)
        luaL_error(L, "[%s] bias must have shape (%I,), got %s (output %s)", fname,
                   (lua_Integer)O, shp(b, sb), shp(y, sy));
    int64_t shape[4] = {O, 1, 1, 1};
    ty_array *br = push_named(L, ty_reshape(b, nsp + 1, shape), fname);
    return push_named(L, ty_add(y, br), fname);
}

/* ---------------------------------------------------------------- conv_general */

static int l_conv_general(lua_State *L)
{
    const char *fname = "conv_general";
    ty_array *x = lty_arg_array(L, 1, NULL);
    ty_array *w = lty_arg_array(L, 2, x);
    int opts = lty_arg_is_opts(L, 3) ? 3 : 0;
    if (!opts && !lua_isnoneornil(L, 3))
        luaL_error(L, "[%s] argument 3 must be an options table, got %s", fname,
                   luaL_typename(L, 3));
    lty_arg_check_opts(L, opts, fname,
                       "stride padding padding_hi dilation input_dilation groups flip");
    int nsp = ty_ndim(x) - 2;
    if (nsp < 1 || nsp > 3) {
        char b[64];
        luaL_error(L, "[%s] expected input (N,C,*spatial) with 1 to 3 spatial axes, got %s",
                   fname, shp(x, b));
    }
    ty_conv_opts o;
    memset(&o, 0, sizeof o);
    spatial(L, opts, fname, "stride", nsp, 1, o.stride);
    spatial(L, opts, fname, "padding", nsp, 0, o.pad_lo);
    if (!spatial(L, opts, fname, "padding_hi", nsp, 0, o.pad_hi))
        memcpy(o.pad_hi, o.pad_lo, sizeof o.pad_hi);
    spatial(L, opts, fname, "dilation", nsp, 1, o.dilation);
    spatial(L, opts, fname, "input_dilation", nsp, 1, o.in_dilation);
    o.groups = (int)lty_arg_integer(L, opts, fname, "groups", 1);
    o.flip = lty_arg_bool(L, opts, fname, "flip", false);
    for (int d = 0; d < nsp; d++)
        if (o.stride[d] < 1 || o.dilation[d] < 1 || o.in_dilation[d] < 1)
            luaL_error(L, "[%s] strides and dilations must be positive", fname);
    if (o.groups < 1) luaL_error(L, "[%s] groups must be positive", fname);
    push_named(L, ty_conv_general(x, w, &o), fname);
    return 1;
}

/* ---------------------------------------------------------------- conv1d/2d/3d */

/* Options index among arguments 3..4 (bias may come third). */
static int conv_opts_index(lua_State *L, const char *fname, int *bias_pos)
{
    *bias_pos = 0;
    int opts = 0;
    for (int i = 3; i <= 4 && i <= lua_gettop(L); i++) {
        if (lua_isnil(L, i)) continue;
        if (lty_arg_is_opts(L, i)) opts = i;
        else if (lty_test(L, i) && i == 3) *bias_pos = 3;
        else
            luaL_error(L, "[%s] argument %d must be %s, got %s", fname, i,
                       i == 3 ? "a bias array or an options table" : "an options table",
                       luaL_typename(L, i));
    }
    return opts;
}

/* The arguments of conv and conv_transpose: x (batched: a->x; as given:
 * a->x0), w of nsp + 2 dims laid out as (wdims, k...), the bias (third or in
 * the options) and the options (allowed: their names). */
typedef struct {
    const char *fname;
    int nsp, opts, bias_pos;
    ty_array *x0, *x, *w;
    bool unb;
} conv_args;

static void conv_args_get(lua_State *L, conv_args *a, const char *allowed, const char *wdims)
{
    a->fname = lty_arg_fname(L);
    a->nsp = name_nsp(a->fname);
    a->x0 = lty_arg_array(L, 1, NULL);
    a->w = lty_arg_array(L, 2, a->x0);
    a->opts = conv_opts_index(L, a->fname, &a->bias_pos);
    lty_arg_check_opts(L, a->opts, a->fname, allowed);
    a->x = batched(L, a->x0, a->nsp, a->fname, layout_of(a->nsp), &a->unb);
    if (ty_ndim(a->w) != a->nsp + 2) {
        char sx[64], sw[64];
        luaL_error(L, "[%s] expected weight (%s,%s), got %s (input %s)", a->fname, wdims,
                   a->nsp == 1 ? "kL" : a->nsp == 2 ? "kH,kW" : "kD,kH,kW", shp(a->w, sw),
                   shp(a->x0, sx));
    }
}

static int l_conv(lua_State *L)
{
    conv_args a;
    conv_args_get(L, &a, "bias stride padding dilation groups", "C_out,C_in/groups");
    const char *fname = a.fname;
    int nsp = a.nsp, opts = a.opts;
    ty_array *x0 = a.x0, *x = a.x, *w = a.w;
    char sx[64], sw[64];
    ty_conv_opts o;
    memset(&o, 0, sizeof o);
    spatial(L, opts, fname, "stride", nsp, 1, o.stride);
    spatial(L, opts, fname, "dilation", nsp, 1, o.dilation);
    o.groups = (int)lty_arg_integer(L, opts, fname, "groups", 1);
    if (o.groups < 1) luaL_error(L, "[%s] groups must be positive, got %d", fname, o.groups);
    for (int d = 0; d < nsp; d++)
        if (o.stride[d] < 1 || o.dilation[d] < 1)
            luaL_error(L, "[%s] strides and dilations must be positive", fname);
    if (opts && lty_arg_field(L, opts, "padding") == LUA_TSTRING) {
        const char *mode = lua_tostring(L, -1);
        if (strcmp(mode, "same") == 0) {
            for (int d = 0; d < nsp; d++) {
                if (o.stride[d] != 1)
                    luaL_error(L, "[%s] padding='same' needs stride 1", fname);
                int64_t total = o.dilation[d] * (ty_shape(w)[2 + d] - 1);
                o.pad_lo[d] = total / 2;
                o.pad_hi[d] = total - total / 2;
            }
        } else if (strcmp(mode, "valid") != 0) {
            luaL_error(L, "[%s] padding must be a number, a table, 'same' or 'valid', got '%s'",
                       fname, mode);
        }
        lua_pop(L, 1);
    } else {
        if (opts) lua_pop(L, 1);
        spatial(L, opts, fname, "padding", nsp, 0, o.pad_lo);
        for (int d = 0; d < nsp; d++) {
            if (o.pad_lo[d] < 0) luaL_error(L, "[%s] padding must be non-negative", fname);
            o.pad_hi[d] = o.pad_lo[d];
        }
    }
    int64_t C = ty_shape(x)[1];
    if (C % o.groups != 0 || ty_shape(w)[0] % o.groups != 0 || ty_shape(w)[1] * o.groups != C)
        luaL_error(L, "[%s] weight %s does not fit input %s%s with groups=%d (expected "
                   "(C_out,%I,...) with C_out divisible by groups)", fname, shp(w, sw),
                   shp(x0, sx), a.unb ? " (read as unbatched (C,*spatial))" : "", o.groups,
                   (lua_Integer)(C / o.groups));
    ty_array *y = push_named(L, ty_conv_general(x, w, &o), fname);
    y = add_bias(L, y, opts, a.bias_pos, fname, nsp);
    unbatch(L, y, a.unb, fname);
    return 1;
}

/* ---------------------------------------------------------------- conv_transpose */

static int l_conv_transpose(lua_State *L)
{
    conv_args a;
    conv_args_get(L, &a, "bias stride padding output_padding dilation groups",
                  "C_in,C_out/groups");
    const char *fname = a.fname;
    int nsp = a.nsp, opts = a.opts;
    ty_array *x0 = a.x0, *x = a.x, *w = a.w;
    char sx[64], sw[64];
    int64_t stride[3], pad[3], opad[3], dil[3];
    spatial(L, opts, fname, "stride", nsp, 1, stride);
    spatial(L, opts, fname, "padding", nsp, 0, pad);
    spatial(L, opts, fname, "output_padding", nsp, 0, opad);
    spatial(L, opts, fname, "dilation", nsp, 1, dil);
    int G = (int)lty_arg_integer(L, opts, fname, "groups", 1);
    if (G < 1) luaL_error(L, "[%s] groups must be positive, got %d", fname, G);
    int64_t C = ty_shape(x)[1], Cin = ty_shape(w)[0], Cog = ty_shape(w)[1];
    if (Cin != C || C % G != 0)
        luaL_error(L, "[%s] weight %s does not fit input %s%s with groups=%d (expected "
                   "(%I,C_out/groups,...))", fname, shp(w, sw), shp(x0, sx),
                   a.unb ? " (read as unbatched (C,*spatial))" : "", G, (lua_Integer)C);
    ty_conv_opts o;
    memset(&o, 0, sizeof o);
    o.groups = G;
    o.flip = true;
    for (int d = 0; d < nsp; d++) {
        if (stride[d] < 1 || dil[d] < 1)
            luaL_error(L, "[%s] strides and dilations must be positive", fname);
        if (pad[d] < 0) luaL_error(L, "[%s] padding must be non-negative", fname);
        if (opad[d] < 0 || (opad[d] >= stride[d] && opad[d] >= dil[d]))
            luaL_error(L, "[%s] output_padding must be smaller than the stride or the "
                       "dilation, got %I", fname, (lua_Integer)opad[d]);
        int64_t k = ty_shape(w)[2 + d];
        o.in_dilation[d] = stride[d];
        o.dilation[d] = dil[d];
        o.stride[d] = 1;
        o.pad_lo[d] = dil[d] * (k - 1) - pad[d];
        o.pad_hi[d] = dil[d] * (k - 1) - pad[d] + opad[d];
    }
    /* w (C_in, Cog, *k) -> (G*Cog, C_in/G, *k) */
    int nd = nsp + 2;
    int64_t s5[8], s4[8];
    s5[0] = G;
    s5[1] = Cin / G;
    s5[2] = Cog;
    for (int d = 2; d < nd; d++) s5[d + 1] = ty_shape(w)[d];
    ty_array *w5 = push_named(L, ty_reshape(w, nd + 1, s5), fname);
    ty_array *wt = push_named(L, ty_swapaxes(w5, 1, 2), fname);
    s4[0] = G * Cog;
    s4[1] = Cin / G;
    for (int d = 2; d < nd; d++) s4[d] = ty_shape(w)[d];
    ty_array *ws = push_named(L, ty_reshape(wt, nd, s4), fname);
    ty_array *y = push_named(L, ty_conv_general(x, ws, &o), fname);
    y = add_bias(L, y, opts, a.bias_pos, fname, nsp);
    unbatch(L, y, a.unb, fname);
    return 1;
}

/* ---------------------------------------------------------------- pooling */

static int l_pool(lua_State *L)
{
    const char *fname = lty_arg_fname(L);
    int nsp = name_nsp(fname);
    bool is_max = strncmp(fname, "max", 3) == 0;
    ty_array *x0 = lty_arg_array(L, 1, NULL);
    int opts = lty_arg_is_opts(L, 3) ? 3 : 0;
    if (!opts && !lua_isnoneornil(L, 3))
        luaL_error(L, "[%s] argument 3 must be an options table, got %s", fname,
                   luaL_typename(L, 3));
    lty_arg_check_opts(L, opts, fname,
                       is_max ? "stride padding dilation ceil_mode"
                              : "stride padding ceil_mode count_include_pad");
    bool unb;
    ty_array *x = batched(L, x0, nsp, fname, layout_of(nsp), &unb);
    ty_pool_opts o;
    memset(&o, 0, sizeof o);
    spatial_pos(L, 2, fname, "kernel size", nsp, o.kernel);
    if (!spatial(L, opts, fname, "stride", nsp, 0, o.stride))
        memcpy(o.stride, o.kernel, sizeof o.stride);
    spatial(L, opts, fname, "padding", nsp, 0, o.pad_lo);
    memcpy(o.pad_hi, o.pad_lo, sizeof o.pad_hi);
    if (is_max) spatial(L, opts, fname, "dilation", nsp, 1, o.dilation);
    else for (int d = 0; d < nsp; d++) o.dilation[d] = 1;
    o.ceil_mode = lty_arg_bool(L, opts, fname, "ceil_mode", false);
    o.count_include_pad = lty_arg_bool(L, opts, fname, "count_include_pad", true);
    for (int d = 0; d < nsp; d++)
        if (o.kernel[d] < 1 || o.stride[d] < 1 || o.dilation[d] < 1 || o.pad_lo[d] < 0)
            luaL_error(L, "[%s] kernel sizes, strides and dilations must be positive and "
                       "paddings non-negative", fname);
    ty_array *y = push_named(L, ty_pool(x, nsp, is_max ? TY_POOL_MAX : TY_POOL_AVG, &o),
                             fname);
    unbatch(L, y, unb, fname);
    return 1;
}

/* Adaptive pooling along one axis (non-divisible sizes): bins
 * [floor(i*in/out), ceil((i+1)*in/out)) reduced and concatenated. Pushes. */
static ty_array *adaptive_axis(lua_State *L, ty_array *x, int axis, int64_t out, bool is_max,
                               const char *fname)
{
    int nd = ty_ndim(x);
    int64_t in = ty_shape(x)[axis];
    int base = lua_gettop(L);
    ty_array **parts = lua_newuserdatauv(L, sizeof(ty_array *) * (size_t)out, 0);
    for (int64_t i = 0; i < out; i++) {
        int64_t a = (i * in) / out, b = ((i + 1) * in + out - 1) / out;
        int64_t start[8], stop[8], step[8];
        for (int d = 0; d < nd; d++) {
            start[d] = 0;
            stop[d] = ty_shape(x)[d];
            step[d] = 1;
        }
        start[axis] = a;
        stop[axis] = b;
        ty_array *s = push_named(L, ty_slice(x, start, stop, step), fname);
        int ax = axis;
        parts[i] = push_named(L, is_max ? ty_max(s, &ax, 1, true) : ty_mean(s, &ax, 1, true),
                              fname);
    }
    ty_array *r = ty_concatenate(parts, (int)out, axis);
    lua_settop(L, base);
    return push_named(L, r, fname);
}

static int l_adaptive_pool(lua_State *L)
{
    const char *fname = lty_arg_fname(L);
    int nsp = name_nsp(fname);
    bool is_max = strncmp(fname, "adaptive_max", 12) == 0;
    ty_array *x0 = lty_arg_array(L, 1, NULL);
    bool unb;
    ty_array *x = batched(L, x0, nsp, fname, layout_of(nsp), &unb);
    int nd = ty_ndim(x);
    int64_t out[3];
    if (lua_isnoneornil(L, 2)) luaL_error(L, "[%s] output size is required", fname);
    if (lua_type(L, 2) == LUA_TTABLE) {
        int n = (int)luaL_len(L, 2);
        if (n == 0) luaL_error(L, "[%s] output size needs 1 or %d values", fname, nsp);
        if (n != nsp && n != 1)
            luaL_error(L, "[%s] output size needs 1 or %d values, got %d", fname, nsp, n);
        for (int d = 0; d < nsp; d++) {
            lua_geti(L, 2, n == 1 ? 1 : d + 1);
            out[d] = lua_isnil(L, -1) ? ty_shape(x)[nd - nsp + d]
                                      : lty_arg_int(L, -1, fname, "output size");
            lua_pop(L, 1);
        }
    } else {
        spatial_pos(L, 2, fname, "output size", nsp, out);
    }
    bool divisible = true;
    for (int d = 0; d < nsp; d++) {
        int64_t in = ty_shape(x)[nd - nsp + d];
        if (out[d] < 1) luaL_error(L, "[%s] output sizes must be positive", fname);
        if (in % out[d] != 0) divisible = false;
    }
    ty_array *y;
    if (divisible) {
        ty_pool_opts o;
        memset(&o, 0, sizeof o);
        for (int d = 0; d < nsp; d++) {
            o.kernel[d] = o.stride[d] = ty_shape(x)[nd - nsp + d] / out[d];
            o.dilation[d] = 1;
        }
        o.count_include_pad = true;
        y = push_named(L, ty_pool(x, nsp, is_max ? TY_POOL_MAX : TY_POOL_AVG, &o), fname);
    } else {
        y = x;
        for (int d = 0; d < nsp; d++) {
            int axis = nd - nsp + d;
            if (ty_shape(y)[axis] == out[d]) continue;
            y = adaptive_axis(L, y, axis, out[d], is_max, fname);
        }
        if (y == x) y = push_named(L, ty_retain(x), fname);
    }
    unbatch(L, y, unb, fname);
    return 1;
}

/* ---------------------------------------------------------------- registration */

#define CONV_DOC(n, sp)                                                                    \
    "ty.conv" #n "d(x, w, [bias], {bias=, stride=1, padding=0, dilation=1, groups=1}) "     \
    "-> array\n  " #n "-d convolution (cross-correlation) as torch.nn.functional.conv" #n    \
    "d: x " sp ", w (C_out, C_in/groups, k...); padding a number, a table per axis, "     \
    "'same' (stride 1) or 'valid'. A missing batch axis is accepted. Also x:conv" #n "d(w, ...)."
#define CONVT_DOC(n, sp)                                                                   \
    "ty.conv_transpose" #n "d(x, w, [bias], {bias=, stride=1, padding=0, "                  \
    "output_padding=0, dilation=1, groups=1}) -> array\n  " #n "-d transposed convolution " \
    "as torch.nn.functional.conv_transpose" #n "d: x " sp ", w (C_in, C_out/groups, k...); " \
    "output size (in-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1."
#define MAXP_DOC(n, sp)                                                                    \
    "ty.max_pool" #n "d(x, kernel, {stride=kernel, padding=0, dilation=1, ceil_mode=false}) " \
    "-> array\n  " #n "-d max pooling of x " sp " (or without the batch axis) as "           \
    "torch.nn.functional.max_pool" #n "d; padding at most half the kernel. Gradients go "    \
    "to the first maximum of each window."
#define AVGP_DOC(n, sp)                                                                    \
    "ty.avg_pool" #n "d(x, kernel, {stride=kernel, padding=0, ceil_mode=false, "            \
    "count_include_pad=true}) -> array\n  " #n "-d average pooling of x " sp " as "          \
    "torch.nn.functional.avg_pool" #n "d."

static const lty_arg_fn conv_functions[] = {
    {"conv_general", l_conv_general,
     "ty.conv_general(x, w, {stride=1, padding=0, padding_hi=padding, dilation=1, "
     "input_dilation=1, groups=1, flip=false}) -> array\n"
     "  The general N-d convolution primitive (1 to 3 spatial axes): x (N, C, *in), "
     "w (O, C/groups, *k) -> (N, O, *out), out = floor((in_dilated + padding + padding_hi "
     "- dilation*(k-1) - 1)/stride) + 1 with in_dilated = (in-1)*input_dilation + 1. "
     "Negative paddings crop; flip flips the kernel (true convolution). Options take a "
     "number or one per spatial axis.", false},
    {"conv1d", l_conv, CONV_DOC(1, "(N, C_in, L)"), true},
    {"conv2d", l_conv, CONV_DOC(2, "(N, C_in, H, W)"), true},
    {"conv3d", l_conv, CONV_DOC(3, "(N, C_in, D, H, W)"), true},
    {"conv_transpose1d", l_conv_transpose, CONVT_DOC(1, "(N, C_in, L)"), true},
    {"conv_transpose2d", l_conv_transpose, CONVT_DOC(2, "(N, C_in, H, W)"), true},
    {"conv_transpose3d", l_conv_transpose, CONVT_DOC(3, "(N, C_in, D, H, W)"), true},
    {"max_pool1d", l_pool, MAXP_DOC(1, "(N, C, L)"), true},
    {"max_pool2d", l_pool, MAXP_DOC(2, "(N, C, H, W)"), true},
    {"max_pool3d", l_pool, MAXP_DOC(3, "(N, C, D, H, W)"), true},
    {"avg_pool1d", l_pool, AVGP_DOC(1, "(N, C, L)"), true},
    {"avg_pool2d", l_pool, AVGP_DOC(2, "(N, C, H, W)"), true},
    {"avg_pool3d", l_pool, AVGP_DOC(3, "(N, C, D, H, W)"), true},
    {"adaptive_avg_pool1d", l_adaptive_pool,
     "ty.adaptive_avg_pool1d(x, out_size) -> array\n  Average over out_size bins "
     "[floor(i*L/out), ceil((i+1)*L/out)) of x (N, C, L), as PyTorch.", true},
    {"adaptive_avg_pool2d", l_adaptive_pool,
     "ty.adaptive_avg_pool2d(x, out_size) -> array\n  Average over PyTorch's adaptive bins "
     "of x (N, C, H, W); out_size a number or {h, w} (nil keeps the input size). When the "
     "sizes divide, one pooling kernel; otherwise slices and reductions per axis.", true},
    {"adaptive_max_pool1d", l_adaptive_pool,
     "ty.adaptive_max_pool1d(x, out_size) -> array\n  Maximum over out_size bins "
     "[floor(i*L/out), ceil((i+1)*L/out)) of x (N, C, L), as PyTorch.", true},
    {"adaptive_max_pool2d", l_adaptive_pool,
     "ty.adaptive_max_pool2d(x, out_size) -> array\n  Maximum over PyTorch's adaptive bins "
     "of x (N, C, H, W); out_size a number or {h, w}. Ties: the first maximum gets the "
     "gradient when the sizes divide, else the tied maxima share it.", true},
    {"adaptive_avg_pool3d", l_adaptive_pool,
     "ty.adaptive_avg_pool3d(x, out_size) -> array\n  Average over PyTorch's adaptive bins "
     "of x (N, C, D, H, W); out_size a number or {d, h, w}.", true},
    {"adaptive_max_pool3d", l_adaptive_pool,
     "ty.adaptive_max_pool3d(x, out_size) -> array\n  Maximum over PyTorch's adaptive bins "
     "of x (N, C, D, H, W); out_size a number or {d, h, w}.", true},
    {NULL, NULL, NULL, false},
};

void lty_open_conv(lua_State *L)
{
    int ty = lua_gettop(L);
    lty_arg_register(L, ty, ty, conv_functions);
    lua_settop(L, ty);
}
