/* cpu_conv.c -- CPU kernels of conv and pooling (stub: being written). */
#include "cpu.h"

int cpu_conv(ty_array *out) { (void)out; return ty__error("[conv] no CPU kernel yet"); }
int cpu_pool(ty_array *out) { (void)out; return ty__error("[pool] no CPU kernel yet"); }
