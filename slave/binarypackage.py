"""The 'binarypackage' build manager: a Debian binary build of a .dsc,
inside a fresh chroot, as launchpad-buildd and sbuild build.

The steps, each ending the build when it fails::

    UNPACK    the chroot tarball, once per slave, and a
              fresh overlay for this build                 -> CHROOTFAIL
    SETUP     sources.list from the master's 'archives',
              trusted keys, the buildd user; enter it      -> CHROOTFAIL
    SOURCE    dpkg-source -x, as buildd, offline           -> PACKAGEFAIL
    UPDATE    apt-get update                               -> GIVENBACK
    DEPENDS   apt-get satisfy the build-dependencies       -> GIVENBACK (fetch
              (Build-Depends-Indep on the arch-indep build)   failed), CHROOTFAIL
              and what the slave itself needs (fakeroot)      (what the slave needs
                                                              cannot be installed),
                                                              DEPFAIL (a relation
                                                              no archive meets),
                                                              else PACKAGEFAIL
    BUILD     dpkg-buildpackage -b (arch-indep) or -B,
              as buildd under fakeroot, offline            -> PACKAGEFAIL
    RESULTS   the .deb, .changes ... into the file cache   -> OK

What the slave adds to every build's dependencies (OWN_NEEDS) is the
farm's to provide, in the chroot or the build's archives, not the
package's: when apt cannot install one, the build ends CHROOTFAIL (the
master's CHROOTWAIT) with a last log line naming it, however the
package's own relations stand.

The build's overlay (all it changed) is removed when the master cleans
the slave (Builder.clean); the unpacked tarball stays for the next build,
and so do apt's lists of the build's archives (aptlists.py).  Each step's
time goes into the log as it ends (common/steptimes.py), and speed.py
decides what makes the chroot fast: no fsync, parallel=N, ccache.
"""

import errno
import os
import re
from contextlib import contextmanager

from debian import deb822
from twisted.internet import defer, threads
from twisted.logger import Logger

from common.states import BuildStatus
from common.steptimes import step_note
from slave import depwait, nosync, speed
from slave.aptlists import LISTS, KeptLists
from slave.chroot import (
    BUILD_HOME, BUILDD_GID, BUILDD_UID, BaseCache, Chroot, ChrootBroken, environment,
    remove_tree, tarball_prefix)
from slave.process import ProcessGroup
from slave.sourceslist import BadArchives, apt_sources, mask

# Errors of the machine, not of the package: another try may pass.
RETRYABLE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# apt's words for an archive it could not reach or read: try again later.
FETCH_FAILED = re.compile(
    r"^(E|W): (Failed to fetch|Some index files failed|Unable to fetch)"
    r"|Hash Sum mismatch|Could not connect|Connection failed|Temporary failure resolving",
    re.MULTILINE)
AVAILABLE_LIST = "/var/lib/buildd-available"
# What the slave adds to every build's Build-Depends: dpkg-buildpackage
# -rfakeroot runs fakeroot.
OWN_NEEDS = ("fakeroot",)
RESULT_SUFFIXES = (".deb", ".udeb", ".ddeb", ".changes", ".buildinfo")

log = Logger()


class BadRequest(ValueError):
    """The build request cannot be a binary package build."""


class _Aborted(Exception):
    """The build was aborted (by the master, the timeout or shutdown)."""


class _Ended(Exception):
    """A step decided how the build ends: (status, dependencies), and the
    log's last line says why (``reason``), after the step's time."""

    def __init__(self, status, dependencies=None, reason=None):
        super().__init__(status)
        self.status, self.dependencies, self.reason = status, dependencies, reason


class BinaryPackageManager:
    """Runs one build through the steps above."""

    @staticmethod
    def check_request(filemap, args):
        """Raise BadRequest unless ``filemap`` holds exactly one .dsc and
        ``args`` are archives and keys a chroot can use."""
        dscs = [name for name in filemap if name.endswith(".dsc")]
        if len(dscs) != 1:
            raise BadRequest(
                f"binarypackage needs exactly one .dsc in filemap, got {dscs}")
        if "archives" in args:
            try:
                apt_sources(args["archives"], args.get("trusted_keys"))
            except BadArchives as e:
                raise BadRequest(str(e)) from None
        try:
            speed.master_cap(args)
        except speed.BadParallel as e:
            raise BadRequest(str(e)) from None

    def __init__(self, builder, reactor):
        self.builder = builder
        self.reactor = reactor
        self.buildlog = builder.buildlog
        self.group = ProcessGroup(reactor, builder.buildlog)
        self.aborting = False
        self._timeout_call = None
        self.chroot = None
        self.own_needs = OWN_NEEDS
        self.ccache = None

    def start(self, chroot_sha1, filemap, args):
        """Run the build in the background; the builder hears the end."""
        timeout = self.builder.config.build_timeout
        self._timeout_call = self.reactor.callLater(
            timeout, self._timed_out, timeout)
        d = defer.ensureDeferred(self._run(chroot_sha1, filemap, args))
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

    async def _run(self, chroot_sha1, filemap, args):
        """Return (build status, produced filemap, dependencies)."""
        build_dir = self._fresh_build_dir()
        dsc_name = next(name for name in filemap if name.endswith(".dsc"))
        arch_indep = bool(args.get("arch_indep"))
        try:
            with self._step("chroot"):
                await self._unpack(chroot_sha1, build_dir)
                self._set_up(args)
                await self._enter()
                dsc = self._copy_inputs(filemap, dsc_name)
            with self._step("source"):
                source_dir = await self._unpack_source(dsc, dsc_name)
            with self._step("apt-update"):
                await self._update(args, chroot_sha1)
            with self._step("build-depends"):
                await self._install_depends(dsc, arch_indep)
            with self._step("build"):
                await self._build(source_dir, arch_indep, args)
        except _Ended as end:
            if end.reason:
                self.buildlog.note(end.reason)
            return end.status, {}, end.dependencies
        with self._step("results"):
            produced = await self._store_results(filemap)
        return BuildStatus.OK, produced, None

    @contextmanager
    def _step(self, name):
        """Note in the log how long the step ``name`` took, however it ended."""
        started = self.reactor.seconds()
        try:
            yield
        finally:
            self.buildlog.note(step_note(name, self.reactor.seconds() - started))

    def _fresh_build_dir(self):
        build_dir = self.builder.build_dir
        remove_tree(build_dir)
        os.makedirs(build_dir)
        return build_dir

    # -- the steps -------------------------------------------------------

    async def _unpack(self, chroot_sha1, build_dir):
        """Unpack the chroot tarball once per slave (the base), and give
        this build its own layer over it."""
        bases = BaseCache(self.builder.config.workdir)
        if bases.has(chroot_sha1):
            self.buildlog.note(f"chroot {chroot_sha1} is unpacked already")
            bases.touch(chroot_sha1)
        else:
            await self._unpack_base(bases, chroot_sha1)
        self.chroot = Chroot(build_dir, bases.path(chroot_sha1))
        self.chroot.create()
        self.chroot.seccomp = nosync.write_program(os.path.join(build_dir, "nosync.bpf"))

    async def _unpack_base(self, bases, chroot_sha1):
        tarball = self.builder.cache.path(chroot_sha1)
        try:
            prefix = await threads.deferToThread(tarball_prefix, tarball)
        except Exception as e:
            self._fail_chroot(f"chroot {chroot_sha1} is not a tarball: {e}")
        partial = bases.unpacking(chroot_sha1)
        self.buildlog.note(f"unpacking chroot {chroot_sha1}")
        if await self._host_step(bases.unpack_command(tarball, partial, prefix)):
            remove_tree(partial)
            self._fail_chroot(f"chroot {chroot_sha1} could not be unpacked")
        bases.keep(chroot_sha1, partial)

    def _set_up(self, args):
        chroot = self.chroot
        self.buildlog.note(
            f"suite {args.get('suite')}, component {args.get('ogrecomponent')}, "
            f"archive {args.get('archive_purpose')}"
            f"{' (private)' if args.get('archive_private') else ''}")
        try:
            chroot.check()
            chroot.copy_host_files()
            chroot.add_build_user()
            chroot.write(*speed.UNSAFE_IO_DPKG)
            chroot.write("/etc/apt/apt.conf.d/91buildd-fast", speed.FAST_APT)
            self._configure_apt(args)
            self.ccache = speed.CcacheDir.of(self.builder.config, args)
            if self.ccache is not None:
                self.ccache.prepare(BUILDD_UID, BUILDD_GID)
                self.own_needs = OWN_NEEDS + ("ccache",)
                self.buildlog.note(f"ccache in {self.ccache.host}")
        except (ChrootBroken, OSError) as e:
            self._fail_chroot(f"the chroot cannot be set up: {e}")

    async def _enter(self):
        code, _ = await self._chroot_step(["/bin/true"], network=False, quiet=True)
        if code:
            self._fail_chroot(f"the chroot cannot be entered (exit status {code})")

    def _configure_apt(self, args):
        if "archives" not in args:
            self.buildlog.note("no archives given: the chroot keeps its own sources.list")
            return
        sources = apt_sources(args["archives"], args.get("trusted_keys"))
        self.chroot.configure_apt(sources)
        self.buildlog.note("sources.list:")
        for line in args["archives"]:
            self.buildlog.note("  " + mask(line))
        if sources.auth:
            self.buildlog.note(f"credentials for {len(sources.auth)} archive(s) "
                               "in /etc/apt/auth.conf.d/buildd.conf")
        if sources.keys:
            self.buildlog.note(f"{len(sources.keys)} trusted archive key(s) installed")

    def _copy_inputs(self, filemap, dsc_name):
        """Put the source files in /build; return the parsed .dsc."""
        for name, sha1 in filemap.items():
            self.chroot.put(self.builder.cache.path(sha1), f"{BUILD_HOME}/{name}")
        with open(self.builder.cache.path(filemap[dsc_name]), encoding="utf-8",
                  errors="replace") as f:
            return deb822.Dsc(f)

    async def _unpack_source(self, dsc, dsc_name):
        upstream = dsc.get("Version", "0").split(":", 1)[-1].rsplit("-", 1)[0]
        source_dir = f"{BUILD_HOME}/{dsc.get('Source', 'source')}-{upstream}"
        code, _ = await self._chroot_step(
            ["dpkg-source", "-x", dsc_name, source_dir], as_buildd=True,
            network=False, cwd=BUILD_HOME)
        if code:
            raise _Ended(BuildStatus.PACKAGEFAIL)
        return source_dir

    async def _update(self, args, chroot_sha1):
        """apt-get update, starting from the lists an earlier build of the
        same archive set left (aptlists.py), which keep this one's."""
        kept = KeptLists.of(self.builder.config.workdir, args, chroot_sha1)
        if kept is not None:
            self.chroot.mkdir(LISTS)
            self.buildlog.note(
                await threads.deferToThread(kept.restore, self.chroot.path(LISTS)))
        code, _ = await self._chroot_step(["apt-get", "update"])
        if code:
            self.buildlog.note("giving back: the archives could not be read")
            raise _Ended(BuildStatus.GIVENBACK)
        if kept is not None:
            self.buildlog.note(await threads.deferToThread(kept.save, self.chroot.path(LISTS)))

    async def _install_depends(self, dsc, arch_indep):
        depends, conflicts = _satisfy_arguments(dsc, arch_indep, self.own_needs)
        self.buildlog.note(f"installing build-dependencies: {depends}")
        argv = ["apt-get", "satisfy", depends]
        if conflicts:
            argv.append(f"Conflicts: {conflicts}")
        code, output = await self._chroot_step(argv)
        if not code:
            return
        if FETCH_FAILED.search(output):
            self.buildlog.note("giving back: apt could not fetch from the archives")
            raise _Ended(BuildStatus.GIVENBACK)
        missing = await self._own_needs_missing()
        if missing:
            self._fail_chroot(
                f"{', '.join(missing)}, which the slave needs to build any package, cannot "
                "be installed: neither the chroot nor this build's archives have it")
        relation = await self._unsatisfiable(dsc, arch_indep)
        if relation is None:
            self.buildlog.note("the build-dependencies cannot be installed, "
                               "though each is available")
            raise _Ended(BuildStatus.PACKAGEFAIL)
        self.buildlog.note(f"waiting on: {relation}")
        raise _Ended(BuildStatus.DEPFAIL, relation)

    async def _own_needs_missing(self):
        """Those of OWN_NEEDS apt cannot install in this chroot from this
        build's archives (installed already is fine)."""
        missing = []
        for need in self.own_needs:
            code, _ = await self._chroot_step(["apt-get", "--simulate", "satisfy", need],
                                              network=False)
            if code:
                missing.append(need)
        return missing

    async def _unsatisfiable(self, dsc, arch_indep):
        code, _ = await self._chroot_step(
            ["/bin/sh", "-c", f"apt-cache dumpavail > {AVAILABLE_LIST}"],
            network=False, quiet=True)
        if code:
            return None
        path = self.chroot.path(AVAILABLE_LIST)
        arch = self.builder.config.architecturetag
        return await threads.deferToThread(
            _waiting_on, path, depwait.build_relations(dsc, arch_indep), arch)

    async def _build(self, source_dir, arch_indep, args):
        which = "-b" if arch_indep else "-B"
        self.buildlog.note(
            "building arch-dependent and arch-independent packages (-b)" if arch_indep
            else "building arch-dependent packages only (-B)")
        env, binds = speed.build_step(self.builder.config, args, self.ccache, environment())
        self.buildlog.note(f"DEB_BUILD_OPTIONS={env['DEB_BUILD_OPTIONS']}")
        code, _ = await self._chroot_step(
            ["dpkg-buildpackage", "-us", "-uc", "-rfakeroot", which],
            as_buildd=True, network=False, cwd=source_dir, env=env, binds=binds)
        if code:
            raise _Ended(BuildStatus.PACKAGEFAIL)

    async def _store_results(self, inputs):
        """Cache every package file the build left in /build."""
        home = self.chroot.path(BUILD_HOME)

        def store():
            produced = {}
            for name in sorted(os.listdir(home)):
                path = os.path.join(home, name)
                if (name not in inputs and name.endswith(RESULT_SUFFIXES)
                        and os.path.isfile(path) and not os.path.islink(path)):
                    produced[name] = self.builder.cache.store(path)
            return produced
        return await threads.deferToThread(store)

    # -- running commands ---------------------------------------------------

    async def _host_step(self, argv):
        code, _ = await self._run_step(argv, argv, cwd=self.builder.build_dir)
        return code

    async def _chroot_step(self, argv, as_buildd=False, network=True, cwd="/",
                           quiet=False, env=None, binds=()):
        """Run ``argv`` in the chroot (in ``env``, by default environment());
        return (exit code, output tail)."""
        wrapped = self.chroot.command(argv, as_buildd=as_buildd, network=network, cwd=cwd,
                                      binds=binds)
        return await self._run_step(wrapped, None if quiet else argv,
                                    cwd=self.builder.build_dir, env=env)

    async def _run_step(self, argv, shown, cwd, env=None):
        self._check_progress()
        proto = self.group.start_command(argv, cwd, env=env or environment(), shown=shown)
        code = await proto.ended
        self._check_progress()
        if shown is not None:
            self.buildlog.note(f"{shown[0]} exited with {code}")
        return code, proto.output.decode("utf-8", "replace")

    def _check_progress(self):
        """Raise if the build was aborted or the log cannot be written."""
        if self.aborting:
            raise _Aborted()
        if self.buildlog.write_error is not None:
            raise self.buildlog.write_error

    def _fail_chroot(self, reason):
        raise _Ended(BuildStatus.CHROOTFAIL, reason=reason)

    # -- the end -------------------------------------------------------------

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


def _satisfy_arguments(dsc, arch_indep, own_needs=OWN_NEEDS):
    """(the relations apt-get satisfy installs, the ones it must keep
    out): the build-dependency fields of the .dsc this build uses, plus
    what the slave itself needs (``own_needs``)."""
    suffixes = ("", "-Arch", "-Indep") if arch_indep else ("", "-Arch")

    def joined(prefix, extra=()):
        values = list(extra) + [" ".join(dsc[prefix + suffix].split())
                                for suffix in suffixes if dsc.get(prefix + suffix)]
        return ", ".join(value for value in values if value.strip(", "))
    return joined("Build-Depends", own_needs), joined("Build-Conflicts")


def _waiting_on(available_path, relations, arch):
    with open(available_path, encoding="utf-8", errors="replace") as f:
        available = depwait.available_packages(f.read())
    return depwait.waiting_on(relations, available, arch)
