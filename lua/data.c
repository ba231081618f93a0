/*
 * data.c -- ty.io.read_idx, ty.io.read_csv and the hot image transforms of
 * ty.data (normalize, random_crop, random_flip, random_affine,
 * random_rotation), run on the host over float32 (N,C,H,W) batches. The rest
 * of ty.data (datasets, loaders, text) is lua/tycho/data.lua.
 *
 * Random transforms draw per sample from a key (opts.key, opts.seed, or a
 * fresh subkey of the global key): sample n's draws are a hash of (key, n),
 * so a batch gives the same result for the same key on any device.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "args.h"

/* ---------------------------------------------------------------- files */

static int l_read_idx(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int opts = lty_arg_is_opts(L, 2) ? 2 : 0;
    if (!opts && !lua_isnoneornil(L, 2))
        luaL_error(L, "[read_idx] argument 2 must be an options table, got %s",
                   luaL_typename(L, 2));
    lty_arg_check_opts(L, opts, "read_idx", "device");
    ty_device device = lty_arg_opt_device(L, opts, "read_idx", ty_default_device());
    ty_array *a;
    LTY_CALL(L, a, ty_load_idx(path, device));
    lty_push(L, a);
    return 1;
}

/* Is text (len bytes) a number or a missing-value word (for header
 * detection)? */
static bool looks_numeric(const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t' || *s == '"')) s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' ||
                   s[len - 1] == '"'))
        len--;
    char buf[64];
    if (len >= sizeof buf) return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    static const char *const missing[] = {"", "NA", "N/A", "NaN", "nan", "NAN", "NULL",
                                          "null", "None"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++)
        if (strcmp(buf, missing[i]) == 0) return true;
    char *end = NULL;
    strtod(buf, &end);
    return end != buf && *end == '\0';
}

/* Header detection: true when a field of the first non-blank line is not a
 * number. */
static bool csv_has_header(const char *path, char delim)
{
    gzFile f = gzopen(path, "rb");
    if (!f) return false;              /* the loader reports the error */
    char line[8192];
    bool header = false;
    while (gzgets(f, line, sizeof line)) {
        size_t n = strlen(line);
        const char *p = line;
        if (p[0] == '\xEF' && p[1] == '\xBB' && p[2] == '\xBF') p += 3;
        bool blank = true;
        for (const char *q = p; *q; q++)
            if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n') blank = false;
        if (blank) continue;
        if (n && line[n - 1] == '\n') line[--n] = '\0';
        const char *start = p;
        for (const char *q = p;; q++) {
            if (*q == delim || *q == '\0') {
                if (!looks_numeric(start, (size_t)(q - start))) header = true;
                if (*q == '\0') break;
                start = q + 1;
            }
        }
        break;
    }
    gzclose(f);
    return header;
}

static int l_read_csv(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int opts = lty_arg_is_opts(L, 2) ? 2 : 0;
    if (!opts && !lua_isnoneornil(L, 2))
        luaL_error(L, "[read_csv] argument 2 must be an options table, got %s",
                   luaL_typename(L, 2));
    lty_arg_check_opts(L, opts, "read_csv", "header delimiter device");
    const char *delim = lty_arg_string(L, opts, "read_csv", "delimiter", ",");
    if (strcmp(delim, "\\t") == 0) delim = "\t";
    if (strlen(delim) != 1 || delim[0] == '"' || delim[0] == '\n' || delim[0] == '\r')
        luaL_error(L, "[read_csv] option 'delimiter' must be one character (not a quote or "
                   "newline), got '%s'", delim);
    bool header;
    if (lty_arg_has(L, opts, "header") && lty_arg_field(L, opts, "header") != LUA_TSTRING) {
        lua_pop(L, 1);
        header = lty_arg_bool(L, opts, "read_csv", "header", false);
    } else {
        if (lty_arg_has(L, opts, "header")) {
            const char *h = lua_tostring(L, -1);
            if (strcmp(h, "auto") != 0)
                luaL_error(L, "[read_csv] option 'header' must be true, false or 'auto', "
                           "got '%s'", h);
            lua_pop(L, 1);
        }
        header = csv_has_header(path, delim[0]);
    }
    ty_device device = lty_arg_opt_device(L, opts, "read_csv", ty_default_device());
    char **names = NULL;
    int ncols = 0;
    ty_array *a;
    LTY_CALL(L, a, ty_load_csv(path, header, delim[0], device, &names, &ncols));
    if (!a) return lty_error(L);
    /* push the names first (Lua may raise on memory), then free them */
    lua_createtable(L, names ? ncols : 0, 0);
    int tbl = lua_gettop(L);
    for (int i = 0; names && i < ncols; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, tbl, i + 1);
    }
    for (int i = 0; names && i < ncols; i++) free(names[i]);
    free(names);
    lty_push(L, a);
    lua_insert(L, tbl);
    if (!header) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
    return 2;
}

/* ---------------------------------------------------------------- images */

/* A batch read back to the host as float32, with its layout. */
typedef struct image_batch {
    ty_array *a;               /* borrowed */
    int64_t n, c, h, w;
    float *data;               /* Lua userdata (collected) */
} image_batch;

static void check_images(lua_State *L, int idx, const char *fname, image_batch *b)
{
    b->a = lty_arg_array(L, idx, NULL);
    int nd = ty_ndim(b->a);
    const int64_t *s = ty_shape(b->a);
    if (nd != 3 && nd != 4) {
        char buf[128];
        luaL_error(L, "[%s] expected images (N,C,H,W) or one image (C,H,W), got shape %s",
                   fname, ty_shape_string(b->a, buf, sizeof buf));
    }
    b->n = nd == 4 ? s[0] : 1;
    b->c = s[nd - 3];
    b->h = s[nd - 2];
    b->w = s[nd - 1];
    size_t bytes = (size_t)ty_size(b->a) * sizeof(float);
    b->data = lua_newuserdatauv(L, bytes ? bytes : 1, 0);
    int rc;
    LTY_CALL_INT(L, rc, ty_copy_to(b->a, b->data, TY_FLOAT32));
    if (rc != 0) lty_error(L);
}

/* Pushes a float32 array of the batch's leading layout with (h, w) images. */
static void push_images(lua_State *L, const image_batch *b, const float *data, int64_t h,
                        int64_t w)
{
    int64_t shape[4];
    int nd = ty_ndim(b->a), k = 0;
    if (nd == 4) shape[k++] = b->n;
    shape[k++] = b->c;
    shape[k++] = h;
    shape[k++] = w;
    ty_array *out;
    LTY_CALL(L, out, ty_from_data(data, TY_FLOAT32, nd, shape, ty_device_of(b->a)));
    lty_push(L, out);
}

/* The key of a random transform: opts.key, opts.seed, or a fresh subkey of
 * the global key. */
static ty_key transform_key(lua_State *L, int opts, const char *fname)
{
    if (lty_arg_has(L, opts, "key")) {
        lty_arg_field(L, opts, "key");
        ty_key *k = luaL_testudata(L, -1, LTY_KEY_MT);
        if (!k) luaL_error(L, "[%s] option 'key' must be a key from ty.random.key", fname);
        ty_key key = *k;
        lua_pop(L, 1);
        return key;
    }
    if (lty_arg_has(L, opts, "seed"))
        return ty_random_key((uint64_t)lty_arg_integer(L, opts, fname, "seed", 0));
    return ty_random_next_key();
}

/* Uniform [0, 1) draw `stream` of sample n under key (splitmix64 finalizer
 * over the key words, sample and stream). */
static double unit_draw(ty_key key, int64_t n, uint64_t stream)
{
    uint64_t z = ((uint64_t)key.w[0] << 32 | key.w[1]) ^ 0x9E3779B97F4A7C15ull;
    z += (uint64_t)n * 0xBF58476D1CE4E5B9ull + stream * 0x94D049BB133111EBull;
    for (int r = 0; r < 2; r++) {
        z += 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
    }
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* Per-channel values (a number, or a table of C numbers) at idx. */
static void channel_values(lua_State *L, int idx, const char *fname, const char *what,
                           int64_t c, double *out)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        for (int64_t i = 0; i < c; i++) out[i] = lua_tonumber(L, idx);
        return;
    }
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_error(L, "[%s] %s must be a number or a table of %d numbers (one per channel)",
                   fname, what, (int)c);
    if ((int64_t)luaL_len(L, idx) != c)
        luaL_error(L, "[%s] %s has %d values, expected %d (one per channel)", fname, what,
                   (int)luaL_len(L, idx), (int)c);
    for (int64_t i = 0; i < c; i++) {
        lua_geti(L, idx, i + 1);
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "[%s] %s[%d] must be a number", fname, what, (int)i + 1);
        out[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
}

#define MAX_CHANNELS 1024

static int l_normalize(lua_State *L)
{
    lua_settop(L, 3);   /* fixed slots: pushes come after */
    image_batch b;
    check_images(L, 1, "normalize", &b);
    if (b.c > MAX_CHANNELS) luaL_error(L, "[normalize] too many channels (%d)", (int)b.c);
    double mean[MAX_CHANNELS], std[MAX_CHANNELS];
    channel_values(L, 2, "normalize", "mean", b.c, mean);
    channel_values(L, 3, "normalize", "std", b.c, std);
    for (int64_t i = 0; i < b.c; i++)
        if (!(std[i] != 0)) luaL_error(L, "[normalize] std[%d] is zero", (int)i + 1);
    int64_t plane = b.h * b.w;
    for (int64_t n = 0; n < b.n; n++)
        for (int64_t c = 0; c < b.c; c++) {
            float *p = b.data + (n * b.c + c) * plane;
            float m = (float)mean[c], s = (float)(1.0 / std[c]);
            for (int64_t i = 0; i < plane; i++) p[i] = (p[i] - m) * s;
        }
    push_images(L, &b, b.data, b.h, b.w);
    return 1;
}

/* An options table at idx, or 0 (none/nil); raises on other values. */
static int opts_arg(lua_State *L, int idx, const char *fname, const char *allowed)
{
    int opts = 0;
    if (lty_arg_is_opts(L, idx)) {
        opts = idx;
    } else if (!lua_isnoneornil(L, idx)) {
        luaL_error(L, "[%s] argument %d must be an options table, got %s", fname, idx,
                   luaL_typename(L, idx));
    }
    lty_arg_check_opts(L, opts, fname, allowed);
    return opts;
}

static int l_random_crop(lua_State *L)
{
    lua_settop(L, 3);   /* fixed slots: pushes come after */
    image_batch b;
    check_images(L, 1, "random_crop", &b);
    int64_t size[2];
    int n = lty_arg_ints(L, 2, "random_crop", "size", size, 2);
    if (n == 1) size[1] = size[0];
    else if (n != 2) luaL_error(L, "[random_crop] size must be a number or {height, width}");
    int opts = opts_arg(L, 3, "random_crop", "padding fill key seed");
    lua_Integer pad = lty_arg_integer(L, opts, "random_crop", "padding", 0);
    float fill = (float)lty_arg_number(L, opts, "random_crop", "fill", 0);
    if (pad < 0 || pad > 1 << 20)
        luaL_error(L, "[random_crop] option 'padding' must be in [0, 2^20], got %d", (int)pad);
    int64_t ph = b.h + 2 * pad, pw = b.w + 2 * pad;
    if (size[0] < 1 || size[1] < 1 || size[0] > ph || size[1] > pw)
        luaL_error(L, "[random_crop] crop size (%d,%d) does not fit the padded image (%d,%d)",
                   (int)size[0], (int)size[1], (int)ph, (int)pw);
    ty_key key = transform_key(L, opts, "random_crop");
    int64_t oh = size[0], ow = size[1];
    float *out = lua_newuserdatauv(L, (size_t)(b.n * b.c * oh * ow) * sizeof(float) + 1, 0);
    for (int64_t s = 0; s < b.n; s++) {
        int64_t top = (int64_t)(unit_draw(key, s, 0) * (double)(ph - oh + 1));
        int64_t left = (int64_t)(unit_draw(key, s, 1) * (double)(pw - ow + 1));
        if (top > ph - oh) top = ph - oh;
        if (left > pw - ow) left = pw - ow;
        for (int64_t c = 0; c < b.c; c++) {
            const float *src = b.data + (s * b.c + c) * b.h * b.w;
            float *dst = out + (s * b.c + c) * oh * ow;
            for (int64_t i = 0; i < oh; i++) {
                int64_t y = top + i - pad;
                for (int64_t j = 0; j < ow; j++) {
                    int64_t x = left + j - pad;
                    bool inside = y >= 0 && y < b.h && x >= 0 && x < b.w;
                    dst[i * ow + j] = inside ? src[y * b.w + x] : fill;
                }
            }
        }
    }
    push_images(L, &b, out, oh, ow);
    return 1;
}

static int l_random_flip(lua_State *L)
{
    lua_settop(L, 2);   /* fixed slots: pushes come after */
    image_batch b;
    check_images(L, 1, "random_flip", &b);
    int opts = opts_arg(L, 2, "random_flip", "p vertical key seed");
    double p = lty_arg_number(L, opts, "random_flip", "p", 0.5);
    bool vertical = lty_arg_bool(L, opts, "random_flip", "vertical", false);
    if (!(p >= 0 && p <= 1)) luaL_error(L, "[random_flip] option 'p' must be in [0, 1]");
    ty_key key = transform_key(L, opts, "random_flip");
    for (int64_t s = 0; s < b.n; s++) {
        if (!(unit_draw(key, s, 0) < p)) continue;
        for (int64_t c = 0; c < b.c; c++) {
            float *img = b.data + (s * b.c + c) * b.h * b.w;
            if (vertical) {
                for (int64_t i = 0; i < b.h / 2; i++)
                    for (int64_t j = 0; j < b.w; j++) {
                        float t = img[i * b.w + j];
                        img[i * b.w + j] = img[(b.h - 1 - i) * b.w + j];
                        img[(b.h - 1 - i) * b.w + j] = t;
                    }
            } else {
                for (int64_t i = 0; i < b.h; i++) {
                    float *row = img + i * b.w;
                    for (int64_t j = 0; j < b.w / 2; j++) {
                        float t = row[j];
                        row[j] = row[b.w - 1 - j];
                        row[b.w - 1 - j] = t;
                    }
                }
            }
        }
    }
    push_images(L, &b, b.data, b.h, b.w);
    return 1;
}

/* Rotation by up to +-degrees and translation by up to +-translate (fractions
 * of width and height), per sample, about the image centre; output pixels
 * map back into the source (bilinear or nearest); outside is `fill`. */
static int affine(lua_State *L, const char *fname, double degrees, int opts)
{
    image_batch b;
    check_images(L, 1, fname, &b);
    double tx = 0, ty = 0;
    if (lty_arg_has(L, opts, "translate")) {
        lty_arg_field(L, opts, "translate");
        if (lua_type(L, -1) == LUA_TNUMBER) {
            tx = ty = lua_tonumber(L, -1);
        } else if (lua_type(L, -1) == LUA_TTABLE && luaL_len(L, -1) == 2) {
            lua_geti(L, -1, 1);
            lua_geti(L, -2, 2);
            if (!lua_isnumber(L, -1) || !lua_isnumber(L, -2))
                luaL_error(L, "[%s] option 'translate' must be a number or {tx, ty}", fname);
            tx = lua_tonumber(L, -2);
            ty = lua_tonumber(L, -1);
            lua_pop(L, 2);
        } else {
            luaL_error(L, "[%s] option 'translate' must be a number or {tx, ty}", fname);
        }
        lua_pop(L, 1);
        if (!(tx >= 0 && tx <= 1 && ty >= 0 && ty <= 1))
            luaL_error(L, "[%s] option 'translate' must be fractions in [0, 1]", fname);
    }
    const char *interp = lty_arg_string(L, opts, fname, "interpolation", "bilinear");
    bool nearest = strcmp(interp, "nearest") == 0;
    if (!nearest && strcmp(interp, "bilinear") != 0)
        luaL_error(L, "[%s] option 'interpolation' must be 'bilinear' or 'nearest', got '%s'",
                   fname, interp);
    float fill = (float)lty_arg_number(L, opts, fname, "fill", 0);
    if (!(degrees >= 0 && degrees <= 360))
        luaL_error(L, "[%s] degrees must be in [0, 360]", fname);
    ty_key key = transform_key(L, opts, fname);
    int64_t h = b.h, w = b.w;
    float *out = lua_newuserdatauv(L, (size_t)(b.n * b.c * h * w) * sizeof(float) + 1, 0);
    double cy = (double)(h - 1) / 2, cx = (double)(w - 1) / 2;
    for (int64_t s = 0; s < b.n; s++) {
        double angle = (2 * unit_draw(key, s, 0) - 1) * degrees * (M_PI / 180);
        double dx = (2 * unit_draw(key, s, 1) - 1) * tx * (double)w;
        double dy = (2 * unit_draw(key, s, 2) - 1) * ty * (double)h;
        double ca = cos(angle), sa = sin(angle);
        for (int64_t c = 0; c < b.c; c++) {
            const float *src = b.data + (s * b.c + c) * h * w;
            float *dst = out + (s * b.c + c) * h * w;
            for (int64_t i = 0; i < h; i++)
                for (int64_t j = 0; j < w; j++) {
                    /* inverse map: undo the translation, then the rotation */
                    double u = (double)j - cx - dx, v = (double)i - cy - dy;
                    double x = ca * u + sa * v + cx, y = -sa * u + ca * v + cy;
                    float val = fill;
                    if (nearest) {
                        double xr = floor(x + 0.5), yr = floor(y + 0.5);
                        if (xr >= 0 && xr < (double)w && yr >= 0 && yr < (double)h)
                            val = src[(int64_t)yr * w + (int64_t)xr];
                    } else if (x > -1 && x < (double)w && y > -1 && y < (double)h) {
                        double fx = floor(x), fy = floor(y);
                        int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
                        double ax = x - fx, ay = y - fy;
                        double acc = 0;
                        for (int k = 0; k < 4; k++) {
                            int64_t yy = y0 + (k >> 1), xx = x0 + (k & 1);
                            double wt = ((k & 1) ? ax : 1 - ax) * ((k >> 1) ? ay : 1 - ay);
                            bool in = yy >= 0 && yy < h && xx >= 0 && xx < w;
                            acc += wt * (in ? src[yy * w + xx] : fill);
                        }
                        val = (float)acc;
                    }
                    dst[i * w + j] = val;
                }
        }
    }
    push_images(L, &b, out, h, w);
    return 1;
}

static int l_random_affine(lua_State *L)
{
    lua_settop(L, 2);   /* fixed slots: pushes come after */
    int opts = opts_arg(L, 2, "random_affine",
                        "degrees translate interpolation fill key seed");
    double degrees = lty_arg_number(L, opts, "random_affine", "degrees", 0);
    return affine(L, "random_affine", degrees, opts);
}

static int l_random_rotation(lua_State *L)
{
    lua_settop(L, 3);   /* fixed slots: pushes come after */
    double degrees = lty_arg_num(L, 2, "random_rotation", "degrees");
    int opts = opts_arg(L, 3, "random_rotation", "translate interpolation fill key seed");
    return affine(L, "random_rotation", degrees, opts);
}

/* ---------------------------------------------------------------- registration */

static const lty_arg_fn io_functions[] = {
    {"read_idx", l_read_idx, "ty.io.read_idx(path, [{device=}]) -> array\n"
     "  Reads an IDX file (MNIST's format), plain or gzip-compressed, with its values\n"
     "  unchanged: uint8 stays uint8, int8/int16/int32 become int32, float32 and\n"
     "  float64 stay. Malformed files raise an error naming the file.", false},
    {"read_csv", l_read_csv, "ty.io.read_csv(path, [{header='auto', delimiter=',', "
     "device=}]) -> array, names\n"
     "  Reads a CSV of numeric columns as float32 (rows, cols). header: true, false or\n"
     "  'auto' (a first line with a non-numeric field is a header); names is the table\n"
     "  of column names, or nil without a header. Quoted fields are allowed; empty,\n"
     "  NA and NaN fields are NaN; a non-numeric field is an error naming the file,\n"
     "  line and column. delimiter may be '\\t'.", false},
    {NULL, NULL, NULL, false}
};

static const lty_arg_fn data_functions[] = {
    {"normalize", l_normalize, "ty.data.normalize(images, mean, std) -> array\n"
     "  (x - mean[c]) / std[c] per channel c of images (N,C,H,W) or (C,H,W); mean and\n"
     "  std are numbers or tables of C numbers. Returns float32.", false},
    {"random_crop", l_random_crop, "ty.data.random_crop(images, size, [{padding=0, fill=0, "
     "key=, seed=}]) -> array\n"
     "  Pads each image by `padding` pixels of `fill` on every side and crops a\n"
     "  size (a number or {h, w}) window at a random position, drawn per sample.",
     false},
    {"random_flip", l_random_flip, "ty.data.random_flip(images, [{p=0.5, vertical=false, "
     "key=, seed=}]) -> array\n"
     "  Flips each image left-right (up-down with vertical=true) with probability p.",
     false},
    {"random_affine", l_random_affine, "ty.data.random_affine(images, [{degrees=0, "
     "translate=0, interpolation='bilinear', fill=0, key=, seed=}]) -> array\n"
     "  Rotates each image about its centre by an angle drawn in [-degrees, degrees]\n"
     "  and shifts it by up to translate (a fraction, or {tx, ty}) of its width and\n"
     "  height; interpolation 'bilinear' or 'nearest'; pixels from outside are fill.",
     false},
    {"random_rotation", l_random_rotation, "ty.data.random_rotation(images, degrees, "
     "[{interpolation='bilinear', fill=0, translate=, key=, seed=}]) -> array\n"
     "  ty.data.random_affine with the given degrees.", false},
    {NULL, NULL, NULL, false}
};

/* ty[name], created when absent; left on top. */
static void subtable(lua_State *L, int ty, const char *name, const char *doc)
{
    if (lua_getfield(L, ty, name) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, ty, name);
    }
    if (lua_getfield(L, -1, "__doc") == LUA_TNIL) {
        lua_pushstring(L, doc);
        lua_setfield(L, -3, "__doc");
    }
    lua_pop(L, 1);
}

void lty_open_data(lua_State *L)
{
    int ty = lua_gettop(L);
    subtable(L, ty, "io", "ty.io -- reading and writing files in standard formats.");
    lty_arg_register(L, -1, ty, io_functions);
    lua_pop(L, 1);
    subtable(L, ty, "data",
             "ty.data -- datasets, loaders, image transforms, Fashion-MNIST and text.");
    lty_arg_register(L, -1, ty, data_functions);
    lua_settop(L, ty);
}
