/* autograd_nn.c -- VJP/JVP rules of normalize, attention, softmax_cross_entropy (stub). */
#include "internal.h"

int ty__vjp_nn_rule(ty_array *out, ty_array *g, ty_array **in_grads)
{
    (void)out; (void)g; (void)in_grads;
    return ty__error("[vjp] nn rules not implemented yet");
}
int ty__jvp_nn_rule(ty_array *out, ty_array *const *in_tangents, ty_array **out_tangent)
{
    (void)out; (void)in_tangents; (void)out_tangent;
    return ty__error("[jvp] nn rules not implemented yet");
}
