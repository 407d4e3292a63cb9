-- cdc_ext 1.0
\echo Use "CREATE EXTENSION cdc_ext" to load this file. \quit

CREATE TYPE cdc.operation AS ENUM ('insert', 'update', 'delete', 'truncate', 'message');
