/* test_optim.c -- (being written) */
#include "test.h"

void suite_optim(void)
{
}
