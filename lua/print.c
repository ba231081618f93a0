/*
 * print.c -- NumPy-like printing of arrays (__tostring) and the print
 * options (ty.set_printoptions, ty.get_printoptions).
 *
 * The layout follows NumPy's array repr: one format per array (common width;
 * floats positional with at most `precision` fraction digits, trailing zeros
 * trimmed ("1."), or scientific when magnitudes span too much), summarised
 * with "..." past `threshold` elements, wrapped at `linewidth`, and ending
 * with the shape and dtype: array([1, 2], shape=(2,), dtype=int32).
 * Only the elements shown are evaluated and copied to the host.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "array.h"
#include "strbuf.h"

typedef struct print_options {
    int precision, threshold, edgeitems, linewidth;
} print_options;

static print_options options = {4, 1000, 3, 80};

/* ---------------------------------------------------------------- strings */

typedef ty_strbuf sbuf;



static void sb_spaces(sbuf *b, int k)
{
    for (int i = 0; i < k; i++) ty_strbuf_add(b, " ", 1);
}

static void sb_take(sbuf *dst, sbuf *src)
{
    if (src->failed) dst->failed = true;
    else if (src->n) ty_strbuf_add(dst, src->p, src->n);
    free(src->p);
    *src = (sbuf){0};
}

/* ---------------------------------------------------------------- formats */

typedef enum fmt_kind { FMT_BOOL, FMT_INT, FMT_FLOAT } fmt_kind;

/* The common format of the shown elements. */
typedef struct fmt {
    fmt_kind kind;
    ty_dtype dtype;
    int width;                         /* bool and int */
    bool exp;                          /* float: scientific */
    int pad_left, pad_right;           /* float: integer / fraction widths */
    int precision, exp_size;           /* float scientific */
} fmt;

/* The value x (of dtype) after rounding to dtype: to check round trips. */
static double round_to(double v, ty_dtype dtype)
{
    switch (dtype) {
    case TY_FLOAT16: return ty_half_to_float(ty_float_to_half((float)v));
    case TY_BFLOAT16: return ty_bfloat_to_float(ty_float_to_bfloat((float)v));
    case TY_FLOAT32: return (float)v;
    default: return v;
    }
}

/* Shortest text of x (finite) with at most p digits after the point that
 * reads back as x in its dtype, trailing zeros trimmed ("1.", "2.5");
 * scientific ("1.5e-05") when sci. */
static void float_unique(double x, ty_dtype dtype, int p, bool sci, char *out, size_t size)
{
    for (int k = 0; k <= p; k++) {
        snprintf(out, size, sci ? "%.*e" : "%.*f", k, x);
        if (round_to(strtod(out, NULL), dtype) == x) break;
    }
    char exp[16] = "";
    char *e = strchr(out, 'e');
    if (e) {
        snprintf(exp, sizeof exp, "%s", e);
        *e = 0;
    }
    char *dot = strchr(out, '.');
    if (dot) {
        size_t n = strlen(out);
        while (n > 0 && out[n - 1] == '0') out[--n] = 0;
    } else {
        strncat(out, ".", size - strlen(out) - 1);
    }
    strncat(out, exp, size - strlen(out) - 1);
}

/* Splits "12.345e-05" into the lengths of its integer part, fraction and
 * exponent digits. */
static void float_parts(const char *s, int *ilen, int *flen, int *elen)
{
    const char *dot = strchr(s, '.');
    const char *e = strchr(s, 'e');
    *ilen = (int)(dot - s);
    *flen = (int)((e ? e : s + strlen(s)) - dot - 1);
    *elen = e ? (int)strlen(e + 2) : 0;
}

static void fmt_init(fmt *f, ty_dtype dtype, const double *fv, const int64_t *iv, int64_t n,
                     int ndim)
{
    memset(f, 0, sizeof *f);
    f->dtype = dtype;
    char buf[64];
    if (dtype == TY_BOOL) {
        f->kind = FMT_BOOL;
        f->width = ndim > 0 ? 5 : 0;
        return;
    }
    if (!ty_dtype_is_float(dtype)) {
        f->kind = FMT_INT;
        for (int64_t i = 0; i < n; i++) {
            int w = snprintf(buf, sizeof buf, "%lld", (long long)iv[i]);
            if (w > f->width) f->width = w;
        }
        return;
    }
    f->kind = FMT_FLOAT;
    double maxv = 0, minv = INFINITY;
    bool nonfinite = false, neginf = false, finite = false;
    for (int64_t i = 0; i < n; i++) {
        double v = fv[i];
        if (!isfinite(v)) {
            nonfinite = true;
            if (isinf(v) && v < 0) neginf = true;
            continue;
        }
        finite = true;
        double a = fabs(v);
        if (a == 0) continue;
        if (a > maxv) maxv = a;
        if (a < minv) minv = a;
    }
    if (minv != INFINITY)
        f->exp = maxv >= 1e8 || minv < 1e-4 || maxv / minv > 1e3;
    int p = options.precision;
    for (int64_t i = 0; finite && i < n; i++) {
        if (!isfinite(fv[i])) continue;
        int il, fl, el;
        float_unique(fv[i], dtype, p, f->exp, buf, sizeof buf);
        float_parts(buf, &il, &fl, &el);
        if (il > f->pad_left) f->pad_left = il;
        if (fl > f->pad_right) f->pad_right = fl;
        if (el > f->exp_size) f->exp_size = el;
    }
    if (f->exp) {
        f->precision = f->pad_right;
        f->pad_right = f->exp_size + 2 + f->precision;
    }
    if (nonfinite) {
        int offset = f->pad_right + 1;
        if (3 - offset > f->pad_left) f->pad_left = 3 - offset;
        if (3 + neginf - offset > f->pad_left) f->pad_left = 3 + neginf - offset;
    }
}

/* Formats element i into out (the array's common width). */
static void fmt_element(const fmt *f, const double *fv, const int64_t *iv, int64_t i,
                        char *out, size_t size)
{
    if (f->kind == FMT_BOOL) {
        snprintf(out, size, "%*s", f->width, iv[i] ? "true" : "false");
        return;
    }
    if (f->kind == FMT_INT) {
        snprintf(out, size, "%*lld", f->width, (long long)iv[i]);
        return;
    }
    double v = fv[i];
    if (!isfinite(v)) {
        const char *s = isnan(v) ? "nan" : v < 0 ? "-inf" : "inf";
        snprintf(out, size, "%*s", f->pad_left + f->pad_right + 1, s);
        return;
    }
    char buf[64];
    float_unique(v, f->dtype, options.precision, f->exp, buf, sizeof buf);
    int il, fl, el;
    float_parts(buf, &il, &fl, &el);
    if (!f->exp) {
        snprintf(out, size, "%*s%s%*s", f->pad_left - il, "", buf, f->pad_right - fl, "");
        return;
    }
    /* scientific: the mantissa with `precision` digits (of the exact value,
     * as NumPy's Dragon4 with min_digits), the exponent with exp_size digits */
    snprintf(buf, sizeof buf, "%.*e", f->precision, v);
    if (f->precision == 0) {
        char *e0 = strchr(buf, 'e');
        memmove(e0 + 1, e0, strlen(e0) + 1);
        *e0 = '.';
    }
    char *e = strchr(buf, 'e');
    char sign = e[1];
    long ex = strtol(e + 2, NULL, 10);
    *e = 0;
    il = (int)(strchr(buf, '.') - buf);
    snprintf(out, size, "%*s%s", f->pad_left - il, "", buf);
    size_t n = strlen(out);
    snprintf(out + n, size - n, "e%c%0*ld", sign, f->exp_size, ex);
}

/* ---------------------------------------------------------------- layout */

typedef struct layout {
    fmt f;
    const double *fv;
    const int64_t *iv;
    int ndim;
    const int64_t *shape;              /* of the full array */
    int64_t cshape[TY_MAX_DIMS];       /* of the shown (compact) data */
    bool summarise;
    int edge;
} layout;

static void extend_line(sbuf *s, sbuf *line, const char *word, int width, int hang)
{
    size_t wl = strlen(word);
    bool wrap = (int)(line->n + wl) > width && (int)line->n > hang;
    if (wrap) {
        size_t n = line->n;
        while (n > 0 && line->p[n - 1] == ' ') n--;
        ty_strbuf_add(s, line->p, n);
        ty_strbuf_adds(s, "\n");
        line->n = 0;
        sb_spaces(line, hang);
    }
    ty_strbuf_adds(line, word);
}

/* NumPy's _formatArray: the text of the sub-array at compact offset `off` of
 * axis `axis`, with `hang` spaces of hanging indent, in `width` columns. */
static void format_rec(const layout *lo, int axis, int64_t off, int hang, int width,
                       sbuf *out)
{
    if (axis == lo->ndim) {
        char buf[96];
        fmt_element(&lo->f, lo->fv, lo->iv, off, buf, sizeof buf);
        ty_strbuf_adds(out, buf);
        return;
    }
    int64_t n = lo->shape[axis], cs = lo->cshape[axis];
    bool summary = lo->summarise && 2 * (int64_t)lo->edge < n;
    int64_t lead = summary ? lo->edge : 0;
    int64_t trail = summary ? lo->edge : n;
    int axes_left = lo->ndim - axis;
    sbuf s = {0};
    if (axes_left == 1) {
        int elem_width = width - 1;
        sbuf line = {0};
        sb_spaces(&line, hang);
        for (int64_t i = 0; i < lead + trail; i++) {
            if (summary && i == lead) {
                extend_line(&s, &line, "...", elem_width, hang);
                ty_strbuf_adds(&line, ", ");
            }
            int64_t ci = i < lead ? i : cs - (lead + trail - i);
            sbuf word = {0};
            format_rec(lo, axis + 1, off * cs + ci, hang + 1, width - 1, &word);
            extend_line(&s, &line, word.p ? word.p : "", elem_width, hang);
            if (word.failed) s.failed = true;
            free(word.p);
            if (i + 1 < lead + trail) ty_strbuf_adds(&line, ", ");
        }
        sb_take(&s, &line);
    } else {
        char sep[TY_MAX_DIMS + 2] = ",";
        for (int i = 0; i < axes_left - 1; i++) sep[1 + i] = '\n';
        sep[axes_left] = 0;
        for (int64_t i = 0; i < lead + trail; i++) {
            if (summary && i == lead) {
                sb_spaces(&s, hang);
                ty_strbuf_adds(&s, "...");
                ty_strbuf_adds(&s, sep);
            }
            int64_t ci = i < lead ? i : cs - (lead + trail - i);
            sb_spaces(&s, hang);
            format_rec(lo, axis + 1, off * cs + ci, hang + 1, width - 1, &s);
            if (i + 1 < lead + trail) ty_strbuf_adds(&s, sep);
        }
    }
    ty_strbuf_adds(out, "[");
    if (s.failed) out->failed = true;
    else if (s.n > (size_t)hang) ty_strbuf_add(out, s.p + hang, s.n - (size_t)hang);
    free(s.p);
    ty_strbuf_adds(out, "]");
}

/* The shown part of a: for each summarised axis, its first and last `edge`
 * entries concatenated. Left in holder h. */
static void shown_part(lua_State *L, lty_box *h, const layout *lo)
{
    for (int axis = 0; axis < lo->ndim; axis++) {
        int64_t n = lo->shape[axis];
        if (lo->cshape[axis] == n) continue;
        int64_t start[TY_MAX_DIMS], stop[TY_MAX_DIMS], step[TY_MAX_DIMS];
        for (int i = 0; i < lo->ndim; i++) {
            start[i] = 0;
            stop[i] = ty_dim(h->a, i);
            step[i] = 1;
        }
        ty_array *parts[2];
        stop[axis] = lo->edge;
        parts[0] = ty_slice(h->a, start, stop, step);
        start[axis] = n - lo->edge;
        stop[axis] = n;
        parts[1] = ty_slice(h->a, start, stop, step);
        ty_array *c = (parts[0] && parts[1]) ? ty_concatenate(parts, 2, axis) : NULL;
        ty_release(parts[0]);
        ty_release(parts[1]);
        lty_holder_set(L, h, c);
    }
}

/* Pushes the repr of a. */
static void push_repr(lua_State *L, ty_array *a)
{
    layout lo;
    memset(&lo, 0, sizeof lo);
    lo.ndim = ty_ndim(a);
    lo.shape = ty_shape(a);
    lo.edge = options.edgeitems;
    lo.summarise = ty_size(a) > options.threshold;
    int64_t csize = 1;
    for (int i = 0; i < lo.ndim; i++) {
        int64_t n = lo.shape[i];
        lo.cshape[i] = (lo.summarise && 2 * (int64_t)lo.edge < n) ? 2 * lo.edge : n;
        csize *= lo.cshape[i];
    }
    ty_dtype d = ty_dtype_of(a);
    char shape[96], extra[160];
    if (lo.ndim == 0)   /* a scalar: the shape () says nothing */
        snprintf(extra, sizeof extra, "dtype=%s)", ty_dtype_name(d));
    else
        snprintf(extra, sizeof extra, "shape=%s, dtype=%s)",
                 lty_shape_tuple(lo.ndim, lo.shape, shape, sizeof shape), ty_dtype_name(d));
    sbuf out = {0};
    ty_strbuf_adds(&out, "array(");
    if (csize == 0) {
        ty_strbuf_adds(&out, "[],");
    } else {
        lty_box *h = lty_push_holder(L, ty_retain(a));
        shown_part(L, h, &lo);
        bool isfloat = ty_dtype_is_float(d);
        const void *data = lty_host_copy(L, h->a, isfloat ? TY_FLOAT64 : TY_INT64);
        lo.fv = isfloat ? data : NULL;
        lo.iv = isfloat ? NULL : data;
        fmt_init(&lo.f, d, lo.fv, lo.iv, csize, lo.ndim);
        format_rec(&lo, 0, 0, 7, options.linewidth - 1, &out);
        ty_strbuf_adds(&out, ",");
        lua_pop(L, 2);
    }
    const char *last = out.p ? strrchr(out.p, '\n') : NULL;
    size_t last_len = last ? out.n - (size_t)(last - out.p + 1) : out.n;
    if ((int)(last_len + strlen(extra) + 1) > options.linewidth) ty_strbuf_adds(&out, "\n      ");
    else ty_strbuf_adds(&out, " ");
    ty_strbuf_adds(&out, extra);
    if (out.failed) {
        free(out.p);
        luaL_error(L, "[print] out of memory");
    }
    lua_pushlstring(L, out.p, out.n);
    free(out.p);
}

int lty_print_tostring(lua_State *L)
{
    lty_box *box = lty_box_test(L, 1);
    if (!box) return luaL_typeerror(L, 1, "array");
    if (!box->a) {
        lua_pushliteral(L, "array(<released>)");
        return 1;
    }
    push_repr(L, box->a);
    return 1;
}

/* ---------------------------------------------------------------- options */

static void read_option(lua_State *L, const char *name, int *value, int min)
{
    if (lua_getfield(L, 1, name) != LUA_TNIL) {
        int isint;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint || v < min || v > 1000000000)
            luaL_error(L, "[set_printoptions] %s must be an integer >= %d", name, min);
        *value = (int)v;
    }
    lua_pop(L, 1);
}

/* ty.set_printoptions{precision=, threshold=, edgeitems=, linewidth=} */
static int set_printoptions(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TTABLE)
        return luaL_error(L, "[set_printoptions] expected an options table, got %s",
                          luaL_typename(L, 1));
    print_options o = options;
    read_option(L, "precision", &o.precision, 0);
    read_option(L, "threshold", &o.threshold, 0);
    read_option(L, "edgeitems", &o.edgeitems, 1);
    read_option(L, "linewidth", &o.linewidth, 10);
    if (o.precision > 17) o.precision = 17;
    lty_arg_check_opts(L, 1, "set_printoptions", "precision threshold edgeitems linewidth");
    options = o;
    return 0;
}

static int get_printoptions(lua_State *L)
{
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, options.precision);
    lua_setfield(L, -2, "precision");
    lua_pushinteger(L, options.threshold);
    lua_setfield(L, -2, "threshold");
    lua_pushinteger(L, options.edgeitems);
    lua_setfield(L, -2, "edgeitems");
    lua_pushinteger(L, options.linewidth);
    lua_setfield(L, -2, "linewidth");
    return 1;
}

void lty_open_print(lua_State *L)
{
    lua_pushcfunction(L, set_printoptions);
    lua_setfield(L, -2, "set_printoptions");
    lua_pushcfunction(L, get_printoptions);
    lua_setfield(L, -2, "get_printoptions");
}
