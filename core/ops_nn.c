/* ops_nn.c -- constructors of normalize, attention, softmax_cross_entropy (stub). */
#include "internal.h"

ty_array *ty_normalize(ty_array *x, int naxes, const int *axes, double eps, bool rms)
{
    (void)x; (void)naxes; (void)axes; (void)eps; (void)rms;
    return ty__error_null("[normalize] not implemented yet");
}
ty_array *ty_attention(ty_array *q, ty_array *k, ty_array *v, ty_array *mask, double scale,
                       bool causal)
{
    (void)q; (void)k; (void)v; (void)mask; (void)scale; (void)causal;
    return ty__error_null("[attention] not implemented yet");
}
ty_array *ty_softmax_cross_entropy(ty_array *logits, ty_array *labels, int index_base,
                                   bool has_ignore, int64_t ignore_index)
{
    (void)logits; (void)labels; (void)index_base; (void)has_ignore; (void)ignore_index;
    return ty__error_null("[softmax_cross_entropy] not implemented yet");
}
