#!/usr/bin/python3
"""todo: the small web app of a firedrill lab.

It keeps a to-do list in MariaDB/MySQL or PostgreSQL and answers:

    GET  /todos              {"todos": [{"name": "Get Milk", "completed": false}, ...]}
    GET  /todos?since=today  only the items created today, on this server's local calendar
    POST /todos              stores {"name": "...", "completed": false}; answers 201 with it
                             and its new "id"
    GET  /healthz            200 when the database answers, 503 when it does not
    POST /upload             stores the request body as a file in the upload directory

Every answer carries an "X-Served-By: <node>" header, so you can see which server answered
through the load balancer. Errors are written to stderr, which systemd keeps in the journal:

    journalctl -u todo -f

Settings come from /etc/todo/config.ini (or the file named by $TODO_CONFIG). Only the Python
standard library and the database driver (pymysql or psycopg2) are used. Feel free to change
this file, then run `systemctl restart todo`.
"""

import configparser
import datetime
import json
import os
import secrets
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

CONFIG_FILE = os.environ.get("TODO_CONFIG", "/etc/todo/config.ini")
UTC = datetime.timezone.utc


def log(message):
    """One line on stderr: systemd puts it in the journal."""
    print(message, file=sys.stderr, flush=True)


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
        self.upload_dir = server["upload_dir"]
        self.localtime = server.get("localtime", "/etc/localtime")
        self.access_log = server.getboolean("access_log", False)
        db = parser["database"]
        self.engine = db["engine"]
        self.db_host = db["host"]
        self.db_port = db.getint("port")
        self.db_name = db["name"]
        self.db_user = db["user"]
        self.db_password = db["password"]
        if self.engine not in ("mysql", "postgres"):
            raise ValueError(f"engine must be mysql or postgres, not {self.engine!r}")


class DatabaseError(Exception):
    """The database could not be reached or refused a query."""


class Database:
    """Opens a new connection for every request. That is simple, and when the database comes
    back after a restart the next request just works."""

    def __init__(self, settings):
        self.s = settings
        # Import only the driver this node needs.
        if settings.engine == "mysql":
            import pymysql

            self.driver = pymysql
        else:
            import psycopg2

            self.driver = psycopg2

    def describe(self):
        return f"{self.s.engine} database {self.s.db_name} at {self.s.db_host}:{self.s.db_port}"

    def connect(self):
        s = self.s
        if s.engine == "mysql":
            return self.driver.connect(
                host=s.db_host, port=s.db_port, user=s.db_user, password=s.db_password,
                database=s.db_name, connect_timeout=3, autocommit=True,
            )
        conn = self.driver.connect(
            host=s.db_host, port=s.db_port, user=s.db_user, password=s.db_password,
            dbname=s.db_name, connect_timeout=3,
        )
        conn.autocommit = True
        return conn

    def query(self, sql, params=()):
        """Runs one statement and returns its rows (none for an INSERT)."""
        try:
            conn = self.connect()
            try:
                with conn.cursor() as cur:
                    # Both drivers use %s placeholders, so one SQL text fits both engines.
                    cur.execute(sql, params)
                    return cur.fetchall() if cur.description else []
            finally:
                conn.close()
        except self.driver.Error as e:
            raise DatabaseError(f"{self.describe()}: {e}".strip()) from e


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


class TodoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep connections open for the load balancer
    server_version = "todo/1"

    # --- routing ---------------------------------------------------------------------

    def do_GET(self):
        self.route({"/todos": self.list_todos, "/healthz": self.healthz}, body=b"")

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
        except Exception as e:  # a bug: keep serving, and leave the traceback in the journal
            log(f"{self.command} {url.path} failed: {e!r}\n{traceback.format_exc()}")
            self.send_json(500, {"error": f"internal error: {e}"})

    # --- endpoints -------------------------------------------------------------------

    def list_todos(self, query, body):
        since = query.get("since", [None])[0]
        if since is None:
            rows = self.server.db.query("SELECT name, completed FROM todos ORDER BY id")
        elif since == "today":
            start, end = today_in_utc(self.server.settings)
            rows = self.server.db.query(
                "SELECT name, completed FROM todos"
                " WHERE created_at >= %s AND created_at < %s ORDER BY id",
                (start, end),
            )
        else:
            raise BadRequest(f"since must be 'today', not {since!r}")
        todos = [{"name": name, "completed": bool(completed)} for name, completed in rows]
        self.send_json(200, {"todos": todos})

    def create_todo(self, query, body):
        try:
            item = json.loads(body)
        except ValueError:
            raise BadRequest(
                'the body must be JSON like {"name": "Get Milk", "completed": false}'
            ) from None
        if not isinstance(item, dict):
            raise BadRequest('the body must be a JSON object like {"name": "Get Milk"}')
        name = item.get("name")
        completed = item.get("completed", False)
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise BadRequest('"name" must be a non-empty string of at most 255 characters')
        if not isinstance(completed, bool):
            raise BadRequest('"completed" must be true or false')
        created_at = datetime.datetime.now(UTC).replace(tzinfo=None)
        # RETURNING works on both engines (MariaDB 10.5+), so the answer names the new row:
        # `firedrill client verify` finds each acknowledged write by it.
        rows = self.server.db.query(
            "INSERT INTO todos (name, completed, created_at) VALUES (%s, %s, %s) RETURNING id",
            (name, completed, created_at),
        )
        self.send_json(201, {"id": rows[0][0], "name": name, "completed": completed})

    def healthz(self, query, body):
        try:
            self.server.db.query("SELECT 1")
        except DatabaseError as e:
            log(f"healthz: {e}")
            self.send_json(503, {"status": "unavailable", "error": str(e)})
            return
        self.send_json(200, {"status": "ok"})

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

    def send_json(self, status, payload):
        data = (json.dumps(payload) + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Served-By", self.server.settings.node)
        self.end_headers()
        self.wfile.write(data)

    def send_error(self, code, message=None, explain=None):
        """Errors http.server finds itself (a bad request line, an unknown method) as JSON too."""
        self.close_connection = True
        self.send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def log_message(self, format, *args):
        if self.server.settings.access_log:
            log(f"{self.address_string()} {format % args}")

    def log_error(self, format, *args):
        log(f"{self.address_string()} {format % args}")


def main():
    try:
        settings = Settings(CONFIG_FILE)
    except (OSError, KeyError, ValueError, configparser.Error) as e:
        log(f"cannot start: reading the config file {CONFIG_FILE} failed: {e!r}")
        sys.exit(1)
    try:
        server = ThreadingHTTPServer((settings.listen, settings.port), TodoHandler)
    except OSError as e:
        log(f"cannot start: listening on {settings.listen}:{settings.port} failed: {e}")
        sys.exit(1)
    server.daemon_threads = True
    server.settings = settings
    server.db = Database(settings)
    log(f"todo on {settings.node} listening on {settings.listen}:{settings.port},"
        f" using the {server.db.describe()}")
    server.serve_forever()


if __name__ == "__main__":
    main()
