"""A real OpenStack Swift on loopback, one per test session.

Debian's swift-proxy, swift-account, swift-container and swift-object
packages (``make test`` installs them, and memcached, which tempauth
keeps its tokens in) run as a single-node Swift: one ring each for
accounts, containers and objects, built with swift-ring-builder at part
power 8 with one replica on one device; tempauth with one admin user;
every server's storage, configuration and log in one temporary
directory, ``mount_check`` off.  Each server runs as one process
(``workers = 0``) started through buildmaster.testing.children, so it is
stopped however the session ends.

The object server keeps each object's metadata in extended attributes,
so the storage directory must be on a filesystem with user xattrs; the
fixture checks, and says so when it finds none rather than skipping.

``swift`` (session scope) yields the running SwiftCluster: ``auth_url``,
``user``, ``key``, and ``storage()`` for a test to reach objects behind
the librarian's back.
"""

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from buildmaster.testing import children
from buildmaster.testing.slaveprocess import free_port

USER = "test:tester"
KEY = "testing"
START_TIMEOUT = 60
SERVERS = ("account", "container", "object")

SWIFT_CONF = """\
[swift-hash]
swift_hash_path_suffix = buildmaster-tests
swift_hash_path_prefix = buildmaster-tests

[storage-policy:0]
name = Policy-0
default = yes
"""

SERVER_CONF = """\
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
devices = {devices}
mount_check = false
swift_dir = {swift_dir}
user = {user}
workers = 0
log_name = {name}-server

[pipeline:main]
pipeline = {name}-server

[app:{name}-server]
use = egg:swift#{name}
"""

PROXY_CONF = """\
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
swift_dir = {swift_dir}
user = {user}
workers = 0
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = {key} .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{memcached_port}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
"""


class SwiftError(Exception):
    """The test Swift could not be set up or did not start; says why."""


def xattr_directory(candidates):
    """The first of ``candidates`` (directories) where a file can carry a
    user extended attribute, as Swift's object server needs."""
    for directory in candidates:
        try:
            with tempfile.NamedTemporaryFile(dir=directory) as probe:
                os.setxattr(probe.name, "user.buildmaster-probe", b"1")
            return directory
        except OSError:
            continue
    raise SwiftError(f"none of {', '.join(map(str, candidates))} is on a filesystem "
                     "with user extended attributes, which Swift's object server needs")


class SwiftCluster:
    """A single-node Swift under ``root``: start(), then ``auth_url``,
    ``user`` and ``key`` reach it; stop() ends its processes."""

    def __init__(self, root):
        self.root = str(root)
        self.swift_dir = os.path.join(self.root, "etc")
        self.devices = os.path.join(self.root, "srv")
        self.logs = os.path.join(self.root, "log")
        self.user, self.key = USER, KEY
        self.ports = {name: free_port() for name in (*SERVERS, "proxy", "memcached")}
        self.auth_url = f"http://127.0.0.1:{self.ports['proxy']}/auth/v1.0"
        self.processes = []

    def start(self):
        """Write the configuration, build the rings, start memcached and
        the four servers; return once the proxy hands out a token."""
        for name in SERVERS:
            missing = shutil.which(f"swift-{name}-server") is None
            if missing or shutil.which("swift-proxy-server") is None:
                raise SwiftError(f"swift-{name}-server or swift-proxy-server is not "
                                 "installed: make test installs Debian's swift packages")
        for directory in (self.swift_dir, os.path.join(self.devices, "d1"), self.logs):
            os.makedirs(directory, exist_ok=True)
        self._write_configuration()
        self._build_rings()
        self._spawn("memcached", ["memcached", "-l", "127.0.0.1", "-U", "0",
                                  "-p", str(self.ports["memcached"]), "-u", getpass.getuser()])
        for name in (*SERVERS, "proxy"):
            self._spawn(name, [f"swift-{name}-server",
                               os.path.join(self.swift_dir, f"{name}-server.conf"), "--verbose"])
        self._wait_until_ready()
        return self

    def stop(self):
        for process in reversed(self.processes):
            children.stop(process)

    def storage(self):
        """(storage URL, token) of the test account, straight from tempauth."""
        request = urllib.request.Request(
            self.auth_url, headers={"X-Auth-User": self.user, "X-Auth-Key": self.key})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.headers["X-Storage-Url"], answer.headers["X-Auth-Token"]

    def _write_configuration(self):
        fields = dict(swift_dir=self.swift_dir, devices=self.devices,
                      user=getpass.getuser(), key=self.key,
                      memcached_port=self.ports["memcached"])
        self._write("swift.conf", SWIFT_CONF)
        for name in SERVERS:
            self._write(f"{name}-server.conf",
                        SERVER_CONF.format(name=name, port=self.ports[name], **fields))
        self._write("proxy-server.conf", PROXY_CONF.format(port=self.ports["proxy"], **fields))

    def _write(self, filename, text):
        with open(os.path.join(self.swift_dir, filename), "w") as handle:
            handle.write(text)

    def _build_rings(self):
        """The three rings, built side by side (each swift-ring-builder
        call takes a second or two)."""
        chains = {name: [["create", "8", "1", "1"],
                         ["add", f"r1z1-127.0.0.1:{self.ports[name]}/d1", "100"],
                         ["rebalance"]] for name in SERVERS}
        while any(chains.values()):
            running = {name: subprocess.Popen(
                ["swift-ring-builder", os.path.join(self.swift_dir, f"{name}.builder"),
                 *steps.pop(0)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for name, steps in chains.items() if steps}
            for name, process in running.items():
                output = process.communicate()[0]
                # 1 is swift-ring-builder's "done, with a warning".
                if process.returncode not in (0, 1):
                    raise SwiftError(f"{' '.join(process.args)}: {output}")
        for name in SERVERS:
            if not os.path.exists(os.path.join(self.swift_dir, f"{name}.ring.gz")):
                raise SwiftError(f"swift-ring-builder wrote no {name}.ring.gz")

    def _spawn(self, name, argv):
        log = open(os.path.join(self.logs, f"{name}.log"), "ab")
        with log:
            self.processes.append(children.spawn(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))

    def _wait_until_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        for name, port in self.ports.items():
            while not _listening(port):
                self._check_alive(deadline, f"{name} on port {port}")
        while True:
            try:
                self.storage()
                return
            except (OSError, urllib.error.URLError):
                self._check_alive(deadline, f"a token from {self.auth_url}")

    def _check_alive(self, deadline, waiting_for):
        for process in self.processes:
            if process.poll() is not None:
                raise SwiftError(f"{' '.join(process.args)} exited with {process.returncode} "
                                 f"while waiting for {waiting_for}: {self._log_tails()}")
        if time.monotonic() > deadline:
            raise SwiftError(f"no {waiting_for} after {START_TIMEOUT} s: {self._log_tails()}")
        time.sleep(0.1)

    def _log_tails(self):
        tails = []
        for filename in sorted(os.listdir(self.logs)):
            with open(os.path.join(self.logs, filename), errors="replace") as handle:
                tails.append(f"--- {filename}\n{handle.read()[-2000:]}")
        return "\n".join(tails)


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def swift(tmp_path_factory):
    """A running single-node Swift for the whole session (SwiftCluster)."""
    base = xattr_directory([tmp_path_factory.getbasetemp(), "/var/tmp", "/dev/shm"])
    root = tempfile.mkdtemp(prefix="swift-", dir=base)
    cluster = SwiftCluster(root)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
