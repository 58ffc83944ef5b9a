-- The application's roles and database, beside Temporal's own (temporal, temporal_visibility:
-- created by temporalio/auto-setup with the server's superuser). Runs once, when the
-- PostgreSQL volume is first initialised (an older volume: `docker compose down -v` first).
--
-- Two roles, so that what serves requests cannot change the schema nor rewrite the audit trail:
--   paysaga_owner    owns the database and every table; only the one-shot `migrate` service
--                    logs in as it, to run `alembic upgrade head`.
--   paysaga_runtime  the API and the workers. It owns nothing: migration 0003 grants it SELECT,
--                    INSERT, UPDATE on the read model; DELETE only where retention purges (the
--                    webhook inbox, delivered events, and audit rows under the audit trigger's
--                    rule); never UPDATE of audit rows, nor ALTER, DROP or TRUNCATE. Tables of
--                    later migrations get the same grants through the owner's default privileges.
-- The passwords are the development stack's: set your own wherever the stack is reachable.
CREATE ROLE paysaga_owner LOGIN PASSWORD 'paysaga_owner';
CREATE ROLE paysaga_runtime LOGIN PASSWORD 'paysaga_runtime';
CREATE DATABASE paysaga OWNER paysaga_owner;

\connect paysaga
-- only the owner creates objects (before PostgreSQL 15 every role could create them in `public`)
ALTER SCHEMA public OWNER TO paysaga_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
