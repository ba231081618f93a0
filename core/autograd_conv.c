/* autograd_conv.c -- VJP/JVP rules of conv, pool, pool_grad (stub). */
#include "internal.h"

int ty__vjp_conv_rule(ty_array *out, ty_array *g, ty_array **in_grads)
{
    (void)out; (void)g; (void)in_grads;
    return ty__error("[vjp] conv/pool rules not implemented yet");
}
int ty__jvp_conv_rule(ty_array *out, ty_array *const *in_tangents, ty_array **out_tangent)
{
    (void)out; (void)in_tangents; (void)out_tangent;
    return ty__error("[jvp] conv/pool rules not implemented yet");
}
