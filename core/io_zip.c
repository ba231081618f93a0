/*
 * io_zip.c -- a minimal zip reader and writer for .npz: local headers, the
 * central directory and its end record; members stored (method 0) or
 * deflated (method 8, zlib raw deflate), CRC-32 checked. No zip64, no
 * encryption, single disk.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io_internal.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u
#define SIG_END64_LOCATOR 0x07064b50u

static uint32_t rd16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* CRC-32 of n bytes (zlib's crc32 takes uInt lengths). */
static uint32_t crc_of(const unsigned char *data, size_t n)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt k = n > 0x40000000u ? 0x40000000u : (uInt)n;
        crc = crc32(crc, data, k);
        data += k;
        n -= k;
    }
    return (uint32_t)crc;
}

void ty__zip_free(ty__zip_member *members, int n)
{
    if (!members) return;
    for (int i = 0; i < n; i++) {
        free(members[i].name);
        free(members[i].data);
    }
    free(members);
}

/* Inflates raw deflate data into exactly usize bytes. */
static int inflate_member(const unsigned char *src, size_t csize, unsigned char *dst,
                          size_t usize, const char *path, const char *name)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
        return ty__error("[load] %s: zlib initialisation failed", path);
    zs.next_in = (Bytef *)src;
    zs.avail_in = (uInt)csize;
    zs.next_out = dst;
    zs.avail_out = (uInt)usize;
    int r = inflate(&zs, Z_FINISH);
    size_t produced = usize - zs.avail_out;
    inflateEnd(&zs);
    if (r != Z_STREAM_END || produced != usize)
        return ty__error("[load] %s: member '%s': corrupt deflate data (%s)", path, name,
                         r == Z_STREAM_END ? "size mismatch" : "stream error");
    return 0;
}

int ty__zip_read(const unsigned char *data, size_t size, const char *path,
                 ty__zip_member **out, int *nout)
{
    *out = NULL;
    *nout = 0;
    if (size < 22) return ty__error("[load] %s: not a zip archive (too short)", path);
    /* The end record is within the last 22 + 65535 bytes (its comment). */
    size_t end = (size_t)-1;
    size_t lo = size > 22 + 65535 ? size - 22 - 65535 : 0;
    for (size_t i = size - 22 + 1; i-- > lo;)
        if (rd32(data + i) == SIG_END && i + 22 + rd16(data + i + 20) == size) {
            end = i;
            break;
        }
    if (end == (size_t)-1)
        return ty__error("[load] %s: not a zip archive (no end of central directory)", path);
    const unsigned char *e = data + end;
    uint32_t disk = rd16(e + 4), cd_disk = rd16(e + 6), count_disk = rd16(e + 8);
    uint32_t count = rd16(e + 10), cd_size = rd32(e + 12), cd_off = rd32(e + 16);
    if ((end >= 20 && rd32(data + end - 20) == SIG_END64_LOCATOR) || count == 0xFFFF ||
        cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu)
        return ty__error("[load] %s: zip64 archives are not supported", path);
    if (disk != 0 || cd_disk != 0 || count_disk != count)
        return ty__error("[load] %s: multi-disk zip archives are not supported", path);
    if ((uint64_t)cd_off + cd_size > end)
        return ty__error("[load] %s: central directory past the end of the file", path);
    ty__zip_member *m = calloc(count ? count : 1, sizeof *m);
    if (!m) return ty__error("[load] %s: out of memory", path);
    int n = 0;
    size_t p = cd_off, cd_end = (size_t)cd_off + cd_size;
    for (uint32_t k = 0; k < count; k++) {
        if (p + 46 > cd_end || rd32(data + p) != SIG_CENTRAL) {
            ty__error("[load] %s: corrupt central directory (entry %u)", path, k + 1);
            goto fail;
        }
        const unsigned char *c = data + p;
        uint32_t flags = rd16(c + 8), method = rd16(c + 10), crc = rd32(c + 16);
        uint32_t csize = rd32(c + 20), usize = rd32(c + 24), nlen = rd16(c + 28);
        uint32_t xlen = rd16(c + 30), clen = rd16(c + 32), lho = rd32(c + 42);
        if (p + 46 + nlen + xlen + clen > cd_end) {
            ty__error("[load] %s: corrupt central directory (entry %u)", path, k + 1);
            goto fail;
        }
        char *name = malloc(nlen + 1);
        if (!name) {
            ty__error("[load] %s: out of memory", path);
            goto fail;
        }
        memcpy(name, c + 46, nlen);
        name[nlen] = 0;
        m[n].name = name;
        n++;
        p += 46 + nlen + xlen + clen;
        if (strlen(name) != nlen || nlen == 0) {
            ty__error("[load] %s: bad member name in the central directory", path);
            goto fail;
        }
        if (csize == 0xFFFFFFFFu || usize == 0xFFFFFFFFu || lho == 0xFFFFFFFFu) {
            ty__error("[load] %s: member '%s': zip64 archives are not supported", path, name);
            goto fail;
        }
        if (flags & 1) {
            ty__error("[load] %s: member '%s' is encrypted", path, name);
            goto fail;
        }
        if (method != 0 && method != 8) {
            ty__error("[load] %s: member '%s': unsupported compression method %u (expected "
                      "stored or deflate)", path, name, method);
            goto fail;
        }
        /* The local header: its name and extra lengths place the data (its
         * sizes may be zero or zip64 markers; the central directory's rule). */
        if ((uint64_t)lho + 30 > cd_off || rd32(data + lho) != SIG_LOCAL) {
            ty__error("[load] %s: member '%s': bad local header", path, name);
            goto fail;
        }
        uint64_t start = (uint64_t)lho + 30 + rd16(data + lho + 26) + rd16(data + lho + 28);
        if (start + csize > cd_off) {
            ty__error("[load] %s: member '%s': data past the end of the archive", path, name);
            goto fail;
        }
        if (method == 0 && csize != usize) {
            ty__error("[load] %s: member '%s': stored sizes differ", path, name);
            goto fail;
        }
        /* Deflate expands at most ~1032:1: refuse a size it cannot produce. */
        if (method == 8 && (uint64_t)usize > (uint64_t)csize * 1032 + 1024) {
            ty__error("[load] %s: member '%s': declared size %u is impossible for %u "
                      "compressed bytes", path, name, usize, csize);
            goto fail;
        }
        unsigned char *buf = malloc(usize ? usize : 1);
        if (!buf) {
            ty__error("[load] %s: out of memory", path);
            goto fail;
        }
        m[n - 1].data = buf;
        m[n - 1].size = usize;
        if (method == 0) {
            memcpy(buf, data + start, usize);
        } else if (inflate_member(data + start, csize, buf, usize, path, name) != 0) {
            goto fail;
        }
        if (crc_of(buf, usize) != crc) {
            ty__error("[load] %s: member '%s': CRC-32 mismatch (corrupt file)", path, name);
            goto fail;
        }
    }
    *out = m;
    *nout = n;
    return 0;
fail:
    ty__zip_free(m, n);
    return -1;
}

/* A growing byte buffer. */
typedef struct bytes {
    unsigned char *p;
    size_t n, cap;
} bytes;

static unsigned char *grow(bytes *b, size_t extra)
{
    if (b->n + extra > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + extra) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) return NULL;
        b->p = p;
        b->cap = cap;
    }
    unsigned char *r = b->p + b->n;
    b->n += extra;
    return r;
}

/* Raw-deflates src into a malloc'd buffer. */
static int deflate_member(const unsigned char *src, size_t n, unsigned char **out,
                          size_t *outn, const char *path)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return ty__error("[save] %s: zlib initialisation failed", path);
    uLong bound = deflateBound(&zs, (uLong)n);
    unsigned char *buf = malloc(bound ? bound : 1);
    if (!buf) {
        deflateEnd(&zs);
        return ty__error("[save] %s: out of memory", path);
    }
    zs.next_in = (Bytef *)src;
    zs.avail_in = (uInt)n;
    zs.next_out = buf;
    zs.avail_out = (uInt)bound;
    int r = deflate(&zs, Z_FINISH);
    *outn = bound - zs.avail_out;
    deflateEnd(&zs);
    if (r != Z_STREAM_END) {
        free(buf);
        return ty__error("[save] %s: deflate failed", path);
    }
    *out = buf;
    return 0;
}

int ty__zip_write(const ty__zip_member *members, int n, bool compress, const char *path,
                  unsigned char **out, size_t *size)
{
    *out = NULL;
    *size = 0;
    if (n > 0xFFFE) return ty__error("[save] %s: too many members for a zip archive", path);
    bytes b = {0};
    uint32_t *offsets = calloc((size_t)(n ? n : 1), sizeof *offsets);
    uint32_t *csizes = calloc((size_t)(n ? n : 1), sizeof *csizes);
    uint32_t *crcs = calloc((size_t)(n ? n : 1), sizeof *crcs);
    bool *deflated = calloc((size_t)(n ? n : 1), sizeof *deflated);
    if (!offsets || !csizes || !crcs || !deflated) {
        ty__error("[save] %s: out of memory", path);
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        const ty__zip_member *m = &members[i];
        size_t nlen = strlen(m->name);
        if (m->size >= 0xFFFFFFFFu || nlen > 0xFFFF) {
            ty__error("[save] %s: member '%s' is too large for a zip archive without zip64 "
                      "(4 GiB)", path, m->name);
            goto fail;
        }
        unsigned char *z = NULL;
        size_t zn = 0;
        if (compress && deflate_member(m->data, m->size, &z, &zn, path) != 0) goto fail;
        deflated[i] = compress && zn < m->size;
        const unsigned char *body = deflated[i] ? z : m->data;
        size_t bn = deflated[i] ? zn : m->size;
        crcs[i] = crc_of(m->data, m->size);
        csizes[i] = (uint32_t)bn;
        if (b.n > 0xFFFFFFF0u) {
            free(z);
            ty__error("[save] %s: archive too large without zip64 (4 GiB)", path);
            goto fail;
        }
        offsets[i] = (uint32_t)b.n;
        unsigned char *h = grow(&b, 30 + nlen + bn);
        if (!h) {
            free(z);
            ty__error("[save] %s: out of memory", path);
            goto fail;
        }
        memset(h, 0, 30);
        wr32(h, SIG_LOCAL);
        wr16(h + 4, 20);
        wr16(h + 8, deflated[i] ? 8 : 0);
        wr16(h + 12, 0x21);            /* 1980-01-01 */
        wr32(h + 14, crcs[i]);
        wr32(h + 18, csizes[i]);
        wr32(h + 22, (uint32_t)m->size);
        wr16(h + 26, (uint32_t)nlen);
        memcpy(h + 30, m->name, nlen);
        if (bn) memcpy(h + 30 + nlen, body, bn);
        free(z);
    }
    size_t cd_off = b.n;
    for (int i = 0; i < n; i++) {
        const ty__zip_member *m = &members[i];
        size_t nlen = strlen(m->name);
        unsigned char *c = grow(&b, 46 + nlen);
        if (!c) {
            ty__error("[save] %s: out of memory", path);
            goto fail;
        }
        memset(c, 0, 46);
        wr32(c, SIG_CENTRAL);
        wr16(c + 4, 20);
        wr16(c + 6, 20);
        wr16(c + 10, deflated[i] ? 8 : 0);
        wr16(c + 14, 0x21);
        wr32(c + 16, crcs[i]);
        wr32(c + 20, csizes[i]);
        wr32(c + 24, (uint32_t)m->size);
        wr16(c + 28, (uint32_t)nlen);
        wr32(c + 38, 0644u << 16);     /* external attributes: rw-r--r-- */
        wr32(c + 42, offsets[i]);
        memcpy(c + 46, m->name, nlen);
    }
    size_t cd_size = b.n - cd_off;
    if (b.n > 0xFFFFFFF0u) {
        ty__error("[save] %s: archive too large without zip64 (4 GiB)", path);
        goto fail;
    }
    unsigned char *e = grow(&b, 22);
    if (!e) {
        ty__error("[save] %s: out of memory", path);
        goto fail;
    }
    memset(e, 0, 22);
    wr32(e, SIG_END);
    wr16(e + 8, (uint32_t)n);
    wr16(e + 10, (uint32_t)n);
    wr32(e + 12, (uint32_t)cd_size);
    wr32(e + 16, (uint32_t)cd_off);
    free(offsets);
    free(csizes);
    free(crcs);
    free(deflated);
    *out = b.p;
    *size = b.n;
    return 0;
fail:
    free(b.p);
    free(offsets);
    free(csizes);
    free(crcs);
    free(deflated);
    return -1;
}
