/*
 * io_npy.c -- NumPy .npy files (format versions 1.0, 2.0 and 3.0 read; 1.0
 * written, 2.0 when the header needs it). The header is a Python dict
 * literal: a small strict parser reads exactly the keys 'descr',
 * 'fortran_order' and 'shape'; nothing is evaluated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"

#define NPY_MAX_HEADER 100000          /* bytes (NumPy's own limit is 10000) */

static const struct {
    const char *descr;
    ty_dtype dtype;
} npy_dtypes[] = {
    {"<f4", TY_FLOAT32}, {"<f8", TY_FLOAT64}, {"<f2", TY_FLOAT16}, {"<i4", TY_INT32},
    {"<i8", TY_INT64},   {"|u1", TY_UINT8},   {"<u1", TY_UINT8},   {"|b1", TY_BOOL},
    {"<b1", TY_BOOL},
};

/* ---------------------------------------------------------------- header */

typedef struct npy_parser {
    const char *p, *end;
} npy_parser;

static void skip_ws(npy_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n'))
        ps->p++;
}

static bool accept(npy_parser *ps, char c)
{
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return true;
    }
    return false;
}

/* A quoted string (single or double quotes, no escapes) into buf. */
static bool parse_str(npy_parser *ps, char *buf, size_t size)
{
    skip_ws(ps);
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"')) return false;
    char q = *ps->p++;
    size_t n = 0;
    while (ps->p < ps->end && *ps->p != q) {
        if (*ps->p == '\\' || n + 1 >= size) return false;
        buf[n++] = *ps->p++;
    }
    if (ps->p >= ps->end) return false;
    ps->p++;
    buf[n] = 0;
    return true;
}

static bool parse_word(npy_parser *ps, const char *word)
{
    skip_ws(ps);
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return false;
    ps->p += n;
    return true;
}

/* A non-negative decimal integer (Python may write a trailing L: no). */
static bool parse_dim(npy_parser *ps, int64_t *out)
{
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return false;
    int64_t v = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        if (v > (INT64_MAX - 9) / 10) return false;
        v = v * 10 + (*ps->p++ - '0');
    }
    *out = v;
    return true;
}

typedef struct npy_header {
    char descr[32];
    bool fortran;
    int ndim;
    int64_t shape[TY_MAX_DIMS];
} npy_header;

/* Parses the dict; -1 with the error set. */
static int parse_header(const char *text, size_t len, const char *where, npy_header *h)
{
    npy_parser ps = {text, text + len};
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    if (!accept(&ps, '{')) return ty__error("[load] %s: bad header: expected a dict", where);
    while (!accept(&ps, '}')) {
        char key[32];
        if (!parse_str(&ps, key, sizeof key))
            return ty__error("[load] %s: bad header: expected a quoted key", where);
        if (!accept(&ps, ':'))
            return ty__error("[load] %s: bad header: expected ':' after '%s'", where, key);
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            seen_descr = true;
            skip_ws(&ps);
            if (ps.p < ps.end && (*ps.p == '[' || *ps.p == '{'))
                return ty__error("[load] %s: structured dtypes are not supported", where);
            if (!parse_str(&ps, h->descr, sizeof h->descr))
                return ty__error("[load] %s: bad header: 'descr' must be a dtype string",
                                 where);
        } else if (strcmp(key, "fortran_order") == 0 && !seen_fortran) {
            seen_fortran = true;
            if (parse_word(&ps, "True")) h->fortran = true;
            else if (parse_word(&ps, "False")) h->fortran = false;
            else
                return ty__error("[load] %s: bad header: 'fortran_order' must be True or "
                                 "False", where);
        } else if (strcmp(key, "shape") == 0 && !seen_shape) {
            seen_shape = true;
            if (!accept(&ps, '('))
                return ty__error("[load] %s: bad header: 'shape' must be a tuple", where);
            h->ndim = 0;
            while (!accept(&ps, ')')) {
                if (h->ndim >= TY_MAX_DIMS)
                    return ty__error("[load] %s: more than %d dimensions", where,
                                     TY_MAX_DIMS);
                if (!parse_dim(&ps, &h->shape[h->ndim]))
                    return ty__error("[load] %s: bad header: 'shape' must hold "
                                     "non-negative integers", where);
                h->ndim++;
                if (!accept(&ps, ',')) {
                    if (!accept(&ps, ')'))
                        return ty__error("[load] %s: bad header: unterminated shape",
                                         where);
                    break;
                }
            }
        } else {
            return ty__error("[load] %s: bad header: unexpected key '%s'", where, key);
        }
        if (!accept(&ps, ',')) {
            if (!accept(&ps, '}'))
                return ty__error("[load] %s: bad header: expected ',' or '}'", where);
            break;
        }
    }
    skip_ws(&ps);
    if (ps.p != ps.end)
        return ty__error("[load] %s: bad header: trailing characters after the dict", where);
    if (!seen_descr || !seen_fortran || !seen_shape)
        return ty__error("[load] %s: bad header: missing '%s'", where,
                         !seen_descr ? "descr" : !seen_fortran ? "fortran_order" : "shape");
    return 0;
}

static int dtype_of_descr(const char *descr, const char *where, ty_dtype *out)
{
    for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; i++)
        if (strcmp(npy_dtypes[i].descr, descr) == 0) {
            *out = npy_dtypes[i].dtype;
            return 0;
        }
    if (strcmp(descr, ">u1") == 0 || strcmp(descr, "=u1") == 0) {
        *out = TY_UINT8;
        return 0;
    }
    if (descr[0] == '>')
        return ty__error("[load] %s: big-endian dtype '%s' is not supported (save it "
                         "little-endian, e.g. a.astype(a.dtype.newbyteorder('<')))",
                         where, descr);
    return ty__error("[load] %s: unsupported dtype '%s' (tycho reads <f2 <f4 <f8 <i4 <i8 "
                     "|u1 |b1)", where, descr);
}

/* ---------------------------------------------------------------- decode */

ty_array *ty__npy_decode(const unsigned char *data, size_t size, const char *where,
                         ty_device device)
{
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (size < 10 || memcmp(data, magic, 6) != 0)
        return ty__error_null("[load] %s: bad magic (not a .npy file)", where);
    int major = data[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)data[8] | (size_t)data[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) return ty__error_null("[load] %s: truncated header", where);
        uint32_t v = (uint32_t)data[8] | (uint32_t)data[9] << 8 | (uint32_t)data[10] << 16 |
                     (uint32_t)data[11] << 24;
        hlen = v;
        hstart = 12;
    } else {
        return ty__error_null("[load] %s: unsupported .npy format version %d.%d", where,
                              major, data[7]);
    }
    if (hlen > NPY_MAX_HEADER)
        return ty__error_null("[load] %s: header length %zu is over the limit of %d bytes",
                              where, hlen, NPY_MAX_HEADER);
    if (hlen > size - hstart)
        return ty__error_null("[load] %s: truncated header (%zu bytes declared, %zu in the "
                              "file)", where, hlen, size - hstart);
    npy_header h = {0};
    if (parse_header((const char *)data + hstart, hlen, where, &h) != 0) return NULL;
    ty_dtype dtype = TY_FLOAT32;
    if (dtype_of_descr(h.descr, where, &dtype) != 0) return NULL;
    size_t es = ty_dtype_size(dtype);
    uint64_t count = 1, nbytes;
    for (int i = 0; i < h.ndim; i++)
        if (__builtin_mul_overflow(count, (uint64_t)h.shape[i], &count))
            return ty__error_null("[load] %s: the shape's element count overflows", where);
    if (count > (uint64_t)INT64_MAX || __builtin_mul_overflow(count, (uint64_t)es, &nbytes))
        return ty__error_null("[load] %s: the shape's element count overflows", where);
    size_t avail = size - hstart - hlen;
    if (nbytes > avail)
        return ty__error_null("[load] %s: truncated data: %llu bytes expected, %zu present",
                              where, (unsigned long long)nbytes, avail);
    const unsigned char *body = data + hstart + hlen;
    unsigned char *fixed = NULL;
    if (dtype == TY_BOOL) {            /* any nonzero byte is true */
        fixed = malloc(nbytes ? nbytes : 1);
        if (!fixed) return ty__error_null("[load] %s: out of memory", where);
        for (uint64_t i = 0; i < nbytes; i++) fixed[i] = body[i] != 0;
        body = fixed;
    }
    ty_device cpu = {TY_CPU, 0};
    int64_t shape[TY_MAX_DIMS];
    for (int i = 0; i < h.ndim; i++)   /* Fortran order: C order of the reversed shape */
        shape[i] = h.fortran ? h.shape[h.ndim - 1 - i] : h.shape[i];
    ty_array *a = ty_from_data(body, dtype, h.ndim, shape, cpu);
    free(fixed);
    if (!a) return NULL;
    if (h.fortran && h.ndim > 1) {
        ty_array *t = ty_transpose(a, NULL);
        ty_release(a);
        ty_array *c = t ? ty_contiguous(t) : NULL;
        ty_release(t);
        if (!c || ty_eval(&c, 1) != 0) {
            ty_release(c);
            return NULL;
        }
        a = c;
    }
    if (ty__home_device(device, a->dtype).kind != TY_CPU) {
        ty_array *d = ty_to_device(a, device);
        ty_release(a);
        a = d;
    }
    return a;
}

/* ---------------------------------------------------------------- encode */

int ty__npy_encode(ty_array *a, const char *path, unsigned char **out, size_t *size)
{
    *out = NULL;
    *size = 0;
    ty_dtype dtype = ty_dtype_of(a);
    if (dtype == TY_BFLOAT16)
        return ty__error("[save] %s: bfloat16 is not a NumPy dtype; save it as .safetensors "
                         "(or convert it with :astype('float32'))", path);
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0] && !descr; i++)
        if (npy_dtypes[i].dtype == dtype) descr = npy_dtypes[i].descr;
    if (!descr) return ty__error("[save] %s: dtype %s has no .npy equivalent", path,
                                 ty_dtype_name(dtype));
    char dict[400];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descr);
    int ndim = ty_ndim(a);
    const int64_t *shape = ty_shape(a);
    for (int i = 0; i < ndim; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld,%s", (long long)shape[i],
                      ndim == 1 || i + 1 == ndim ? "" : " ");
    if (ndim > 1) n--;                 /* (2, 3) not (2, 3,) */
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* Version 1.0 (2-byte header length) unless the header is too long;
     * magic + version + length + dict + padding + '\n' is a multiple of 64. */
    size_t pre = 10, dlen = (size_t)n;
    size_t total = (pre + dlen + 1 + 63) / 64 * 64;
    int major = 1;
    if (total - pre > 65535) {
        pre = 12;
        total = (pre + dlen + 1 + 63) / 64 * 64;
        major = 2;
    }
    size_t hlen = total - pre;
    size_t es = ty_dtype_size(dtype), nbytes = (size_t)ty_size(a) * es;
    unsigned char *buf = malloc(total + nbytes);
    if (!buf) return ty__error("[save] %s: out of memory (%zu bytes)", path, total + nbytes);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + pre, dict, dlen);
    memset(buf + pre + dlen, ' ', hlen - dlen - 1);
    buf[total - 1] = '\n';
    if (nbytes && ty_copy_to(a, buf + total, dtype) != 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *size = total + nbytes;
    return 0;
}

/* ---------------------------------------------------------------- files */

int ty_save_npy(const char *path, ty_array *a)
{
    if (!a) return ty__error("[save] %s: no array", path);
    unsigned char *buf;
    size_t n;
    if (ty__npy_encode(a, path, &buf, &n) != 0) return -1;
    int rc = ty_write_file_atomic(path, buf, n);
    free(buf);
    return rc;
}

ty_array *ty_load_npy(const char *path, ty_device device)
{
    unsigned char *data;
    size_t size;
    if (ty__read_file(path, TY_IO_MAX_FILE, &data, &size) != 0) return NULL;
    ty_array *a = ty__npy_decode(data, size, path, device);
    free(data);
    return a;
}
