-- Tables the examples read (psql -f examples/setup.sql), after CREATE EXTENSION cdc_ext.
CREATE TABLE IF NOT EXISTS products (id bigint PRIMARY KEY, name text, price numeric, category text);
CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY, email text);
CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, user_id bigint, status text);
CREATE TABLE IF NOT EXISTS sessions (id bigint PRIMARY KEY, token text);
ALTER TABLE orders REPLICA IDENTITY FULL;   -- old_data carries the old status
CREATE TABLE IF NOT EXISTS audit_log (
	at_micros bigint, entity text, entity_id jsonb, operation text,
	old_values jsonb, new_values jsonb, commit_lsn pg_lsn, seq int,
	PRIMARY KEY (commit_lsn, seq));
CREATE TABLE IF NOT EXISTS products_replica (LIKE products INCLUDING ALL);
