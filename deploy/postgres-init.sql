-- The application's role and database, beside Temporal's own (temporal, temporal_visibility:
-- created by temporalio/auto-setup with the server's superuser).
CREATE ROLE paysaga LOGIN PASSWORD 'paysaga';
CREATE DATABASE paysaga OWNER paysaga;
