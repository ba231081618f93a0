/* common.c -- viz/'s error message and text helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viz.h"
#include "viz_internal.h"

static _Thread_local char viz_msg[512];

const char *viz_error(void) { return viz_msg; }

int viz__error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(viz_msg, sizeof viz_msg, fmt, ap);
    va_end(ap);
    return -1;
}

char *viz_latin1(const char *s)
{
    if (!s) s = "";
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t j = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c < 0x80) {
            out[j++] = (char)c;
            p++;
            continue;
        }
        unsigned cp = 0;
        int extra = 0;
        if ((c & 0xE0) == 0xC0) cp = c & 0x1F, extra = 1;
        else if ((c & 0xF0) == 0xE0) cp = c & 0x0F, extra = 2;
        else if ((c & 0xF8) == 0xF0) cp = c & 0x07, extra = 3;
        else extra = -1;
        p++;
        for (int k = 0; k < extra; k++) {
            if ((*p & 0xC0) != 0x80) {
                extra = -1;
                break;
            }
            cp = (cp << 6) | (*p & 0x3F);
            p++;
        }
        out[j++] = (extra >= 0 && cp >= 0xA0 && cp <= 0xFF) ? (char)cp : '?';
    }
    out[j] = 0;
    return out;
}

const char *viz__ext(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash)) return "";
    return dot + 1;
}
