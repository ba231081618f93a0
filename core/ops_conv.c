/* ops_conv.c -- constructors of conv, pool, pool_grad (stub: being written). */
#include "internal.h"

ty_array *ty_conv_general(ty_array *x, ty_array *w, const ty_conv_opts *opts)
{
    (void)x; (void)w; (void)opts;
    return ty__error_null("[conv] not implemented yet");
}
ty_array *ty_pool(ty_array *x, int nsp, ty_pool_kind kind, const ty_pool_opts *opts)
{
    (void)x; (void)nsp; (void)kind; (void)opts;
    return ty__error_null("[pool] not implemented yet");
}
ty_array *ty_pool_grad(ty_array *x, ty_array *g, int nsp, ty_pool_kind kind,
                       const ty_pool_opts *opts)
{
    (void)x; (void)g; (void)nsp; (void)kind; (void)opts;
    return ty__error_null("[pool_grad] not implemented yet");
}
ty_array *ty_max_pool_select(ty_array *x, ty_array *t, int nsp, const ty_pool_opts *opts)
{
    (void)x; (void)t; (void)nsp; (void)opts;
    return ty__error_null("[max_pool_select] not implemented yet");
}
