#!/bin/sh
# Written by `firedrill export vagrant`, which rewrites it: change the lab file and export again.
# Node db of lab three-tier (labs/three-tier.yaml): what `firedrill up` runs on it as root over SSH
# when it comes fresh from the golden image, in order, rendered by the same role code.
# Safe to run again (`vagrant provision db`).
set -eu
case "${FIREDRILL_DB_PASSWORD:-}" in
'' | *[!A-Za-z0-9]*)
    echo "provision/db.sh: set FIREDRILL_DB_PASSWORD to the lab's database password (letters and digits); the Vagrantfile does" >&2
    exit 1
    ;;
esac
secret=$(mktemp)
trap 'rm -f "$secret"' EXIT

# mysql: checking files

sh -c 'set -e
python3 -I -S -c '\''import grp, hashlib, os, pwd, sys
END = b"\n--firedrill-end-of-file--\n"
def ids(owner):
    u, _, g = owner.partition(":")
    uid = int(u) if u.isdigit() else pwd.getpwnam(u).pw_uid
    if not g:
        return uid, pwd.getpwuid(uid).pw_gid
    return uid, int(g) if g.isdigit() else grp.getgrnam(g).gr_gid
args = sys.argv[1:]
files = [args[i:i + 4] for i in range(0, len(args), 4)]
parts = sys.stdin.buffer.read().split(END)
if len(parts) != len(files) + 1 or parts[-1]:
    sys.exit("the files arrived cut short: %d of %d" % (len(parts) - 1, len(files)))
for (path, mode, owner, checksum), data in zip(files, parts):
    tmp = None
    try:
        uid, gid = ids(owner)
        d, name = os.path.split(path)
        new = os.path.join(d or "/", "." + name + ".firedrill-" + os.urandom(6).hex())
        fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        tmp = new
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chown(tmp, uid, gid)
        os.chmod(tmp, int(mode, 8))
        os.rename(tmp, path)
        tmp = None
        if checksum != "-":
            os.makedirs(os.path.dirname(checksum), exist_ok=True)
            with open(checksum, "w") as f:
                f.write(hashlib.sha256(data).hexdigest())
    except (OSError, KeyError) as e:
        sys.exit("%s: %s" % (path, e.strerror if isinstance(e, OSError) and e.strerror else e))
    finally:
        if tmp:
            os.unlink(tmp)
'\'' /etc/mysql/mariadb.conf.d/60-firedrill.cnf 644 root:root /var/lib/firedrill/written/%etc%mysql%mariadb.conf.d%60-firedrill.cnf
' <<'FIREDRILL_EOF'
# MariaDB settings for firedrill lab "three-tier", read after Debian's 50-server.cnf.
# Written by `firedrill up`; after an edit run `systemctl restart mariadb`.
[mysqld]
# Listen on every address so the app nodes reach us over the lab network (10.78.0.0/24). Who may
# log in is limited by the host part of the todo user: 'todo'@'10.78.0.0/255.255.255.0'.
bind-address = 0.0.0.0
# The lab has no DNS: without this, every login waits for a reverse lookup to time out.
skip-name-resolve

--firedrill-end-of-file--
FIREDRILL_EOF

# /etc/mysql/mariadb.conf.d/60-firedrill.cnf updated

sh -c 'systemctl enable --no-reload mariadb.service' </dev/null

# mariadb.service enabled

# starting mariadb.service

sh -c 'systemctl start mariadb.service' </dev/null

# mariadb.service started

sh -c 'for i in $(seq 1 30); do mysqladmin ping >/dev/null 2>&1 && exit 0; sleep 1; done; mysqladmin ping' </dev/null

# mysql: creating the todo database and user

sed 's/FiredrillDatabasePasswordFromTheVagrantfile/'"$FIREDRILL_DB_PASSWORD"'/g' > "$secret" <<'FIREDRILL_EOF'
-- Creates the todo database and its user for firedrill lab "three-tier". Fed to `mysql` on stdin
-- so that the password never appears on a command line. Safe to run again.
CREATE DATABASE IF NOT EXISTS `todo` CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'todo'@'10.78.0.0/255.255.255.0' IDENTIFIED BY 'FiredrillDatabasePasswordFromTheVagrantfile';
ALTER USER 'todo'@'10.78.0.0/255.255.255.0' IDENTIFIED BY 'FiredrillDatabasePasswordFromTheVagrantfile';
GRANT ALL PRIVILEGES ON `todo`.* TO 'todo'@'10.78.0.0/255.255.255.0';
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
FIREDRILL_EOF
sh -c 'mysql --batch' < "$secret"

sed 's/FiredrillDatabasePasswordFromTheVagrantfile/'"$FIREDRILL_DB_PASSWORD"'/g' > "$secret" <<'FIREDRILL_EOF'
[client]
password=FiredrillDatabasePasswordFromTheVagrantfile
FIREDRILL_EOF
sh -c 'f=$(mktemp); trap '\''rm -f "$f"'\'' EXIT; cat > "$f"; mysql --defaults-extra-file="$f" --protocol=tcp -h 10.78.0.13 -P 3306 -u todo -D todo -N -B -e '\''SELECT COUNT(*) FROM todos'\'' && [ "$(mysql -N -B -e '\''SELECT COUNT(*) FROM mysql.user WHERE User = "todo" AND Host IN ("10.78.0.0/255.255.255.0")'\'')" = 1 ]' < "$secret"

# database todo and user todo@10.78.0.0/255.255.255.0 provisioned
