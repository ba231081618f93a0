/*
 * io_idx.c -- reading IDX files (the MNIST format), plain or gzip-compressed.
 *
 * Layout: two zero bytes, a type byte, a dimension count byte, then one
 * big-endian uint32 per dimension and the values, big-endian, row-major.
 * Types: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
 * 0x0E float64; int8 and int16 are widened to int32 (tycho has neither).
 * zlib's gzread reads gzip streams (files starting 1f 8b) and passes other
 * files through unchanged, so one reader serves both.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "internal.h"

/* Largest value count accepted (the core's own array limit is 2^60 bytes;
 * this is far above any real IDX file and keeps byte counts in int64). */
#define IDX_MAX_BYTES ((int64_t)1 << 40)

typedef struct idx_type {
    uint8_t code;
    int width;                 /* bytes per stored value */
    ty_dtype dtype;            /* dtype of the loaded array */
    const char *name;
} idx_type;

static const idx_type idx_types[] = {
    {0x08, 1, TY_UINT8, "uint8"},   {0x09, 1, TY_INT32, "int8"},
    {0x0B, 2, TY_INT32, "int16"},   {0x0C, 4, TY_INT32, "int32"},
    {0x0D, 4, TY_FLOAT32, "float32"}, {0x0E, 8, TY_FLOAT64, "float64"},
};

/* Reads exactly n bytes; returns the count read (< n at end of data) or -1
 * on a read/decompression error (message set). */
static int64_t read_full(gzFile f, const char *path, void *dst, int64_t n)
{
    int64_t got = 0;
    while (got < n) {
        int64_t want = n - got;
        unsigned chunk = want > (1 << 30) ? (1u << 30) : (unsigned)want;
        int r = gzread(f, (char *)dst + got, chunk);
        if (r < 0) {
            int errnum = 0;
            const char *msg = gzerror(f, &errnum);
            ty__error("[read_idx] %s: read error (%s)", path, msg ? msg : "unknown");
            return -1;
        }
        if (r == 0) break;
        got += r;
    }
    return got;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Converts n big-endian values of type t from raw into dst (of t->dtype). */
static void convert(const idx_type *t, const uint8_t *raw, void *dst, int64_t n)
{
    switch (t->code) {
    case 0x08:
        memcpy(dst, raw, (size_t)n);
        break;
    case 0x09:
        for (int64_t i = 0; i < n; i++) ((int32_t *)dst)[i] = (int8_t)raw[i];
        break;
    case 0x0B:
        for (int64_t i = 0; i < n; i++) {
            uint16_t u = (uint16_t)(raw[2 * i] << 8 | raw[2 * i + 1]);
            ((int32_t *)dst)[i] = (int16_t)u;
        }
        break;
    case 0x0C:
        for (int64_t i = 0; i < n; i++) ((int32_t *)dst)[i] = (int32_t)be32(raw + 4 * i);
        break;
    case 0x0D:
        for (int64_t i = 0; i < n; i++) {
            uint32_t u = be32(raw + 4 * i);
            memcpy((float *)dst + i, &u, 4);
        }
        break;
    case 0x0E:
        for (int64_t i = 0; i < n; i++) {
            uint64_t u = (uint64_t)be32(raw + 8 * i) << 32 | be32(raw + 8 * i + 4);
            memcpy((double *)dst + i, &u, 8);
        }
        break;
    default:
        break;
    }
}

ty_array *ty_load_idx(const char *path, ty_device device)
{
    if (!path) return ty__error_null("[read_idx] no path given");
    gzFile f = gzopen(path, "rb");
    if (!f) return ty__error_null("[read_idx] %s: cannot open the file", path);
    ty_array *out = NULL;
    uint8_t *raw = NULL;
    uint8_t head[4];
    int64_t got = read_full(f, path, head, 4);
    if (got < 0) goto done;
    if (got < 4) {
        ty__error("[read_idx] %s: truncated header (%lld bytes; an IDX file starts with 4)",
                  path, (long long)got);
        goto done;
    }
    if (head[0] != 0 || head[1] != 0) {
        ty__error("[read_idx] %s: not an IDX file (bad magic %02x %02x, expected 00 00)", path,
                  head[0], head[1]);
        goto done;
    }
    const idx_type *t = NULL;
    for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
        if (idx_types[i].code == head[2]) t = &idx_types[i];
    if (!t) {
        ty__error("[read_idx] %s: unknown IDX type code 0x%02x (expected 08, 09, 0B, 0C, 0D "
                  "or 0E)", path, head[2]);
        goto done;
    }
    int ndim = head[3];
    if (ndim > TY_MAX_DIMS) {
        ty__error("[read_idx] %s: %d dimensions (at most %d are supported)", path, ndim,
                  TY_MAX_DIMS);
        goto done;
    }
    uint8_t dims[4 * TY_MAX_DIMS];
    got = read_full(f, path, dims, 4 * ndim);
    if (got < 0) goto done;
    if (got < 4 * ndim) {
        ty__error("[read_idx] %s: truncated header (%d dimension sizes expected)", path, ndim);
        goto done;
    }
    int64_t shape[TY_MAX_DIMS];
    int64_t count = 1, nbytes = 0;
    for (int i = 0; i < ndim; i++) {
        shape[i] = be32(dims + 4 * i);
        if (__builtin_mul_overflow(count, shape[i], &count) || count > IDX_MAX_BYTES) {
            ty__error("[read_idx] %s: the dimension sizes overflow (too many values)", path);
            goto done;
        }
    }
    if (__builtin_mul_overflow(count, (int64_t)t->width, &nbytes) || nbytes > IDX_MAX_BYTES) {
        ty__error("[read_idx] %s: the data would be too large (%lld values of %s)", path,
                  (long long)count, t->name);
        goto done;
    }
    raw = malloc(nbytes ? (size_t)nbytes : 1);
    if (!raw) {
        ty__error("[read_idx] %s: out of host memory (%lld bytes)", path, (long long)nbytes);
        goto done;
    }
    got = read_full(f, path, raw, nbytes);
    if (got < 0) goto done;
    if (got < nbytes) {
        char sbuf[TY_SHAPE_BUF];
        ty__error("[read_idx] %s: truncated data: %lld of %lld bytes for shape %s of %s", path,
                  (long long)got, (long long)nbytes, ty__shape_str(ndim, shape, sbuf, sizeof sbuf),
                  t->name);
        goto done;
    }
    uint8_t extra;
    got = read_full(f, path, &extra, 1);
    if (got < 0) goto done;
    if (got != 0) {
        ty__error("[read_idx] %s: unexpected bytes after the data (trailing garbage)", path);
        goto done;
    }
    ty_device cpu = {TY_CPU, 0};
    ty_array *host = ty__array_new_buffer(ndim, shape, t->dtype, cpu);
    if (!host) goto done;
    if (count) convert(t, raw, host->buffer->data, count);
    if (ty__home_device(device, host->dtype).kind == TY_CPU) {
        out = host;
    } else {
        out = ty_to_device(host, device);
        ty_release(host);
    }
done:
    free(raw);
    gzclose(f);
    return out;
}
