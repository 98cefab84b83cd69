#!/usr/bin/python3
"""demo_receiver.py - a local stand-in for a Slack incoming webhook, for `make demo`.
Prints the text of every alert it receives."""
import http.server
import json
import sys


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            text = json.loads(body).get("text", body.decode())
        except ValueError:
            text = body.decode(errors="replace")
        print(f"  [slack] {text}", flush=True)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
