"""The 'binarypackage' build manager: a Debian binary build of a .dsc.

For now the build runs on the slave's own system; the chroot tarball is
only checked for being a readable tarball (else CHROOTFAIL).
"""

import errno
import os
import re
import shutil
import tarfile

from twisted.internet import defer, threads
from twisted.logger import Logger

from slave.process import ProcessGroup
from slave.states import BuildStatus

UNMET_DEPENDS = re.compile(r"Unmet build dependencies: (.*)$", re.MULTILINE)
# Errors of the machine, not of the package: another try may pass.
RETRYABLE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
SOURCE_DIR = "source"

log = Logger()


class BadRequest(ValueError):
    """The build request cannot be a binary package build."""


class _Aborted(Exception):
    """The build was aborted (by the master, the timeout or shutdown)."""


class BinaryPackageManager:
    """Runs one build: unpack, check build-deps, dpkg-buildpackage."""

    @staticmethod
    def check_request(filemap):
        """Raise BadRequest unless ``filemap`` holds exactly one .dsc."""
        dscs = [name for name in filemap if name.endswith(".dsc")]
        if len(dscs) != 1:
            raise BadRequest(
                f"binarypackage needs exactly one .dsc in filemap, got {dscs}")

    def __init__(self, builder, reactor):
        self.builder = builder
        self.reactor = reactor
        self.buildlog = builder.buildlog
        self.group = ProcessGroup(reactor, builder.buildlog)
        self.aborting = False
        self._timeout_call = None

    def start(self, chroot_sha1, filemap):
        """Run the build in the background; the builder hears the end."""
        timeout = self.builder.config.build_timeout
        self._timeout_call = self.reactor.callLater(
            timeout, self._timed_out, timeout)
        d = defer.ensureDeferred(self._run(chroot_sha1, filemap))
        d.addCallbacks(self._succeeded, self._failed)

    def abort(self):
        """Stop the running step; the build then ends ABORTED."""
        self.aborting = True
        self.buildlog.note("aborting: terminating the build processes")
        self.group.terminate()

    def kill(self):
        """Stop everything at once; the slave is going away."""
        self.aborting = True
        self.group.kill()

    async def _run(self, chroot_sha1, filemap):
        """Return (build status, produced filemap, dependencies)."""
        build_dir = self._fresh_build_dir()
        if not await self._chroot_ok(chroot_sha1):
            return BuildStatus.CHROOTFAIL, {}, None
        self._copy_inputs(build_dir, filemap)
        dsc = next(name for name in filemap if name.endswith(".dsc"))
        if await self._step(["dpkg-source", "-x", dsc, SOURCE_DIR],
                            build_dir):
            return BuildStatus.PACKAGEFAIL, {}, None
        source_dir = os.path.join(build_dir, SOURCE_DIR)
        failed, output = await self._step_output(["dpkg-checkbuilddeps"],
                                                 source_dir)
        if failed:
            return self._depends_failure(output)
        if await self._step(["dpkg-buildpackage", "-b", "-us", "-uc",
                             "-rfakeroot"], source_dir):
            return BuildStatus.PACKAGEFAIL, {}, None
        return BuildStatus.OK, self._store_results(build_dir, filemap), None

    def _fresh_build_dir(self):
        build_dir = self.builder.build_dir
        shutil.rmtree(build_dir, ignore_errors=True)
        os.makedirs(build_dir)
        return build_dir

    async def _chroot_ok(self, chroot_sha1):
        path = self.builder.cache.path(chroot_sha1)
        try:
            count = await threads.deferToThread(_count_tar_members, path)
        except (tarfile.TarError, OSError, EOFError) as e:
            self.buildlog.note(f"chroot {chroot_sha1} is not a tarball: {e}")
            return False
        self._check_progress()
        self.buildlog.note(f"chroot {chroot_sha1}: tarball of {count} entries")
        return True

    def _copy_inputs(self, build_dir, filemap):
        for name, sha1 in filemap.items():
            shutil.copyfile(self.builder.cache.path(sha1),
                            os.path.join(build_dir, name))

    async def _step(self, argv, cwd):
        """Run one command; return its exit code (non-zero is failure)."""
        code, _ = await self._step_output(argv, cwd)
        return code

    async def _step_output(self, argv, cwd):
        self._check_progress()
        proto = self.group.run(argv, cwd)
        code = await proto.ended
        self._check_progress()
        self.buildlog.note(f"{argv[0]} exited with {code}")
        return code, proto.output.decode("utf-8", "replace")

    def _check_progress(self):
        """Raise if the build was aborted or the log cannot be written."""
        if self.aborting:
            raise _Aborted()
        if self.buildlog.write_error is not None:
            raise self.buildlog.write_error

    def _depends_failure(self, output):
        match = UNMET_DEPENDS.search(output)
        if match is None:
            return BuildStatus.PACKAGEFAIL, {}, None
        return BuildStatus.DEPFAIL, {}, match.group(1).strip()

    def _store_results(self, build_dir, inputs):
        """Cache every file the build left in the build dir."""
        produced = {}
        for name in sorted(os.listdir(build_dir)):
            path = os.path.join(build_dir, name)
            if name not in inputs and os.path.isfile(path):
                produced[name] = self.builder.cache.store(path)
        return produced

    def _timed_out(self, timeout):
        self._timeout_call = None
        self.buildlog.note(f"build timed out after {timeout:g} seconds")
        self.builder.abort()

    def _succeeded(self, outcome):
        self._stop_timer()
        status, filemap, dependencies = outcome
        self.builder.finish(status, filemap, dependencies)

    def _failed(self, failure):
        self._stop_timer()
        if failure.check(_Aborted):
            status = BuildStatus.ABORTED
        elif (failure.check(OSError)
                and failure.value.errno in RETRYABLE_ERRNOS):
            status = BuildStatus.GIVENBACK
            self.buildlog.note(f"giving back: {failure.value}")
        else:
            status = BuildStatus.BUILDERFAIL
            log.failure("binarypackage build failed inside the slave",
                        failure)
            self.buildlog.note(
                f"internal slave error: {failure.getErrorMessage()}")
        self.builder.finish(status)

    def _stop_timer(self):
        if self._timeout_call is not None and self._timeout_call.active():
            self._timeout_call.cancel()
        self._timeout_call = None


def _count_tar_members(path):
    with tarfile.open(path) as tar:
        return len(tar.getmembers())
