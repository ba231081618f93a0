/* vk_kernels_nn.c -- Vulkan kernels of normalize, attention, softmax_cross_entropy (stub). */
#include "vk_runtime.h"

int vk_normalize(ty_array *out) { (void)out; return ty__error("[normalize] no Vulkan kernel yet"); }
int vk_attention(ty_array *out) { (void)out; return ty__error("[attention] no Vulkan kernel yet"); }
int vk_softmax_cross_entropy(ty_array *out)
{
    (void)out;
    return ty__error("[softmax_cross_entropy] no Vulkan kernel yet");
}
