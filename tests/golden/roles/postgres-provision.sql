-- Creates the todo database and its user for firedrill lab "golden". Fed to `psql` on stdin
-- so that the password never appears on a command line. Safe to run again.
SELECT 'CREATE ROLE todo LOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo')\gexec
ALTER ROLE todo WITH LOGIN PASSWORD 'GoldenPassw0rdGoldenPassw0rd1234';
SELECT 'CREATE DATABASE todo OWNER todo'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'todo')\gexec
\connect todo
-- Quiet "already exists, skipping" notices when this runs again.
SET client_min_messages TO warning;
-- Create the table as its user, so the app owns what it writes to.
SET ROLE todo;
-- The todo table and a few first items. Safe to run again: the seed rows go in only when the
-- table is empty.
CREATE TABLE IF NOT EXISTS todos (
    id SERIAL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    completed BOOLEAN NOT NULL DEFAULT FALSE,
    -- Always UTC, whatever the server's time zone: the app writes UTC and turns "today" on the
    -- server's local calendar into a UTC range when it reads.
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS todos_created_at ON todos (created_at);

INSERT INTO todos (name, completed, created_at)
SELECT seed.name, seed.completed, now() AT TIME ZONE 'UTC'
FROM (VALUES (1, 'Get Milk', FALSE),
             (2, 'Walk the dog', FALSE),
             (3, 'Read the runbook', TRUE)) AS seed (n, name, completed)
WHERE NOT EXISTS (SELECT 1 FROM todos)
ORDER BY seed.n;
