/*
 * strbuf.h -- a growable, NUL-terminated text buffer, header-only so that
 * core/, viz/ and lua/ share it without widening the public API (tycho.h).
 *
 *   ty_strbuf b = {0};
 *   ty_strbuf_add(&b, "abc", 3); ty_strbuf_adds(&b, "def");
 *   if (b.failed) ... out of memory ...; use b.p (b.n bytes); free(b.p);
 *
 * After an allocation failure every further append is ignored and
 * b.failed stays set, so callers check once at the end.
 */
#ifndef TYCHO_STRBUF_H
#define TYCHO_STRBUF_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct ty_strbuf {
    char *p;
    size_t n, cap;
    bool failed;
} ty_strbuf;

static inline void ty_strbuf_add(ty_strbuf *b, const char *s, size_t len)
{
    if (b->failed) return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static inline void ty_strbuf_adds(ty_strbuf *b, const char *s)
{
    ty_strbuf_add(b, s, strlen(s));
}

#endif
