/* linalg.c -- (being written) */
#include "binding.h"
#include "args.h"

void lty_open_linalg(lua_State *L)
{
    (void)L;
}
