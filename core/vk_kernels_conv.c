/* vk_kernels_conv.c -- Vulkan kernels of conv and pooling (stub: being written). */
#include "vk_runtime.h"

int vk_conv(ty_array *out) { (void)out; return ty__error("[conv] no Vulkan kernel yet"); }
int vk_pool(ty_array *out) { (void)out; return ty__error("[pool] no Vulkan kernel yet"); }
