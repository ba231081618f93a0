/* png.c -- a small PNG reader (zlib), used by tests to check rendered plots:
 * dimensions from IHDR and pixels as RGB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "viz.h"
#include "viz_internal.h"

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc) return a;
    return pb <= pc ? b : c;
}

int viz_png_read(const char *path, int *width, int *height, unsigned char **rgb)
{
    *rgb = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return viz__error("[png] cannot open '%s'", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *file = size > 0 ? malloc((size_t)size) : NULL;
    if (!file || fread(file, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(file);
        return viz__error("[png] cannot read '%s'", path);
    }
    fclose(f);
    static const unsigned char sig[8] = {137, 'P', 'N', 'G', 13, 10, 26, 10};
    int rc = -1;
    unsigned char *idat = NULL, *raw = NULL, *out = NULL;
    size_t nidat = 0;
    unsigned char pal[256][3];
    unsigned char trns[256];
    memset(pal, 0, sizeof pal);
    memset(trns, 255, sizeof trns);
    uint32_t w = 0, h = 0;
    int depth = 0, ctype = -1, interlace = 0;
    if (size < 33 || memcmp(file, sig, 8) != 0) {
        viz__error("[png] '%s' is not a PNG file", path);
        goto done;
    }
    size_t pos = 8;
    while (pos + 12 <= (size_t)size) {
        uint32_t len = be32(file + pos);
        const unsigned char *type = file + pos + 4, *data = file + pos + 8;
        if (len > (size_t)size - pos - 12) {
            viz__error("[png] '%s' is truncated", path);
            goto done;
        }
        if (memcmp(type, "IHDR", 4) == 0 && len >= 13) {
            w = be32(data), h = be32(data + 4);
            depth = data[8], ctype = data[9], interlace = data[12];
        } else if (memcmp(type, "PLTE", 4) == 0) {
            for (uint32_t i = 0; i < len / 3 && i < 256; i++)
                memcpy(pal[i], data + 3 * i, 3);
        } else if (memcmp(type, "tRNS", 4) == 0 && ctype == 3) {
            for (uint32_t i = 0; i < len && i < 256; i++) trns[i] = data[i];
        } else if (memcmp(type, "IDAT", 4) == 0) {
            unsigned char *q = realloc(idat, nidat + len + 1);
            if (!q) {
                viz__error("[png] out of memory");
                goto done;
            }
            idat = q;
            memcpy(idat + nidat, data, len);
            nidat += len;
        } else if (memcmp(type, "IEND", 4) == 0) {
            break;
        }
        pos += 12 + len;
    }
    if (w == 0 || h == 0 || w > 65536 || h > 65536 || ctype < 0) {
        viz__error("[png] '%s' has no valid IHDR chunk", path);
        goto done;
    }
    int channels = ctype == 0 ? 1 : ctype == 2 ? 3 : ctype == 3 ? 1 : ctype == 4 ? 2 : ctype == 6 ? 4 : 0;
    if (!channels || interlace ||
        !(depth == 8 || ((ctype == 0 || ctype == 3) && (depth == 1 || depth == 2 || depth == 4)))) {
        viz__error("[png] '%s': unsupported PNG (color type %d, bit depth %d, interlace %d)",
                   path, ctype, depth, interlace);
        goto done;
    }
    size_t stride = ((size_t)w * channels * depth + 7) / 8;
    size_t rawlen = (stride + 1) * h;
    raw = malloc(rawlen);
    out = malloc((size_t)w * h * 3);
    if (!raw || !out) {
        viz__error("[png] out of memory");
        goto done;
    }
    uLongf got = (uLongf)rawlen;
    if (uncompress(raw, &got, idat, (uLong)nidat) != Z_OK || got != rawlen) {
        viz__error("[png] '%s': corrupt image data", path);
        goto done;
    }
    int bpp = (channels * depth + 7) / 8;
    for (uint32_t y = 0; y < h; y++) {
        unsigned char *line = raw + y * (stride + 1) + 1;
        unsigned char *prev = y ? raw + (y - 1) * (stride + 1) + 1 : NULL;
        int filter = line[-1];
        for (size_t i = 0; i < stride; i++) {
            int a = i >= (size_t)bpp ? line[i - bpp] : 0;
            int b = prev ? prev[i] : 0;
            int c = (prev && i >= (size_t)bpp) ? prev[i - bpp] : 0;
            switch (filter) {
            case 0: break;
            case 1: line[i] = (unsigned char)(line[i] + a); break;
            case 2: line[i] = (unsigned char)(line[i] + b); break;
            case 3: line[i] = (unsigned char)(line[i] + (a + b) / 2); break;
            case 4: line[i] = (unsigned char)(line[i] + paeth(a, b, c)); break;
            default:
                viz__error("[png] '%s': bad filter type %d", path, filter);
                goto done;
            }
        }
        for (uint32_t x = 0; x < w; x++) {
            unsigned char *o = out + ((size_t)y * w + x) * 3;
            int alpha = 255, r, g, bl;
            if (depth < 8) {
                int per = 8 / depth;
                int v = (line[x / per] >> ((per - 1 - (int)(x % per)) * depth)) & ((1 << depth) - 1);
                if (ctype == 3) {
                    r = pal[v][0], g = pal[v][1], bl = pal[v][2], alpha = trns[v];
                } else {
                    r = g = bl = v * 255 / ((1 << depth) - 1);
                }
            } else {
                const unsigned char *p = line + (size_t)x * channels;
                switch (ctype) {
                case 0: r = g = bl = p[0]; break;
                case 2: r = p[0], g = p[1], bl = p[2]; break;
                case 3: r = pal[p[0]][0], g = pal[p[0]][1], bl = pal[p[0]][2], alpha = trns[p[0]]; break;
                case 4: r = g = bl = p[0], alpha = p[1]; break;
                default: r = p[0], g = p[1], bl = p[2], alpha = p[3]; break;
                }
            }
            o[0] = (unsigned char)((r * alpha + 255 * (255 - alpha)) / 255);
            o[1] = (unsigned char)((g * alpha + 255 * (255 - alpha)) / 255);
            o[2] = (unsigned char)((bl * alpha + 255 * (255 - alpha)) / 255);
        }
    }
    *width = (int)w;
    *height = (int)h;
    *rgb = out;
    out = NULL;
    rc = 0;
done:
    free(file);
    free(idat);
    free(raw);
    free(out);
    return rc;
}
