"""Build logs: gzipped through a file under the master's root, into the
librarian, with memory staying flat however big the log is."""

import gzip
import hashlib
import os
import tracemalloc

import pytest

from buildmaster.slaves.buildlog import fetch_build_log, log_filename
from buildmaster.model import Build, BuildStatus
from buildmaster.slaves.client import SlaveClient
from buildmaster.testing.deferreds import wait

LINE = b"dpkg-buildpackage: compiling file number %08d of the big package\n"


class GeneratedLog:
    """A file object producing ``size`` bytes of log lines on demand."""

    def __init__(self, size):
        self.remaining = size
        self.number = 0
        self.digest = hashlib.sha1()
        self.buffer = b""

    def read(self, amount):
        while len(self.buffer) < amount and self.remaining > len(self.buffer):
            self.buffer += b"".join(LINE % (self.number + i) for i in range(1000))
            self.number += 1000
        chunk = self.buffer[:min(amount, self.remaining)]
        self.buffer = self.buffer[len(chunk):]
        self.remaining -= len(chunk)
        self.digest.update(chunk)
        return chunk

    def close(self):
        pass


class BigLogSlave:
    def __init__(self, size):
        self.log = GeneratedLog(size)

    def getFile(self, name):
        assert name == "buildlog"
        return self.log


def test_log_name_carries_the_state(sample, session):
    build = session.get(Build, 6)
    assert log_filename(build) == "buildlog_ubuntu-warty-i386.foobar_1.0_FULLYBUILT.txt.gz"
    assert log_filename(build, "upload_log", BuildStatus.FAILEDTOUPLOAD) == \
        "upload_log_ubuntu-warty-i386.foobar_1.0_FAILEDTOUPLOAD.txt.gz"


def test_a_huge_log_streams_in_flat_memory(sample, session, farm_config, librarian):
    size = 300 * 1024 * 1024
    slave = BigLogSlave(size)
    client = SlaveClient("http://fake:0000/", proxy=slave)
    build = session.get(Build, 8)
    tracemalloc.start()
    try:
        alias = wait(fetch_build_log(client, build, session, farm_config, librarian))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"
    assert alias.mimetype == "text/plain"
    assert alias.content.filesize < size / 10
    digest, total = hashlib.sha1(), 0
    with librarian.open(alias) as stored, gzip.GzipFile(fileobj=stored) as log:
        while chunk := log.read(1 << 20):
            digest.update(chunk)
            total += len(chunk)
    assert (total, digest.hexdigest()) == (size, slave.log.digest.hexdigest())
    assert os.listdir(os.path.join(farm_config.builddmaster.root, "tmp")) == []


class FailingLogSlave:
    def getFile(self, name):
        raise OSError("disk on fire")


def test_a_failed_fetch_leaves_no_temporary_file(sample, session, farm_config, librarian):
    client = SlaveClient("http://fake:0000/", proxy=FailingLogSlave())
    with pytest.raises(Exception):
        wait(fetch_build_log(client, session.get(Build, 8), session, farm_config,
                             librarian))
    assert os.listdir(os.path.join(farm_config.builddmaster.root, "tmp")) == []
