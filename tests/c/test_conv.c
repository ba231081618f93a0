/* test_conv.c -- (being written) */
#include "test.h"

void suite_conv(void)
{
}
