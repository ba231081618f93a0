/* test_nnops.c -- (being written) */
#include "test.h"

void suite_nnops(void)
{
}
