/*
 * io_file.c -- whole-file reads with a size cap and atomic writes (temporary
 * file in the same directory, fsync, rename, fsync of the directory).
 *
 * TYCHO_TEST_SLOW_WRITE=MS (tests only) sleeps MS milliseconds between the
 * 64 KiB chunks of a write, so a test can kill a writer mid-save.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io_internal.h"

void ty_named_arrays_free(ty_named_array *list, int n)
{
    if (!list) return;
    for (int i = 0; i < n; i++) {
        free(list[i].name);
        ty_release(list[i].array);
    }
    free(list);
}

int ty__read_file(const char *path, size_t max_bytes, unsigned char **out, size_t *size)
{
    *out = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ty__error("[load] %s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return ty__error("[load] %s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return ty__error("[load] %s: the file is %lld bytes, over the limit of %zu", path,
                         (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return ty__error("[load] %s: out of memory reading %zu bytes", path, n);
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(buf);
        return ty__error("[load] %s: read error (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = 0;
    *out = buf;
    *size = n;
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Writes all of data to fd (in chunks, slowed down for tests). */
static int write_all(int fd, const unsigned char *data, size_t n, long slow_ms)
{
    size_t chunk = slow_ms > 0 ? (size_t)64 << 10 : (size_t)16 << 20;
    while (n > 0) {
        size_t want = n < chunk ? n : chunk;
        ssize_t w = write(fd, data, want);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += w;
        n -= (size_t)w;
        if (slow_ms > 0 && n > 0) sleep_ms(slow_ms);
    }
    return 0;
}

/* The directory part of path ("." when none), into buf. */
static void dir_of(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(buf, size, ".");
    } else if (slash == path) {
        snprintf(buf, size, "/");
    } else {
        size_t len = (size_t)(slash - path);
        snprintf(buf, size, "%.*s", (int)(len < size ? len : size - 1), path);
    }
}

int ty__write_file_atomic_parts(const char *path, const void *const *parts,
                                const size_t *sizes, int n)
{
    if (!path || !*path) return ty__error("[save] empty file name");
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 12);
    if (!tmp) return ty__error("[save] %s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmpXXXXXX", 11);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        char dir[4096];
        dir_of(path, dir, sizeof dir);
        free(tmp);
        return ty__error("[save] %s: cannot create a temporary file in %s: %s", path, dir,
                         strerror(e));
    }
    /* mkstemp creates 0600: give the file the mode a plain create would. */
    mode_t mask = umask(0);
    umask(mask);
    struct stat old;
    mode_t mode = stat(path, &old) == 0 ? (old.st_mode & 07777) : (0666 & ~mask);
    (void)fchmod(fd, mode);

    const char *slow = getenv("TYCHO_TEST_SLOW_WRITE");
    long slow_ms = slow ? strtol(slow, NULL, 10) : 0;
    const char *step = "write";
    int e = 0;
    for (int i = 0; i < n && !e; i++)
        if (write_all(fd, parts[i], sizes[i], slow_ms) != 0) e = errno;
    if (!e && fsync(fd) != 0) {
        e = errno;
        step = "fsync";
    }
    if (close(fd) != 0 && !e) {
        e = errno;
        step = "close";
    }
    if (!e && rename(tmp, path) != 0) {
        e = errno;
        step = "rename";
    }
    if (e) {
        unlink(tmp);
        free(tmp);
        return ty__error("[save] %s: %s failed: %s (the previous file is unchanged)", path,
                         step, strerror(e));
    }
    free(tmp);
    /* Make the rename durable. Some file systems refuse fsync on a
     * directory (EINVAL): the data is in place either way. */
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        int r = fsync(dfd);
        int de = errno;
        close(dfd);
        if (r != 0 && de != EINVAL && de != EROFS)
            return ty__error("[save] %s: fsync of directory %s failed: %s", path, dir,
                             strerror(de));
    }
    return 0;
}

int ty_write_file_atomic(const char *path, const void *data, size_t nbytes)
{
    if (!data && nbytes) return ty__error("[save] %s: no data", path ? path : "");
    const void *parts[1] = {data};
    size_t sizes[1] = {nbytes};
    return ty__write_file_atomic_parts(path, parts, sizes, 1);
}
