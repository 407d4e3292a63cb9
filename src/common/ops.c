/*
 * ops.c
 *		The table of operations (cdc_ops.h): the one place a label and its
 *		bit are written.
 */
#include <string.h>

#include "cdc_ops.h"

const CdcOperation cdc_operations[CDC_N_OPERATIONS] = {
	{"insert", CDC_OP_INSERT},
	{"update", CDC_OP_UPDATE},
	{"delete", CDC_OP_DELETE},
	{"truncate", CDC_OP_TRUNCATE},
	{"message", CDC_OP_MESSAGE},
	{"schema", CDC_OP_SCHEMA},
	{"read", CDC_OP_READ},
};

unsigned int
cdc_operation_bit(const char *label)
{
	for (int i = 0; i < CDC_N_OPERATIONS; i++)
		if (strcmp(label, cdc_operations[i].label) == 0)
			return cdc_operations[i].bit;
	return 0;
}

int
cdc_operation_index(unsigned int bit)
{
	for (int i = 0; i < CDC_N_OPERATIONS; i++)
		if (cdc_operations[i].bit == bit)
			return i;
	return -1;
}

int
CdcParseOperation(const char *label)
{
	return (int) (cdc_operation_bit(label) & CDC_OP_FILTERABLE);
}
