/* cpu_nn.c -- CPU kernels of normalize, attention, softmax_cross_entropy (stub). */
#include "cpu.h"

int cpu_normalize(ty_array *out) { (void)out; return ty__error("[normalize] no CPU kernel yet"); }
int cpu_attention(ty_array *out) { (void)out; return ty__error("[attention] no CPU kernel yet"); }
int cpu_softmax_cross_entropy(ty_array *out)
{
    (void)out;
    return ty__error("[softmax_cross_entropy] no CPU kernel yet");
}
