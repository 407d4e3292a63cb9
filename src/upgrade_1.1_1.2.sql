-- cdc_ext 1.1 -> 1.2 (copied into cdc_ext--1.1--1.2.sql by the Makefile).
-- Written by hand: every object 1.2 adds or changes in src/*/*.sql is added
-- or changed here too, so that an updated database equals a fresh 1.2
-- install (t/081_upgrade_1_2.pl compares their catalogs).

\echo Use "ALTER EXTENSION cdc_ext UPDATE TO '1.2'" to load this file. \quit

