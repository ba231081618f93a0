/* ops_optim.c -- constructor of optim_update (stub). */
#include "internal.h"

ty_array *ty_optim_update(ty_optim_kind kind, ty_array *param, ty_array *grad, int nstate,
                          ty_array *const *state, const double *hp, int nhp)
{
    (void)kind; (void)param; (void)grad; (void)nstate; (void)state; (void)hp; (void)nhp;
    return ty__error_null("[optim_update] not implemented yet");
}
