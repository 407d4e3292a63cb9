/*
 * test_ops.c
 *		The table of operations (src/common/ops.c): labels and bits as the
 *		SQL enum cdc.operation and the plugin's option spell them.
 */
#include <check.h>

#include "cdc_ops.h"
#include "suites.h"

/* cdc.operation's labels, in the order src/log/log.sql creates them */
START_TEST(ops_table_order)
{
	static const char *const enum_labels[] =
	{"insert", "update", "delete", "truncate", "message", "schema", "read"};
	unsigned int seen = 0;

	for (int i = 0; i < CDC_N_OPERATIONS; i++)
	{
		ck_assert_str_eq(cdc_operations[i].label, enum_labels[i]);
		/* one bit each, all different */
		ck_assert_uint_eq(cdc_operations[i].bit & (cdc_operations[i].bit - 1), 0);
		ck_assert_uint_eq(seen & cdc_operations[i].bit, 0);
		seen |= cdc_operations[i].bit;
		ck_assert_int_eq(cdc_operation_index(cdc_operations[i].bit), i);
		ck_assert_uint_eq(cdc_operation_bit(enum_labels[i]), cdc_operations[i].bit);
	}
	ck_assert_uint_eq(seen, CDC_OP_FILTERABLE | CDC_OP_MESSAGE | CDC_OP_READ);
	ck_assert_uint_eq(CDC_OP_ALL & CDC_OP_SCHEMA, 0);
}
END_TEST

START_TEST(ops_lookup)
{
	ck_assert_uint_eq(cdc_operation_bit("truncate"), CDC_OP_TRUNCATE);
	ck_assert_uint_eq(cdc_operation_bit("message"), CDC_OP_MESSAGE);
	ck_assert_uint_eq(cdc_operation_bit("schema"), CDC_OP_SCHEMA);
	/* exact: no case folding, no blanks, no prefixes */
	ck_assert_uint_eq(cdc_operation_bit("Insert"), 0);
	ck_assert_uint_eq(cdc_operation_bit("insert "), 0);
	ck_assert_uint_eq(cdc_operation_bit("ins"), 0);
	ck_assert_uint_eq(cdc_operation_bit(""), 0);
	ck_assert_int_eq(cdc_operation_index(0), -1);
	ck_assert_int_eq(cdc_operation_index(CDC_OP_INSERT | CDC_OP_UPDATE), -1);
	/* a filter's mask holds the table operations (schema too), never message */
	ck_assert_int_eq(CdcParseOperation("schema"), CDC_OP_SCHEMA);
	ck_assert_int_eq(CdcParseOperation("delete"), CDC_OP_DELETE);
	ck_assert_int_eq(CdcParseOperation("message"), 0);
	ck_assert_int_eq(CdcParseOperation("read"), 0);
	ck_assert_int_eq(CdcParseOperation("DELETE"), 0);
}
END_TEST

Suite *
make_ops_suite(void)
{
	Suite	   *s = suite_create("ops");
	TCase	   *tc = tcase_create("core");

	tcase_add_test(tc, ops_table_order);
	tcase_add_test(tc, ops_lookup);
	suite_add_tcase(s, tc);
	return s;
}
