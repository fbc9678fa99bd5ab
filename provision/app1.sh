#!/bin/sh
# Written by `firedrill export vagrant`, which rewrites it: change the lab file and export again.
# Node app1 of lab three-tier (labs/three-tier.yaml): what `firedrill up` runs on it as root over SSH
# when it comes fresh from the golden image, in order, rendered by the same role code.
# Safe to run again (`vagrant provision app1`).
set -eu
case "${FIREDRILL_DB_PASSWORD:-}" in
'' | *[!A-Za-z0-9]*)
    echo "provision/app1.sh: set FIREDRILL_DB_PASSWORD to the lab's database password (letters and digits); the Vagrantfile does" >&2
    exit 1
    ;;
esac
secret=$(mktemp)
trap 'rm -f "$secret"' EXIT

# app: checking the todo user and directories

sh -c 'set -e
if ! id -u todo >/dev/null 2>&1; then useradd --system --user-group --home-dir /var/lib/todo --no-create-home --shell /usr/sbin/nologin todo; echo '\''user todo created'\''; fi
dir() { if [ "$(stat -c '\''%U:%G %a'\'' "$1" 2>/dev/null)" != "$2:$3 $4" ]; then install -d -o "$2" -g "$3" -m "$4" "$1"; echo "directory $1 set up"; fi; }
dir /opt/todo root root 755
dir /opt/todo/releases root root 755
dir /etc/todo root todo 750
dir /var/lib/todo todo todo 755
dir /var/lib/todo/uploads todo todo 755
dir /opt/todo/releases/v1 root root 755
dir /opt/todo/releases/v2 root root 755
dir /opt/todo/releases/v3 root root 755
dir /opt/todo/releases/v4 root root 755
dir /opt/todo/releases/v5 root root 755
' </dev/null

# app: checking files

sed 's/FiredrillDatabasePasswordFromTheVagrantfile/'"$FIREDRILL_DB_PASSWORD"'/g' > "$secret" <<'FIREDRILL_EOF'
#!/usr/bin/python3
"""todo: the small web app of a firedrill lab, release v1.

It keeps a to-do list in MariaDB/MySQL or PostgreSQL. Every release answers:

    GET  /todos              the items (their shape depends on the release, see below)
    GET  /todos?since=today  only the items created today, on this server's local calendar
    GET  /todos?page=N       newest first, `per_page` (default 20, at most 100) at a time
    POST /todos              stores one item; answers 201 with it and its new "id"
    GET  /healthz            200 when every database it uses answers, 503 when one does not
    POST /upload             stores the request body as a file in the upload directory
    GET  /metrics            requests by route, method and status code, a latency histogram
                             and database errors, in Prometheus' text format
    OPTIONS any path         a browser's CORS preflight

A request whose Origin header is one of config.ini's `cors_origins` gets it back in
Access-Control-Allow-Origin (CORS); a page of any other origin cannot read the answers.

The shape of an item, by release:

    v1  {"todos": [{"name": "Get Milk", "completed": false}]}
    v2  [{"title": "Get Milk", "done": false}]                   (breaks v1's clients)
    v3  [{"title": ..., "done": ..., "author": "Jane Doe"}]      (column todos.author)
    v4  v3 plus "author_first_name" and "author_last_name"       (expand: writes all three)
    v5  v4 without "author"                                      (contract: todos.author dropped)

Before a release starts, its schema migration must have run: `migrate` next to this file.

Every answer carries "X-Served-By: <node>" and "X-Release: <release>" headers, so you can see
which server and which release answered through the load balancer. Errors are written to
stderr, which systemd keeps in the journal:

    journalctl -u todo -f

Settings come from /etc/todo/config.ini (or the file named by $TODO_CONFIG). The app writes every
new item to each database listed in `write` (the first one numbers it) and reads from the one
named in `read`. Connections to a database are reused for up to `db_max_age` seconds
(config.ini), so a changed address or password takes effect within that time. Only the Python
standard library and the database driver (pymysql or psycopg2) are used. Feel free to change
this file, then run `systemctl restart todo`.
"""

import atexit
import configparser
import datetime
import json
import os
import secrets
import select
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

RELEASE = "v1"
# Releases compare by number: v4 has everything v3 has, unless a comment says otherwise.
LEVEL = int(RELEASE[1:])
CONFIG_FILE = os.environ.get("TODO_CONFIG", "/etc/todo/config.ini")
UTC = datetime.timezone.utc
DEFAULT_AUTHOR = "Jane Doe"


def log(message):
    """One line on stderr: systemd puts it in the journal."""
    print(message, file=sys.stderr, flush=True)


class Metrics:
    """What Prometheus scrapes at GET /metrics: every answer by route, method and status code,
    how long each took (a histogram per route), and the queries a database failed. Counters
    only go up while the process lives; Prometheus' rate() copes with the reset at a restart."""

    # Fixed label values, so a client inventing paths or methods cannot grow the series.
    ROUTES = ("/todos", "/healthz", "/upload", "/metrics")
    METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
    # Seconds. The app answers in milliseconds when all is well; a database that hangs shows up
    # around the 3 s connect timeout.
    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = {}  # (route, method, code) -> count
        self.latency = {}  # route -> [count per bucket (not cumulative)..., +Inf, sum]
        self.db_errors = {}  # database name -> count

    def route(self, path):
        path = urlsplit(path or "").path
        return path if path in self.ROUTES else "other"

    def observe(self, path, method, code, seconds):
        route = self.route(path)
        method = method if method in self.METHODS else "other"
        with self.lock:
            key = (route, method, str(code))
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.latency.setdefault(route, [0] * (len(self.BUCKETS) + 1) + [0.0])
            slot = next((i for i, b in enumerate(self.BUCKETS) if seconds <= b),
                        len(self.BUCKETS))
            hist[slot] += 1
            hist[-1] += seconds

    def database_error(self, name):
        with self.lock:
            self.db_errors[name] = self.db_errors.get(name, 0) + 1

    def render(self, node, databases):
        """The text exposition format, version 0.0.4."""
        with self.lock:
            requests = sorted(self.requests.items())
            latency = sorted((r, list(h)) for r, h in self.latency.items())
            errors = dict(self.db_errors)
        out = [
            "# HELP todo_build_info The release this process runs (always 1).",
            "# TYPE todo_build_info gauge",
            series("todo_build_info", [("release", RELEASE), ("node", node)], 1),
            "# HELP todo_http_requests_total Requests answered, by route, method and status code.",
            "# TYPE todo_http_requests_total counter",
        ]
        for (route, method, code), n in requests:
            out.append(series("todo_http_requests_total",
                              [("route", route), ("method", method), ("code", code)], n))
        out += ["# HELP todo_http_request_duration_seconds Time from reading the request line"
                " to sending the answer.",
                "# TYPE todo_http_request_duration_seconds histogram"]
        name = "todo_http_request_duration_seconds"
        for route, hist in latency:
            total = 0
            for bound, n in zip(self.BUCKETS + ("+Inf",), hist):
                total += n
                out.append(series(name + "_bucket", [("route", route), ("le", bound)], total))
            out.append(series(name + "_sum", [("route", route)], hist[-1]))
            out.append(series(name + "_count", [("route", route)], total))
        out += ["# HELP todo_database_errors_total Queries a database failed or could not take"
                " (connection refused, timeout, error).",
                "# TYPE todo_database_errors_total counter"]
        # Every database the app uses appears, at 0 before its first error, so that rate() and
        # an alert on it work from the start.
        for db in sorted(set(databases) | set(errors)):
            out.append(series("todo_database_errors_total", [("database", db)],
                              errors.get(db, 0)))
        return "\n".join(out) + "\n"


def series(name, labels, value):
    """One line of the text format: name, labels (values escaped as it wants), value."""
    def escape(v):
        return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    pairs = ",".join(f'{k}="{escape(v)}"' for k, v in labels)
    return name + "{" + pairs + "} " + str(value)


METRICS = Metrics()


class DatabaseSettings:
    """One `[database NAME]` section of config.ini."""

    def __init__(self, name, section):
        self.name = name
        self.engine = section["engine"]
        self.host = section["host"]
        self.port = section.getint("port")
        self.dbname = section["name"]
        self.user = section["user"]
        self.password = section["password"]
        if self.engine not in ("mysql", "postgres"):
            raise ValueError(f"[database {name}]: engine must be mysql or postgres,"
                             f" not {self.engine!r}")


class Settings:
    """The contents of config.ini."""

    def __init__(self, path):
        parser = configparser.ConfigParser(interpolation=None)
        # open() rather than parser.read(): read() silently skips a file it cannot open.
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
        server = parser["server"]
        self.node = server["node"]
        self.listen = server.get("listen", "0.0.0.0")
        self.port = server.getint("port")
        # todo@RELEASE.service runs a release beside todo.service, on the port [ports] names.
        instance = os.environ.get("TODO_INSTANCE")
        if instance:
            self.port = parser["ports"].getint(instance)
        self.upload_dir = server["upload_dir"]
        self.localtime = server.get("localtime", "/etc/localtime")
        self.access_log = server.getboolean("access_log", False)
        self.cors_origins = server.get("cors_origins", "").split()
        self.db_max_age = server.getfloat("db_max_age", 5.0)
        if not self.db_max_age > 0:
            raise ValueError(f"[server] db_max_age must be a number of seconds above 0,"
                             f" not {self.db_max_age}")
        self.databases = {}
        for section in parser.sections():
            if section.startswith("database "):
                name = section.split(" ", 1)[1].strip()
                self.databases[name] = DatabaseSettings(name, parser[section])
        use = parser["databases"]
        self.write = [n.strip() for n in use["write"].split(",") if n.strip()]
        self.read = use["read"].strip()
        for name in self.write + [self.read]:
            if name not in self.databases:
                raise ValueError(f"[databases] names {name!r}, but there is no"
                                 f" [database {name}] section")
        if not self.write:
            raise ValueError("[databases] write must name at least one database")


# Moves the id sequence of a PostgreSQL table past its highest id, never back.
SEQUENCE_PAST_MAX = ("SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST("
                     "(SELECT MAX(id) FROM {table}),"
                     " pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass), 1))")


class DatabaseError(Exception):
    """The database could not be reached or refused a query."""


class Refused(DatabaseError):
    """The database refused a statement for its constraints (a duplicate id, a NULL)."""


class Pool:
    """Connections to one database, kept open between requests: opening one costs far more
    than a query (a PostgreSQL backend starts for each; under emulation that is half a second
    of the database's CPU). A connection is closed once it is `max_age` seconds old, so a
    changed address, DNS name or password takes effect within that time; after any error; and
    when the server dropped it while it waited here (a restart, a KILL). At most `max_idle`
    wait unused.

    Connects stay off the requests' way, and one at a time:
    - while requests keep coming, the background thread opens a fresh connection shortly
      before the one the next request would get reaches its age (`renew`), so a request
      rarely waits for a connect;
    - a request that finds no connection waiting opens one, unless another connect is under
      way: then it waits, up to `wait` seconds, for a connection to come free (the new one
      once its request is done, or any other) rather than start one more. Several connects
      at once each slow the others down, and requests that pile up meanwhile open still
      more: a storm after every renewal."""

    def __init__(self, connect, max_age, max_idle=4, wait=2.0, clock=time.monotonic):
        self.connect = connect
        self.max_age = max_age
        self.max_idle = max_idle
        self.wait = wait
        self.clock = clock
        # Renewed this long before its age: the background thread looks once a second.
        self.ahead = min(2.0, max_age / 2)
        self.lock = threading.Lock()
        self.freed = threading.Condition(self.lock)
        self.idle = []  # (opened at, connection), the most recently used last
        self.busy = 0  # connections handed out and not back yet
        self.opening = 0  # connects under way
        self.last_take = None

    def take(self):
        """(opened at, connection, reused): a waiting connection that is young enough and
        still open on the server's side, or a new one. Give it back with give_back(), or
        discard() it after an error."""
        deadline = None  # set once this request waits; the wait uses real time
        while True:
            with self.lock:
                self.last_take = self.clock()
                # Behind a connect under way; once waiting, also for a connection in use.
                while not self.idle and (self.opening or (deadline is not None and self.busy)):
                    if deadline is None:
                        deadline = time.monotonic() + self.wait
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.freed.wait(left)
                entry = self.idle.pop() if self.idle else None
                if entry is None:
                    self.opening += 1
                else:
                    self.busy += 1
            if entry is None:
                conn = None
                try:
                    conn = self.connect()
                finally:
                    with self.lock:
                        self.opening -= 1
                        self.busy += conn is not None
                        self.freed.notify_all()
                return self.clock(), conn, False
            opened, conn = entry
            if self.clock() - opened < self.max_age and not dropped(conn):
                return opened, conn, True
            self.discard(conn)

    def give_back(self, opened, conn):
        with self.lock:
            self.busy -= 1
            keep = self.clock() - opened < self.max_age and len(self.idle) < self.max_idle
            if keep:
                self.idle.append((opened, conn))
            self.freed.notify_all()
        if not keep:
            close_quietly(conn)

    def discard(self, conn):
        """A connection taken that must not be used again (an error, its age, dropped)."""
        with self.lock:
            self.busy -= 1
            self.freed.notify_all()
        close_quietly(conn)

    def renew(self):
        """When requests came in the last `ahead` seconds and no connection waiting here has
        more than `ahead` seconds left (or none waits, and none is in use), opens a fresh one
        for the next request. An error is left for the next request to meet (and report)."""
        now = self.clock()
        with self.lock:
            if self.opening or self.last_take is None or now - self.last_take > self.ahead:
                return
            if any(now - opened < self.max_age - self.ahead for opened, _ in self.idle):
                return
            if not self.idle and self.busy:
                return  # in use right now: it is looked at again once it is back
            self.opening += 1
        conn = None
        try:
            conn = self.connect()
        except Exception:  # refused, a timeout, a password: the next request says which
            pass
        finally:
            with self.lock:
                self.opening -= 1
                keep = conn is not None and len(self.idle) < self.max_idle
                if keep:
                    self.idle.append((self.clock(), conn))
                self.freed.notify_all()
            if conn is not None and not keep:
                close_quietly(conn)

    def close_old(self):
        """Closes the waiting connections that reached their age, so none outlives it even
        when no request comes (the old server of a move sees its sessions end)."""
        now = self.clock()
        with self.lock:
            old = [c for t, c in self.idle if now - t >= self.max_age]
            self.idle = [(t, c) for t, c in self.idle if now - t < self.max_age]
        for conn in old:
            close_quietly(conn)

    def close_all(self):
        with self.lock:
            idle, self.idle = self.idle, []
        for _, conn in idle:
            close_quietly(conn)


def dropped(conn):
    """True when an idle connection has something to read: nothing is owed to us between
    requests, so that is the server's goodbye (an error message, or the end of the stream)."""
    sock = getattr(conn, "_sock", None)  # pymysql
    if sock is not None:
        fd = sock.fileno()
    elif hasattr(conn, "fileno") and not getattr(conn, "closed", 1):  # psycopg2
        fd = conn.fileno()
    else:
        return True  # already closed on our side
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def close_quietly(conn):
    try:
        conn.close()
    except Exception:  # closing a broken connection may fail too; it is gone either way
        pass


class Database:
    """One database of config.ini, reached through a Pool of connections."""

    def __init__(self, settings, max_age=5.0):
        self.s = settings
        self.engine = settings.engine
        # Import only the driver this database needs.
        if settings.engine == "mysql":
            import pymysql

            self.driver = pymysql
        else:
            import psycopg2

            self.driver = psycopg2
        self.pool = Pool(self.connect, max_age)
        atexit.register(self.pool.close_all)

    def describe(self):
        s = self.s
        return f"{s.engine} database {s.dbname} at {s.host}:{s.port}"

    def connect(self):
        s = self.s
        if s.engine == "mysql":
            return self.driver.connect(
                host=s.host, port=s.port, user=s.user, password=s.password,
                database=s.dbname, connect_timeout=3, autocommit=True,
            )
        conn = self.driver.connect(
            host=s.host, port=s.port, user=s.user, password=s.password,
            dbname=s.dbname, connect_timeout=3,
        )
        conn.autocommit = True
        return conn

    def run(self, statements):
        """Runs (sql, params) pairs on one connection; returns the last one's rows, or for an
        INSERT on MySQL the id it assigned."""
        try:
            opened, conn, _ = self.pool.take()
        except self.driver.Error as e:
            METRICS.database_error(self.s.name)
            raise DatabaseError(f"{self.describe()}: {e}".strip()) from e
        try:
            result = []
            with conn.cursor() as cur:
                for sql, params in statements:
                    # Both drivers use %s placeholders, so one SQL text fits both engines.
                    cur.execute(sql, params)
                    result = list(cur.fetchall()) if cur.description else cur.lastrowid
        except self.driver.Error as e:
            self.pool.discard(conn)  # whatever went wrong, the next request starts afresh
            METRICS.database_error(self.s.name)
            kind = Refused if isinstance(e, self.driver.IntegrityError) else DatabaseError
            raise kind(f"{self.describe()}: {e}".strip()) from e
        except BaseException:
            self.pool.discard(conn)
            raise
        self.pool.give_back(opened, conn)
        return result

    def query(self, sql, params=()):
        """Runs one statement and returns its rows (none for an INSERT)."""
        rows = self.run([(sql, params)])
        return rows if isinstance(rows, list) else []

    def insert(self, table, values, returning_id=True):
        """Inserts one row; returns its id when `returning_id`."""
        columns = ", ".join(values)
        marks = ", ".join(["%s"] * len(values))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
        params = tuple(values.values())
        if returning_id:
            if self.engine == "postgres":
                return self.run([(sql + " RETURNING id", params)])[0][0]
            return self.run([(sql, params)])
        statements = [(sql, params)]
        if self.engine == "postgres":
            # A row numbered elsewhere: move the sequence past it, or a later insert numbered
            # here would collide with it. Never back: an operator may have moved it far ahead
            # so that rows numbered here and elsewhere at the same time cannot collide.
            statements.append((SEQUENCE_PAST_MAX.format(table=table), (table, table)))
        try:
            return self.run(statements)
        except Refused:
            # A copy of the past (todo-copy) running beside the dual writes may have read this
            # row from the first database and stored it here a moment before us: the same item
            # under its id is a success. Another item under that id is a real collision.
            same = self.query(f"SELECT id FROM {table} WHERE id = %s AND name = %s",
                              (values["id"], values["name"]))
            if not same:
                raise
            return None


def open_databases(settings):
    return {name: Database(db, settings.db_max_age) for name, db in settings.databases.items()}


def close_old_connections(dbs):
    """Every second, the connections that waited past their age are closed, and those about
    to reach it are renewed while requests come."""
    while True:
        time.sleep(1)
        for db in dbs.values():
            db.pool.close_old()
            db.pool.renew()


def local_timezone(settings):
    """This server's time zone, looked up again on every request: `timedatectl set-timezone`
    replaces /etc/localtime, and "today" must follow it at once."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        return ZoneInfo(name)
    try:
        with open(settings.localtime, "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except FileNotFoundError:
        return UTC  # no /etc/localtime means UTC, as for every other program


def today_in_utc(settings):
    """Start and end of today on the server's local calendar, as UTC times like created_at."""
    zone = local_timezone(settings)
    today = datetime.datetime.now(zone).date()
    tomorrow = today + datetime.timedelta(days=1)
    midnight = datetime.time(0, 0)
    start = datetime.datetime.combine(today, midnight, tzinfo=zone)
    end = datetime.datetime.combine(tomorrow, midnight, tzinfo=zone)
    # The database stores UTC without a zone, so compare with zone-less UTC times.
    return (start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None))


class BadRequest(Exception):
    """The client sent something we cannot use: answer 400 with this message."""


# --- what an item is in this release -------------------------------------------------------

def split_author(author):
    """"Jane Doe" -> ("Jane", "Doe"): the first word, and the rest."""
    first, _, last = (author or "").strip().partition(" ")
    return first, last.strip()


def columns():
    """The columns of todos this release reads, in order."""
    cols = ["name", "completed"]
    if 3 <= LEVEL <= 4:
        cols.append("author")
    if LEVEL >= 4:
        cols += ["author_first_name", "author_last_name"]
    return cols


def item_from_row(row):
    values = dict(zip(columns(), row))
    if LEVEL == 1:
        return {"name": values["name"], "completed": bool(values["completed"])}
    item = {"title": values["name"], "done": bool(values["completed"])}
    if LEVEL == 3:
        item["author"] = values["author"]
    if LEVEL >= 4:
        first, last = values["author_first_name"], values["author_last_name"]
        if first is None and LEVEL == 4:
            # Written by a release that knows only `author` (v3) since the migration: the
            # expand phase reads both ways.
            first, last = split_author(values["author"])
        if LEVEL == 4:
            item["author"] = values["author"]
        item["author_first_name"] = first
        item["author_last_name"] = last
    return item


def whole_number(name, text, low, high):
    """A query parameter that must be a whole number from `low` to `high`."""
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def list_answer(items):
    return {"todos": items} if LEVEL == 1 else items


def text_field(item, key, example, required):
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise BadRequest(f'"{key}" must be a non-empty string of at most 255 characters,'
                         f' e.g. {example}')
    return value


def item_from_body(body):
    """The item a POST /todos body describes, as (row values for the database, the answer)."""
    example = ('{"name": "Get Milk", "completed": false}' if LEVEL == 1
               else '{"title": "Get Milk", "done": false}')
    try:
        item = json.loads(body)
    except ValueError:
        raise BadRequest(f"the body must be JSON like {example}") from None
    if not isinstance(item, dict):
        raise BadRequest(f"the body must be a JSON object like {example}")
    name_key, done_key = ("name", "completed") if LEVEL == 1 else ("title", "done")
    name = text_field(item, name_key, '"Get Milk"', True)
    done = item.get(done_key, False)
    if not isinstance(done, bool):
        raise BadRequest(f'"{done_key}" must be true or false')
    row = {"name": name, "completed": done}
    answer = {name_key: name, done_key: done}
    if LEVEL == 3:
        author = text_field(item, "author", '"Jane Doe"', False) or DEFAULT_AUTHOR
        row["author"] = answer["author"] = author
    if LEVEL >= 4:
        first = text_field(item, "author_first_name", '"Jane"', False)
        last = text_field(item, "author_last_name", '"Doe"', False)
        author = text_field(item, "author", '"Jane Doe"', False) if LEVEL == 4 else None
        if first is None and last is None:
            first, last = split_author(author or DEFAULT_AUTHOR)
        first, last = first or "", last or ""
        if LEVEL == 4:
            # Expand: keep writing `author` for the releases that still read it.
            row["author"] = answer["author"] = author or f"{first} {last}".strip()
        row["author_first_name"] = answer["author_first_name"] = first
        row["author_last_name"] = answer["author_last_name"] = last
    return row, answer


class TodoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep connections open for the load balancer
    server_version = f"todo/{RELEASE}"
    # The headers and the body are two writes: without this the body could wait for the
    # headers' acknowledgement (Nagle's algorithm against the peer's delayed ACK).
    disable_nagle_algorithm = True

    def handle(self):
        """A client that has gone away is nobody to answer. HAProxy closes each health check with
        a reset as soon as it has read the status line, often before the body is written; that
        is not an error of this app, and logging a traceback for it every 2 s filled the journal."""
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            self.close_connection = True

    # --- routing ---------------------------------------------------------------------

    def do_GET(self):
        self.route({"/todos": self.list_todos, "/healthz": self.healthz,
                    "/metrics": self.metrics}, body=b"")

    def do_OPTIONS(self):
        """A browser's CORS preflight: which methods and headers a page of an allowed origin may
        send. The answer carries no body; an origin not allowed gets no Access-Control-* header."""
        self.send_body(204, b"", "text/plain", preflight=True)

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True  # we cannot tell where the body ends
            self.send_json(400, {"error": "Content-Length must be a number"})
            return
        body = self.rfile.read(length) if length > 0 else b""
        self.route({"/todos": self.create_todo, "/upload": self.upload}, body=body)

    def route(self, routes, body):
        url = urlsplit(self.path)
        handler = routes.get(url.path)
        if handler is None:
            self.send_json(404, {"error": f"no such endpoint: {self.command} {url.path}"})
            return
        try:
            handler(parse_qs(url.query), body)
        except BadRequest as e:
            self.send_json(400, {"error": str(e)})
        except DatabaseError as e:
            log(f"{self.command} {url.path} failed: {e}")
            self.send_json(500, {"error": str(e)})
        except (ConnectionResetError, BrokenPipeError):
            raise  # the client went away mid-answer: see handle()
        except Exception as e:  # a bug: keep serving, and leave the traceback in the journal
            log(f"{self.command} {url.path} failed: {e!r}\n{traceback.format_exc()}")
            self.send_json(500, {"error": f"internal error: {e}"})

    # --- endpoints -------------------------------------------------------------------

    def list_todos(self, query, body):
        since = query.get("since", [None])[0]
        db = self.server.dbs[self.server.settings.read]
        select = f"SELECT {', '.join(columns())} FROM todos"
        if since is None:
            where, params = "", ()
        elif since == "today":
            where, params = " WHERE created_at >= %s AND created_at < %s", today_in_utc(
                self.server.settings)
        else:
            raise BadRequest(f"since must be 'today', not {since!r}")
        page = query.get("page", [None])[0]
        if page is None:
            rows = db.query(select + where + " ORDER BY id", tuple(params))
        else:
            # Newest first, a page at a time. OFFSET reads and throws away every row before the
            # page: deep pages stay slow even with an index (keyset pagination avoids that).
            page = whole_number("page", page, 1, 1_000_000)
            per_page = whole_number("per_page", query.get("per_page", ["20"])[0], 1, 100)
            rows = db.query(select + where + " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
                            tuple(params) + (per_page, (page - 1) * per_page))
        self.send_json(200, list_answer([item_from_row(row) for row in rows]))

    def create_todo(self, query, body):
        row, answer = item_from_body(body)
        row["created_at"] = datetime.datetime.now(UTC).replace(tzinfo=None)
        first, *others = self.server.settings.write
        # The first write database numbers the item; the others store it under that number,
        # so every copy of an item has the same id (and todo-copy can tell them apart).
        row_id = self.server.dbs[first].insert("todos", row)
        for name in others:
            self.server.dbs[name].insert("todos", dict(row, id=row_id), returning_id=False)
        # The answer names the new row: `firedrill client verify` finds each acknowledged
        # write by it.
        self.send_json(201, {"id": row_id, **answer})

    def healthz(self, query, body):
        settings = self.server.settings
        for name in dict.fromkeys(settings.write + [settings.read]):
            try:
                self.server.dbs[name].query("SELECT 1")
            except DatabaseError as e:
                log(f"healthz: {e}")
                self.send_json(503, {"status": "unavailable", "error": str(e)})
                return
        self.send_json(200, {"status": "ok"})

    def metrics(self, query, body):
        text = METRICS.render(self.server.settings.node, self.server.dbs)
        self.send_body(200, text.encode("utf-8"), "text/plain; version=0.0.4; charset=utf-8")

    def upload(self, query, body):
        # A fresh name for every upload, so nothing is ever overwritten.
        stamp = datetime.datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"upload-{stamp}-{secrets.token_hex(4)}.bin"
        path = os.path.join(self.server.settings.upload_dir, name)
        try:
            with open(path, "wb") as f:
                f.write(body)
        except OSError as e:
            if e.filename is None:  # errors from write() and close() do not name the file
                e = OSError(e.errno, e.strerror, path)
            try:
                os.remove(path)  # do not leave half a file behind
            except OSError:
                pass
            log(f"upload failed: {e}")
            self.send_json(500, {"error": f"upload failed: {e}"})
            return
        self.send_json(201, {"file": name, "bytes": len(body)})

    # --- answers and logging ---------------------------------------------------------

    def parse_request(self):
        # Called once the request line is in: the latency histogram starts here.
        self.started = time.monotonic()
        return super().parse_request()

    def send_json(self, status, payload):
        self.send_body(status, (json.dumps(payload) + "\n").encode("utf-8"), "application/json")

    def send_body(self, status, data, content_type, preflight=False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        headers = getattr(self, "headers", None)
        origin = headers.get("Origin") if headers is not None else None
        if origin is not None:
            self.send_header("Vary", "Origin")
            if origin in self.server.settings.cors_origins:
                self.send_header("Access-Control-Allow-Origin", origin)
                if preflight:
                    self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
                    self.send_header("Access-Control-Allow-Headers", "Content-Type")
                    self.send_header("Access-Control-Max-Age", "600")
        self.send_header("X-Served-By", self.server.settings.node)
        self.send_header("X-Release", RELEASE)
        self.end_headers()
        self.wfile.write(data)
        started, self.started = getattr(self, "started", None), None
        took = time.monotonic() - started if started is not None else 0.0
        METRICS.observe(getattr(self, "path", ""), getattr(self, "command", None), status, took)

    def send_error(self, code, message=None, explain=None):
        """Errors http.server finds itself (a bad request line, an unknown method) as JSON too."""
        self.close_connection = True
        self.send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def log_message(self, format, *args):
        if self.server.settings.access_log:
            log(f"{self.address_string()} {format % args}")

    def log_error(self, format, *args):
        log(f"{self.address_string()} {format % args}")


def read_settings():
    try:
        return Settings(CONFIG_FILE)
    except (OSError, KeyError, ValueError, configparser.Error) as e:
        log(f"cannot start: reading the config file {CONFIG_FILE} failed: {e!r}")
        sys.exit(1)


def main():
    settings = read_settings()
    try:
        server = ThreadingHTTPServer((settings.listen, settings.port), TodoHandler)
    except OSError as e:
        log(f"cannot start: listening on {settings.listen}:{settings.port} failed: {e}")
        sys.exit(1)
    server.daemon_threads = True
    server.settings = settings
    server.dbs = open_databases(settings)
    threading.Thread(target=close_old_connections, args=(server.dbs,), daemon=True).start()
    reads = server.dbs[settings.read].describe()
    writes = ", ".join(server.dbs[n].describe() for n in settings.write)
    log(f"todo {RELEASE} on {settings.node} listening on {settings.listen}:{settings.port},"
        f" reading the {reads}, writing to the {writes}")
    server.serve_forever()


if __name__ == "__main__":
    main()

--firedrill-end-of-file--
#!/usr/bin/python3
"""migrate: brings the todo schema to what release v1 needs. Run it before starting
v1, as root or as the todo user:

    /opt/todo/releases/v1/migrate                 every database in config.ini
    /opt/todo/releases/v1/migrate --database db   one of them ([database db])
    /opt/todo/releases/v1/migrate --dry-run       say what it would change, change nothing

What each release needs (a migration brings the schema to its release's line, whatever it was):

    v1, v2  the todos table as provisioned (v2 changes only the API, not the schema)
    v3      adds todos.author (VARCHAR(255), NOT NULL, default 'Jane Doe' for existing rows)
    v4      expand: adds todos.author_first_name and todos.author_last_name, filled from author
            (and again for rows a v3 server wrote since); author stays for v3
    v5      contract: fills any empty author_first_name/author_last_name from author, then
            DROPS todos.author. v3 and v4 break once it is gone: run it only when no v3 or v4
            server is left.

Going back (v3's migrate on a v5 schema) adds author again, filled from the first and last
names; nothing is dropped on the way back. It is safe to run again: each change is made only
when the schema lacks it. Each run is recorded in the table todo_migrations (version, applied_at).
Prints one line per change, and with --quiet nothing else.
"""

import argparse
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import app  # noqa: E402  (this release's app.py, next to this file)

RELEASE = "v1"
LEVEL = int(RELEASE[1:])

# How to split "Jane Doe" into its first word and the rest, per engine.
FIRST = {"mysql": "SUBSTRING_INDEX(author, ' ', 1)", "postgres": "split_part(author, ' ', 1)"}
LAST = {
    "mysql": "IF(LOCATE(' ', author) > 0, TRIM(SUBSTRING(author, LOCATE(' ', author) + 1)), '')",
    "postgres": "CASE WHEN position(' ' in author) > 0"
                " THEN trim(substr(author, position(' ' in author) + 1)) ELSE '' END",
}

PRESENT = {"added": "add", "filled": "fill", "set": "set", "dropped": "drop"}


class Migration:
    def __init__(self, name, db, dry_run):
        self.name = name
        self.db = db
        self.dry_run = dry_run
        self.changes = []

    def has_column(self, column):
        schema = "DATABASE()" if self.db.engine == "mysql" else "current_schema()"
        rows = self.db.query(
            "SELECT COUNT(*) FROM information_schema.columns"
            f" WHERE table_schema = {schema} AND table_name = %s AND column_name = %s",
            ("todos", column))
        return rows[0][0] > 0

    def change(self, what, *statements):
        """Runs `statements` (in one connection) unless this is a dry run; says what it did."""
        if self.dry_run:
            verb, rest = what.split(" ", 1)
            what = f"would {PRESENT.get(verb, verb)} {rest}"
        else:
            self.db.run([(sql, ()) for sql in statements])
        self.changes.append(what)

    def backfill_names(self):
        """Fills empty first/last names from author; returns how many rows."""
        e = self.db.engine
        where = " WHERE author_first_name IS NULL OR author_last_name IS NULL"
        count = self.db.query("SELECT COUNT(*) FROM todos" + where)[0][0]
        if count:
            self.change(f"filled author_first_name and author_last_name of {count} rows"
                        " from author",
                        f"UPDATE todos SET author_first_name = {FIRST[e]},"
                        f" author_last_name = {LAST[e]}" + where)
        return count

    def run(self):
        has = {c: self.has_column(c)
               for c in ("author", "author_first_name", "author_last_name")}
        names = had_names = has["author_first_name"] and has["author_last_name"]
        if 3 <= LEVEL <= 4 and not has["author"]:
            statements = ["ALTER TABLE todos ADD COLUMN author VARCHAR(255) NOT NULL"
                          " DEFAULT 'Jane Doe'"]
            if names:
                statements.append(
                    "UPDATE todos SET author = TRIM(CONCAT(author_first_name, ' ',"
                    " author_last_name)) WHERE author_first_name IS NOT NULL"
                    " AND author_last_name IS NOT NULL")
            self.change("added column todos.author (VARCHAR(255) NOT NULL DEFAULT 'Jane Doe')"
                        + (", filled from author_first_name and author_last_name"
                           if names else ""), *statements)
            has["author"] = True
        if LEVEL >= 4 and not names:
            add = [f"ALTER TABLE todos ADD COLUMN {c} VARCHAR(255) NULL"
                   for c in ("author_first_name", "author_last_name")
                   if not has[c]]
            fill = ("UPDATE todos SET author_first_name = 'Jane', author_last_name = 'Doe'"
                    " WHERE author_first_name IS NULL OR author_last_name IS NULL")
            self.change("added columns todos.author_first_name and todos.author_last_name"
                        " (VARCHAR(255) NULL)", *add)
            if not has["author"]:
                # No author to split (the schema was v1 or v2): every item is Jane Doe's.
                self.change("set author_first_name 'Jane', author_last_name 'Doe' on every row",
                            fill)
            names = True
        if LEVEL >= 4 and has["author"]:
            if had_names or not self.dry_run:
                self.backfill_names()
            else:
                self.changes.append("would fill author_first_name and author_last_name from"
                                    " author")
        if LEVEL >= 5 and has["author"]:
            self.change("dropped column todos.author (contract: v3 and v4 need it)",
                        "ALTER TABLE todos DROP COLUMN author")
        self.record()
        return self.changes

    def record(self):
        if self.dry_run:
            return
        created = "DATETIME" if self.db.engine == "mysql" else "TIMESTAMP"
        self.db.run([(
            "CREATE TABLE IF NOT EXISTS todo_migrations (version VARCHAR(16) PRIMARY KEY,"
            f" applied_at {created} NOT NULL)", ())])
        done = self.db.query("SELECT COUNT(*) FROM todo_migrations WHERE version = %s",
                             (RELEASE,))[0][0]
        if not done:
            now = datetime.datetime.now(app.UTC).replace(tzinfo=None)
            self.db.query("INSERT INTO todo_migrations (version, applied_at) VALUES (%s, %s)",
                          (RELEASE, now))
            self.changes.append(f"recorded {RELEASE} in todo_migrations")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", action="append",
                        help="a [database NAME] of config.ini (repeatable; default: all)")
    parser.add_argument("--dry-run", action="store_true", help="change nothing")
    parser.add_argument("--quiet", action="store_true", help="print only the changes")
    args = parser.parse_args()
    settings = app.read_settings()
    names = args.database or list(settings.databases)
    unknown = [n for n in names if n not in settings.databases]
    if unknown:
        sys.exit(f"migrate: config.ini {app.CONFIG_FILE} has no [database {unknown[0]}];"
                 f" it has: {', '.join(settings.databases)}")
    dbs = app.open_databases(settings)
    failed = False
    for name in names:
        db = dbs[name]
        try:
            changes = Migration(name, db, args.dry_run).run()
        except app.DatabaseError as e:
            print(f"migrate {RELEASE}: {name}: failed: {e}", file=sys.stderr)
            failed = True
            continue
        for line in changes:
            print(f"{name} ({db.describe()}): {RELEASE}: {line}")
        if not changes and not args.quiet:
            print(f"{name} ({db.describe()}): schema already fits {RELEASE}, nothing to do")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

--firedrill-end-of-file--
#!/usr/bin/python3
"""todo: the small web app of a firedrill lab, release v2.

It keeps a to-do list in MariaDB/MySQL or PostgreSQL. Every release answers:

    GET  /todos              the items (their shape depends on the release, see below)
    GET  /todos?since=today  only the items created today, on this server's local calendar
    GET  /todos?page=N       newest first, `per_page` (default 20, at most 100) at a time
    POST /todos              stores one item; answers 201 with it and its new "id"
    GET  /healthz            200 when every database it uses answers, 503 when one does not
    POST /upload             stores the request body as a file in the upload directory
    GET  /metrics            requests by route, method and status code, a latency histogram
                             and database errors, in Prometheus' text format
    OPTIONS any path         a browser's CORS preflight

A request whose Origin header is one of config.ini's `cors_origins` gets it back in
Access-Control-Allow-Origin (CORS); a page of any other origin cannot read the answers.

The shape of an item, by release:

    v1  {"todos": [{"name": "Get Milk", "completed": false}]}
    v2  [{"title": "Get Milk", "done": false}]                   (breaks v1's clients)
    v3  [{"title": ..., "done": ..., "author": "Jane Doe"}]      (column todos.author)
    v4  v3 plus "author_first_name" and "author_last_name"       (expand: writes all three)
    v5  v4 without "author"                                      (contract: todos.author dropped)

Before a release starts, its schema migration must have run: `migrate` next to this file.

Every answer carries "X-Served-By: <node>" and "X-Release: <release>" headers, so you can see
which server and which release answered through the load balancer. Errors are written to
stderr, which systemd keeps in the journal:

    journalctl -u todo -f

Settings come from /etc/todo/config.ini (or the file named by $TODO_CONFIG). The app writes every
new item to each database listed in `write` (the first one numbers it) and reads from the one
named in `read`. Connections to a database are reused for up to `db_max_age` seconds
(config.ini), so a changed address or password takes effect within that time. Only the Python
standard library and the database driver (pymysql or psycopg2) are used. Feel free to change
this file, then run `systemctl restart todo`.
"""

import atexit
import configparser
import datetime
import json
import os
import secrets
import select
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

RELEASE = "v2"
# Releases compare by number: v4 has everything v3 has, unless a comment says otherwise.
LEVEL = int(RELEASE[1:])
CONFIG_FILE = os.environ.get("TODO_CONFIG", "/etc/todo/config.ini")
UTC = datetime.timezone.utc
DEFAULT_AUTHOR = "Jane Doe"


def log(message):
    """One line on stderr: systemd puts it in the journal."""
    print(message, file=sys.stderr, flush=True)


class Metrics:
    """What Prometheus scrapes at GET /metrics: every answer by route, method and status code,
    how long each took (a histogram per route), and the queries a database failed. Counters
    only go up while the process lives; Prometheus' rate() copes with the reset at a restart."""

    # Fixed label values, so a client inventing paths or methods cannot grow the series.
    ROUTES = ("/todos", "/healthz", "/upload", "/metrics")
    METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
    # Seconds. The app answers in milliseconds when all is well; a database that hangs shows up
    # around the 3 s connect timeout.
    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = {}  # (route, method, code) -> count
        self.latency = {}  # route -> [count per bucket (not cumulative)..., +Inf, sum]
        self.db_errors = {}  # database name -> count

    def route(self, path):
        path = urlsplit(path or "").path
        return path if path in self.ROUTES else "other"

    def observe(self, path, method, code, seconds):
        route = self.route(path)
        method = method if method in self.METHODS else "other"
        with self.lock:
            key = (route, method, str(code))
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.latency.setdefault(route, [0] * (len(self.BUCKETS) + 1) + [0.0])
            slot = next((i for i, b in enumerate(self.BUCKETS) if seconds <= b),
                        len(self.BUCKETS))
            hist[slot] += 1
            hist[-1] += seconds

    def database_error(self, name):
        with self.lock:
            self.db_errors[name] = self.db_errors.get(name, 0) + 1

    def render(self, node, databases):
        """The text exposition format, version 0.0.4."""
        with self.lock:
            requests = sorted(self.requests.items())
            latency = sorted((r, list(h)) for r, h in self.latency.items())
            errors = dict(self.db_errors)
        out = [
            "# HELP todo_build_info The release this process runs (always 1).",
            "# TYPE todo_build_info gauge",
            series("todo_build_info", [("release", RELEASE), ("node", node)], 1),
            "# HELP todo_http_requests_total Requests answered, by route, method and status code.",
            "# TYPE todo_http_requests_total counter",
        ]
        for (route, method, code), n in requests:
            out.append(series("todo_http_requests_total",
                              [("route", route), ("method", method), ("code", code)], n))
        out += ["# HELP todo_http_request_duration_seconds Time from reading the request line"
                " to sending the answer.",
                "# TYPE todo_http_request_duration_seconds histogram"]
        name = "todo_http_request_duration_seconds"
        for route, hist in latency:
            total = 0
            for bound, n in zip(self.BUCKETS + ("+Inf",), hist):
                total += n
                out.append(series(name + "_bucket", [("route", route), ("le", bound)], total))
            out.append(series(name + "_sum", [("route", route)], hist[-1]))
            out.append(series(name + "_count", [("route", route)], total))
        out += ["# HELP todo_database_errors_total Queries a database failed or could not take"
                " (connection refused, timeout, error).",
                "# TYPE todo_database_errors_total counter"]
        # Every database the app uses appears, at 0 before its first error, so that rate() and
        # an alert on it work from the start.
        for db in sorted(set(databases) | set(errors)):
            out.append(series("todo_database_errors_total", [("database", db)],
                              errors.get(db, 0)))
        return "\n".join(out) + "\n"


def series(name, labels, value):
    """One line of the text format: name, labels (values escaped as it wants), value."""
    def escape(v):
        return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    pairs = ",".join(f'{k}="{escape(v)}"' for k, v in labels)
    return name + "{" + pairs + "} " + str(value)


METRICS = Metrics()


class DatabaseSettings:
    """One `[database NAME]` section of config.ini."""

    def __init__(self, name, section):
        self.name = name
        self.engine = section["engine"]
        self.host = section["host"]
        self.port = section.getint("port")
        self.dbname = section["name"]
        self.user = section["user"]
        self.password = section["password"]
        if self.engine not in ("mysql", "postgres"):
            raise ValueError(f"[database {name}]: engine must be mysql or postgres,"
                             f" not {self.engine!r}")


class Settings:
    """The contents of config.ini."""

    def __init__(self, path):
        parser = configparser.ConfigParser(interpolation=None)
        # open() rather than parser.read(): read() silently skips a file it cannot open.
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
        server = parser["server"]
        self.node = server["node"]
        self.listen = server.get("listen", "0.0.0.0")
        self.port = server.getint("port")
        # todo@RELEASE.service runs a release beside todo.service, on the port [ports] names.
        instance = os.environ.get("TODO_INSTANCE")
        if instance:
            self.port = parser["ports"].getint(instance)
        self.upload_dir = server["upload_dir"]
        self.localtime = server.get("localtime", "/etc/localtime")
        self.access_log = server.getboolean("access_log", False)
        self.cors_origins = server.get("cors_origins", "").split()
        self.db_max_age = server.getfloat("db_max_age", 5.0)
        if not self.db_max_age > 0:
            raise ValueError(f"[server] db_max_age must be a number of seconds above 0,"
                             f" not {self.db_max_age}")
        self.databases = {}
        for section in parser.sections():
            if section.startswith("database "):
                name = section.split(" ", 1)[1].strip()
                self.databases[name] = DatabaseSettings(name, parser[section])
        use = parser["databases"]
        self.write = [n.strip() for n in use["write"].split(",") if n.strip()]
        self.read = use["read"].strip()
        for name in self.write + [self.read]:
            if name not in self.databases:
                raise ValueError(f"[databases] names {name!r}, but there is no"
                                 f" [database {name}] section")
        if not self.write:
            raise ValueError("[databases] write must name at least one database")


# Moves the id sequence of a PostgreSQL table past its highest id, never back.
SEQUENCE_PAST_MAX = ("SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST("
                     "(SELECT MAX(id) FROM {table}),"
                     " pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass), 1))")


class DatabaseError(Exception):
    """The database could not be reached or refused a query."""


class Refused(DatabaseError):
    """The database refused a statement for its constraints (a duplicate id, a NULL)."""


class Pool:
    """Connections to one database, kept open between requests: opening one costs far more
    than a query (a PostgreSQL backend starts for each; under emulation that is half a second
    of the database's CPU). A connection is closed once it is `max_age` seconds old, so a
    changed address, DNS name or password takes effect within that time; after any error; and
    when the server dropped it while it waited here (a restart, a KILL). At most `max_idle`
    wait unused.

    Connects stay off the requests' way, and one at a time:
    - while requests keep coming, the background thread opens a fresh connection shortly
      before the one the next request would get reaches its age (`renew`), so a request
      rarely waits for a connect;
    - a request that finds no connection waiting opens one, unless another connect is under
      way: then it waits, up to `wait` seconds, for a connection to come free (the new one
      once its request is done, or any other) rather than start one more. Several connects
      at once each slow the others down, and requests that pile up meanwhile open still
      more: a storm after every renewal."""

    def __init__(self, connect, max_age, max_idle=4, wait=2.0, clock=time.monotonic):
        self.connect = connect
        self.max_age = max_age
        self.max_idle = max_idle
        self.wait = wait
        self.clock = clock
        # Renewed this long before its age: the background thread looks once a second.
        self.ahead = min(2.0, max_age / 2)
        self.lock = threading.Lock()
        self.freed = threading.Condition(self.lock)
        self.idle = []  # (opened at, connection), the most recently used last
        self.busy = 0  # connections handed out and not back yet
        self.opening = 0  # connects under way
        self.last_take = None

    def take(self):
        """(opened at, connection, reused): a waiting connection that is young enough and
        still open on the server's side, or a new one. Give it back with give_back(), or
        discard() it after an error."""
        deadline = None  # set once this request waits; the wait uses real time
        while True:
            with self.lock:
                self.last_take = self.clock()
                # Behind a connect under way; once waiting, also for a connection in use.
                while not self.idle and (self.opening or (deadline is not None and self.busy)):
                    if deadline is None:
                        deadline = time.monotonic() + self.wait
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.freed.wait(left)
                entry = self.idle.pop() if self.idle else None
                if entry is None:
                    self.opening += 1
                else:
                    self.busy += 1
            if entry is None:
                conn = None
                try:
                    conn = self.connect()
                finally:
                    with self.lock:
                        self.opening -= 1
                        self.busy += conn is not None
                        self.freed.notify_all()
                return self.clock(), conn, False
            opened, conn = entry
            if self.clock() - opened < self.max_age and not dropped(conn):
                return opened, conn, True
            self.discard(conn)

    def give_back(self, opened, conn):
        with self.lock:
            self.busy -= 1
            keep = self.clock() - opened < self.max_age and len(self.idle) < self.max_idle
            if keep:
                self.idle.append((opened, conn))
            self.freed.notify_all()
        if not keep:
            close_quietly(conn)

    def discard(self, conn):
        """A connection taken that must not be used again (an error, its age, dropped)."""
        with self.lock:
            self.busy -= 1
            self.freed.notify_all()
        close_quietly(conn)

    def renew(self):
        """When requests came in the last `ahead` seconds and no connection waiting here has
        more than `ahead` seconds left (or none waits, and none is in use), opens a fresh one
        for the next request. An error is left for the next request to meet (and report)."""
        now = self.clock()
        with self.lock:
            if self.opening or self.last_take is None or now - self.last_take > self.ahead:
                return
            if any(now - opened < self.max_age - self.ahead for opened, _ in self.idle):
                return
            if not self.idle and self.busy:
                return  # in use right now: it is looked at again once it is back
            self.opening += 1
        conn = None
        try:
            conn = self.connect()
        except Exception:  # refused, a timeout, a password: the next request says which
            pass
        finally:
            with self.lock:
                self.opening -= 1
                keep = conn is not None and len(self.idle) < self.max_idle
                if keep:
                    self.idle.append((self.clock(), conn))
                self.freed.notify_all()
            if conn is not None and not keep:
                close_quietly(conn)

    def close_old(self):
        """Closes the waiting connections that reached their age, so none outlives it even
        when no request comes (the old server of a move sees its sessions end)."""
        now = self.clock()
        with self.lock:
            old = [c for t, c in self.idle if now - t >= self.max_age]
            self.idle = [(t, c) for t, c in self.idle if now - t < self.max_age]
        for conn in old:
            close_quietly(conn)

    def close_all(self):
        with self.lock:
            idle, self.idle = self.idle, []
        for _, conn in idle:
            close_quietly(conn)


def dropped(conn):
    """True when an idle connection has something to read: nothing is owed to us between
    requests, so that is the server's goodbye (an error message, or the end of the stream)."""
    sock = getattr(conn, "_sock", None)  # pymysql
    if sock is not None:
        fd = sock.fileno()
    elif hasattr(conn, "fileno") and not getattr(conn, "closed", 1):  # psycopg2
        fd = conn.fileno()
    else:
        return True  # already closed on our side
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def close_quietly(conn):
    try:
        conn.close()
    except Exception:  # closing a broken connection may fail too; it is gone either way
        pass


class Database:
    """One database of config.ini, reached through a Pool of connections."""

    def __init__(self, settings, max_age=5.0):
        self.s = settings
        self.engine = settings.engine
        # Import only the driver this database needs.
        if settings.engine == "mysql":
            import pymysql

            self.driver = pymysql
        else:
            import psycopg2

            self.driver = psycopg2
        self.pool = Pool(self.connect, max_age)
        atexit.register(self.pool.close_all)

    def describe(self):
        s = self.s
        return f"{s.engine} database {s.dbname} at {s.host}:{s.port}"

    def connect(self):
        s = self.s
        if s.engine == "mysql":
            return self.driver.connect(
                host=s.host, port=s.port, user=s.user, password=s.password,
                database=s.dbname, connect_timeout=3, autocommit=True,
            )
        conn = self.driver.connect(
            host=s.host, port=s.port, user=s.user, password=s.password,
            dbname=s.dbname, connect_timeout=3,
        )
        conn.autocommit = True
        return conn

    def run(self, statements):
        """Runs (sql, params) pairs on one connection; returns the last one's rows, or for an
        INSERT on MySQL the id it assigned."""
        try:
            opened, conn, _ = self.pool.take()
        except self.driver.Error as e:
            METRICS.database_error(self.s.name)
            raise DatabaseError(f"{self.describe()}: {e}".strip()) from e
        try:
            result = []
            with conn.cursor() as cur:
                for sql, params in statements:
                    # Both drivers use %s placeholders, so one SQL text fits both engines.
                    cur.execute(sql, params)
                    result = list(cur.fetchall()) if cur.description else cur.lastrowid
        except self.driver.Error as e:
            self.pool.discard(conn)  # whatever went wrong, the next request starts afresh
            METRICS.database_error(self.s.name)
            kind = Refused if isinstance(e, self.driver.IntegrityError) else DatabaseError
            raise kind(f"{self.describe()}: {e}".strip()) from e
        except BaseException:
            self.pool.discard(conn)
            raise
        self.pool.give_back(opened, conn)
        return result

    def query(self, sql, params=()):
        """Runs one statement and returns its rows (none for an INSERT)."""
        rows = self.run([(sql, params)])
        return rows if isinstance(rows, list) else []

    def insert(self, table, values, returning_id=True):
        """Inserts one row; returns its id when `returning_id`."""
        columns = ", ".join(values)
        marks = ", ".join(["%s"] * len(values))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
        params = tuple(values.values())
        if returning_id:
            if self.engine == "postgres":
                return self.run([(sql + " RETURNING id", params)])[0][0]
            return self.run([(sql, params)])
        statements = [(sql, params)]
        if self.engine == "postgres":
            # A row numbered elsewhere: move the sequence past it, or a later insert numbered
            # here would collide with it. Never back: an operator may have moved it far ahead
            # so that rows numbered here and elsewhere at the same time cannot collide.
            statements.append((SEQUENCE_PAST_MAX.format(table=table), (table, table)))
        try:
            return self.run(statements)
        except Refused:
            # A copy of the past (todo-copy) running beside the dual writes may have read this
            # row from the first database and stored it here a moment before us: the same item
            # under its id is a success. Another item under that id is a real collision.
            same = self.query(f"SELECT id FROM {table} WHERE id = %s AND name = %s",
                              (values["id"], values["name"]))
            if not same:
                raise
            return None


def open_databases(settings):
    return {name: Database(db, settings.db_max_age) for name, db in settings.databases.items()}


def close_old_connections(dbs):
    """Every second, the connections that waited past their age are closed, and those about
    to reach it are renewed while requests come."""
    while True:
        time.sleep(1)
        for db in dbs.values():
            db.pool.close_old()
            db.pool.renew()


def local_timezone(settings):
    """This server's time zone, looked up again on every request: `timedatectl set-timezone`
    replaces /etc/localtime, and "today" must follow it at once."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        return ZoneInfo(name)
    try:
        with open(settings.localtime, "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except FileNotFoundError:
        return UTC  # no /etc/localtime means UTC, as for every other program


def today_in_utc(settings):
    """Start and end of today on the server's local calendar, as UTC times like created_at."""
    zone = local_timezone(settings)
    today = datetime.datetime.now(zone).date()
    tomorrow = today + datetime.timedelta(days=1)
    midnight = datetime.time(0, 0)
    start = datetime.datetime.combine(today, midnight, tzinfo=zone)
    end = datetime.datetime.combine(tomorrow, midnight, tzinfo=zone)
    # The database stores UTC without a zone, so compare with zone-less UTC times.
    return (start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None))


class BadRequest(Exception):
    """The client sent something we cannot use: answer 400 with this message."""


# --- what an item is in this release -------------------------------------------------------

def split_author(author):
    """"Jane Doe" -> ("Jane", "Doe"): the first word, and the rest."""
    first, _, last = (author or "").strip().partition(" ")
    return first, last.strip()


def columns():
    """The columns of todos this release reads, in order."""
    cols = ["name", "completed"]
    if 3 <= LEVEL <= 4:
        cols.append("author")
    if LEVEL >= 4:
        cols += ["author_first_name", "author_last_name"]
    return cols


def item_from_row(row):
    values = dict(zip(columns(), row))
    if LEVEL == 1:
        return {"name": values["name"], "completed": bool(values["completed"])}
    item = {"title": values["name"], "done": bool(values["completed"])}
    if LEVEL == 3:
        item["author"] = values["author"]
    if LEVEL >= 4:
        first, last = values["author_first_name"], values["author_last_name"]
        if first is None and LEVEL == 4:
            # Written by a release that knows only `author` (v3) since the migration: the
            # expand phase reads both ways.
            first, last = split_author(values["author"])
        if LEVEL == 4:
            item["author"] = values["author"]
        item["author_first_name"] = first
        item["author_last_name"] = last
    return item


def whole_number(name, text, low, high):
    """A query parameter that must be a whole number from `low` to `high`."""
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def list_answer(items):
    return {"todos": items} if LEVEL == 1 else items


def text_field(item, key, example, required):
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise BadRequest(f'"{key}" must be a non-empty string of at most 255 characters,'
                         f' e.g. {example}')
    return value


def item_from_body(body):
    """The item a POST /todos body describes, as (row values for the database, the answer)."""
    example = ('{"name": "Get Milk", "completed": false}' if LEVEL == 1
               else '{"title": "Get Milk", "done": false}')
    try:
        item = json.loads(body)
    except ValueError:
        raise BadRequest(f"the body must be JSON like {example}") from None
    if not isinstance(item, dict):
        raise BadRequest(f"the body must be a JSON object like {example}")
    name_key, done_key = ("name", "completed") if LEVEL == 1 else ("title", "done")
    name = text_field(item, name_key, '"Get Milk"', True)
    done = item.get(done_key, False)
    if not isinstance(done, bool):
        raise BadRequest(f'"{done_key}" must be true or false')
    row = {"name": name, "completed": done}
    answer = {name_key: name, done_key: done}
    if LEVEL == 3:
        author = text_field(item, "author", '"Jane Doe"', False) or DEFAULT_AUTHOR
        row["author"] = answer["author"] = author
    if LEVEL >= 4:
        first = text_field(item, "author_first_name", '"Jane"', False)
        last = text_field(item, "author_last_name", '"Doe"', False)
        author = text_field(item, "author", '"Jane Doe"', False) if LEVEL == 4 else None
        if first is None and last is None:
            first, last = split_author(author or DEFAULT_AUTHOR)
        first, last = first or "", last or ""
        if LEVEL == 4:
            # Expand: keep writing `author` for the releases that still read it.
            row["author"] = answer["author"] = author or f"{first} {last}".strip()
        row["author_first_name"] = answer["author_first_name"] = first
        row["author_last_name"] = answer["author_last_name"] = last
    return row, answer


class TodoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep connections open for the load balancer
    server_version = f"todo/{RELEASE}"
    # The headers and the body are two writes: without this the body could wait for the
    # headers' acknowledgement (Nagle's algorithm against the peer's delayed ACK).
    disable_nagle_algorithm = True

    def handle(self):
        """A client that has gone away is nobody to answer. HAProxy closes each health check with
        a reset as soon as it has read the status line, often before the body is written; that
        is not an error of this app, and logging a traceback for it every 2 s filled the journal."""
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            self.close_connection = True

    # --- routing ---------------------------------------------------------------------

    def do_GET(self):
        self.route({"/todos": self.list_todos, "/healthz": self.healthz,
                    "/metrics": self.metrics}, body=b"")

    def do_OPTIONS(self):
        """A browser's CORS preflight: which methods and headers a page of an allowed origin may
        send. The answer carries no body; an origin not allowed gets no Access-Control-* header."""
        self.send_body(204, b"", "text/plain", preflight=True)

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True  # we cannot tell where the body ends
            self.send_json(400, {"error": "Content-Length must be a number"})
            return
        body = self.rfile.read(length) if length > 0 else b""
        self.route({"/todos": self.create_todo, "/upload": self.upload}, body=body)

    def route(self, routes, body):
        url = urlsplit(self.path)
        handler = routes.get(url.path)
        if handler is None:
            self.send_json(404, {"error": f"no such endpoint: {self.command} {url.path}"})
            return
        try:
            handler(parse_qs(url.query), body)
        except BadRequest as e:
            self.send_json(400, {"error": str(e)})
        except DatabaseError as e:
            log(f"{self.command} {url.path} failed: {e}")
            self.send_json(500, {"error": str(e)})
        except (ConnectionResetError, BrokenPipeError):
            raise  # the client went away mid-answer: see handle()
        except Exception as e:  # a bug: keep serving, and leave the traceback in the journal
            log(f"{self.command} {url.path} failed: {e!r}\n{traceback.format_exc()}")
            self.send_json(500, {"error": f"internal error: {e}"})

    # --- endpoints -------------------------------------------------------------------

    def list_todos(self, query, body):
        since = query.get("since", [None])[0]
        db = self.server.dbs[self.server.settings.read]
        select = f"SELECT {', '.join(columns())} FROM todos"
        if since is None:
            where, params = "", ()
        elif since == "today":
            where, params = " WHERE created_at >= %s AND created_at < %s", today_in_utc(
                self.server.settings)
        else:
            raise BadRequest(f"since must be 'today', not {since!r}")
        page = query.get("page", [None])[0]
        if page is None:
            rows = db.query(select + where + " ORDER BY id", tuple(params))
        else:
            # Newest first, a page at a time. OFFSET reads and throws away every row before the
            # page: deep pages stay slow even with an index (keyset pagination avoids that).
            page = whole_number("page", page, 1, 1_000_000)
            per_page = whole_number("per_page", query.get("per_page", ["20"])[0], 1, 100)
            rows = db.query(select + where + " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
                            tuple(params) + (per_page, (page - 1) * per_page))
        self.send_json(200, list_answer([item_from_row(row) for row in rows]))

    def create_todo(self, query, body):
        row, answer = item_from_body(body)
        row["created_at"] = datetime.datetime.now(UTC).replace(tzinfo=None)
        first, *others = self.server.settings.write
        # The first write database numbers the item; the others store it under that number,
        # so every copy of an item has the same id (and todo-copy can tell them apart).
        row_id = self.server.dbs[first].insert("todos", row)
        for name in others:
            self.server.dbs[name].insert("todos", dict(row, id=row_id), returning_id=False)
        # The answer names the new row: `firedrill client verify` finds each acknowledged
        # write by it.
        self.send_json(201, {"id": row_id, **answer})

    def healthz(self, query, body):
        settings = self.server.settings
        for name in dict.fromkeys(settings.write + [settings.read]):
            try:
                self.server.dbs[name].query("SELECT 1")
            except DatabaseError as e:
                log(f"healthz: {e}")
                self.send_json(503, {"status": "unavailable", "error": str(e)})
                return
        self.send_json(200, {"status": "ok"})

    def metrics(self, query, body):
        text = METRICS.render(self.server.settings.node, self.server.dbs)
        self.send_body(200, text.encode("utf-8"), "text/plain; version=0.0.4; charset=utf-8")

    def upload(self, query, body):
        # A fresh name for every upload, so nothing is ever overwritten.
        stamp = datetime.datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"upload-{stamp}-{secrets.token_hex(4)}.bin"
        path = os.path.join(self.server.settings.upload_dir, name)
        try:
            with open(path, "wb") as f:
                f.write(body)
        except OSError as e:
            if e.filename is None:  # errors from write() and close() do not name the file
                e = OSError(e.errno, e.strerror, path)
            try:
                os.remove(path)  # do not leave half a file behind
            except OSError:
                pass
            log(f"upload failed: {e}")
            self.send_json(500, {"error": f"upload failed: {e}"})
            return
        self.send_json(201, {"file": name, "bytes": len(body)})

    # --- answers and logging ---------------------------------------------------------

    def parse_request(self):
        # Called once the request line is in: the latency histogram starts here.
        self.started = time.monotonic()
        return super().parse_request()

    def send_json(self, status, payload):
        self.send_body(status, (json.dumps(payload) + "\n").encode("utf-8"), "application/json")

    def send_body(self, status, data, content_type, preflight=False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        headers = getattr(self, "headers", None)
        origin = headers.get("Origin") if headers is not None else None
        if origin is not None:
            self.send_header("Vary", "Origin")
            if origin in self.server.settings.cors_origins:
                self.send_header("Access-Control-Allow-Origin", origin)
                if preflight:
                    self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
                    self.send_header("Access-Control-Allow-Headers", "Content-Type")
                    self.send_header("Access-Control-Max-Age", "600")
        self.send_header("X-Served-By", self.server.settings.node)
        self.send_header("X-Release", RELEASE)
        self.end_headers()
        self.wfile.write(data)
        started, self.started = getattr(self, "started", None), None
        took = time.monotonic() - started if started is not None else 0.0
        METRICS.observe(getattr(self, "path", ""), getattr(self, "command", None), status, took)

    def send_error(self, code, message=None, explain=None):
        """Errors http.server finds itself (a bad request line, an unknown method) as JSON too."""
        self.close_connection = True
        self.send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def log_message(self, format, *args):
        if self.server.settings.access_log:
            log(f"{self.address_string()} {format % args}")

    def log_error(self, format, *args):
        log(f"{self.address_string()} {format % args}")


def read_settings():
    try:
        return Settings(CONFIG_FILE)
    except (OSError, KeyError, ValueError, configparser.Error) as e:
        log(f"cannot start: reading the config file {CONFIG_FILE} failed: {e!r}")
        sys.exit(1)


def main():
    settings = read_settings()
    try:
        server = ThreadingHTTPServer((settings.listen, settings.port), TodoHandler)
    except OSError as e:
        log(f"cannot start: listening on {settings.listen}:{settings.port} failed: {e}")
        sys.exit(1)
    server.daemon_threads = True
    server.settings = settings
    server.dbs = open_databases(settings)
    threading.Thread(target=close_old_connections, args=(server.dbs,), daemon=True).start()
    reads = server.dbs[settings.read].describe()
    writes = ", ".join(server.dbs[n].describe() for n in settings.write)
    log(f"todo {RELEASE} on {settings.node} listening on {settings.listen}:{settings.port},"
        f" reading the {reads}, writing to the {writes}")
    server.serve_forever()


if __name__ == "__main__":
    main()

--firedrill-end-of-file--
#!/usr/bin/python3
"""migrate: brings the todo schema to what release v2 needs. Run it before starting
v2, as root or as the todo user:

    /opt/todo/releases/v2/migrate                 every database in config.ini
    /opt/todo/releases/v2/migrate --database db   one of them ([database db])
    /opt/todo/releases/v2/migrate --dry-run       say what it would change, change nothing

What each release needs (a migration brings the schema to its release's line, whatever it was):

    v1, v2  the todos table as provisioned (v2 changes only the API, not the schema)
    v3      adds todos.author (VARCHAR(255), NOT NULL, default 'Jane Doe' for existing rows)
    v4      expand: adds todos.author_first_name and todos.author_last_name, filled from author
            (and again for rows a v3 server wrote since); author stays for v3
    v5      contract: fills any empty author_first_name/author_last_name from author, then
            DROPS todos.author. v3 and v4 break once it is gone: run it only when no v3 or v4
            server is left.

Going back (v3's migrate on a v5 schema) adds author again, filled from the first and last
names; nothing is dropped on the way back. It is safe to run again: each change is made only
when the schema lacks it. Each run is recorded in the table todo_migrations (version, applied_at).
Prints one line per change, and with --quiet nothing else.
"""

import argparse
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import app  # noqa: E402  (this release's app.py, next to this file)

RELEASE = "v2"
LEVEL = int(RELEASE[1:])

# How to split "Jane Doe" into its first word and the rest, per engine.
FIRST = {"mysql": "SUBSTRING_INDEX(author, ' ', 1)", "postgres": "split_part(author, ' ', 1)"}
LAST = {
    "mysql": "IF(LOCATE(' ', author) > 0, TRIM(SUBSTRING(author, LOCATE(' ', author) + 1)), '')",
    "postgres": "CASE WHEN position(' ' in author) > 0"
                " THEN trim(substr(author, position(' ' in author) + 1)) ELSE '' END",
}

PRESENT = {"added": "add", "filled": "fill", "set": "set", "dropped": "drop"}


class Migration:
    def __init__(self, name, db, dry_run):
        self.name = name
        self.db = db
        self.dry_run = dry_run
        self.changes = []

    def has_column(self, column):
        schema = "DATABASE()" if self.db.engine == "mysql" else "current_schema()"
        rows = self.db.query(
            "SELECT COUNT(*) FROM information_schema.columns"
            f" WHERE table_schema = {schema} AND table_name = %s AND column_name = %s",
            ("todos", column))
        return rows[0][0] > 0

    def change(self, what, *statements):
        """Runs `statements` (in one connection) unless this is a dry run; says what it did."""
        if self.dry_run:
            verb, rest = what.split(" ", 1)
            what = f"would {PRESENT.get(verb, verb)} {rest}"
        else:
            self.db.run([(sql, ()) for sql in statements])
        self.changes.append(what)

    def backfill_names(self):
        """Fills empty first/last names from author; returns how many rows."""
        e = self.db.engine
        where = " WHERE author_first_name IS NULL OR author_last_name IS NULL"
        count = self.db.query("SELECT COUNT(*) FROM todos" + where)[0][0]
        if count:
            self.change(f"filled author_first_name and author_last_name of {count} rows"
                        " from author",
                        f"UPDATE todos SET author_first_name = {FIRST[e]},"
                        f" author_last_name = {LAST[e]}" + where)
        return count

    def run(self):
        has = {c: self.has_column(c)
               for c in ("author", "author_first_name", "author_last_name")}
        names = had_names = has["author_first_name"] and has["author_last_name"]
        if 3 <= LEVEL <= 4 and not has["author"]:
            statements = ["ALTER TABLE todos ADD COLUMN author VARCHAR(255) NOT NULL"
                          " DEFAULT 'Jane Doe'"]
            if names:
                statements.append(
                    "UPDATE todos SET author = TRIM(CONCAT(author_first_name, ' ',"
                    " author_last_name)) WHERE author_first_name IS NOT NULL"
                    " AND author_last_name IS NOT NULL")
            self.change("added column todos.author (VARCHAR(255) NOT NULL DEFAULT 'Jane Doe')"
                        + (", filled from author_first_name and author_last_name"
                           if names else ""), *statements)
            has["author"] = True
        if LEVEL >= 4 and not names:
            add = [f"ALTER TABLE todos ADD COLUMN {c} VARCHAR(255) NULL"
                   for c in ("author_first_name", "author_last_name")
                   if not has[c]]
            fill = ("UPDATE todos SET author_first_name = 'Jane', author_last_name = 'Doe'"
                    " WHERE author_first_name IS NULL OR author_last_name IS NULL")
            self.change("added columns todos.author_first_name and todos.author_last_name"
                        " (VARCHAR(255) NULL)", *add)
            if not has["author"]:
                # No author to split (the schema was v1 or v2): every item is Jane Doe's.
                self.change("set author_first_name 'Jane', author_last_name 'Doe' on every row",
                            fill)
            names = True
        if LEVEL >= 4 and has["author"]:
            if had_names or not self.dry_run:
                self.backfill_names()
            else:
                self.changes.append("would fill author_first_name and author_last_name from"
                                    " author")
        if LEVEL >= 5 and has["author"]:
            self.change("dropped column todos.author (contract: v3 and v4 need it)",
                        "ALTER TABLE todos DROP COLUMN author")
        self.record()
        return self.changes

    def record(self):
        if self.dry_run:
            return
        created = "DATETIME" if self.db.engine == "mysql" else "TIMESTAMP"
        self.db.run([(
            "CREATE TABLE IF NOT EXISTS todo_migrations (version VARCHAR(16) PRIMARY KEY,"
            f" applied_at {created} NOT NULL)", ())])
        done = self.db.query("SELECT COUNT(*) FROM todo_migrations WHERE version = %s",
                             (RELEASE,))[0][0]
        if not done:
            now = datetime.datetime.now(app.UTC).replace(tzinfo=None)
            self.db.query("INSERT INTO todo_migrations (version, applied_at) VALUES (%s, %s)",
                          (RELEASE, now))
            self.changes.append(f"recorded {RELEASE} in todo_migrations")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", action="append",
                        help="a [database NAME] of config.ini (repeatable; default: all)")
    parser.add_argument("--dry-run", action="store_true", help="change nothing")
    parser.add_argument("--quiet", action="store_true", help="print only the changes")
    args = parser.parse_args()
    settings = app.read_settings()
    names = args.database or list(settings.databases)
    unknown = [n for n in names if n not in settings.databases]
    if unknown:
        sys.exit(f"migrate: config.ini {app.CONFIG_FILE} has no [database {unknown[0]}];"
                 f" it has: {', '.join(settings.databases)}")
    dbs = app.open_databases(settings)
    failed = False
    for name in names:
        db = dbs[name]
        try:
            changes = Migration(name, db, args.dry_run).run()
        except app.DatabaseError as e:
            print(f"migrate {RELEASE}: {name}: failed: {e}", file=sys.stderr)
            failed = True
            continue
        for line in changes:
            print(f"{name} ({db.describe()}): {RELEASE}: {line}")
        if not changes and not args.quiet:
            print(f"{name} ({db.describe()}): schema already fits {RELEASE}, nothing to do")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

--firedrill-end-of-file--
#!/usr/bin/python3
"""todo: the small web app of a firedrill lab, release v3.

It keeps a to-do list in MariaDB/MySQL or PostgreSQL. Every release answers:

    GET  /todos              the items (their shape depends on the release, see below)
    GET  /todos?since=today  only the items created today, on this server's local calendar
    GET  /todos?page=N       newest first, `per_page` (default 20, at most 100) at a time
    POST /todos              stores one item; answers 201 with it and its new "id"
    GET  /healthz            200 when every database it uses answers, 503 when one does not
    POST /upload             stores the request body as a file in the upload directory
    GET  /metrics            requests by route, method and status code, a latency histogram
                             and database errors, in Prometheus' text format
    OPTIONS any path         a browser's CORS preflight

A request whose Origin header is one of config.ini's `cors_origins` gets it back in
Access-Control-Allow-Origin (CORS); a page of any other origin cannot read the answers.

The shape of an item, by release:

    v1  {"todos": [{"name": "Get Milk", "completed": false}]}
    v2  [{"title": "Get Milk", "done": false}]                   (breaks v1's clients)
    v3  [{"title": ..., "done": ..., "author": "Jane Doe"}]      (column todos.author)
    v4  v3 plus "author_first_name" and "author_last_name"       (expand: writes all three)
    v5  v4 without "author"                                      (contract: todos.author dropped)

Before a release starts, its schema migration must have run: `migrate` next to this file.

Every answer carries "X-Served-By: <node>" and "X-Release: <release>" headers, so you can see
which server and which release answered through the load balancer. Errors are written to
stderr, which systemd keeps in the journal:

    journalctl -u todo -f

Settings come from /etc/todo/config.ini (or the file named by $TODO_CONFIG). The app writes every
new item to each database listed in `write` (the first one numbers it) and reads from the one
named in `read`. Connections to a database are reused for up to `db_max_age` seconds
(config.ini), so a changed address or password takes effect within that time. Only the Python
standard library and the database driver (pymysql or psycopg2) are used. Feel free to change
this file, then run `systemctl restart todo`.
"""

import atexit
import configparser
import datetime
import json
import os
import secrets
import select
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

RELEASE = "v3"
# Releases compare by number: v4 has everything v3 has, unless a comment says otherwise.
LEVEL = int(RELEASE[1:])
CONFIG_FILE = os.environ.get("TODO_CONFIG", "/etc/todo/config.ini")
UTC = datetime.timezone.utc
DEFAULT_AUTHOR = "Jane Doe"


def log(message):
    """One line on stderr: systemd puts it in the journal."""
    print(message, file=sys.stderr, flush=True)


class Metrics:
    """What Prometheus scrapes at GET /metrics: every answer by route, method and status code,
    how long each took (a histogram per route), and the queries a database failed. Counters
    only go up while the process lives; Prometheus' rate() copes with the reset at a restart."""

    # Fixed label values, so a client inventing paths or methods cannot grow the series.
    ROUTES = ("/todos", "/healthz", "/upload", "/metrics")
    METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
    # Seconds. The app answers in milliseconds when all is well; a database that hangs shows up
    # around the 3 s connect timeout.
    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = {}  # (route, method, code) -> count
        self.latency = {}  # route -> [count per bucket (not cumulative)..., +Inf, sum]
        self.db_errors = {}  # database name -> count

    def route(self, path):
        path = urlsplit(path or "").path
        return path if path in self.ROUTES else "other"

    def observe(self, path, method, code, seconds):
        route = self.route(path)
        method = method if method in self.METHODS else "other"
        with self.lock:
            key = (route, method, str(code))
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.latency.setdefault(route, [0] * (len(self.BUCKETS) + 1) + [0.0])
            slot = next((i for i, b in enumerate(self.BUCKETS) if seconds <= b),
                        len(self.BUCKETS))
            hist[slot] += 1
            hist[-1] += seconds

    def database_error(self, name):
        with self.lock:
            self.db_errors[name] = self.db_errors.get(name, 0) + 1

    def render(self, node, databases):
        """The text exposition format, version 0.0.4."""
        with self.lock:
            requests = sorted(self.requests.items())
            latency = sorted((r, list(h)) for r, h in self.latency.items())
            errors = dict(self.db_errors)
        out = [
            "# HELP todo_build_info The release this process runs (always 1).",
            "# TYPE todo_build_info gauge",
            series("todo_build_info", [("release", RELEASE), ("node", node)], 1),
            "# HELP todo_http_requests_total Requests answered, by route, method and status code.",
            "# TYPE todo_http_requests_total counter",
        ]
        for (route, method, code), n in requests:
            out.append(series("todo_http_requests_total",
                              [("route", route), ("method", method), ("code", code)], n))
        out += ["# HELP todo_http_request_duration_seconds Time from reading the request line"
                " to sending the answer.",
                "# TYPE todo_http_request_duration_seconds histogram"]
        name = "todo_http_request_duration_seconds"
        for route, hist in latency:
            total = 0
            for bound, n in zip(self.BUCKETS + ("+Inf",), hist):
                total += n
                out.append(series(name + "_bucket", [("route", route), ("le", bound)], total))
            out.append(series(name + "_sum", [("route", route)], hist[-1]))
            out.append(series(name + "_count", [("route", route)], total))
        out += ["# HELP todo_database_errors_total Queries a database failed or could not take"
                " (connection refused, timeout, error).",
                "# TYPE todo_database_errors_total counter"]
        # Every database the app uses appears, at 0 before its first error, so that rate() and
        # an alert on it work from the start.
        for db in sorted(set(databases) | set(errors)):
            out.append(series("todo_database_errors_total", [("database", db)],
                              errors.get(db, 0)))
        return "\n".join(out) + "\n"


def series(name, labels, value):
    """One line of the text format: name, labels (values escaped as it wants), value."""
    def escape(v):
        return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    pairs = ",".join(f'{k}="{escape(v)}"' for k, v in labels)
    return name + "{" + pairs + "} " + str(value)


METRICS = Metrics()


class DatabaseSettings:
    """One `[database NAME]` section of config.ini."""

    def __init__(self, name, section):
        self.name = name
        self.engine = section["engine"]
        self.host = section["host"]
        self.port = section.getint("port")
        self.dbname = section["name"]
        self.user = section["user"]
        self.password = section["password"]
        if self.engine not in ("mysql", "postgres"):
            raise ValueError(f"[database {name}]: engine must be mysql or postgres,"
                             f" not {self.engine!r}")


class Settings:
    """The contents of config.ini."""

    def __init__(self, path):
        parser = configparser.ConfigParser(interpolation=None)
        # open() rather than parser.read(): read() silently skips a file it cannot open.
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
        server = parser["server"]
        self.node = server["node"]
        self.listen = server.get("listen", "0.0.0.0")
        self.port = server.getint("port")
        # todo@RELEASE.service runs a release beside todo.service, on the port [ports] names.
        instance = os.environ.get("TODO_INSTANCE")
        if instance:
            self.port = parser["ports"].getint(instance)
        self.upload_dir = server["upload_dir"]
        self.localtime = server.get("localtime", "/etc/localtime")
        self.access_log = server.getboolean("access_log", False)
        self.cors_origins = server.get("cors_origins", "").split()
        self.db_max_age = server.getfloat("db_max_age", 5.0)
        if not self.db_max_age > 0:
            raise ValueError(f"[server] db_max_age must be a number of seconds above 0,"
                             f" not {self.db_max_age}")
        self.databases = {}
        for section in parser.sections():
            if section.startswith("database "):
                name = section.split(" ", 1)[1].strip()
                self.databases[name] = DatabaseSettings(name, parser[section])
        use = parser["databases"]
        self.write = [n.strip() for n in use["write"].split(",") if n.strip()]
        self.read = use["read"].strip()
        for name in self.write + [self.read]:
            if name not in self.databases:
                raise ValueError(f"[databases] names {name!r}, but there is no"
                                 f" [database {name}] section")
        if not self.write:
            raise ValueError("[databases] write must name at least one database")


# Moves the id sequence of a PostgreSQL table past its highest id, never back.
SEQUENCE_PAST_MAX = ("SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST("
                     "(SELECT MAX(id) FROM {table}),"
                     " pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass), 1))")


class DatabaseError(Exception):
    """The database could not be reached or refused a query."""


class Refused(DatabaseError):
    """The database refused a statement for its constraints (a duplicate id, a NULL)."""


class Pool:
    """Connections to one database, kept open between requests: opening one costs far more
    than a query (a PostgreSQL backend starts for each; under emulation that is half a second
    of the database's CPU). A connection is closed once it is `max_age` seconds old, so a
    changed address, DNS name or password takes effect within that time; after any error; and
    when the server dropped it while it waited here (a restart, a KILL). At most `max_idle`
    wait unused.

    Connects stay off the requests' way, and one at a time:
    - while requests keep coming, the background thread opens a fresh connection shortly
      before the one the next request would get reaches its age (`renew`), so a request
      rarely waits for a connect;
    - a request that finds no connection waiting opens one, unless another connect is under
      way: then it waits, up to `wait` seconds, for a connection to come free (the new one
      once its request is done, or any other) rather than start one more. Several connects
      at once each slow the others down, and requests that pile up meanwhile open still
      more: a storm after every renewal."""

    def __init__(self, connect, max_age, max_idle=4, wait=2.0, clock=time.monotonic):
        self.connect = connect
        self.max_age = max_age
        self.max_idle = max_idle
        self.wait = wait
        self.clock = clock
        # Renewed this long before its age: the background thread looks once a second.
        self.ahead = min(2.0, max_age / 2)
        self.lock = threading.Lock()
        self.freed = threading.Condition(self.lock)
        self.idle = []  # (opened at, connection), the most recently used last
        self.busy = 0  # connections handed out and not back yet
        self.opening = 0  # connects under way
        self.last_take = None

    def take(self):
        """(opened at, connection, reused): a waiting connection that is young enough and
        still open on the server's side, or a new one. Give it back with give_back(), or
        discard() it after an error."""
        deadline = None  # set once this request waits; the wait uses real time
        while True:
            with self.lock:
                self.last_take = self.clock()
                # Behind a connect under way; once waiting, also for a connection in use.
                while not self.idle and (self.opening or (deadline is not None and self.busy)):
                    if deadline is None:
                        deadline = time.monotonic() + self.wait
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.freed.wait(left)
                entry = self.idle.pop() if self.idle else None
                if entry is None:
                    self.opening += 1
                else:
                    self.busy += 1
            if entry is None:
                conn = None
                try:
                    conn = self.connect()
                finally:
                    with self.lock:
                        self.opening -= 1
                        self.busy += conn is not None
                        self.freed.notify_all()
                return self.clock(), conn, False
            opened, conn = entry
            if self.clock() - opened < self.max_age and not dropped(conn):
                return opened, conn, True
            self.discard(conn)

    def give_back(self, opened, conn):
        with self.lock:
            self.busy -= 1
            keep = self.clock() - opened < self.max_age and len(self.idle) < self.max_idle
            if keep:
                self.idle.append((opened, conn))
            self.freed.notify_all()
        if not keep:
            close_quietly(conn)

    def discard(self, conn):
        """A connection taken that must not be used again (an error, its age, dropped)."""
        with self.lock:
            self.busy -= 1
            self.freed.notify_all()
        close_quietly(conn)

    def renew(self):
        """When requests came in the last `ahead` seconds and no connection waiting here has
        more than `ahead` seconds left (or none waits, and none is in use), opens a fresh one
        for the next request. An error is left for the next request to meet (and report)."""
        now = self.clock()
        with self.lock:
            if self.opening or self.last_take is None or now - self.last_take > self.ahead:
                return
            if any(now - opened < self.max_age - self.ahead for opened, _ in self.idle):
                return
            if not self.idle and self.busy:
                return  # in use right now: it is looked at again once it is back
            self.opening += 1
        conn = None
        try:
            conn = self.connect()
        except Exception:  # refused, a timeout, a password: the next request says which
            pass
        finally:
            with self.lock:
                self.opening -= 1
                keep = conn is not None and len(self.idle) < self.max_idle
                if keep:
                    self.idle.append((self.clock(), conn))
                self.freed.notify_all()
            if conn is not None and not keep:
                close_quietly(conn)

    def close_old(self):
        """Closes the waiting connections that reached their age, so none outlives it even
        when no request comes (the old server of a move sees its sessions end)."""
        now = self.clock()
        with self.lock:
            old = [c for t, c in self.idle if now - t >= self.max_age]
            self.idle = [(t, c) for t, c in self.idle if now - t < self.max_age]
        for conn in old:
            close_quietly(conn)

    def close_all(self):
        with self.lock:
            idle, self.idle = self.idle, []
        for _, conn in idle:
            close_quietly(conn)


def dropped(conn):
    """True when an idle connection has something to read: nothing is owed to us between
    requests, so that is the server's goodbye (an error message, or the end of the stream)."""
    sock = getattr(conn, "_sock", None)  # pymysql
    if sock is not None:
        fd = sock.fileno()
    elif hasattr(conn, "fileno") and not getattr(conn, "closed", 1):  # psycopg2
        fd = conn.fileno()
    else:
        return True  # already closed on our side
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def close_quietly(conn):
    try:
        conn.close()
    except Exception:  # closing a broken connection may fail too; it is gone either way
        pass


class Database:
    """One database of config.ini, reached through a Pool of connections."""

    def __init__(self, settings, max_age=5.0):
        self.s = settings
        self.engine = settings.engine
        # Import only the driver this database needs.
        if settings.engine == "mysql":
            import pymysql

            self.driver = pymysql
        else:
            import psycopg2

            self.driver = psycopg2
        self.pool = Pool(self.connect, max_age)
        atexit.register(self.pool.close_all)

    def describe(self):
        s = self.s
        return f"{s.engine} database {s.dbname} at {s.host}:{s.port}"

    def connect(self):
        s = self.s
        if s.engine == "mysql":
            return self.driver.connect(
                host=s.host, port=s.port, user=s.user, password=s.password,
                database=s.dbname, connect_timeout=3, autocommit=True,
            )
        conn = self.driver.connect(
            host=s.host, port=s.port, user=s.user, password=s.password,
            dbname=s.dbname, connect_timeout=3,
        )
        conn.autocommit = True
        return conn

    def run(self, statements):
        """Runs (sql, params) pairs on one connection; returns the last one's rows, or for an
        INSERT on MySQL the id it assigned."""
        try:
            opened, conn, _ = self.pool.take()
        except self.driver.Error as e:
            METRICS.database_error(self.s.name)
            raise DatabaseError(f"{self.describe()}: {e}".strip()) from e
        try:
            result = []
            with conn.cursor() as cur:
                for sql, params in statements:
                    # Both drivers use %s placeholders, so one SQL text fits both engines.
                    cur.execute(sql, params)
                    result = list(cur.fetchall()) if cur.description else cur.lastrowid
        except self.driver.Error as e:
            self.pool.discard(conn)  # whatever went wrong, the next request starts afresh
            METRICS.database_error(self.s.name)
            kind = Refused if isinstance(e, self.driver.IntegrityError) else DatabaseError
            raise kind(f"{self.describe()}: {e}".strip()) from e
        except BaseException:
            self.pool.discard(conn)
            raise
        self.pool.give_back(opened, conn)
        return result

    def query(self, sql, params=()):
        """Runs one statement and returns its rows (none for an INSERT)."""
        rows = self.run([(sql, params)])
        return rows if isinstance(rows, list) else []

    def insert(self, table, values, returning_id=True):
        """Inserts one row; returns its id when `returning_id`."""
        columns = ", ".join(values)
        marks = ", ".join(["%s"] * len(values))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
        params = tuple(values.values())
        if returning_id:
            if self.engine == "postgres":
                return self.run([(sql + " RETURNING id", params)])[0][0]
            return self.run([(sql, params)])
        statements = [(sql, params)]
        if self.engine == "postgres":
            # A row numbered elsewhere: move the sequence past it, or a later insert numbered
            # here would collide with it. Never back: an operator may have moved it far ahead
            # so that rows numbered here and elsewhere at the same time cannot collide.
            statements.append((SEQUENCE_PAST_MAX.format(table=table), (table, table)))
        try:
            return self.run(statements)
        except Refused:
            # A copy of the past (todo-copy) running beside the dual writes may have read this
            # row from the first database and stored it here a moment before us: the same item
            # under its id is a success. Another item under that id is a real collision.
            same = self.query(f"SELECT id FROM {table} WHERE id = %s AND name = %s",
                              (values["id"], values["name"]))
            if not same:
                raise
            return None


def open_databases(settings):
    return {name: Database(db, settings.db_max_age) for name, db in settings.databases.items()}


def close_old_connections(dbs):
    """Every second, the connections that waited past their age are closed, and those about
    to reach it are renewed while requests come."""
    while True:
        time.sleep(1)
        for db in dbs.values():
            db.pool.close_old()
            db.pool.renew()


def local_timezone(settings):
    """This server's time zone, looked up again on every request: `timedatectl set-timezone`
    replaces /etc/localtime, and "today" must follow it at once."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        return ZoneInfo(name)
    try:
        with open(settings.localtime, "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except FileNotFoundError:
        return UTC  # no /etc/localtime means UTC, as for every other program


def today_in_utc(settings):
    """Start and end of today on the server's local calendar, as UTC times like created_at."""
    zone = local_timezone(settings)
    today = datetime.datetime.now(zone).date()
    tomorrow = today + datetime.timedelta(days=1)
    midnight = datetime.time(0, 0)
    start = datetime.datetime.combine(today, midnight, tzinfo=zone)
    end = datetime.datetime.combine(tomorrow, midnight, tzinfo=zone)
    # The database stores UTC without a zone, so compare with zone-less UTC times.
    return (start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None))


class BadRequest(Exception):
    """The client sent something we cannot use: answer 400 with this message."""


# --- what an item is in this release -------------------------------------------------------

def split_author(author):
    """"Jane Doe" -> ("Jane", "Doe"): the first word, and the rest."""
    first, _, last = (author or "").strip().partition(" ")
    return first, last.strip()


def columns():
    """The columns of todos this release reads, in order."""
    cols = ["name", "completed"]
    if 3 <= LEVEL <= 4:
        cols.append("author")
    if LEVEL >= 4:
        cols += ["author_first_name", "author_last_name"]
    return cols


def item_from_row(row):
    values = dict(zip(columns(), row))
    if LEVEL == 1:
        return {"name": values["name"], "completed": bool(values["completed"])}
    item = {"title": values["name"], "done": bool(values["completed"])}
    if LEVEL == 3:
        item["author"] = values["author"]
    if LEVEL >= 4:
        first, last = values["author_first_name"], values["author_last_name"]
        if first is None and LEVEL == 4:
            # Written by a release that knows only `author` (v3) since the migration: the
            # expand phase reads both ways.
            first, last = split_author(values["author"])
        if LEVEL == 4:
            item["author"] = values["author"]
        item["author_first_name"] = first
        item["author_last_name"] = last
    return item


def whole_number(name, text, low, high):
    """A query parameter that must be a whole number from `low` to `high`."""
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def list_answer(items):
    return {"todos": items} if LEVEL == 1 else items


def text_field(item, key, example, required):
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise BadRequest(f'"{key}" must be a non-empty string of at most 255 characters,'
                         f' e.g. {example}')
    return value


def item_from_body(body):
    """The item a POST /todos body describes, as (row values for the database, the answer)."""
    example = ('{"name": "Get Milk", "completed": false}' if LEVEL == 1
               else '{"title": "Get Milk", "done": false}')
    try:
        item = json.loads(body)
    except ValueError:
        raise BadRequest(f"the body must be JSON like {example}") from None
    if not isinstance(item, dict):
        raise BadRequest(f"the body must be a JSON object like {example}")
    name_key, done_key = ("name", "completed") if LEVEL == 1 else ("title", "done")
    name = text_field(item, name_key, '"Get Milk"', True)
    done = item.get(done_key, False)
    if not isinstance(done, bool):
        raise BadRequest(f'"{done_key}" must be true or false')
    row = {"name": name, "completed": done}
    answer = {name_key: name, done_key: done}
    if LEVEL == 3:
        author = text_field(item, "author", '"Jane Doe"', False) or DEFAULT_AUTHOR
        row["author"] = answer["author"] = author
    if LEVEL >= 4:
        first = text_field(item, "author_first_name", '"Jane"', False)
        last = text_field(item, "author_last_name", '"Doe"', False)
        author = text_field(item, "author", '"Jane Doe"', False) if LEVEL == 4 else None
        if first is None and last is None:
            first, last = split_author(author or DEFAULT_AUTHOR)
        first, last = first or "", last or ""
        if LEVEL == 4:
            # Expand: keep writing `author` for the releases that still read it.
            row["author"] = answer["author"] = author or f"{first} {last}".strip()
        row["author_first_name"] = answer["author_first_name"] = first
        row["author_last_name"] = answer["author_last_name"] = last
    return row, answer


class TodoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep connections open for the load balancer
    server_version = f"todo/{RELEASE}"
    # The headers and the body are two writes: without this the body could wait for the
    # headers' acknowledgement (Nagle's algorithm against the peer's delayed ACK).
    disable_nagle_algorithm = True

    def handle(self):
        """A client that has gone away is nobody to answer. HAProxy closes each health check with
        a reset as soon as it has read the status line, often before the body is written; that
        is not an error of this app, and logging a traceback for it every 2 s filled the journal."""
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            self.close_connection = True

    # --- routing ---------------------------------------------------------------------

    def do_GET(self):
        self.route({"/todos": self.list_todos, "/healthz": self.healthz,
                    "/metrics": self.metrics}, body=b"")

    def do_OPTIONS(self):
        """A browser's CORS preflight: which methods and headers a page of an allowed origin may
        send. The answer carries no body; an origin not allowed gets no Access-Control-* header."""
        self.send_body(204, b"", "text/plain", preflight=True)

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True  # we cannot tell where the body ends
            self.send_json(400, {"error": "Content-Length must be a number"})
            return
        body = self.rfile.read(length) if length > 0 else b""
        self.route({"/todos": self.create_todo, "/upload": self.upload}, body=body)

    def route(self, routes, body):
        url = urlsplit(self.path)
        handler = routes.get(url.path)
        if handler is None:
            self.send_json(404, {"error": f"no such endpoint: {self.command} {url.path}"})
            return
        try:
            handler(parse_qs(url.query), body)
        except BadRequest as e:
            self.send_json(400, {"error": str(e)})
        except DatabaseError as e:
            log(f"{self.command} {url.path} failed: {e}")
            self.send_json(500, {"error": str(e)})
        except (ConnectionResetError, BrokenPipeError):
            raise  # the client went away mid-answer: see handle()
        except Exception as e:  # a bug: keep serving, and leave the traceback in the journal
            log(f"{self.command} {url.path} failed: {e!r}\n{traceback.format_exc()}")
            self.send_json(500, {"error": f"internal error: {e}"})

    # --- endpoints -------------------------------------------------------------------

    def list_todos(self, query, body):
        since = query.get("since", [None])[0]
        db = self.server.dbs[self.server.settings.read]
        select = f"SELECT {', '.join(columns())} FROM todos"
        if since is None:
            where, params = "", ()
        elif since == "today":
            where, params = " WHERE created_at >= %s AND created_at < %s", today_in_utc(
                self.server.settings)
        else:
            raise BadRequest(f"since must be 'today', not {since!r}")
        page = query.get("page", [None])[0]
        if page is None:
            rows = db.query(select + where + " ORDER BY id", tuple(params))
        else:
            # Newest first, a page at a time. OFFSET reads and throws away every row before the
            # page: deep pages stay slow even with an index (keyset pagination avoids that).
            page = whole_number("page", page, 1, 1_000_000)
            per_page = whole_number("per_page", query.get("per_page", ["20"])[0], 1, 100)
            rows = db.query(select + where + " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
                            tuple(params) + (per_page, (page - 1) * per_page))
        self.send_json(200, list_answer([item_from_row(row) for row in rows]))

    def create_todo(self, query, body):
        row, answer = item_from_body(body)
        row["created_at"] = datetime.datetime.now(UTC).replace(tzinfo=None)
        first, *others = self.server.settings.write
        # The first write database numbers the item; the others store it under that number,
        # so every copy of an item has the same id (and todo-copy can tell them apart).
        row_id = self.server.dbs[first].insert("todos", row)
        for name in others:
            self.server.dbs[name].insert("todos", dict(row, id=row_id), returning_id=False)
        # The answer names the new row: `firedrill client verify` finds each acknowledged
        # write by it.
        self.send_json(201, {"id": row_id, **answer})

    def healthz(self, query, body):
        settings = self.server.settings
        for name in dict.fromkeys(settings.write + [settings.read]):
            try:
                self.server.dbs[name].query("SELECT 1")
            except DatabaseError as e:
                log(f"healthz: {e}")
                self.send_json(503, {"status": "unavailable", "error": str(e)})
                return
        self.send_json(200, {"status": "ok"})

    def metrics(self, query, body):
        text = METRICS.render(self.server.settings.node, self.server.dbs)
        self.send_body(200, text.encode("utf-8"), "text/plain; version=0.0.4; charset=utf-8")

    def upload(self, query, body):
        # A fresh name for every upload, so nothing is ever overwritten.
        stamp = datetime.datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"upload-{stamp}-{secrets.token_hex(4)}.bin"
        path = os.path.join(self.server.settings.upload_dir, name)
        try:
            with open(path, "wb") as f:
                f.write(body)
        except OSError as e:
            if e.filename is None:  # errors from write() and close() do not name the file
                e = OSError(e.errno, e.strerror, path)
            try:
                os.remove(path)  # do not leave half a file behind
            except OSError:
                pass
            log(f"upload failed: {e}")
            self.send_json(500, {"error": f"upload failed: {e}"})
            return
        self.send_json(201, {"file": name, "bytes": len(body)})

    # --- answers and logging ---------------------------------------------------------

    def parse_request(self):
        # Called once the request line is in: the latency histogram starts here.
        self.started = time.monotonic()
        return super().parse_request()

    def send_json(self, status, payload):
        self.send_body(status, (json.dumps(payload) + "\n").encode("utf-8"), "application/json")

    def send_body(self, status, data, content_type, preflight=False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        headers = getattr(self, "headers", None)
        origin = headers.get("Origin") if headers is not None else None
        if origin is not None:
            self.send_header("Vary", "Origin")
            if origin in self.server.settings.cors_origins:
                self.send_header("Access-Control-Allow-Origin", origin)
                if preflight:
                    self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
                    self.send_header("Access-Control-Allow-Headers", "Content-Type")
                    self.send_header("Access-Control-Max-Age", "600")
        self.send_header("X-Served-By", self.server.settings.node)
        self.send_header("X-Release", RELEASE)
        self.end_headers()
        self.wfile.write(data)
        started, self.started = getattr(self, "started", None), None
        took = time.monotonic() - started if started is not None else 0.0
        METRICS.observe(getattr(self, "path", ""), getattr(self, "command", None), status, took)

    def send_error(self, code, message=None, explain=None):
        """Errors http.server finds itself (a bad request line, an unknown method) as JSON too."""
        self.close_connection = True
        self.send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def log_message(self, format, *args):
        if self.server.settings.access_log:
            log(f"{self.address_string()} {format % args}")

    def log_error(self, format, *args):
        log(f"{self.address_string()} {format % args}")


def read_settings():
    try:
        return Settings(CONFIG_FILE)
    except (OSError, KeyError, ValueError, configparser.Error) as e:
        log(f"cannot start: reading the config file {CONFIG_FILE} failed: {e!r}")
        sys.exit(1)


def main():
    settings = read_settings()
    try:
        server = ThreadingHTTPServer((settings.listen, settings.port), TodoHandler)
    except OSError as e:
        log(f"cannot start: listening on {settings.listen}:{settings.port} failed: {e}")
        sys.exit(1)
    server.daemon_threads = True
    server.settings = settings
    server.dbs = open_databases(settings)
    threading.Thread(target=close_old_connections, args=(server.dbs,), daemon=True).start()
    reads = server.dbs[settings.read].describe()
    writes = ", ".join(server.dbs[n].describe() for n in settings.write)
    log(f"todo {RELEASE} on {settings.node} listening on {settings.listen}:{settings.port},"
        f" reading the {reads}, writing to the {writes}")
    server.serve_forever()


if __name__ == "__main__":
    main()

--firedrill-end-of-file--
#!/usr/bin/python3
"""migrate: brings the todo schema to what release v3 needs. Run it before starting
v3, as root or as the todo user:

    /opt/todo/releases/v3/migrate                 every database in config.ini
    /opt/todo/releases/v3/migrate --database db   one of them ([database db])
    /opt/todo/releases/v3/migrate --dry-run       say what it would change, change nothing

What each release needs (a migration brings the schema to its release's line, whatever it was):

    v1, v2  the todos table as provisioned (v2 changes only the API, not the schema)
    v3      adds todos.author (VARCHAR(255), NOT NULL, default 'Jane Doe' for existing rows)
    v4      expand: adds todos.author_first_name and todos.author_last_name, filled from author
            (and again for rows a v3 server wrote since); author stays for v3
    v5      contract: fills any empty author_first_name/author_last_name from author, then
            DROPS todos.author. v3 and v4 break once it is gone: run it only when no v3 or v4
            server is left.

Going back (v3's migrate on a v5 schema) adds author again, filled from the first and last
names; nothing is dropped on the way back. It is safe to run again: each change is made only
when the schema lacks it. Each run is recorded in the table todo_migrations (version, applied_at).
Prints one line per change, and with --quiet nothing else.
"""

import argparse
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import app  # noqa: E402  (this release's app.py, next to this file)

RELEASE = "v3"
LEVEL = int(RELEASE[1:])

# How to split "Jane Doe" into its first word and the rest, per engine.
FIRST = {"mysql": "SUBSTRING_INDEX(author, ' ', 1)", "postgres": "split_part(author, ' ', 1)"}
LAST = {
    "mysql": "IF(LOCATE(' ', author) > 0, TRIM(SUBSTRING(author, LOCATE(' ', author) + 1)), '')",
    "postgres": "CASE WHEN position(' ' in author) > 0"
                " THEN trim(substr(author, position(' ' in author) + 1)) ELSE '' END",
}

PRESENT = {"added": "add", "filled": "fill", "set": "set", "dropped": "drop"}


class Migration:
    def __init__(self, name, db, dry_run):
        self.name = name
        self.db = db
        self.dry_run = dry_run
        self.changes = []

    def has_column(self, column):
        schema = "DATABASE()" if self.db.engine == "mysql" else "current_schema()"
        rows = self.db.query(
            "SELECT COUNT(*) FROM information_schema.columns"
            f" WHERE table_schema = {schema} AND table_name = %s AND column_name = %s",
            ("todos", column))
        return rows[0][0] > 0

    def change(self, what, *statements):
        """Runs `statements` (in one connection) unless this is a dry run; says what it did."""
        if self.dry_run:
            verb, rest = what.split(" ", 1)
            what = f"would {PRESENT.get(verb, verb)} {rest}"
        else:
            self.db.run([(sql, ()) for sql in statements])
        self.changes.append(what)

    def backfill_names(self):
        """Fills empty first/last names from author; returns how many rows."""
        e = self.db.engine
        where = " WHERE author_first_name IS NULL OR author_last_name IS NULL"
        count = self.db.query("SELECT COUNT(*) FROM todos" + where)[0][0]
        if count:
            self.change(f"filled author_first_name and author_last_name of {count} rows"
                        " from author",
                        f"UPDATE todos SET author_first_name = {FIRST[e]},"
                        f" author_last_name = {LAST[e]}" + where)
        return count

    def run(self):
        has = {c: self.has_column(c)
               for c in ("author", "author_first_name", "author_last_name")}
        names = had_names = has["author_first_name"] and has["author_last_name"]
        if 3 <= LEVEL <= 4 and not has["author"]:
            statements = ["ALTER TABLE todos ADD COLUMN author VARCHAR(255) NOT NULL"
                          " DEFAULT 'Jane Doe'"]
            if names:
                statements.append(
                    "UPDATE todos SET author = TRIM(CONCAT(author_first_name, ' ',"
                    " author_last_name)) WHERE author_first_name IS NOT NULL"
                    " AND author_last_name IS NOT NULL")
            self.change("added column todos.author (VARCHAR(255) NOT NULL DEFAULT 'Jane Doe')"
                        + (", filled from author_first_name and author_last_name"
                           if names else ""), *statements)
            has["author"] = True
        if LEVEL >= 4 and not names:
            add = [f"ALTER TABLE todos ADD COLUMN {c} VARCHAR(255) NULL"
                   for c in ("author_first_name", "author_last_name")
                   if not has[c]]
            fill = ("UPDATE todos SET author_first_name = 'Jane', author_last_name = 'Doe'"
                    " WHERE author_first_name IS NULL OR author_last_name IS NULL")
            self.change("added columns todos.author_first_name and todos.author_last_name"
                        " (VARCHAR(255) NULL)", *add)
            if not has["author"]:
                # No author to split (the schema was v1 or v2): every item is Jane Doe's.
                self.change("set author_first_name 'Jane', author_last_name 'Doe' on every row",
                            fill)
            names = True
        if LEVEL >= 4 and has["author"]:
            if had_names or not self.dry_run:
                self.backfill_names()
            else:
                self.changes.append("would fill author_first_name and author_last_name from"
                                    " author")
        if LEVEL >= 5 and has["author"]:
            self.change("dropped column todos.author (contract: v3 and v4 need it)",
                        "ALTER TABLE todos DROP COLUMN author")
        self.record()
        return self.changes

    def record(self):
        if self.dry_run:
            return
        created = "DATETIME" if self.db.engine == "mysql" else "TIMESTAMP"
        self.db.run([(
            "CREATE TABLE IF NOT EXISTS todo_migrations (version VARCHAR(16) PRIMARY KEY,"
            f" applied_at {created} NOT NULL)", ())])
        done = self.db.query("SELECT COUNT(*) FROM todo_migrations WHERE version = %s",
                             (RELEASE,))[0][0]
        if not done:
            now = datetime.datetime.now(app.UTC).replace(tzinfo=None)
            self.db.query("INSERT INTO todo_migrations (version, applied_at) VALUES (%s, %s)",
                          (RELEASE, now))
            self.changes.append(f"recorded {RELEASE} in todo_migrations")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", action="append",
                        help="a [database NAME] of config.ini (repeatable; default: all)")
    parser.add_argument("--dry-run", action="store_true", help="change nothing")
    parser.add_argument("--quiet", action="store_true", help="print only the changes")
    args = parser.parse_args()
    settings = app.read_settings()
    names = args.database or list(settings.databases)
    unknown = [n for n in names if n not in settings.databases]
    if unknown:
        sys.exit(f"migrate: config.ini {app.CONFIG_FILE} has no [database {unknown[0]}];"
                 f" it has: {', '.join(settings.databases)}")
    dbs = app.open_databases(settings)
    failed = False
    for name in names:
        db = dbs[name]
        try:
            changes = Migration(name, db, args.dry_run).run()
        except app.DatabaseError as e:
            print(f"migrate {RELEASE}: {name}: failed: {e}", file=sys.stderr)
            failed = True
            continue
        for line in changes:
            print(f"{name} ({db.describe()}): {RELEASE}: {line}")
        if not changes and not args.quiet:
            print(f"{name} ({db.describe()}): schema already fits {RELEASE}, nothing to do")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

--firedrill-end-of-file--
#!/usr/bin/python3
"""todo: the small web app of a firedrill lab, release v4.

It keeps a to-do list in MariaDB/MySQL or PostgreSQL. Every release answers:

    GET  /todos              the items (their shape depends on the release, see below)
    GET  /todos?since=today  only the items created today, on this server's local calendar
    GET  /todos?page=N       newest first, `per_page` (default 20, at most 100) at a time
    POST /todos              stores one item; answers 201 with it and its new "id"
    GET  /healthz            200 when every database it uses answers, 503 when one does not
    POST /upload             stores the request body as a file in the upload directory
    GET  /metrics            requests by route, method and status code, a latency histogram
                             and database errors, in Prometheus' text format
    OPTIONS any path         a browser's CORS preflight

A request whose Origin header is one of config.ini's `cors_origins` gets it back in
Access-Control-Allow-Origin (CORS); a page of any other origin cannot read the answers.

The shape of an item, by release:

    v1  {"todos": [{"name": "Get Milk", "completed": false}]}
    v2  [{"title": "Get Milk", "done": false}]                   (breaks v1's clients)
    v3  [{"title": ..., "done": ..., "author": "Jane Doe"}]      (column todos.author)
    v4  v3 plus "author_first_name" and "author_last_name"       (expand: writes all three)
    v5  v4 without "author"                                      (contract: todos.author dropped)

Before a release starts, its schema migration must have run: `migrate` next to this file.

Every answer carries "X-Served-By: <node>" and "X-Release: <release>" headers, so you can see
which server and which release answered through the load balancer. Errors are written to
stderr, which systemd keeps in the journal:

    journalctl -u todo -f

Settings come from /etc/todo/config.ini (or the file named by $TODO_CONFIG). The app writes every
new item to each database listed in `write` (the first one numbers it) and reads from the one
named in `read`. Connections to a database are reused for up to `db_max_age` seconds
(config.ini), so a changed address or password takes effect within that time. Only the Python
standard library and the database driver (pymysql or psycopg2) are used. Feel free to change
this file, then run `systemctl restart todo`.
"""

import atexit
import configparser
import datetime
import json
import os
import secrets
import select
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

RELEASE = "v4"
# Releases compare by number: v4 has everything v3 has, unless a comment says otherwise.
LEVEL = int(RELEASE[1:])
CONFIG_FILE = os.environ.get("TODO_CONFIG", "/etc/todo/config.ini")
UTC = datetime.timezone.utc
DEFAULT_AUTHOR = "Jane Doe"


def log(message):
    """One line on stderr: systemd puts it in the journal."""
    print(message, file=sys.stderr, flush=True)


class Metrics:
    """What Prometheus scrapes at GET /metrics: every answer by route, method and status code,
    how long each took (a histogram per route), and the queries a database failed. Counters
    only go up while the process lives; Prometheus' rate() copes with the reset at a restart."""

    # Fixed label values, so a client inventing paths or methods cannot grow the series.
    ROUTES = ("/todos", "/healthz", "/upload", "/metrics")
    METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
    # Seconds. The app answers in milliseconds when all is well; a database that hangs shows up
    # around the 3 s connect timeout.
    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = {}  # (route, method, code) -> count
        self.latency = {}  # route -> [count per bucket (not cumulative)..., +Inf, sum]
        self.db_errors = {}  # database name -> count

    def route(self, path):
        path = urlsplit(path or "").path
        return path if path in self.ROUTES else "other"

    def observe(self, path, method, code, seconds):
        route = self.route(path)
        method = method if method in self.METHODS else "other"
        with self.lock:
            key = (route, method, str(code))
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.latency.setdefault(route, [0] * (len(self.BUCKETS) + 1) + [0.0])
            slot = next((i for i, b in enumerate(self.BUCKETS) if seconds <= b),
                        len(self.BUCKETS))
            hist[slot] += 1
            hist[-1] += seconds

    def database_error(self, name):
        with self.lock:
            self.db_errors[name] = self.db_errors.get(name, 0) + 1

    def render(self, node, databases):
        """The text exposition format, version 0.0.4."""
        with self.lock:
            requests = sorted(self.requests.items())
            latency = sorted((r, list(h)) for r, h in self.latency.items())
            errors = dict(self.db_errors)
        out = [
            "# HELP todo_build_info The release this process runs (always 1).",
            "# TYPE todo_build_info gauge",
            series("todo_build_info", [("release", RELEASE), ("node", node)], 1),
            "# HELP todo_http_requests_total Requests answered, by route, method and status code.",
            "# TYPE todo_http_requests_total counter",
        ]
        for (route, method, code), n in requests:
            out.append(series("todo_http_requests_total",
                              [("route", route), ("method", method), ("code", code)], n))
        out += ["# HELP todo_http_request_duration_seconds Time from reading the request line"
                " to sending the answer.",
                "# TYPE todo_http_request_duration_seconds histogram"]
        name = "todo_http_request_duration_seconds"
        for route, hist in latency:
            total = 0
            for bound, n in zip(self.BUCKETS + ("+Inf",), hist):
                total += n
                out.append(series(name + "_bucket", [("route", route), ("le", bound)], total))
            out.append(series(name + "_sum", [("route", route)], hist[-1]))
            out.append(series(name + "_count", [("route", route)], total))
        out += ["# HELP todo_database_errors_total Queries a database failed or could not take"
                " (connection refused, timeout, error).",
                "# TYPE todo_database_errors_total counter"]
        # Every database the app uses appears, at 0 before its first error, so that rate() and
        # an alert on it work from the start.
        for db in sorted(set(databases) | set(errors)):
            out.append(series("todo_database_errors_total", [("database", db)],
                              errors.get(db, 0)))
        return "\n".join(out) + "\n"


def series(name, labels, value):
    """One line of the text format: name, labels (values escaped as it wants), value."""
    def escape(v):
        return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    pairs = ",".join(f'{k}="{escape(v)}"' for k, v in labels)
    return name + "{" + pairs + "} " + str(value)


METRICS = Metrics()


class DatabaseSettings:
    """One `[database NAME]` section of config.ini."""

    def __init__(self, name, section):
        self.name = name
        self.engine = section["engine"]
        self.host = section["host"]
        self.port = section.getint("port")
        self.dbname = section["name"]
        self.user = section["user"]
        self.password = section["password"]
        if self.engine not in ("mysql", "postgres"):
            raise ValueError(f"[database {name}]: engine must be mysql or postgres,"
                             f" not {self.engine!r}")


class Settings:
    """The contents of config.ini."""

    def __init__(self, path):
        parser = configparser.ConfigParser(interpolation=None)
        # open() rather than parser.read(): read() silently skips a file it cannot open.
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
        server = parser["server"]
        self.node = server["node"]
        self.listen = server.get("listen", "0.0.0.0")
        self.port = server.getint("port")
        # todo@RELEASE.service runs a release beside todo.service, on the port [ports] names.
        instance = os.environ.get("TODO_INSTANCE")
        if instance:
            self.port = parser["ports"].getint(instance)
        self.upload_dir = server["upload_dir"]
        self.localtime = server.get("localtime", "/etc/localtime")
        self.access_log = server.getboolean("access_log", False)
        self.cors_origins = server.get("cors_origins", "").split()
        self.db_max_age = server.getfloat("db_max_age", 5.0)
        if not self.db_max_age > 0:
            raise ValueError(f"[server] db_max_age must be a number of seconds above 0,"
                             f" not {self.db_max_age}")
        self.databases = {}
        for section in parser.sections():
            if section.startswith("database "):
                name = section.split(" ", 1)[1].strip()
                self.databases[name] = DatabaseSettings(name, parser[section])
        use = parser["databases"]
        self.write = [n.strip() for n in use["write"].split(",") if n.strip()]
        self.read = use["read"].strip()
        for name in self.write + [self.read]:
            if name not in self.databases:
                raise ValueError(f"[databases] names {name!r}, but there is no"
                                 f" [database {name}] section")
        if not self.write:
            raise ValueError("[databases] write must name at least one database")


# Moves the id sequence of a PostgreSQL table past its highest id, never back.
SEQUENCE_PAST_MAX = ("SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST("
                     "(SELECT MAX(id) FROM {table}),"
                     " pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass), 1))")


class DatabaseError(Exception):
    """The database could not be reached or refused a query."""


class Refused(DatabaseError):
    """The database refused a statement for its constraints (a duplicate id, a NULL)."""


class Pool:
    """Connections to one database, kept open between requests: opening one costs far more
    than a query (a PostgreSQL backend starts for each; under emulation that is half a second
    of the database's CPU). A connection is closed once it is `max_age` seconds old, so a
    changed address, DNS name or password takes effect within that time; after any error; and
    when the server dropped it while it waited here (a restart, a KILL). At most `max_idle`
    wait unused.

    Connects stay off the requests' way, and one at a time:
    - while requests keep coming, the background thread opens a fresh connection shortly
      before the one the next request would get reaches its age (`renew`), so a request
      rarely waits for a connect;
    - a request that finds no connection waiting opens one, unless another connect is under
      way: then it waits, up to `wait` seconds, for a connection to come free (the new one
      once its request is done, or any other) rather than start one more. Several connects
      at once each slow the others down, and requests that pile up meanwhile open still
      more: a storm after every renewal."""

    def __init__(self, connect, max_age, max_idle=4, wait=2.0, clock=time.monotonic):
        self.connect = connect
        self.max_age = max_age
        self.max_idle = max_idle
        self.wait = wait
        self.clock = clock
        # Renewed this long before its age: the background thread looks once a second.
        self.ahead = min(2.0, max_age / 2)
        self.lock = threading.Lock()
        self.freed = threading.Condition(self.lock)
        self.idle = []  # (opened at, connection), the most recently used last
        self.busy = 0  # connections handed out and not back yet
        self.opening = 0  # connects under way
        self.last_take = None

    def take(self):
        """(opened at, connection, reused): a waiting connection that is young enough and
        still open on the server's side, or a new one. Give it back with give_back(), or
        discard() it after an error."""
        deadline = None  # set once this request waits; the wait uses real time
        while True:
            with self.lock:
                self.last_take = self.clock()
                # Behind a connect under way; once waiting, also for a connection in use.
                while not self.idle and (self.opening or (deadline is not None and self.busy)):
                    if deadline is None:
                        deadline = time.monotonic() + self.wait
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.freed.wait(left)
                entry = self.idle.pop() if self.idle else None
                if entry is None:
                    self.opening += 1
                else:
                    self.busy += 1
            if entry is None:
                conn = None
                try:
                    conn = self.connect()
                finally:
                    with self.lock:
                        self.opening -= 1
                        self.busy += conn is not None
                        self.freed.notify_all()
                return self.clock(), conn, False
            opened, conn = entry
            if self.clock() - opened < self.max_age and not dropped(conn):
                return opened, conn, True
            self.discard(conn)

    def give_back(self, opened, conn):
        with self.lock:
            self.busy -= 1
            keep = self.clock() - opened < self.max_age and len(self.idle) < self.max_idle
            if keep:
                self.idle.append((opened, conn))
            self.freed.notify_all()
        if not keep:
            close_quietly(conn)

    def discard(self, conn):
        """A connection taken that must not be used again (an error, its age, dropped)."""
        with self.lock:
            self.busy -= 1
            self.freed.notify_all()
        close_quietly(conn)

    def renew(self):
        """When requests came in the last `ahead` seconds and no connection waiting here has
        more than `ahead` seconds left (or none waits, and none is in use), opens a fresh one
        for the next request. An error is left for the next request to meet (and report)."""
        now = self.clock()
        with self.lock:
            if self.opening or self.last_take is None or now - self.last_take > self.ahead:
                return
            if any(now - opened < self.max_age - self.ahead for opened, _ in self.idle):
                return
            if not self.idle and self.busy:
                return  # in use right now: it is looked at again once it is back
            self.opening += 1
        conn = None
        try:
            conn = self.connect()
        except Exception:  # refused, a timeout, a password: the next request says which
            pass
        finally:
            with self.lock:
                self.opening -= 1
                keep = conn is not None and len(self.idle) < self.max_idle
                if keep:
                    self.idle.append((self.clock(), conn))
                self.freed.notify_all()
            if conn is not None and not keep:
                close_quietly(conn)

    def close_old(self):
        """Closes the waiting connections that reached their age, so none outlives it even
        when no request comes (the old server of a move sees its sessions end)."""
        now = self.clock()
        with self.lock:
            old = [c for t, c in self.idle if now - t >= self.max_age]
            self.idle = [(t, c) for t, c in self.idle if now - t < self.max_age]
        for conn in old:
            close_quietly(conn)

    def close_all(self):
        with self.lock:
            idle, self.idle = self.idle, []
        for _, conn in idle:
            close_quietly(conn)


def dropped(conn):
    """True when an idle connection has something to read: nothing is owed to us between
    requests, so that is the server's goodbye (an error message, or the end of the stream)."""
    sock = getattr(conn, "_sock", None)  # pymysql
    if sock is not None:
        fd = sock.fileno()
    elif hasattr(conn, "fileno") and not getattr(conn, "closed", 1):  # psycopg2
        fd = conn.fileno()
    else:
        return True  # already closed on our side
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def close_quietly(conn):
    try:
        conn.close()
    except Exception:  # closing a broken connection may fail too; it is gone either way
        pass


class Database:
    """One database of config.ini, reached through a Pool of connections."""

    def __init__(self, settings, max_age=5.0):
        self.s = settings
        self.engine = settings.engine
        # Import only the driver this database needs.
        if settings.engine == "mysql":
            import pymysql

            self.driver = pymysql
        else:
            import psycopg2

            self.driver = psycopg2
        self.pool = Pool(self.connect, max_age)
        atexit.register(self.pool.close_all)

    def describe(self):
        s = self.s
        return f"{s.engine} database {s.dbname} at {s.host}:{s.port}"

    def connect(self):
        s = self.s
        if s.engine == "mysql":
            return self.driver.connect(
                host=s.host, port=s.port, user=s.user, password=s.password,
                database=s.dbname, connect_timeout=3, autocommit=True,
            )
        conn = self.driver.connect(
            host=s.host, port=s.port, user=s.user, password=s.password,
            dbname=s.dbname, connect_timeout=3,
        )
        conn.autocommit = True
        return conn

    def run(self, statements):
        """Runs (sql, params) pairs on one connection; returns the last one's rows, or for an
        INSERT on MySQL the id it assigned."""
        try:
            opened, conn, _ = self.pool.take()
        except self.driver.Error as e:
            METRICS.database_error(self.s.name)
            raise DatabaseError(f"{self.describe()}: {e}".strip()) from e
        try:
            result = []
            with conn.cursor() as cur:
                for sql, params in statements:
                    # Both drivers use %s placeholders, so one SQL text fits both engines.
                    cur.execute(sql, params)
                    result = list(cur.fetchall()) if cur.description else cur.lastrowid
        except self.driver.Error as e:
            self.pool.discard(conn)  # whatever went wrong, the next request starts afresh
            METRICS.database_error(self.s.name)
            kind = Refused if isinstance(e, self.driver.IntegrityError) else DatabaseError
            raise kind(f"{self.describe()}: {e}".strip()) from e
        except BaseException:
            self.pool.discard(conn)
            raise
        self.pool.give_back(opened, conn)
        return result

    def query(self, sql, params=()):
        """Runs one statement and returns its rows (none for an INSERT)."""
        rows = self.run([(sql, params)])
        return rows if isinstance(rows, list) else []

    def insert(self, table, values, returning_id=True):
        """Inserts one row; returns its id when `returning_id`."""
        columns = ", ".join(values)
        marks = ", ".join(["%s"] * len(values))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
        params = tuple(values.values())
        if returning_id:
            if self.engine == "postgres":
                return self.run([(sql + " RETURNING id", params)])[0][0]
            return self.run([(sql, params)])
        statements = [(sql, params)]
        if self.engine == "postgres":
            # A row numbered elsewhere: move the sequence past it, or a later insert numbered
            # here would collide with it. Never back: an operator may have moved it far ahead
            # so that rows numbered here and elsewhere at the same time cannot collide.
            statements.append((SEQUENCE_PAST_MAX.format(table=table), (table, table)))
        try:
            return self.run(statements)
        except Refused:
            # A copy of the past (todo-copy) running beside the dual writes may have read this
            # row from the first database and stored it here a moment before us: the same item
            # under its id is a success. Another item under that id is a real collision.
            same = self.query(f"SELECT id FROM {table} WHERE id = %s AND name = %s",
                              (values["id"], values["name"]))
            if not same:
                raise
            return None


def open_databases(settings):
    return {name: Database(db, settings.db_max_age) for name, db in settings.databases.items()}


def close_old_connections(dbs):
    """Every second, the connections that waited past their age are closed, and those about
    to reach it are renewed while requests come."""
    while True:
        time.sleep(1)
        for db in dbs.values():
            db.pool.close_old()
            db.pool.renew()


def local_timezone(settings):
    """This server's time zone, looked up again on every request: `timedatectl set-timezone`
    replaces /etc/localtime, and "today" must follow it at once."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        return ZoneInfo(name)
    try:
        with open(settings.localtime, "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except FileNotFoundError:
        return UTC  # no /etc/localtime means UTC, as for every other program


def today_in_utc(settings):
    """Start and end of today on the server's local calendar, as UTC times like created_at."""
    zone = local_timezone(settings)
    today = datetime.datetime.now(zone).date()
    tomorrow = today + datetime.timedelta(days=1)
    midnight = datetime.time(0, 0)
    start = datetime.datetime.combine(today, midnight, tzinfo=zone)
    end = datetime.datetime.combine(tomorrow, midnight, tzinfo=zone)
    # The database stores UTC without a zone, so compare with zone-less UTC times.
    return (start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None))


class BadRequest(Exception):
    """The client sent something we cannot use: answer 400 with this message."""


# --- what an item is in this release -------------------------------------------------------

def split_author(author):
    """"Jane Doe" -> ("Jane", "Doe"): the first word, and the rest."""
    first, _, last = (author or "").strip().partition(" ")
    return first, last.strip()


def columns():
    """The columns of todos this release reads, in order."""
    cols = ["name", "completed"]
    if 3 <= LEVEL <= 4:
        cols.append("author")
    if LEVEL >= 4:
        cols += ["author_first_name", "author_last_name"]
    return cols


def item_from_row(row):
    values = dict(zip(columns(), row))
    if LEVEL == 1:
        return {"name": values["name"], "completed": bool(values["completed"])}
    item = {"title": values["name"], "done": bool(values["completed"])}
    if LEVEL == 3:
        item["author"] = values["author"]
    if LEVEL >= 4:
        first, last = values["author_first_name"], values["author_last_name"]
        if first is None and LEVEL == 4:
            # Written by a release that knows only `author` (v3) since the migration: the
            # expand phase reads both ways.
            first, last = split_author(values["author"])
        if LEVEL == 4:
            item["author"] = values["author"]
        item["author_first_name"] = first
        item["author_last_name"] = last
    return item


def whole_number(name, text, low, high):
    """A query parameter that must be a whole number from `low` to `high`."""
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def list_answer(items):
    return {"todos": items} if LEVEL == 1 else items


def text_field(item, key, example, required):
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise BadRequest(f'"{key}" must be a non-empty string of at most 255 characters,'
                         f' e.g. {example}')
    return value


def item_from_body(body):
    """The item a POST /todos body describes, as (row values for the database, the answer)."""
    example = ('{"name": "Get Milk", "completed": false}' if LEVEL == 1
               else '{"title": "Get Milk", "done": false}')
    try:
        item = json.loads(body)
    except ValueError:
        raise BadRequest(f"the body must be JSON like {example}") from None
    if not isinstance(item, dict):
        raise BadRequest(f"the body must be a JSON object like {example}")
    name_key, done_key = ("name", "completed") if LEVEL == 1 else ("title", "done")
    name = text_field(item, name_key, '"Get Milk"', True)
    done = item.get(done_key, False)
    if not isinstance(done, bool):
        raise BadRequest(f'"{done_key}" must be true or false')
    row = {"name": name, "completed": done}
    answer = {name_key: name, done_key: done}
    if LEVEL == 3:
        author = text_field(item, "author", '"Jane Doe"', False) or DEFAULT_AUTHOR
        row["author"] = answer["author"] = author
    if LEVEL >= 4:
        first = text_field(item, "author_first_name", '"Jane"', False)
        last = text_field(item, "author_last_name", '"Doe"', False)
        author = text_field(item, "author", '"Jane Doe"', False) if LEVEL == 4 else None
        if first is None and last is None:
            first, last = split_author(author or DEFAULT_AUTHOR)
        first, last = first or "", last or ""
        if LEVEL == 4:
            # Expand: keep writing `author` for the releases that still read it.
            row["author"] = answer["author"] = author or f"{first} {last}".strip()
        row["author_first_name"] = answer["author_first_name"] = first
        row["author_last_name"] = answer["author_last_name"] = last
    return row, answer


class TodoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep connections open for the load balancer
    server_version = f"todo/{RELEASE}"
    # The headers and the body are two writes: without this the body could wait for the
    # headers' acknowledgement (Nagle's algorithm against the peer's delayed ACK).
    disable_nagle_algorithm = True

    def handle(self):
        """A client that has gone away is nobody to answer. HAProxy closes each health check with
        a reset as soon as it has read the status line, often before the body is written; that
        is not an error of this app, and logging a traceback for it every 2 s filled the journal."""
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            self.close_connection = True

    # --- routing ---------------------------------------------------------------------

    def do_GET(self):
        self.route({"/todos": self.list_todos, "/healthz": self.healthz,
                    "/metrics": self.metrics}, body=b"")

    def do_OPTIONS(self):
        """A browser's CORS preflight: which methods and headers a page of an allowed origin may
        send. The answer carries no body; an origin not allowed gets no Access-Control-* header."""
        self.send_body(204, b"", "text/plain", preflight=True)

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True  # we cannot tell where the body ends
            self.send_json(400, {"error": "Content-Length must be a number"})
            return
        body = self.rfile.read(length) if length > 0 else b""
        self.route({"/todos": self.create_todo, "/upload": self.upload}, body=body)

    def route(self, routes, body):
        url = urlsplit(self.path)
        handler = routes.get(url.path)
        if handler is None:
            self.send_json(404, {"error": f"no such endpoint: {self.command} {url.path}"})
            return
        try:
            handler(parse_qs(url.query), body)
        except BadRequest as e:
            self.send_json(400, {"error": str(e)})
        except DatabaseError as e:
            log(f"{self.command} {url.path} failed: {e}")
            self.send_json(500, {"error": str(e)})
        except (ConnectionResetError, BrokenPipeError):
            raise  # the client went away mid-answer: see handle()
        except Exception as e:  # a bug: keep serving, and leave the traceback in the journal
            log(f"{self.command} {url.path} failed: {e!r}\n{traceback.format_exc()}")
            self.send_json(500, {"error": f"internal error: {e}"})

    # --- endpoints -------------------------------------------------------------------

    def list_todos(self, query, body):
        since = query.get("since", [None])[0]
        db = self.server.dbs[self.server.settings.read]
        select = f"SELECT {', '.join(columns())} FROM todos"
        if since is None:
            where, params = "", ()
        elif since == "today":
            where, params = " WHERE created_at >= %s AND created_at < %s", today_in_utc(
                self.server.settings)
        else:
            raise BadRequest(f"since must be 'today', not {since!r}")
        page = query.get("page", [None])[0]
        if page is None:
            rows = db.query(select + where + " ORDER BY id", tuple(params))
        else:
            # Newest first, a page at a time. OFFSET reads and throws away every row before the
            # page: deep pages stay slow even with an index (keyset pagination avoids that).
            page = whole_number("page", page, 1, 1_000_000)
            per_page = whole_number("per_page", query.get("per_page", ["20"])[0], 1, 100)
            rows = db.query(select + where + " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
                            tuple(params) + (per_page, (page - 1) * per_page))
        self.send_json(200, list_answer([item_from_row(row) for row in rows]))

    def create_todo(self, query, body):
        row, answer = item_from_body(body)
        row["created_at"] = datetime.datetime.now(UTC).replace(tzinfo=None)
        first, *others = self.server.settings.write
        # The first write database numbers the item; the others store it under that number,
        # so every copy of an item has the same id (and todo-copy can tell them apart).
        row_id = self.server.dbs[first].insert("todos", row)
        for name in others:
            self.server.dbs[name].insert("todos", dict(row, id=row_id), returning_id=False)
        # The answer names the new row: `firedrill client verify` finds each acknowledged
        # write by it.
        self.send_json(201, {"id": row_id, **answer})

    def healthz(self, query, body):
        settings = self.server.settings
        for name in dict.fromkeys(settings.write + [settings.read]):
            try:
                self.server.dbs[name].query("SELECT 1")
            except DatabaseError as e:
                log(f"healthz: {e}")
                self.send_json(503, {"status": "unavailable", "error": str(e)})
                return
        self.send_json(200, {"status": "ok"})

    def metrics(self, query, body):
        text = METRICS.render(self.server.settings.node, self.server.dbs)
        self.send_body(200, text.encode("utf-8"), "text/plain; version=0.0.4; charset=utf-8")

    def upload(self, query, body):
        # A fresh name for every upload, so nothing is ever overwritten.
        stamp = datetime.datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"upload-{stamp}-{secrets.token_hex(4)}.bin"
        path = os.path.join(self.server.settings.upload_dir, name)
        try:
            with open(path, "wb") as f:
                f.write(body)
        except OSError as e:
            if e.filename is None:  # errors from write() and close() do not name the file
                e = OSError(e.errno, e.strerror, path)
            try:
                os.remove(path)  # do not leave half a file behind
            except OSError:
                pass
            log(f"upload failed: {e}")
            self.send_json(500, {"error": f"upload failed: {e}"})
            return
        self.send_json(201, {"file": name, "bytes": len(body)})

    # --- answers and logging ---------------------------------------------------------

    def parse_request(self):
        # Called once the request line is in: the latency histogram starts here.
        self.started = time.monotonic()
        return super().parse_request()

    def send_json(self, status, payload):
        self.send_body(status, (json.dumps(payload) + "\n").encode("utf-8"), "application/json")

    def send_body(self, status, data, content_type, preflight=False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        headers = getattr(self, "headers", None)
        origin = headers.get("Origin") if headers is not None else None
        if origin is not None:
            self.send_header("Vary", "Origin")
            if origin in self.server.settings.cors_origins:
                self.send_header("Access-Control-Allow-Origin", origin)
                if preflight:
                    self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
                    self.send_header("Access-Control-Allow-Headers", "Content-Type")
                    self.send_header("Access-Control-Max-Age", "600")
        self.send_header("X-Served-By", self.server.settings.node)
        self.send_header("X-Release", RELEASE)
        self.end_headers()
        self.wfile.write(data)
        started, self.started = getattr(self, "started", None), None
        took = time.monotonic() - started if started is not None else 0.0
        METRICS.observe(getattr(self, "path", ""), getattr(self, "command", None), status, took)

    def send_error(self, code, message=None, explain=None):
        """Errors http.server finds itself (a bad request line, an unknown method) as JSON too."""
        self.close_connection = True
        self.send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def log_message(self, format, *args):
        if self.server.settings.access_log:
            log(f"{self.address_string()} {format % args}")

    def log_error(self, format, *args):
        log(f"{self.address_string()} {format % args}")


def read_settings():
    try:
        return Settings(CONFIG_FILE)
    except (OSError, KeyError, ValueError, configparser.Error) as e:
        log(f"cannot start: reading the config file {CONFIG_FILE} failed: {e!r}")
        sys.exit(1)


def main():
    settings = read_settings()
    try:
        server = ThreadingHTTPServer((settings.listen, settings.port), TodoHandler)
    except OSError as e:
        log(f"cannot start: listening on {settings.listen}:{settings.port} failed: {e}")
        sys.exit(1)
    server.daemon_threads = True
    server.settings = settings
    server.dbs = open_databases(settings)
    threading.Thread(target=close_old_connections, args=(server.dbs,), daemon=True).start()
    reads = server.dbs[settings.read].describe()
    writes = ", ".join(server.dbs[n].describe() for n in settings.write)
    log(f"todo {RELEASE} on {settings.node} listening on {settings.listen}:{settings.port},"
        f" reading the {reads}, writing to the {writes}")
    server.serve_forever()


if __name__ == "__main__":
    main()

--firedrill-end-of-file--
#!/usr/bin/python3
"""migrate: brings the todo schema to what release v4 needs. Run it before starting
v4, as root or as the todo user:

    /opt/todo/releases/v4/migrate                 every database in config.ini
    /opt/todo/releases/v4/migrate --database db   one of them ([database db])
    /opt/todo/releases/v4/migrate --dry-run       say what it would change, change nothing

What each release needs (a migration brings the schema to its release's line, whatever it was):

    v1, v2  the todos table as provisioned (v2 changes only the API, not the schema)
    v3      adds todos.author (VARCHAR(255), NOT NULL, default 'Jane Doe' for existing rows)
    v4      expand: adds todos.author_first_name and todos.author_last_name, filled from author
            (and again for rows a v3 server wrote since); author stays for v3
    v5      contract: fills any empty author_first_name/author_last_name from author, then
            DROPS todos.author. v3 and v4 break once it is gone: run it only when no v3 or v4
            server is left.

Going back (v3's migrate on a v5 schema) adds author again, filled from the first and last
names; nothing is dropped on the way back. It is safe to run again: each change is made only
when the schema lacks it. Each run is recorded in the table todo_migrations (version, applied_at).
Prints one line per change, and with --quiet nothing else.
"""

import argparse
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import app  # noqa: E402  (this release's app.py, next to this file)

RELEASE = "v4"
LEVEL = int(RELEASE[1:])

# How to split "Jane Doe" into its first word and the rest, per engine.
FIRST = {"mysql": "SUBSTRING_INDEX(author, ' ', 1)", "postgres": "split_part(author, ' ', 1)"}
LAST = {
    "mysql": "IF(LOCATE(' ', author) > 0, TRIM(SUBSTRING(author, LOCATE(' ', author) + 1)), '')",
    "postgres": "CASE WHEN position(' ' in author) > 0"
                " THEN trim(substr(author, position(' ' in author) + 1)) ELSE '' END",
}

PRESENT = {"added": "add", "filled": "fill", "set": "set", "dropped": "drop"}


class Migration:
    def __init__(self, name, db, dry_run):
        self.name = name
        self.db = db
        self.dry_run = dry_run
        self.changes = []

    def has_column(self, column):
        schema = "DATABASE()" if self.db.engine == "mysql" else "current_schema()"
        rows = self.db.query(
            "SELECT COUNT(*) FROM information_schema.columns"
            f" WHERE table_schema = {schema} AND table_name = %s AND column_name = %s",
            ("todos", column))
        return rows[0][0] > 0

    def change(self, what, *statements):
        """Runs `statements` (in one connection) unless this is a dry run; says what it did."""
        if self.dry_run:
            verb, rest = what.split(" ", 1)
            what = f"would {PRESENT.get(verb, verb)} {rest}"
        else:
            self.db.run([(sql, ()) for sql in statements])
        self.changes.append(what)

    def backfill_names(self):
        """Fills empty first/last names from author; returns how many rows."""
        e = self.db.engine
        where = " WHERE author_first_name IS NULL OR author_last_name IS NULL"
        count = self.db.query("SELECT COUNT(*) FROM todos" + where)[0][0]
        if count:
            self.change(f"filled author_first_name and author_last_name of {count} rows"
                        " from author",
                        f"UPDATE todos SET author_first_name = {FIRST[e]},"
                        f" author_last_name = {LAST[e]}" + where)
        return count

    def run(self):
        has = {c: self.has_column(c)
               for c in ("author", "author_first_name", "author_last_name")}
        names = had_names = has["author_first_name"] and has["author_last_name"]
        if 3 <= LEVEL <= 4 and not has["author"]:
            statements = ["ALTER TABLE todos ADD COLUMN author VARCHAR(255) NOT NULL"
                          " DEFAULT 'Jane Doe'"]
            if names:
                statements.append(
                    "UPDATE todos SET author = TRIM(CONCAT(author_first_name, ' ',"
                    " author_last_name)) WHERE author_first_name IS NOT NULL"
                    " AND author_last_name IS NOT NULL")
            self.change("added column todos.author (VARCHAR(255) NOT NULL DEFAULT 'Jane Doe')"
                        + (", filled from author_first_name and author_last_name"
                           if names else ""), *statements)
            has["author"] = True
        if LEVEL >= 4 and not names:
            add = [f"ALTER TABLE todos ADD COLUMN {c} VARCHAR(255) NULL"
                   for c in ("author_first_name", "author_last_name")
                   if not has[c]]
            fill = ("UPDATE todos SET author_first_name = 'Jane', author_last_name = 'Doe'"
                    " WHERE author_first_name IS NULL OR author_last_name IS NULL")
            self.change("added columns todos.author_first_name and todos.author_last_name"
                        " (VARCHAR(255) NULL)", *add)
            if not has["author"]:
                # No author to split (the schema was v1 or v2): every item is Jane Doe's.
                self.change("set author_first_name 'Jane', author_last_name 'Doe' on every row",
                            fill)
            names = True
        if LEVEL >= 4 and has["author"]:
            if had_names or not self.dry_run:
                self.backfill_names()
            else:
                self.changes.append("would fill author_first_name and author_last_name from"
                                    " author")
        if LEVEL >= 5 and has["author"]:
            self.change("dropped column todos.author (contract: v3 and v4 need it)",
                        "ALTER TABLE todos DROP COLUMN author")
        self.record()
        return self.changes

    def record(self):
        if self.dry_run:
            return
        created = "DATETIME" if self.db.engine == "mysql" else "TIMESTAMP"
        self.db.run([(
            "CREATE TABLE IF NOT EXISTS todo_migrations (version VARCHAR(16) PRIMARY KEY,"
            f" applied_at {created} NOT NULL)", ())])
        done = self.db.query("SELECT COUNT(*) FROM todo_migrations WHERE version = %s",
                             (RELEASE,))[0][0]
        if not done:
            now = datetime.datetime.now(app.UTC).replace(tzinfo=None)
            self.db.query("INSERT INTO todo_migrations (version, applied_at) VALUES (%s, %s)",
                          (RELEASE, now))
            self.changes.append(f"recorded {RELEASE} in todo_migrations")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", action="append",
                        help="a [database NAME] of config.ini (repeatable; default: all)")
    parser.add_argument("--dry-run", action="store_true", help="change nothing")
    parser.add_argument("--quiet", action="store_true", help="print only the changes")
    args = parser.parse_args()
    settings = app.read_settings()
    names = args.database or list(settings.databases)
    unknown = [n for n in names if n not in settings.databases]
    if unknown:
        sys.exit(f"migrate: config.ini {app.CONFIG_FILE} has no [database {unknown[0]}];"
                 f" it has: {', '.join(settings.databases)}")
    dbs = app.open_databases(settings)
    failed = False
    for name in names:
        db = dbs[name]
        try:
            changes = Migration(name, db, args.dry_run).run()
        except app.DatabaseError as e:
            print(f"migrate {RELEASE}: {name}: failed: {e}", file=sys.stderr)
            failed = True
            continue
        for line in changes:
            print(f"{name} ({db.describe()}): {RELEASE}: {line}")
        if not changes and not args.quiet:
            print(f"{name} ({db.describe()}): schema already fits {RELEASE}, nothing to do")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

--firedrill-end-of-file--
#!/usr/bin/python3
"""todo: the small web app of a firedrill lab, release v5.

It keeps a to-do list in MariaDB/MySQL or PostgreSQL. Every release answers:

    GET  /todos              the items (their shape depends on the release, see below)
    GET  /todos?since=today  only the items created today, on this server's local calendar
    GET  /todos?page=N       newest first, `per_page` (default 20, at most 100) at a time
    POST /todos              stores one item; answers 201 with it and its new "id"
    GET  /healthz            200 when every database it uses answers, 503 when one does not
    POST /upload             stores the request body as a file in the upload directory
    GET  /metrics            requests by route, method and status code, a latency histogram
                             and database errors, in Prometheus' text format
    OPTIONS any path         a browser's CORS preflight

A request whose Origin header is one of config.ini's `cors_origins` gets it back in
Access-Control-Allow-Origin (CORS); a page of any other origin cannot read the answers.

The shape of an item, by release:

    v1  {"todos": [{"name": "Get Milk", "completed": false}]}
    v2  [{"title": "Get Milk", "done": false}]                   (breaks v1's clients)
    v3  [{"title": ..., "done": ..., "author": "Jane Doe"}]      (column todos.author)
    v4  v3 plus "author_first_name" and "author_last_name"       (expand: writes all three)
    v5  v4 without "author"                                      (contract: todos.author dropped)

Before a release starts, its schema migration must have run: `migrate` next to this file.

Every answer carries "X-Served-By: <node>" and "X-Release: <release>" headers, so you can see
which server and which release answered through the load balancer. Errors are written to
stderr, which systemd keeps in the journal:

    journalctl -u todo -f

Settings come from /etc/todo/config.ini (or the file named by $TODO_CONFIG). The app writes every
new item to each database listed in `write` (the first one numbers it) and reads from the one
named in `read`. Connections to a database are reused for up to `db_max_age` seconds
(config.ini), so a changed address or password takes effect within that time. Only the Python
standard library and the database driver (pymysql or psycopg2) are used. Feel free to change
this file, then run `systemctl restart todo`.
"""

import atexit
import configparser
import datetime
import json
import os
import secrets
import select
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

RELEASE = "v5"
# Releases compare by number: v4 has everything v3 has, unless a comment says otherwise.
LEVEL = int(RELEASE[1:])
CONFIG_FILE = os.environ.get("TODO_CONFIG", "/etc/todo/config.ini")
UTC = datetime.timezone.utc
DEFAULT_AUTHOR = "Jane Doe"


def log(message):
    """One line on stderr: systemd puts it in the journal."""
    print(message, file=sys.stderr, flush=True)


class Metrics:
    """What Prometheus scrapes at GET /metrics: every answer by route, method and status code,
    how long each took (a histogram per route), and the queries a database failed. Counters
    only go up while the process lives; Prometheus' rate() copes with the reset at a restart."""

    # Fixed label values, so a client inventing paths or methods cannot grow the series.
    ROUTES = ("/todos", "/healthz", "/upload", "/metrics")
    METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
    # Seconds. The app answers in milliseconds when all is well; a database that hangs shows up
    # around the 3 s connect timeout.
    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = {}  # (route, method, code) -> count
        self.latency = {}  # route -> [count per bucket (not cumulative)..., +Inf, sum]
        self.db_errors = {}  # database name -> count

    def route(self, path):
        path = urlsplit(path or "").path
        return path if path in self.ROUTES else "other"

    def observe(self, path, method, code, seconds):
        route = self.route(path)
        method = method if method in self.METHODS else "other"
        with self.lock:
            key = (route, method, str(code))
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.latency.setdefault(route, [0] * (len(self.BUCKETS) + 1) + [0.0])
            slot = next((i for i, b in enumerate(self.BUCKETS) if seconds <= b),
                        len(self.BUCKETS))
            hist[slot] += 1
            hist[-1] += seconds

    def database_error(self, name):
        with self.lock:
            self.db_errors[name] = self.db_errors.get(name, 0) + 1

    def render(self, node, databases):
        """The text exposition format, version 0.0.4."""
        with self.lock:
            requests = sorted(self.requests.items())
            latency = sorted((r, list(h)) for r, h in self.latency.items())
            errors = dict(self.db_errors)
        out = [
            "# HELP todo_build_info The release this process runs (always 1).",
            "# TYPE todo_build_info gauge",
            series("todo_build_info", [("release", RELEASE), ("node", node)], 1),
            "# HELP todo_http_requests_total Requests answered, by route, method and status code.",
            "# TYPE todo_http_requests_total counter",
        ]
        for (route, method, code), n in requests:
            out.append(series("todo_http_requests_total",
                              [("route", route), ("method", method), ("code", code)], n))
        out += ["# HELP todo_http_request_duration_seconds Time from reading the request line"
                " to sending the answer.",
                "# TYPE todo_http_request_duration_seconds histogram"]
        name = "todo_http_request_duration_seconds"
        for route, hist in latency:
            total = 0
            for bound, n in zip(self.BUCKETS + ("+Inf",), hist):
                total += n
                out.append(series(name + "_bucket", [("route", route), ("le", bound)], total))
            out.append(series(name + "_sum", [("route", route)], hist[-1]))
            out.append(series(name + "_count", [("route", route)], total))
        out += ["# HELP todo_database_errors_total Queries a database failed or could not take"
                " (connection refused, timeout, error).",
                "# TYPE todo_database_errors_total counter"]
        # Every database the app uses appears, at 0 before its first error, so that rate() and
        # an alert on it work from the start.
        for db in sorted(set(databases) | set(errors)):
            out.append(series("todo_database_errors_total", [("database", db)],
                              errors.get(db, 0)))
        return "\n".join(out) + "\n"


def series(name, labels, value):
    """One line of the text format: name, labels (values escaped as it wants), value."""
    def escape(v):
        return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    pairs = ",".join(f'{k}="{escape(v)}"' for k, v in labels)
    return name + "{" + pairs + "} " + str(value)


METRICS = Metrics()


class DatabaseSettings:
    """One `[database NAME]` section of config.ini."""

    def __init__(self, name, section):
        self.name = name
        self.engine = section["engine"]
        self.host = section["host"]
        self.port = section.getint("port")
        self.dbname = section["name"]
        self.user = section["user"]
        self.password = section["password"]
        if self.engine not in ("mysql", "postgres"):
            raise ValueError(f"[database {name}]: engine must be mysql or postgres,"
                             f" not {self.engine!r}")


class Settings:
    """The contents of config.ini."""

    def __init__(self, path):
        parser = configparser.ConfigParser(interpolation=None)
        # open() rather than parser.read(): read() silently skips a file it cannot open.
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
        server = parser["server"]
        self.node = server["node"]
        self.listen = server.get("listen", "0.0.0.0")
        self.port = server.getint("port")
        # todo@RELEASE.service runs a release beside todo.service, on the port [ports] names.
        instance = os.environ.get("TODO_INSTANCE")
        if instance:
            self.port = parser["ports"].getint(instance)
        self.upload_dir = server["upload_dir"]
        self.localtime = server.get("localtime", "/etc/localtime")
        self.access_log = server.getboolean("access_log", False)
        self.cors_origins = server.get("cors_origins", "").split()
        self.db_max_age = server.getfloat("db_max_age", 5.0)
        if not self.db_max_age > 0:
            raise ValueError(f"[server] db_max_age must be a number of seconds above 0,"
                             f" not {self.db_max_age}")
        self.databases = {}
        for section in parser.sections():
            if section.startswith("database "):
                name = section.split(" ", 1)[1].strip()
                self.databases[name] = DatabaseSettings(name, parser[section])
        use = parser["databases"]
        self.write = [n.strip() for n in use["write"].split(",") if n.strip()]
        self.read = use["read"].strip()
        for name in self.write + [self.read]:
            if name not in self.databases:
                raise ValueError(f"[databases] names {name!r}, but there is no"
                                 f" [database {name}] section")
        if not self.write:
            raise ValueError("[databases] write must name at least one database")


# Moves the id sequence of a PostgreSQL table past its highest id, never back.
SEQUENCE_PAST_MAX = ("SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST("
                     "(SELECT MAX(id) FROM {table}),"
                     " pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass), 1))")


class DatabaseError(Exception):
    """The database could not be reached or refused a query."""


class Refused(DatabaseError):
    """The database refused a statement for its constraints (a duplicate id, a NULL)."""


class Pool:
    """Connections to one database, kept open between requests: opening one costs far more
    than a query (a PostgreSQL backend starts for each; under emulation that is half a second
    of the database's CPU). A connection is closed once it is `max_age` seconds old, so a
    changed address, DNS name or password takes effect within that time; after any error; and
    when the server dropped it while it waited here (a restart, a KILL). At most `max_idle`
    wait unused.

    Connects stay off the requests' way, and one at a time:
    - while requests keep coming, the background thread opens a fresh connection shortly
      before the one the next request would get reaches its age (`renew`), so a request
      rarely waits for a connect;
    - a request that finds no connection waiting opens one, unless another connect is under
      way: then it waits, up to `wait` seconds, for a connection to come free (the new one
      once its request is done, or any other) rather than start one more. Several connects
      at once each slow the others down, and requests that pile up meanwhile open still
      more: a storm after every renewal."""

    def __init__(self, connect, max_age, max_idle=4, wait=2.0, clock=time.monotonic):
        self.connect = connect
        self.max_age = max_age
        self.max_idle = max_idle
        self.wait = wait
        self.clock = clock
        # Renewed this long before its age: the background thread looks once a second.
        self.ahead = min(2.0, max_age / 2)
        self.lock = threading.Lock()
        self.freed = threading.Condition(self.lock)
        self.idle = []  # (opened at, connection), the most recently used last
        self.busy = 0  # connections handed out and not back yet
        self.opening = 0  # connects under way
        self.last_take = None

    def take(self):
        """(opened at, connection, reused): a waiting connection that is young enough and
        still open on the server's side, or a new one. Give it back with give_back(), or
        discard() it after an error."""
        deadline = None  # set once this request waits; the wait uses real time
        while True:
            with self.lock:
                self.last_take = self.clock()
                # Behind a connect under way; once waiting, also for a connection in use.
                while not self.idle and (self.opening or (deadline is not None and self.busy)):
                    if deadline is None:
                        deadline = time.monotonic() + self.wait
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.freed.wait(left)
                entry = self.idle.pop() if self.idle else None
                if entry is None:
                    self.opening += 1
                else:
                    self.busy += 1
            if entry is None:
                conn = None
                try:
                    conn = self.connect()
                finally:
                    with self.lock:
                        self.opening -= 1
                        self.busy += conn is not None
                        self.freed.notify_all()
                return self.clock(), conn, False
            opened, conn = entry
            if self.clock() - opened < self.max_age and not dropped(conn):
                return opened, conn, True
            self.discard(conn)

    def give_back(self, opened, conn):
        with self.lock:
            self.busy -= 1
            keep = self.clock() - opened < self.max_age and len(self.idle) < self.max_idle
            if keep:
                self.idle.append((opened, conn))
            self.freed.notify_all()
        if not keep:
            close_quietly(conn)

    def discard(self, conn):
        """A connection taken that must not be used again (an error, its age, dropped)."""
        with self.lock:
            self.busy -= 1
            self.freed.notify_all()
        close_quietly(conn)

    def renew(self):
        """When requests came in the last `ahead` seconds and no connection waiting here has
        more than `ahead` seconds left (or none waits, and none is in use), opens a fresh one
        for the next request. An error is left for the next request to meet (and report)."""
        now = self.clock()
        with self.lock:
            if self.opening or self.last_take is None or now - self.last_take > self.ahead:
                return
            if any(now - opened < self.max_age - self.ahead for opened, _ in self.idle):
                return
            if not self.idle and self.busy:
                return  # in use right now: it is looked at again once it is back
            self.opening += 1
        conn = None
        try:
            conn = self.connect()
        except Exception:  # refused, a timeout, a password: the next request says which
            pass
        finally:
            with self.lock:
                self.opening -= 1
                keep = conn is not None and len(self.idle) < self.max_idle
                if keep:
                    self.idle.append((self.clock(), conn))
                self.freed.notify_all()
            if conn is not None and not keep:
                close_quietly(conn)

    def close_old(self):
        """Closes the waiting connections that reached their age, so none outlives it even
        when no request comes (the old server of a move sees its sessions end)."""
        now = self.clock()
        with self.lock:
            old = [c for t, c in self.idle if now - t >= self.max_age]
            self.idle = [(t, c) for t, c in self.idle if now - t < self.max_age]
        for conn in old:
            close_quietly(conn)

    def close_all(self):
        with self.lock:
            idle, self.idle = self.idle, []
        for _, conn in idle:
            close_quietly(conn)


def dropped(conn):
    """True when an idle connection has something to read: nothing is owed to us between
    requests, so that is the server's goodbye (an error message, or the end of the stream)."""
    sock = getattr(conn, "_sock", None)  # pymysql
    if sock is not None:
        fd = sock.fileno()
    elif hasattr(conn, "fileno") and not getattr(conn, "closed", 1):  # psycopg2
        fd = conn.fileno()
    else:
        return True  # already closed on our side
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def close_quietly(conn):
    try:
        conn.close()
    except Exception:  # closing a broken connection may fail too; it is gone either way
        pass


class Database:
    """One database of config.ini, reached through a Pool of connections."""

    def __init__(self, settings, max_age=5.0):
        self.s = settings
        self.engine = settings.engine
        # Import only the driver this database needs.
        if settings.engine == "mysql":
            import pymysql

            self.driver = pymysql
        else:
            import psycopg2

            self.driver = psycopg2
        self.pool = Pool(self.connect, max_age)
        atexit.register(self.pool.close_all)

    def describe(self):
        s = self.s
        return f"{s.engine} database {s.dbname} at {s.host}:{s.port}"

    def connect(self):
        s = self.s
        if s.engine == "mysql":
            return self.driver.connect(
                host=s.host, port=s.port, user=s.user, password=s.password,
                database=s.dbname, connect_timeout=3, autocommit=True,
            )
        conn = self.driver.connect(
            host=s.host, port=s.port, user=s.user, password=s.password,
            dbname=s.dbname, connect_timeout=3,
        )
        conn.autocommit = True
        return conn

    def run(self, statements):
        """Runs (sql, params) pairs on one connection; returns the last one's rows, or for an
        INSERT on MySQL the id it assigned."""
        try:
            opened, conn, _ = self.pool.take()
        except self.driver.Error as e:
            METRICS.database_error(self.s.name)
            raise DatabaseError(f"{self.describe()}: {e}".strip()) from e
        try:
            result = []
            with conn.cursor() as cur:
                for sql, params in statements:
                    # Both drivers use %s placeholders, so one SQL text fits both engines.
                    cur.execute(sql, params)
                    result = list(cur.fetchall()) if cur.description else cur.lastrowid
        except self.driver.Error as e:
            self.pool.discard(conn)  # whatever went wrong, the next request starts afresh
            METRICS.database_error(self.s.name)
            kind = Refused if isinstance(e, self.driver.IntegrityError) else DatabaseError
            raise kind(f"{self.describe()}: {e}".strip()) from e
        except BaseException:
            self.pool.discard(conn)
            raise
        self.pool.give_back(opened, conn)
        return result

    def query(self, sql, params=()):
        """Runs one statement and returns its rows (none for an INSERT)."""
        rows = self.run([(sql, params)])
        return rows if isinstance(rows, list) else []

    def insert(self, table, values, returning_id=True):
        """Inserts one row; returns its id when `returning_id`."""
        columns = ", ".join(values)
        marks = ", ".join(["%s"] * len(values))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
        params = tuple(values.values())
        if returning_id:
            if self.engine == "postgres":
                return self.run([(sql + " RETURNING id", params)])[0][0]
            return self.run([(sql, params)])
        statements = [(sql, params)]
        if self.engine == "postgres":
            # A row numbered elsewhere: move the sequence past it, or a later insert numbered
            # here would collide with it. Never back: an operator may have moved it far ahead
            # so that rows numbered here and elsewhere at the same time cannot collide.
            statements.append((SEQUENCE_PAST_MAX.format(table=table), (table, table)))
        try:
            return self.run(statements)
        except Refused:
            # A copy of the past (todo-copy) running beside the dual writes may have read this
            # row from the first database and stored it here a moment before us: the same item
            # under its id is a success. Another item under that id is a real collision.
            same = self.query(f"SELECT id FROM {table} WHERE id = %s AND name = %s",
                              (values["id"], values["name"]))
            if not same:
                raise
            return None


def open_databases(settings):
    return {name: Database(db, settings.db_max_age) for name, db in settings.databases.items()}


def close_old_connections(dbs):
    """Every second, the connections that waited past their age are closed, and those about
    to reach it are renewed while requests come."""
    while True:
        time.sleep(1)
        for db in dbs.values():
            db.pool.close_old()
            db.pool.renew()


def local_timezone(settings):
    """This server's time zone, looked up again on every request: `timedatectl set-timezone`
    replaces /etc/localtime, and "today" must follow it at once."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        return ZoneInfo(name)
    try:
        with open(settings.localtime, "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except FileNotFoundError:
        return UTC  # no /etc/localtime means UTC, as for every other program


def today_in_utc(settings):
    """Start and end of today on the server's local calendar, as UTC times like created_at."""
    zone = local_timezone(settings)
    today = datetime.datetime.now(zone).date()
    tomorrow = today + datetime.timedelta(days=1)
    midnight = datetime.time(0, 0)
    start = datetime.datetime.combine(today, midnight, tzinfo=zone)
    end = datetime.datetime.combine(tomorrow, midnight, tzinfo=zone)
    # The database stores UTC without a zone, so compare with zone-less UTC times.
    return (start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None))


class BadRequest(Exception):
    """The client sent something we cannot use: answer 400 with this message."""


# --- what an item is in this release -------------------------------------------------------

def split_author(author):
    """"Jane Doe" -> ("Jane", "Doe"): the first word, and the rest."""
    first, _, last = (author or "").strip().partition(" ")
    return first, last.strip()


def columns():
    """The columns of todos this release reads, in order."""
    cols = ["name", "completed"]
    if 3 <= LEVEL <= 4:
        cols.append("author")
    if LEVEL >= 4:
        cols += ["author_first_name", "author_last_name"]
    return cols


def item_from_row(row):
    values = dict(zip(columns(), row))
    if LEVEL == 1:
        return {"name": values["name"], "completed": bool(values["completed"])}
    item = {"title": values["name"], "done": bool(values["completed"])}
    if LEVEL == 3:
        item["author"] = values["author"]
    if LEVEL >= 4:
        first, last = values["author_first_name"], values["author_last_name"]
        if first is None and LEVEL == 4:
            # Written by a release that knows only `author` (v3) since the migration: the
            # expand phase reads both ways.
            first, last = split_author(values["author"])
        if LEVEL == 4:
            item["author"] = values["author"]
        item["author_first_name"] = first
        item["author_last_name"] = last
    return item


def whole_number(name, text, low, high):
    """A query parameter that must be a whole number from `low` to `high`."""
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def list_answer(items):
    return {"todos": items} if LEVEL == 1 else items


def text_field(item, key, example, required):
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise BadRequest(f'"{key}" must be a non-empty string of at most 255 characters,'
                         f' e.g. {example}')
    return value


def item_from_body(body):
    """The item a POST /todos body describes, as (row values for the database, the answer)."""
    example = ('{"name": "Get Milk", "completed": false}' if LEVEL == 1
               else '{"title": "Get Milk", "done": false}')
    try:
        item = json.loads(body)
    except ValueError:
        raise BadRequest(f"the body must be JSON like {example}") from None
    if not isinstance(item, dict):
        raise BadRequest(f"the body must be a JSON object like {example}")
    name_key, done_key = ("name", "completed") if LEVEL == 1 else ("title", "done")
    name = text_field(item, name_key, '"Get Milk"', True)
    done = item.get(done_key, False)
    if not isinstance(done, bool):
        raise BadRequest(f'"{done_key}" must be true or false')
    row = {"name": name, "completed": done}
    answer = {name_key: name, done_key: done}
    if LEVEL == 3:
        author = text_field(item, "author", '"Jane Doe"', False) or DEFAULT_AUTHOR
        row["author"] = answer["author"] = author
    if LEVEL >= 4:
        first = text_field(item, "author_first_name", '"Jane"', False)
        last = text_field(item, "author_last_name", '"Doe"', False)
        author = text_field(item, "author", '"Jane Doe"', False) if LEVEL == 4 else None
        if first is None and last is None:
            first, last = split_author(author or DEFAULT_AUTHOR)
        first, last = first or "", last or ""
        if LEVEL == 4:
            # Expand: keep writing `author` for the releases that still read it.
            row["author"] = answer["author"] = author or f"{first} {last}".strip()
        row["author_first_name"] = answer["author_first_name"] = first
        row["author_last_name"] = answer["author_last_name"] = last
    return row, answer


class TodoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep connections open for the load balancer
    server_version = f"todo/{RELEASE}"
    # The headers and the body are two writes: without this the body could wait for the
    # headers' acknowledgement (Nagle's algorithm against the peer's delayed ACK).
    disable_nagle_algorithm = True

    def handle(self):
        """A client that has gone away is nobody to answer. HAProxy closes each health check with
        a reset as soon as it has read the status line, often before the body is written; that
        is not an error of this app, and logging a traceback for it every 2 s filled the journal."""
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            self.close_connection = True

    # --- routing ---------------------------------------------------------------------

    def do_GET(self):
        self.route({"/todos": self.list_todos, "/healthz": self.healthz,
                    "/metrics": self.metrics}, body=b"")

    def do_OPTIONS(self):
        """A browser's CORS preflight: which methods and headers a page of an allowed origin may
        send. The answer carries no body; an origin not allowed gets no Access-Control-* header."""
        self.send_body(204, b"", "text/plain", preflight=True)

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True  # we cannot tell where the body ends
            self.send_json(400, {"error": "Content-Length must be a number"})
            return
        body = self.rfile.read(length) if length > 0 else b""
        self.route({"/todos": self.create_todo, "/upload": self.upload}, body=body)

    def route(self, routes, body):
        url = urlsplit(self.path)
        handler = routes.get(url.path)
        if handler is None:
            self.send_json(404, {"error": f"no such endpoint: {self.command} {url.path}"})
            return
        try:
            handler(parse_qs(url.query), body)
        except BadRequest as e:
            self.send_json(400, {"error": str(e)})
        except DatabaseError as e:
            log(f"{self.command} {url.path} failed: {e}")
            self.send_json(500, {"error": str(e)})
        except (ConnectionResetError, BrokenPipeError):
            raise  # the client went away mid-answer: see handle()
        except Exception as e:  # a bug: keep serving, and leave the traceback in the journal
            log(f"{self.command} {url.path} failed: {e!r}\n{traceback.format_exc()}")
            self.send_json(500, {"error": f"internal error: {e}"})

    # --- endpoints -------------------------------------------------------------------

    def list_todos(self, query, body):
        since = query.get("since", [None])[0]
        db = self.server.dbs[self.server.settings.read]
        select = f"SELECT {', '.join(columns())} FROM todos"
        if since is None:
            where, params = "", ()
        elif since == "today":
            where, params = " WHERE created_at >= %s AND created_at < %s", today_in_utc(
                self.server.settings)
        else:
            raise BadRequest(f"since must be 'today', not {since!r}")
        page = query.get("page", [None])[0]
        if page is None:
            rows = db.query(select + where + " ORDER BY id", tuple(params))
        else:
            # Newest first, a page at a time. OFFSET reads and throws away every row before the
            # page: deep pages stay slow even with an index (keyset pagination avoids that).
            page = whole_number("page", page, 1, 1_000_000)
            per_page = whole_number("per_page", query.get("per_page", ["20"])[0], 1, 100)
            rows = db.query(select + where + " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
                            tuple(params) + (per_page, (page - 1) * per_page))
        self.send_json(200, list_answer([item_from_row(row) for row in rows]))

    def create_todo(self, query, body):
        row, answer = item_from_body(body)
        row["created_at"] = datetime.datetime.now(UTC).replace(tzinfo=None)
        first, *others = self.server.settings.write
        # The first write database numbers the item; the others store it under that number,
        # so every copy of an item has the same id (and todo-copy can tell them apart).
        row_id = self.server.dbs[first].insert("todos", row)
        for name in others:
            self.server.dbs[name].insert("todos", dict(row, id=row_id), returning_id=False)
        # The answer names the new row: `firedrill client verify` finds each acknowledged
        # write by it.
        self.send_json(201, {"id": row_id, **answer})

    def healthz(self, query, body):
        settings = self.server.settings
        for name in dict.fromkeys(settings.write + [settings.read]):
            try:
                self.server.dbs[name].query("SELECT 1")
            except DatabaseError as e:
                log(f"healthz: {e}")
                self.send_json(503, {"status": "unavailable", "error": str(e)})
                return
        self.send_json(200, {"status": "ok"})

    def metrics(self, query, body):
        text = METRICS.render(self.server.settings.node, self.server.dbs)
        self.send_body(200, text.encode("utf-8"), "text/plain; version=0.0.4; charset=utf-8")

    def upload(self, query, body):
        # A fresh name for every upload, so nothing is ever overwritten.
        stamp = datetime.datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"upload-{stamp}-{secrets.token_hex(4)}.bin"
        path = os.path.join(self.server.settings.upload_dir, name)
        try:
            with open(path, "wb") as f:
                f.write(body)
        except OSError as e:
            if e.filename is None:  # errors from write() and close() do not name the file
                e = OSError(e.errno, e.strerror, path)
            try:
                os.remove(path)  # do not leave half a file behind
            except OSError:
                pass
            log(f"upload failed: {e}")
            self.send_json(500, {"error": f"upload failed: {e}"})
            return
        self.send_json(201, {"file": name, "bytes": len(body)})

    # --- answers and logging ---------------------------------------------------------

    def parse_request(self):
        # Called once the request line is in: the latency histogram starts here.
        self.started = time.monotonic()
        return super().parse_request()

    def send_json(self, status, payload):
        self.send_body(status, (json.dumps(payload) + "\n").encode("utf-8"), "application/json")

    def send_body(self, status, data, content_type, preflight=False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        headers = getattr(self, "headers", None)
        origin = headers.get("Origin") if headers is not None else None
        if origin is not None:
            self.send_header("Vary", "Origin")
            if origin in self.server.settings.cors_origins:
                self.send_header("Access-Control-Allow-Origin", origin)
                if preflight:
                    self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
                    self.send_header("Access-Control-Allow-Headers", "Content-Type")
                    self.send_header("Access-Control-Max-Age", "600")
        self.send_header("X-Served-By", self.server.settings.node)
        self.send_header("X-Release", RELEASE)
        self.end_headers()
        self.wfile.write(data)
        started, self.started = getattr(self, "started", None), None
        took = time.monotonic() - started if started is not None else 0.0
        METRICS.observe(getattr(self, "path", ""), getattr(self, "command", None), status, took)

    def send_error(self, code, message=None, explain=None):
        """Errors http.server finds itself (a bad request line, an unknown method) as JSON too."""
        self.close_connection = True
        self.send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def log_message(self, format, *args):
        if self.server.settings.access_log:
            log(f"{self.address_string()} {format % args}")

    def log_error(self, format, *args):
        log(f"{self.address_string()} {format % args}")


def read_settings():
    try:
        return Settings(CONFIG_FILE)
    except (OSError, KeyError, ValueError, configparser.Error) as e:
        log(f"cannot start: reading the config file {CONFIG_FILE} failed: {e!r}")
        sys.exit(1)


def main():
    settings = read_settings()
    try:
        server = ThreadingHTTPServer((settings.listen, settings.port), TodoHandler)
    except OSError as e:
        log(f"cannot start: listening on {settings.listen}:{settings.port} failed: {e}")
        sys.exit(1)
    server.daemon_threads = True
    server.settings = settings
    server.dbs = open_databases(settings)
    threading.Thread(target=close_old_connections, args=(server.dbs,), daemon=True).start()
    reads = server.dbs[settings.read].describe()
    writes = ", ".join(server.dbs[n].describe() for n in settings.write)
    log(f"todo {RELEASE} on {settings.node} listening on {settings.listen}:{settings.port},"
        f" reading the {reads}, writing to the {writes}")
    server.serve_forever()


if __name__ == "__main__":
    main()

--firedrill-end-of-file--
#!/usr/bin/python3
"""migrate: brings the todo schema to what release v5 needs. Run it before starting
v5, as root or as the todo user:

    /opt/todo/releases/v5/migrate                 every database in config.ini
    /opt/todo/releases/v5/migrate --database db   one of them ([database db])
    /opt/todo/releases/v5/migrate --dry-run       say what it would change, change nothing

What each release needs (a migration brings the schema to its release's line, whatever it was):

    v1, v2  the todos table as provisioned (v2 changes only the API, not the schema)
    v3      adds todos.author (VARCHAR(255), NOT NULL, default 'Jane Doe' for existing rows)
    v4      expand: adds todos.author_first_name and todos.author_last_name, filled from author
            (and again for rows a v3 server wrote since); author stays for v3
    v5      contract: fills any empty author_first_name/author_last_name from author, then
            DROPS todos.author. v3 and v4 break once it is gone: run it only when no v3 or v4
            server is left.

Going back (v3's migrate on a v5 schema) adds author again, filled from the first and last
names; nothing is dropped on the way back. It is safe to run again: each change is made only
when the schema lacks it. Each run is recorded in the table todo_migrations (version, applied_at).
Prints one line per change, and with --quiet nothing else.
"""

import argparse
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import app  # noqa: E402  (this release's app.py, next to this file)

RELEASE = "v5"
LEVEL = int(RELEASE[1:])

# How to split "Jane Doe" into its first word and the rest, per engine.
FIRST = {"mysql": "SUBSTRING_INDEX(author, ' ', 1)", "postgres": "split_part(author, ' ', 1)"}
LAST = {
    "mysql": "IF(LOCATE(' ', author) > 0, TRIM(SUBSTRING(author, LOCATE(' ', author) + 1)), '')",
    "postgres": "CASE WHEN position(' ' in author) > 0"
                " THEN trim(substr(author, position(' ' in author) + 1)) ELSE '' END",
}

PRESENT = {"added": "add", "filled": "fill", "set": "set", "dropped": "drop"}


class Migration:
    def __init__(self, name, db, dry_run):
        self.name = name
        self.db = db
        self.dry_run = dry_run
        self.changes = []

    def has_column(self, column):
        schema = "DATABASE()" if self.db.engine == "mysql" else "current_schema()"
        rows = self.db.query(
            "SELECT COUNT(*) FROM information_schema.columns"
            f" WHERE table_schema = {schema} AND table_name = %s AND column_name = %s",
            ("todos", column))
        return rows[0][0] > 0

    def change(self, what, *statements):
        """Runs `statements` (in one connection) unless this is a dry run; says what it did."""
        if self.dry_run:
            verb, rest = what.split(" ", 1)
            what = f"would {PRESENT.get(verb, verb)} {rest}"
        else:
            self.db.run([(sql, ()) for sql in statements])
        self.changes.append(what)

    def backfill_names(self):
        """Fills empty first/last names from author; returns how many rows."""
        e = self.db.engine
        where = " WHERE author_first_name IS NULL OR author_last_name IS NULL"
        count = self.db.query("SELECT COUNT(*) FROM todos" + where)[0][0]
        if count:
            self.change(f"filled author_first_name and author_last_name of {count} rows"
                        " from author",
                        f"UPDATE todos SET author_first_name = {FIRST[e]},"
                        f" author_last_name = {LAST[e]}" + where)
        return count

    def run(self):
        has = {c: self.has_column(c)
               for c in ("author", "author_first_name", "author_last_name")}
        names = had_names = has["author_first_name"] and has["author_last_name"]
        if 3 <= LEVEL <= 4 and not has["author"]:
            statements = ["ALTER TABLE todos ADD COLUMN author VARCHAR(255) NOT NULL"
                          " DEFAULT 'Jane Doe'"]
            if names:
                statements.append(
                    "UPDATE todos SET author = TRIM(CONCAT(author_first_name, ' ',"
                    " author_last_name)) WHERE author_first_name IS NOT NULL"
                    " AND author_last_name IS NOT NULL")
            self.change("added column todos.author (VARCHAR(255) NOT NULL DEFAULT 'Jane Doe')"
                        + (", filled from author_first_name and author_last_name"
                           if names else ""), *statements)
            has["author"] = True
        if LEVEL >= 4 and not names:
            add = [f"ALTER TABLE todos ADD COLUMN {c} VARCHAR(255) NULL"
                   for c in ("author_first_name", "author_last_name")
                   if not has[c]]
            fill = ("UPDATE todos SET author_first_name = 'Jane', author_last_name = 'Doe'"
                    " WHERE author_first_name IS NULL OR author_last_name IS NULL")
            self.change("added columns todos.author_first_name and todos.author_last_name"
                        " (VARCHAR(255) NULL)", *add)
            if not has["author"]:
                # No author to split (the schema was v1 or v2): every item is Jane Doe's.
                self.change("set author_first_name 'Jane', author_last_name 'Doe' on every row",
                            fill)
            names = True
        if LEVEL >= 4 and has["author"]:
            if had_names or not self.dry_run:
                self.backfill_names()
            else:
                self.changes.append("would fill author_first_name and author_last_name from"
                                    " author")
        if LEVEL >= 5 and has["author"]:
            self.change("dropped column todos.author (contract: v3 and v4 need it)",
                        "ALTER TABLE todos DROP COLUMN author")
        self.record()
        return self.changes

    def record(self):
        if self.dry_run:
            return
        created = "DATETIME" if self.db.engine == "mysql" else "TIMESTAMP"
        self.db.run([(
            "CREATE TABLE IF NOT EXISTS todo_migrations (version VARCHAR(16) PRIMARY KEY,"
            f" applied_at {created} NOT NULL)", ())])
        done = self.db.query("SELECT COUNT(*) FROM todo_migrations WHERE version = %s",
                             (RELEASE,))[0][0]
        if not done:
            now = datetime.datetime.now(app.UTC).replace(tzinfo=None)
            self.db.query("INSERT INTO todo_migrations (version, applied_at) VALUES (%s, %s)",
                          (RELEASE, now))
            self.changes.append(f"recorded {RELEASE} in todo_migrations")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", action="append",
                        help="a [database NAME] of config.ini (repeatable; default: all)")
    parser.add_argument("--dry-run", action="store_true", help="change nothing")
    parser.add_argument("--quiet", action="store_true", help="print only the changes")
    args = parser.parse_args()
    settings = app.read_settings()
    names = args.database or list(settings.databases)
    unknown = [n for n in names if n not in settings.databases]
    if unknown:
        sys.exit(f"migrate: config.ini {app.CONFIG_FILE} has no [database {unknown[0]}];"
                 f" it has: {', '.join(settings.databases)}")
    dbs = app.open_databases(settings)
    failed = False
    for name in names:
        db = dbs[name]
        try:
            changes = Migration(name, db, args.dry_run).run()
        except app.DatabaseError as e:
            print(f"migrate {RELEASE}: {name}: failed: {e}", file=sys.stderr)
            failed = True
            continue
        for line in changes:
            print(f"{name} ({db.describe()}): {RELEASE}: {line}")
        if not changes and not args.quiet:
            print(f"{name} ({db.describe()}): schema already fits {RELEASE}, nothing to do")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

--firedrill-end-of-file--
# Settings of the todo app on app1 (firedrill lab "three-tier").
# Written by `firedrill up`; after an edit run `systemctl restart todo`.

[server]
# The name sent in the X-Served-By header of every answer.
node = app1
listen = 0.0.0.0
port = 8080
# Where POST /upload stores files. The todo user must be able to write here.
upload_dir = /var/lib/todo/uploads
# The time zone file that decides what "today" means for GET /todos?since=today. It is read
# on every request, so `timedatectl set-timezone` shows at once. $TZ wins when it is set.
localtime = /etc/localtime
# yes: one journal line per request.
access_log = no
# CORS: the origins (scheme://host[:port], space-separated) whose pages a browser may let call
# this API. An answer to a request whose Origin header is one of them carries
# Access-Control-Allow-Origin; any other origin gets none, and the browser refuses the answer.
cors_origins = https://web.three-tier.lab
# Seconds a database connection is kept open and reused. The app opens a new one after this
# (looking the database's name up again, with the password above), after any error, and when
# the database closed it. A change of a database's address, name or password takes effect
# within this time.
db_max_age = 5

[ports]
# A release run beside todo.service (`systemctl start todo@v2`) listens on the port given here.
v1 = 9001
v2 = 9002
v3 = 9003
v4 = 9004
v5 = 9005

[databases]
# The app writes every new item to each database in `write` (the first one numbers it) and
# reads from the one in `read`. Each name is a [database NAME] section below. To move to
# another database while writes keep coming, see `todo-copy --help`.
write = db
read = db

[database db]
# mysql (MariaDB) or postgres
engine = mysql
host = 10.78.0.13
port = 3306
name = todo
user = todo
password = FiredrillDatabasePasswordFromTheVagrantfile

--firedrill-end-of-file--
# The todo app of firedrill lab "three-tier". Written by `firedrill up`.
# After an edit: systemctl daemon-reload && systemctl restart todo
[Unit]
Description=todo web app (firedrill lab three-tier)
After=network-online.target
Wants=network-online.target

[Service]
User=todo
Group=todo
ExecStart=/usr/bin/python3 /opt/todo/app.py
Environment=TODO_CONFIG=/etc/todo/config.ini
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target

--firedrill-end-of-file--
# One todo release run beside todo.service, e.g. `systemctl start todo@v2`: release v2 from
# /opt/todo/releases/v2 on the port that [ports] of /etc/todo/config.ini gives it.
# firedrill lab "three-tier". Written by `firedrill up`.
[Unit]
Description=todo web app release %i (firedrill lab three-tier)
After=network-online.target
Wants=network-online.target

[Service]
User=todo
Group=todo
ExecStart=/usr/bin/python3 /opt/todo/releases/%i/app.py
Environment=TODO_CONFIG=/etc/todo/config.ini
Environment=TODO_INSTANCE=%i
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target

--firedrill-end-of-file--
# The todo app on app1 (firedrill lab "three-tier")

Releases, side by side:

    /opt/todo/releases/v1 .. v5   app.py and migrate of each release
    /opt/todo/current             -> the release todo.service runs (now: v1)
    /opt/todo/app.py              -> current/app.py
    /etc/todo/config.ini          settings: port, databases (shared by every release)

    v1  GET /todos -> {"todos": [{"name": "Get Milk", "completed": false}]}
    v2  GET /todos -> [{"title": "Get Milk", "done": false}]           (breaks v1's clients)
    v3  v2 plus "author": "Jane Doe"                                    (column todos.author)
    v4  v3 plus "author_first_name", "author_last_name"                (expand)
    v5  v4 without "author"                                             (contract: drops it)

Every answer says which release served it: the X-Release header.

Switch todo.service to another release by hand (here to v2):

    sudo /opt/todo/releases/v2/migrate --dry-run    # what it would change in the schema
    sudo /opt/todo/releases/v2/migrate              # once per database, not once per app server
    sudo ln -sfn releases/v2 /opt/todo/current
    sudo systemctl restart todo
    curl -si http://127.0.0.1:8080/todos | grep X-Release

Run a second release beside it, on the port [ports] of config.ini gives it (v2: 9002):

    sudo systemctl start todo@v2
    curl -s http://127.0.0.1:9002/todos
    sudo systemctl stop todo@v2

`firedrill up` deploys the release the lab file names (`app: {release: v2}`, default v1): it
runs the release's migrate (from one app server per database) before it restarts the app, and
points `current` back to that release if it was changed by hand.

Move to another database while writes keep coming: config.ini's [databases] `write` and
`read`, and `todo-copy --help` (/usr/local/bin/todo-copy).

Logs: journalctl -u todo -f (or -u todo@v2). Migrations done: the table todo_migrations.

--firedrill-end-of-file--
#!/usr/bin/python3
"""todo-copy: copies todo items from one database of config.ini to another, for a live move
from one engine to the other (MariaDB to PostgreSQL, or back).

    todo-copy --from mysql --to postgres              every item
    todo-copy --from mysql --to postgres --since 1200 only items with an id above 1200

The names are config.ini's [database NAME] sections. Items keep their ids; an item already in
the target (same id) is overwritten with the source's copy, so running it twice changes nothing
more. Only the columns both tables have are copied (run the release's `migrate` on both first).
It reads the source in batches of --batch items, ordered by id, and ends by printing the highest
id it copied: pass that as --since next time to copy only what came after.

A move while writes keep coming, with the parts on this node:
  1. config.ini: `write = mysql, postgres`, `read = mysql`; restart the app. New items now go
     to both, with the same id.
  2. todo-copy --from mysql --to postgres: the items from before step 1.
  3. Compare (SELECT COUNT(*), MAX(id) FROM todos on both), then `read = postgres`; restart.
  4. `write = postgres`; restart. MariaDB is no longer used.
"""

import argparse
import os
import sys

sys.path.insert(0, os.environ.get("TODO_APP_DIR", "/opt/todo/current"))
import app  # noqa: E402  (the current release's app.py)


def columns(db):
    """The columns of todos in `db`, with their data types."""
    schema = "DATABASE()" if db.engine == "mysql" else "current_schema()"
    rows = db.query(
        "SELECT column_name, data_type FROM information_schema.columns"
        f" WHERE table_schema = {schema} AND table_name = 'todos' ORDER BY ordinal_position")
    return {name: kind.lower() for name, kind in rows}


def upsert_sql(engine, cols):
    names = ", ".join(cols)
    marks = ", ".join(["%s"] * len(cols))
    rest = [c for c in cols if c != "id"]
    if engine == "mysql":
        update = ", ".join(f"{c} = VALUES({c})" for c in rest)
        return f"INSERT INTO todos ({names}) VALUES ({marks}) ON DUPLICATE KEY UPDATE {update}"
    update = ", ".join(f"{c} = EXCLUDED.{c}" for c in rest)
    return f"INSERT INTO todos ({names}) VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {update}"


def convert(value, kind):
    # MariaDB keeps BOOLEAN as TINYINT: PostgreSQL wants a real boolean.
    if kind == "boolean" and value is not None:
        return bool(value)
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", required=True, help="[database NAME] to read")
    parser.add_argument("--to", dest="target", required=True, help="[database NAME] to write")
    parser.add_argument("--since", type=int, default=0, help="copy only ids above this one")
    parser.add_argument("--batch", type=int, default=500, help="items per round (default 500)")
    args = parser.parse_args()
    settings = app.read_settings()
    for name in (args.source, args.target):
        if name not in settings.databases:
            sys.exit(f"todo-copy: config.ini {app.CONFIG_FILE} has no [database {name}];"
                     f" it has: {', '.join(settings.databases)}")
    if args.source == args.target:
        sys.exit("todo-copy: --from and --to name the same database")
    dbs = app.open_databases(settings)
    source, target = dbs[args.source], dbs[args.target]
    last, copied = args.since, 0
    try:
        have, want = columns(source), columns(target)
        cols = [c for c in have if c in want]
        if "id" not in cols:
            sys.exit(f"todo-copy: the todos table is missing in {args.source} or {args.target}")
        skipped = sorted(set(have) - set(want))
        if skipped:
            print(f"not copied (no such column in {args.target}): {', '.join(skipped)}")
        upsert = upsert_sql(target.engine, cols)
        while True:
            rows = source.query(f"SELECT {', '.join(cols)} FROM todos WHERE id > %s"
                                " ORDER BY id LIMIT %s", (last, args.batch))
            if not rows:
                break
            statements = [(upsert, tuple(convert(v, want[c]) for v, c in zip(row, cols)))
                          for row in rows]
            if target.engine == "postgres":
                # Move the id sequence past the copied ids, or new items would collide.
                statements.append((app.SEQUENCE_PAST_MAX.format(table="todos"),
                                   ("todos", "todos")))
            target.run(statements)
            copied += len(rows)
            last = rows[-1][cols.index("id")]
    except app.DatabaseError as e:
        sys.exit(f"todo-copy: {e}; nothing after id {last} was copied")
    print(f"copied {copied} items from {args.source} to {args.target}"
          f" (ids above {args.since}); highest id {last}: next time use --since {last}")


if __name__ == "__main__":
    main()

--firedrill-end-of-file--
FIREDRILL_EOF
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
'\'' /opt/todo/releases/v1/app.py 644 root:root /var/lib/firedrill/written/%opt%todo%releases%v1%app.py /opt/todo/releases/v1/migrate 755 root:root /var/lib/firedrill/written/%opt%todo%releases%v1%migrate /opt/todo/releases/v2/app.py 644 root:root /var/lib/firedrill/written/%opt%todo%releases%v2%app.py /opt/todo/releases/v2/migrate 755 root:root /var/lib/firedrill/written/%opt%todo%releases%v2%migrate /opt/todo/releases/v3/app.py 644 root:root /var/lib/firedrill/written/%opt%todo%releases%v3%app.py /opt/todo/releases/v3/migrate 755 root:root /var/lib/firedrill/written/%opt%todo%releases%v3%migrate /opt/todo/releases/v4/app.py 644 root:root /var/lib/firedrill/written/%opt%todo%releases%v4%app.py /opt/todo/releases/v4/migrate 755 root:root /var/lib/firedrill/written/%opt%todo%releases%v4%migrate /opt/todo/releases/v5/app.py 644 root:root /var/lib/firedrill/written/%opt%todo%releases%v5%app.py /opt/todo/releases/v5/migrate 755 root:root /var/lib/firedrill/written/%opt%todo%releases%v5%migrate /etc/todo/config.ini 640 root:todo /var/lib/firedrill/written/%etc%todo%config.ini /etc/systemd/system/todo.service 644 root:root /var/lib/firedrill/written/%etc%systemd%system%todo.service /etc/systemd/system/todo@.service 644 root:root /var/lib/firedrill/written/%etc%systemd%system%todo@.service /opt/todo/README 644 root:root /var/lib/firedrill/written/%opt%todo%README /usr/local/bin/todo-copy 755 root:root /var/lib/firedrill/written/%usr%local%bin%todo-copy
' < "$secret"

# /opt/todo/releases/v1/app.py updated

# /opt/todo/releases/v1/migrate updated

# /opt/todo/releases/v2/app.py updated

# /opt/todo/releases/v2/migrate updated

# /opt/todo/releases/v3/app.py updated

# /opt/todo/releases/v3/migrate updated

# /opt/todo/releases/v4/app.py updated

# /opt/todo/releases/v4/migrate updated

# /opt/todo/releases/v5/app.py updated

# /opt/todo/releases/v5/migrate updated

# /etc/todo/config.ini updated

# /etc/systemd/system/todo.service updated

# /etc/systemd/system/todo@.service updated

# /opt/todo/README updated

# /usr/local/bin/todo-copy updated

# app: migrating database db to v1

sh -c 'cd / && runuser -u todo -- /opt/todo/releases/v1/migrate --quiet --database db' </dev/null

sh -c 'set -e
link() { if [ "$(readlink "$2")" != "$1" ]; then ln -sfn "$1" "$2.new"; mv -Tf "$2.new" "$2"; echo "$2 -> $1"; fi; }
link releases/v1 /opt/todo/current
link current/app.py /opt/todo/app.py
' </dev/null

sh -c 'SYSTEMCTL_SKIP_SYSV=1 systemctl enable --no-reload todo.service' </dev/null

# todo.service enabled

# starting todo.service

sh -c 'systemctl start todo.service' </dev/null

# todo.service started
