#!/usr/bin/python3
# firedrill's webhook receiver for Alertmanager, on the monitor node. Written by `firedrill up`.
# Alertmanager posts each notification here (receiver `firedrill` in
# /etc/prometheus/alertmanager.yml); each is appended as one JSON line, with the time it
# arrived, to /var/lib/firedrill-pages/notifications.jsonl. `firedrill play` reads that file
# to deliver a level's page.
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

LOG = "/var/lib/firedrill-pages/notifications.jsonl"


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            notification = json.loads(body)
        except ValueError:
            self.send_error(400, "the body is not JSON")
            return
        line = json.dumps({"received": time.time(), "notification": notification},
                          separators=(",", ":"))
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(line + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, format, *args):
        sys.stderr.write(format % args + "\n")


HTTPServer(("127.0.0.1", 9095), Receiver).serve_forever()
