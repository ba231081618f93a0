/* viz.c -- (being written) */
#include "binding.h"
#include "args.h"

void lty_open_viz(lua_State *L)
{
    (void)L;
}
