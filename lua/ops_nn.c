/* ops_nn.c -- (being written) */
#include "binding.h"
#include "args.h"

void lty_open_nnops(lua_State *L)
{
    (void)L;
}
