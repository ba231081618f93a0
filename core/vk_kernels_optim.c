/* vk_kernels_optim.c -- Vulkan kernel of optim_update (stub). */
#include "vk_runtime.h"

int vk_optim_update(ty_array *out) { (void)out; return ty__error("[optim_update] no Vulkan kernel yet"); }
