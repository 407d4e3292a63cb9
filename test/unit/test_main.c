/*
 * test_main.c
 *		Check runner for the pure-C parts of cdc_ext.  Each test_*.c file
 *		contributes one suite through its make_*_suite() function.
 */
#include <check.h>
#include <stdlib.h>

#include "suites.h"

int
main(void)
{
	SRunner    *sr = srunner_create(make_json_suite());
	int			failed;

	srunner_add_suite(sr, make_glob_suite());
	srunner_add_suite(sr, make_optlist_suite());
	srunner_add_suite(sr, make_lsn_suite());
	srunner_add_suite(sr, make_ops_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
