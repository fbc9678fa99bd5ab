-- Creates the todo database and its user for firedrill lab "golden". Fed to `mysql` on stdin
-- so that the password never appears on a command line. Safe to run again.
CREATE DATABASE IF NOT EXISTS `todo` CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'todo'@'10.20.0.0/255.255.255.0' IDENTIFIED BY 'GoldenPassw0rdGoldenPassw0rd1234';
ALTER USER 'todo'@'10.20.0.0/255.255.255.0' IDENTIFIED BY 'GoldenPassw0rdGoldenPassw0rd1234';
GRANT ALL PRIVILEGES ON `todo`.* TO 'todo'@'10.20.0.0/255.255.255.0';
USE `todo`;
-- The todo table and a few first items. Safe to run again: the seed rows go in only when the
-- table is empty.
CREATE TABLE IF NOT EXISTS todos (
    id INT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    completed BOOLEAN NOT NULL DEFAULT FALSE,
    -- Always UTC, whatever the server's time zone: the app writes UTC and turns "today" on the
    -- server's local calendar into a UTC range when it reads.
    created_at DATETIME NOT NULL,
    INDEX (created_at)
) ENGINE=InnoDB;

INSERT INTO todos (name, completed, created_at)
SELECT seed.name, seed.completed, UTC_TIMESTAMP()
FROM (
    SELECT 1 AS n, 'Get Milk' AS name, FALSE AS completed
    UNION ALL SELECT 2, 'Walk the dog', FALSE
    UNION ALL SELECT 3, 'Read the runbook', TRUE
) AS seed
WHERE NOT EXISTS (SELECT 1 FROM todos)
ORDER BY seed.n;
