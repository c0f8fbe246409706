"""Start and stop real slave processes on free loopback ports, for tests.

The helpers here block (subprocess, sockets): they run before a test
drives the slave, never while the reactor is waiting on it.
"""

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time

import slave
from buildmaster.testing import children

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

CONFIG_TEMPLATE = """\
[slave]
bindhost = 127.0.0.1
bindport = {port}
architecturetag = {arch}
filecache = {filecache}
workdir = {workdir}
build_timeout = {build_timeout}
"""


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _script(name):
    """A console script installed next to this interpreter."""
    return os.path.join(os.path.dirname(sys.executable), name)


class SlaveProcess:
    """One slave daemon with its own config, cache and work dir.

    ``runner`` is 'twistd' (``twistd -n -y slave/slave.tac``) or 'cli'
    (``buildmaster-slave --config``).
    """

    def __init__(self, directory, runner="twistd", arch="amd64",
                 build_timeout=3600):
        self.directory = str(directory)
        self.runner = runner
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.filecache = os.path.join(self.directory, "filecache")
        self.workdir = os.path.join(self.directory, "work")
        self.config_path = os.path.join(self.directory, "slave.ini")
        self.log_path = os.path.join(self.directory, "slave.log")
        self.popen = None
        os.makedirs(self.directory, exist_ok=True)
        self.arch = arch
        self.build_timeout = build_timeout
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(self.config_text())

    def config_text(self):
        return CONFIG_TEMPLATE.format(
            port=self.port, arch=self.arch, filecache=self.filecache,
            workdir=self.workdir, build_timeout=self.build_timeout)

    def environment(self):
        return dict(os.environ, BUILDMASTER_SLAVE_CONFIG=self.config_path)

    def command(self):
        if self.runner == "cli":
            return [_script("buildmaster-slave"), "--config", self.config_path]
        tac = os.path.join(os.path.dirname(slave.__file__), "slave.tac")
        return [_script("twistd"), "-n", "--pidfile=", "-l", "-", "-y", tac]

    def start(self, pass_fds=()):
        """Start the slave and wait until its port accepts connections; the
        slave inherits the descriptors ``pass_fds``."""
        with open(self.log_path, "ab") as log:
            self.popen = children.spawn(
                self.command(), cwd=self.directory, env=self.environment(),
                stdout=log, stderr=subprocess.STDOUT, pass_fds=pass_fds)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._accepting():
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"slave exited with {self.popen.returncode}:\n"
                    + self.read_log())
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("slave did not start:\n" + self.read_log())
            time.sleep(0.05)
        return self

    def stop(self):
        """SIGTERM (SIGCONT first, in case a test stopped it), then kill."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGCONT)
        self.popen.terminate()
        try:
            self.popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    def send_signal(self, signum):
        self.popen.send_signal(signum)
        if signum == signal.SIGKILL:
            self.popen.wait()

    def read_log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def _accepting(self):
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", self.port)) == 0


def serve_directory(directory, reactor=None, credentials=None):
    """Serve ``directory`` over HTTP on loopback in this process.

    Stands in for the librarian the slave downloads from, or an archive;
    with ``credentials`` (user, password) only to HTTP basic auth.
    Returns (listening port, base URL ending in '/'). Stop it with
    ``port.stopListening()``.
    """
    from twisted.web import server, static

    if reactor is None:
        from twisted.internet import reactor
    resource = static.File(str(directory))
    if credentials is not None:
        resource = _guarded(resource, *credentials)
    site = server.Site(resource)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    return port, f"http://127.0.0.1:{port.getHost().port}/"


def _guarded(resource, user, password):
    """``resource`` behind HTTP basic auth for one user."""
    from twisted.cred import checkers, portal
    from twisted.web import guard, resource as web_resource
    from zope.interface import implementer

    @implementer(portal.IRealm)
    class Realm:
        def requestAvatar(self, avatar_id, mind, *interfaces):
            return web_resource.IResource, resource, lambda: None

    checker = checkers.InMemoryUsernamePasswordDatabaseDontUse(
        **{user: password.encode()})
    return guard.HTTPAuthSessionWrapper(
        portal.Portal(Realm(), [checker]), [guard.BasicCredentialFactory("archive")])


def sha1_of(path):
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(65536), b""):
            digest.update(chunk)
    return digest.hexdigest()


def processes_in(directory):
    """Pids of processes whose working directory is inside ``directory``."""
    directory = os.path.realpath(str(directory))
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cwd == directory or cwd.startswith(directory + os.sep):
            found.append(int(entry))
    return found


async def send_files(client, base_url, paths):
    """Have the slave fetch ``paths`` (served at ``base_url``); a filemap."""
    filemap = {}
    for path in paths:
        name = os.path.basename(path)
        sha1 = sha1_of(path)
        present, info = await client.ensurepresent(sha1, base_url + name)
        if not present:
            raise AssertionError(f"slave could not fetch {name}: {info}")
        filemap[name] = sha1
    return filemap


async def wait_for_state(client, *states, polls=1500, interval=0.2):
    """Poll status() until builder_status is one of ``states``."""
    from twisted.internet import reactor, task

    for _ in range(polls):
        status = await client.status()
        if status["builder_status"] in states:
            return status
        await task.deferLater(reactor, interval, lambda: None)
    raise AssertionError(f"slave never reached {states}; last: {status}")
