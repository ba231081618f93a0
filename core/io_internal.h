/*
 * io_internal.h -- shared internals of the file readers and writers
 * (core/io_*.c). Errors read "[load] PATH: problem" / "[save] PATH: problem".
 */
#ifndef TYCHO_IO_INTERNAL_H
#define TYCHO_IO_INTERNAL_H

#include "internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tycho's file formats assume a little-endian host"
#endif

/* Largest file a reader loads into memory (sanity cap, 64 GiB). */
#define TY_IO_MAX_FILE ((size_t)64 << 30)

/* Reads the whole file at path (at most max_bytes) into *out (malloc'd, one
 * extra NUL byte past *size). 0, or -1 with "[load] PATH: ..." set. */
int ty__read_file(const char *path, size_t max_bytes, unsigned char **out, size_t *size);

/* Writes the concatenation of n parts atomically (see ty_write_file_atomic). */
int ty__write_file_atomic_parts(const char *path, const void *const *parts,
                                const size_t *sizes, int n);

/* .npy bytes of a (evaluated and read back); *out malloc'd. `path` names the
 * file in messages. */
int ty__npy_encode(ty_array *a, const char *path, unsigned char **out, size_t *size);
/* Parses .npy bytes; `where` names the file (and member) in messages. */
ty_array *ty__npy_decode(const unsigned char *data, size_t size, const char *where,
                         ty_device device);

/* Zip archives (no zip64): members stored (0) or deflated (8). */
typedef struct ty__zip_member {
    char *name;                        /* owned by the list */
    unsigned char *data;               /* owned by the list */
    size_t size;
} ty__zip_member;
int ty__zip_read(const unsigned char *data, size_t size, const char *path,
                 ty__zip_member **out, int *n);
int ty__zip_write(const ty__zip_member *members, int n, bool compress, const char *path,
                  unsigned char **out, size_t *size);
void ty__zip_free(ty__zip_member *members, int n);

/* A JSON object of string pairs ({"k": "v", ...}): parses text (len bytes),
 * writing n malloc'd keys and values (*keys and *values are malloc'd arrays). `where`
 * prefixes messages ("[save] x.safetensors: metadata"). */
int ty__json_string_pairs(const char *text, size_t len, const char *where, char ***keys,
                          char ***values, int *n);
void ty__string_pairs_free(char **keys, char **values, int n);

#endif
