"""Fast slaves: real launchpad-buildd protocol 1.0 servers whose builds
take no time, for the farm's throughput and fault-injection runs.

Each slave is a real XML-RPC server on loopback (``/rpc``) with a file
cache (``/filecache/<sha1>``, ``/filecache/buildlog``), speaking the
protocol the master's SlaveClient speaks to launchpad-buildd::

    IDLE --build()--> BUILDING --build_seconds--> WAITING --clean()--> IDLE
                         |                           ^
                         +--abort()--> ABORTED ------+ (clean)

A build of a source named ``fail-*`` ends PACKAGEFAIL; any other ends OK
with a small real .deb and its .changes made for the source it was
given (a .dsc named ``<source>_<version>.dsc`` in the filemap), so the
master fetches, checks and stores a real upload.  A source named
``bad-KIND-*`` ends OK with a bad upload of that KIND (BAD_UPLOADS: a
corrupt .changes, a file missing, a wrong checksum, a huge file, names
climbing out of the upload directory).  ``ensurepresent``
answers at once without fetching.  A build() while not IDLE answers
BUSY, as launchpad-buildd does.  A build whose arguments carry a
call-back URL calls the master back when it ends, as our own slave does
(slave/callback.py).

Every build(), abort() and clean() is appended to a journal, one JSON
object a line (``time``, ``slave`` port, ``call``, ``job``), so a run can
check afterwards that no job ran on two slaves at once.

Run many in one process, optionally with an SMTP server on loopback
that journals every message it receives (``--smtp-journal``)::

    python -m buildmaster.testing.fastslave --count 4 --arch i386 \\
        --journal slaves.jsonl [--build-seconds 0.2] [--smtp-journal mail.jsonl]

It prints one JSON line, ``{"ports": [...], "smtp_port": N}``, once it
listens.  ``FastSlaves`` starts and stops such a process for a test or
a benchmark; ``write_source`` makes a source package to upload.
"""

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time

from buildmaster.testing import children

BUILD_LOG = b"".join(b"fast build log line %d\n" % n for n in range(50))
FAILING_PREFIX = "fail-"


class Journal:
    """Appends one JSON object a line to ``path``, flushed at once."""

    def __init__(self, path):
        self.handle = open(path, "a", buffering=1, encoding="utf-8") if path else None

    def note(self, **fields):
        if self.handle is not None:
            self.handle.write(json.dumps(dict(fields, time=time.time())) + "\n")


def read_journal(path):
    """The entries of a journal file, in order ([] if there is none)."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def source_of(filemap):
    """(source, version) of the .dsc in a build's filemap."""
    dsc = next(name for name in filemap if name.endswith(".dsc"))
    source, version = dsc[:-len(".dsc")].split("_", 1)
    return source, version


def upload_files(source, version, arch):
    """{file name: bytes} a good build of ``source`` makes: a .deb and its .changes."""
    from buildmaster.testing.debfiles import deb_bytes
    from buildmaster.testing.uploads import changes_text
    made = {f"{source}_{version}_{arch}.deb": deb_bytes(source, version, arch)}
    made[f"{source}_{version}_{arch}.changes"] = changes_text(
        source, version, arch, made).encode("utf-8")
    return made


HUGE_SIZE = 48 * 1024 * 1024
ESCAPE = "../../escaped-by-"


def _changes(source, version, arch, files):
    from buildmaster.testing.uploads import changes_text
    return changes_text(source, version, arch, files).encode("utf-8")


def bad_upload(kind, source, version, arch):
    """{file name: bytes} of a bad upload of ``kind`` (BAD_UPLOADS)."""
    good = upload_files(source, version, arch)
    changes = f"{source}_{version}_{arch}.changes"
    deb = f"{source}_{version}_{arch}.deb"
    if kind == "corrupt":
        return dict(good, **{changes: b"\xff\xfe\x00 no .changes at all \x80" * 40})
    if kind == "missing":
        return {changes: good[changes]}
    if kind == "checksum":
        data = good[deb]
        return dict(good, **{deb: data[:-1] + bytes([data[-1] ^ 1])})
    if kind == "huge":
        files = {deb: os.urandom(1024) * (HUGE_SIZE // 1024)}
        return dict(files, **{changes: _changes(source, version, arch, files)})
    if kind == "escape-filemap":
        return dict(good, **{f"{ESCAPE}{source}": b"written outside\n"})
    if kind == "escape-changes":
        # Only the .changes names the file outside; the slave offers none.
        listed = {deb: good[deb], f"{ESCAPE}{source}.deb": good[deb]}
        return {deb: good[deb], changes: _changes(source, version, arch, listed)}
    raise ValueError(f"no bad upload of kind {kind!r}")


# What each kind of bad upload makes the master say in its upload log.
BAD_UPLOADS = {
    "corrupt": "cannot be parsed",
    "missing": "is listed in the .changes but was not uploaded",
    "checksum": "has md5",
    "huge": "is not a valid Debian package",
    "escape-filemap": "the slave offered files named",
    "escape-changes": "has a malformed Files line",
}


def made_files(source, version, arch):
    """{file name: bytes} a build of ``source`` uploads (see the module
    docstring)."""
    if source.startswith("bad-"):
        kind = next(kind for kind in sorted(BAD_UPLOADS, key=len, reverse=True)
                    if source.startswith(f"bad-{kind}-"))
        return bad_upload(kind, source, version, arch)
    return upload_files(source, version, arch)


def make_slave_site(port_journal, arch, build_seconds, files, reactor):
    """(Site, the FastSlave) of one slave; ``files`` {sha1: bytes} is
    shared by every slave of the process."""
    from twisted.web import resource, server, xmlrpc

    from slave.callback import call_back, callback_url

    class FastSlave(xmlrpc.XMLRPC):
        """One slave's protocol 1.0 state machine (module docstring)."""

        def __init__(self):
            super().__init__(allowNone=True)
            self.port = None
            self.state, self.job, self.result, self.filemap = "IDLE", "", None, {}
            self._finishing = None

        def _note(self, call, job):
            port_journal.note(slave=self.port, call=call, job=job)

        def xmlrpc_echo(self, *args):
            return args

        def xmlrpc_info(self):
            return ["1.0", arch, ["binarypackage"]]

        def xmlrpc_status(self):
            if self.state == "IDLE":
                return {"builder_status": "BuilderStatus.IDLE", "build_id": ""}
            if self.state == "BUILDING":
                from xmlrpc.client import Binary
                return {"builder_status": "BuilderStatus.BUILDING", "build_id": self.job,
                        "logtail": Binary(b"fast build log line 49\n")}
            if self.state == "ABORTED":
                return {"builder_status": "BuilderStatus.ABORTED", "build_id": self.job}
            return {"builder_status": "BuilderStatus.WAITING", "build_id": self.job,
                    "build_status": self.result, "filemap": self.filemap,
                    "dependencies": None}

        def xmlrpc_ensurepresent(self, sha1, url, user=None, password=None):
            return [True, "Cached"]

        def xmlrpc_build(self, job, manager, chroot_sha1, filemap, args):
            if self.state != "IDLE":
                return ["BuilderStatus.BUSY", f"building {self.job}"]
            self._note("build", job)
            self.job, self.state = job, "BUILDING"
            source, version = source_of(filemap)
            if build_seconds:
                self._finishing = reactor.callLater(
                    build_seconds, self._finish, source, version, args)
            else:
                self._finish(source, version, args)
            return ["BuilderStatus.BUILDING", job]

        def _finish(self, source, version, args):
            self._finishing = None
            self.state = "WAITING"
            if source.startswith(FAILING_PREFIX):
                self.result, self.filemap = "BuildStatus.PACKAGEFAIL", {}
            else:
                self.result, self.filemap = "BuildStatus.OK", {}
                for name, data in made_files(source, version,
                                             args.get("arch_tag", arch)).items():
                    sha1 = hashlib.sha1(data).hexdigest()
                    files[sha1] = data
                    self.filemap[name] = sha1
            url = callback_url(args)
            if url is not None:
                call_back(url, self.job, reactor)

        def xmlrpc_abort(self):
            self._note("abort", self.job)
            if self.state == "BUILDING":
                if self._finishing is not None:
                    self._finishing.cancel()
                    self._finishing = None
                self.state = "ABORTED"
            return "BuilderStatus.ABORTING"

        def xmlrpc_clean(self):
            self._note("clean", self.job)
            if self._finishing is not None:
                self._finishing.cancel()
                self._finishing = None
            self.state, self.job, self.result, self.filemap = "IDLE", "", None, {}
            return "BuilderStatus.IDLE"

    class FileCache(resource.Resource):
        isLeaf = True

        def __init__(self, slave):
            super().__init__()
            self.slave = slave

        def render_GET(self, request):
            name = request.postpath[0].decode() if request.postpath else ""
            if name == "buildlog":
                request.setHeader(b"content-type", b"text/plain")
                return b"build " + self.slave.job.encode() + b"\n" + BUILD_LOG
            if name in files:
                return files[name]
            request.setResponseCode(404)
            return b"not in the file cache"

    slave = FastSlave()
    root = resource.Resource()
    root.putChild(b"rpc", slave)
    root.putChild(b"filecache", FileCache(slave))
    site = server.Site(root)
    site.noisy = False
    return site, slave


def serve(count, arch, journal_path, build_seconds=0.0, smtp_journal=None, reactor=None):
    """Listen with ``count`` slaves (and an SMTP server when
    ``smtp_journal`` is given) on loopback; {"ports": [...], "smtp_port"}."""
    if reactor is None:
        from twisted.internet import reactor
    journal = Journal(journal_path)
    files = {}
    ports = []
    for _ in range(count):
        site, slave = make_slave_site(journal, arch, build_seconds, files, reactor)
        slave.port = reactor.listenTCP(0, site, interface="127.0.0.1").getHost().port
        ports.append(slave.port)
    smtp_port = None
    if smtp_journal:
        from buildmaster.testing.smtp import LoopbackSMTPServer
        smtp = LoopbackSMTPServer(reactor, journal=smtp_journal)
        smtp.start()
        smtp_port = smtp.port
    return {"ports": ports, "smtp_port": smtp_port}


class FastSlaves:
    """A process of fast slaves (and an SMTP server), for a test or a
    benchmark; ``ports``, ``smtp_port``, ``journal()`` and ``mail()``."""

    def __init__(self, directory, count, arch="i386", build_seconds=0.0, smtp=True):
        self.directory = str(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.journal_path = os.path.join(self.directory, "slaves.jsonl")
        self.mail_path = os.path.join(self.directory, "mail.jsonl") if smtp else None
        self.log_path = os.path.join(self.directory, "slaves.log")
        command = [sys.executable, "-m", "buildmaster.testing.fastslave",
                   "--count", str(count), "--arch", arch, "--journal", self.journal_path,
                   "--build-seconds", str(build_seconds)]
        if smtp:
            command += ["--smtp-journal", self.mail_path]
        with open(self.log_path, "ab") as log:
            self.popen = children.spawn(command, stdout=subprocess.PIPE, stderr=log,
                                        text=True)
        line = self.popen.stdout.readline()
        if not line:
            self.popen.wait()
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                raise RuntimeError(f"the fast slaves did not start: {log.read()[-2000:]}")
        listening = json.loads(line)
        self.ports, self.smtp_port = listening["ports"], listening["smtp_port"]
        self.urls = [f"http://127.0.0.1:{port}/" for port in self.ports]

    def journal(self):
        return read_journal(self.journal_path)

    def mail(self):
        return read_journal(self.mail_path) if self.mail_path else []

    def stop(self):
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def write_source(directory, name, version="1.0"):
    """A native source package (its .dsc and tarball) written to
    ``directory``, made in memory; the .dsc's path."""
    tarball_name = f"{name}_{version}.tar.xz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for path, text in (
                ("debian/control", f"Source: {name}\nMaintainer: Farm Tests "
                 f"<tests@example.invalid>\n\nPackage: {name}\nArchitecture: any\n"),
                ("debian/changelog", f"{name} ({version}) unstable; urgency=low\n"),
                ("debian/source/format", "3.0 (native)\n")):
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-{version}/{path}")
            info.size, info.mtime = len(data), 1704067200
            tar.addfile(info, io.BytesIO(data))
    tarball = buffer.getvalue()
    with open(os.path.join(directory, tarball_name), "wb") as f:
        f.write(tarball)
    sums = {algorithm: hashlib.new(algorithm, tarball).hexdigest()
            for algorithm in ("md5", "sha1", "sha256")}
    size = len(tarball)
    dsc = (f"Format: 3.0 (native)\nSource: {name}\nBinary: {name}\nArchitecture: any\n"
           f"Version: {version}\nMaintainer: Farm Tests <tests@example.invalid>\n"
           f"Checksums-Sha1:\n {sums['sha1']} {size} {tarball_name}\n"
           f"Checksums-Sha256:\n {sums['sha256']} {size} {tarball_name}\n"
           f"Files:\n {sums['md5']} {size} {tarball_name}\n")
    path = os.path.join(directory, f"{name}_{version}.dsc")
    with open(path, "w") as f:
        f.write(dsc)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run fast protocol 1.0 slaves.")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--arch", default="i386")
    parser.add_argument("--journal", required=True)
    parser.add_argument("--build-seconds", type=float, default=0.0)
    parser.add_argument("--smtp-journal")
    options = parser.parse_args(argv)
    from twisted.internet import reactor
    listening = serve(options.count, options.arch, options.journal, options.build_seconds,
                      options.smtp_journal, reactor)
    print(json.dumps(listening), flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
