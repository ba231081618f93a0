/* cpu_optim.c -- CPU kernel of optim_update (stub). */
#include "cpu.h"

int cpu_optim_update(ty_array *out) { (void)out; return ty__error("[optim_update] no CPU kernel yet"); }
