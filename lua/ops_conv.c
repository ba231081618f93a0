/* ops_conv.c -- (being written) */
#include "binding.h"
#include "args.h"

void lty_open_conv(lua_State *L)
{
    (void)L;
}
