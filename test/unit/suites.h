#ifndef CDC_TEST_SUITES_H
#define CDC_TEST_SUITES_H
#include <check.h>
Suite	   *make_json_suite(void);
Suite	   *make_glob_suite(void);
Suite	   *make_optlist_suite(void);
Suite	   *make_lsn_suite(void);
Suite	   *make_ops_suite(void);
#endif
