"""A slave that hangs stalls nothing (marked chaos): while one builder's
slave holds the master's request unanswered (mid-answer: headers and
half an XML-RPC body, then silence; or mid-download: half of a build log,
then silence), the other builders' builds are dispatched, collected and
ended, in the real daemon on fast slaves.  What shows it is the order of
events, not a clock: every other build ended while the hung request was
still open."""

import http.server
import socket
import threading
import time
import xmlrpc.client

import pytest
import sqlalchemy as sa

from buildmaster.model import Builder, BuildStatus
from buildmaster.testing import invariants
from buildmaster.testing.fastfarm import FastFarm, source_names

pytestmark = pytest.mark.chaos

HALF_ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 4000\r\n\r\n"
               b"<?xml version='1.0'?><methodResponse><params><param><value><struct>")


class HangingSlave:
    """A loopback server that answers every request halfway, then never
    more; ``open`` counts the requests it holds."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held = []
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            connection.recv(65536)
            connection.sendall(HALF_ANSWER)
            with self.lock:
                self.held.append(connection)

    @property
    def open(self):
        """How many of the held requests the master still waits on."""
        with self.lock:
            alive = []
            for connection in self.held:
                connection.setblocking(False)
                try:
                    gone = connection.recv(1) == b""
                except BlockingIOError:
                    gone = False
                except OSError:
                    gone = True
                if not gone:
                    alive.append(connection)
            self.held = alive
            return len(alive)

    def close(self):
        self.listener.close()
        with self.lock:
            for connection in self.held:
                connection.close()


@pytest.fixture
def hanging():
    server = HangingSlave()
    yield server
    server.close()


def farm_with_a_hung_builder(tmp_path, port):
    """Three fast builders, fast2's slave the hanging one at ``port``
    (long timeouts: the hang outlasts the test); (farm, fast2's id)."""
    farm = FastFarm(tmp_path, builders=3, build_seconds=0.3, socket_timeout=120)
    with farm.engine.begin() as connection:
        connection.execute(sa.update(Builder).where(Builder.name == "fast2")
                           .values(url=f"http://127.0.0.1:{port}/"))
        hung_id = connection.execute(sa.select(Builder.id).where(
            Builder.name == "fast2")).scalar()
    return farm, hung_id


def wait_for_all_but_the_hung_builders_job(farm, hung_id, count=8):
    def only_its_job_left():
        builds = farm.builds()
        return len(builds) == count and all(
            row.queue_builder == hung_id for row in invariants.unsettled(builds))
    farm.wait_until(only_its_job_left, "every build but the hung builder's ended",
                    timeout=110)


def test_a_slave_hanging_mid_answer_stalls_no_other_builder(tmp_path, hanging):
    farm, hung_id = farm_with_a_hung_builder(tmp_path, hanging.port)
    try:
        farm.start()
        farm.wait_until(lambda: hanging.open, "the hanging slave asked")
        farm.upload(source_names(1, 8))
        wait_for_all_but_the_hung_builders_job(farm, hung_id)
        assert hanging.open, "the hung request timed out before the others were done"
        ended = [row for row in farm.builds() if row.queue_builder != hung_id]
        assert len(ended) >= 7
        assert {row.buildstate for row in ended} == {
            BuildStatus.FULLYBUILT, BuildStatus.FAILEDTOBUILD}
        log = farm.master.read_log()
        assert "fast2 has not answered yet; the scan goes on without it" in log
    finally:
        farm.close()


class HalfDownloadSlave:
    """A protocol 1.0 slave whose builds end at once, WAITING with their
    results, but whose file cache sends half of any file and then holds
    the download open; ``downloads`` counts those it holds."""

    def __init__(self):
        slave = self
        self.job = ""
        self.held = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # kept alive, as slaves' connections are

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                params, method = xmlrpc.client.loads(body)
                answer = slave.answer(method, params)
                data = xmlrpc.client.dumps((answer,), methodresponse=True,
                                          allow_none=True).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b"half a build log\n" * 50)
                self.wfile.flush()
                slave.held.append(self)
                while self in slave.held:
                    time.sleep(0.1)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, method, params):
        if method == "status":
            if not self.job:
                return {"builder_status": "BuilderStatus.IDLE", "build_id": ""}
            return {"builder_status": "BuilderStatus.WAITING", "build_id": self.job,
                    "build_status": "BuildStatus.PACKAGEFAIL", "filemap": {},
                    "dependencies": None}
        if method == "build":
            self.job = params[0]
            return ["BuilderStatus.BUILDING", self.job]
        if method == "ensurepresent":
            return [True, "Cached"]
        if method in ("clean", "abort"):
            self.job = ""
            return "BuilderStatus.IDLE"
        if method == "info":
            return ["1.0", "i386", ["binarypackage"]]
        return list(params)

    @property
    def downloads(self):
        return len(self.held)

    def close(self):
        self.held.clear()
        self.server.shutdown()
        self.server.server_close()


def test_a_slave_hanging_mid_download_stalls_no_other_builder(tmp_path):
    hanging = HalfDownloadSlave()
    farm, hung_id = farm_with_a_hung_builder(tmp_path, hanging.port)
    try:
        farm.upload(source_names(1, 8))
        farm.start()
        farm.wait_until(lambda: hanging.downloads, "a download held by the slave")
        wait_for_all_but_the_hung_builders_job(farm, hung_id)
        assert hanging.downloads, "the hung download ended before the others were done"
        ended = [row for row in farm.builds() if row.queue_builder != hung_id]
        assert len(ended) >= 7
        assert "its results are still coming; the scan goes on without them" in \
            farm.master.read_log()
    finally:
        farm.close()
        hanging.close()
