/* ops_optim.c -- (being written) */
#include "binding.h"
#include "args.h"

void lty_open_optim(lua_State *L)
{
    (void)L;
}
