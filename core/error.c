/* error.c -- the thread-local error message of the core. */
#include <stdio.h>

#include "internal.h"

static _Thread_local char error_message[1024];
static int axis_base;

void ty_set_axis_base(int base)
{
    axis_base = base;
}

int ty__ax(int axis)
{
    return axis >= 0 ? axis + axis_base : axis;
}

const char *ty_error_message(void)
{
    return error_message;
}

void ty_error_clear(void)
{
    error_message[0] = 0;
}

static void set_message(const char *fmt, va_list ap)
{
    vsnprintf(error_message, sizeof error_message, fmt, ap);
}

int ty__error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_message(fmt, ap);
    va_end(ap);
    return -1;
}

void *ty__error_null(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_message(fmt, ap);
    va_end(ap);
    return NULL;
}

char *ty__shape_str(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, size - n, "(");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, ndim == 1 ? ",)" : ")");
    return buf;
}

int ty__index_error(const char *op, int64_t value, int axis_shown, int64_t dim, int base)
{
    const char *hint = base == 1 && value == 0 ? "; indices count from 1 (Lua convention)" : "";
    return ty__error("[%s] index %lld is out of range for axis %d of size %lld%s", op,
                     (long long)value, axis_shown, (long long)dim, hint);
}
