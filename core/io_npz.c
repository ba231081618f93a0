/*
 * io_npz.c -- NumPy .npz files: a zip archive of NAME.npy members (stored,
 * or deflated as np.savez_compressed writes them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"

int ty_save_npz(const char *path, const ty_named_array *arrays, int n, bool compress)
{
    if (n < 0 || (n > 0 && !arrays)) return ty__error("[save] %s: no arrays", path);
    ty__zip_member *m = calloc((size_t)(n ? n : 1), sizeof *m);
    if (!m) return ty__error("[save] %s: out of memory", path);
    int rc = -1;
    for (int i = 0; i < n; i++) {
        const char *name = arrays[i].name;
        if (!name || !*name || !arrays[i].array) {
            ty__error("[save] %s: array %d has no name", path, i + 1);
            goto done;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(arrays[j].name, name) == 0) {
                ty__error("[save] %s: the name '%s' appears twice", path, name);
                goto done;
            }
        size_t len = strlen(name);
        m[i].name = malloc(len + 5);
        if (!m[i].name) {
            ty__error("[save] %s: out of memory", path);
            goto done;
        }
        memcpy(m[i].name, name, len);
        memcpy(m[i].name + len, ".npy", 5);
        if (ty__npy_encode(arrays[i].array, path, &m[i].data, &m[i].size) != 0) goto done;
    }
    unsigned char *zip;
    size_t size;
    if (ty__zip_write(m, n, compress, path, &zip, &size) != 0) goto done;
    rc = ty_write_file_atomic(path, zip, size);
    free(zip);
done:
    ty__zip_free(m, n);
    return rc;
}

int ty_load_npz(const char *path, ty_device device, ty_named_array **out, int *nout)
{
    *out = NULL;
    *nout = 0;
    unsigned char *data;
    size_t size;
    if (ty__read_file(path, TY_IO_MAX_FILE, &data, &size) != 0) return -1;
    ty__zip_member *m;
    int n;
    int rc = ty__zip_read(data, size, path, &m, &n);
    free(data);
    if (rc != 0) return -1;
    ty_named_array *list = calloc((size_t)(n ? n : 1), sizeof *list);
    if (!list) {
        ty__zip_free(m, n);
        return ty__error("[load] %s: out of memory", path);
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(m[i].name);
        if (len > 4 && strcmp(m[i].name + len - 4, ".npy") == 0) len -= 4;
        char *name = malloc(len + 1);
        if (!name) {
            ty__error("[load] %s: out of memory", path);
            goto fail;
        }
        memcpy(name, m[i].name, len);
        name[len] = 0;
        list[k].name = name;
        k++;
        for (int j = 0; j < k - 1; j++)
            if (strcmp(list[j].name, name) == 0) {
                ty__error("[load] %s: the member '%s' appears twice", path, name);
                goto fail;
            }
        char where[1200];
        snprintf(where, sizeof where, "%s (member '%s')", path, m[i].name);
        list[k - 1].array = ty__npy_decode(m[i].data, m[i].size, where, device);
        if (!list[k - 1].array) goto fail;
        free(m[i].data);               /* early: keep peak memory down */
        m[i].data = NULL;
    }
    ty__zip_free(m, n);
    *out = list;
    *nout = k;
    return 0;
fail:
    ty__zip_free(m, n);
    ty_named_arrays_free(list, k);
    return -1;
}
