"""Bug trackers that cannot run here, played back over real HTTP.

``RecordedTracker`` serves recorded answers (files written from a
service's documented format) on a loopback port and keeps every request
it got; ``SilentPort`` accepts connections and never answers, as a hung
tracker does.  Both run in a thread and stop within a second.
"""

import http.server
import socket
import threading
import urllib.parse

STOP_TIMEOUT = 5.0


class RecordedTracker:
    """Answers ``GET``/``POST`` of a path with what ``answer`` set for it.

    ``requests`` holds (method, path, query dict, body text) in order; an
    unknown path gets a 404.
    """

    def __init__(self):
        self.answers = {}
        self.requests = []
        tracker = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                tracker._serve(self, b"")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                tracker._serve(self, self.rfile.read(length))

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)

    def answer(self, path, body, status=200, content_type="text/plain; charset=utf-8"):
        """From now on answer requests of ``path`` with ``body``."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.answers[path] = (status, content_type, body)

    def _serve(self, handler, body):
        parts = urllib.parse.urlsplit(handler.path)
        self.requests.append((handler.command, parts.path,
                              dict(urllib.parse.parse_qsl(parts.query)),
                              body.decode("utf-8", "replace")))
        status, content_type, data = self.answers.get(
            parts.path, (404, "text/plain", b"no such page\n"))
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(STOP_TIMEOUT)


class SilentPort:
    """A loopback port whose connections are accepted (by the kernel's
    backlog) and never answered."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self):
        self.socket.close()
