/* viz_internal.h -- helpers shared by the files of viz/. Prefix viz__. */
#ifndef TYCHO_VIZ_INTERNAL_H
#define TYCHO_VIZ_INTERNAL_H

#include <stddef.h>

/* Sets the thread's viz error; returns -1. */
int viz__error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The extension of path after its last '.', without it ("" when none). */
const char *viz__ext(const char *path);
/* Formats a tick value given the tick step (enough decimals, no noise). */
void viz__fmt_tick(double v, double step, char *buf, size_t size);

#endif
