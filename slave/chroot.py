"""A build's chroot: a fresh overlay on the unpacked chroot tarball,
entered with bubblewrap.

A chroot tarball is unpacked once per slave, into
``<workdir>/chroots/<sha1>`` (the *base*, never written to again), and
every build gets its own writable layer over it::

    <build_dir>/upper/              what the build changed: its files, the
                                    packages apt installed, /build
    <build_dir>/overlay-work/       overlayfs' own bookkeeping
    <build_dir>/chroot-autobuild/   the mount point of base + upper

So a build starts from the pristine tarball in no time, and removing its
build dir removes everything it did.  Every command of a build runs as
``unshare --mount`` (a private mount namespace holding the overlay) and
then ``bwrap`` with the overlay bound as /, a minimal /dev, a fresh
/proc, a tmpfs /dev/shm, and its own PID, IPC and UTS namespaces; steps
that need no network (unpacking the source, the build itself) get an
empty network namespace too, as sbuild builds offline.  Those mounts live
only as long as the step: nothing is ever mounted in the slave's own
namespace, and ``remove_tree`` refuses a tree with a mount point inside
rather than delete through it into the host.  With ``seccomp`` set (a
filter file, slave/nosync.py), bwrap loads it for every command: nothing
in the chroot syncs to disk.

Files the slave writes into the chroot from outside (sources.list, the
buildd user) go to the upper layer, copying a lower file up first where
they change one, and a file read from the base must resolve inside it: a
symlink in a tarball cannot make the slave read or write the host's files.
"""

import os
import shutil
import stat
import tarfile

BWRAP = "bwrap"
UNSHARE = "unshare"
ROOT_NAME = "chroot-autobuild"
BUILD_HOME = "/build"
BUILDD_USER = "buildd"
BUILDD_UID = 2001
BUILDD_GID = 2501
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# apt reads only the sources.list the slave writes, never a part file a
# tarball brought along.
APT_CONFIG = """\
APT::Install-Recommends "false";
APT::Get::Assume-Yes "true";
Acquire::Retries "3";
Dpkg::Use-Pty "false";
Dir::Etc::SourceParts "/etc/apt/buildd-sources.list.d";
"""
# Mounts the overlay in the step's own mount namespace, then runs the
# rest of its arguments; 125 says the overlay itself failed.
OVERLAY_SCRIPT = ('mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4"'
                  ' || exit 125; shift 4; exec "$@"')
# The same, giving bwrap a seccomp filter (nosync.py) on SECCOMP_FD from
# the file named by its fifth argument.
SECCOMP_FD = 9
FILTERED_OVERLAY_SCRIPT = (OVERLAY_SCRIPT.replace("shift 4", 'filter="$5"; shift 5')
                           + f' {SECCOMP_FD}<"$filter"')
CANNOT_ENTER = 125
KEEP_BASES = 2


class ChrootBroken(Exception):
    """The chroot cannot be set up or entered; str() says why."""


def tarball_prefix(tarball):
    """'chroot-autobuild/' for a launchpad-style tarball whose entries all
    sit in that directory, '' for one whose entries are the root itself
    (as mmdebstrap writes them).  Reads only the first entries."""
    with tarfile.open(tarball, "r|*") as tar:
        for member in tar:
            name = member.name.lstrip("./")
            if not name:
                continue
            first = name.split("/", 1)[0]
            return ROOT_NAME + "/" if first == ROOT_NAME else ""
    raise ChrootBroken(f"{tarball}: an empty tarball")


class BaseCache:
    """Unpacked chroot tarballs under ``<workdir>/chroots``, by sha1."""

    def __init__(self, workdir):
        self.directory = os.path.join(workdir, "chroots")

    def path(self, sha1):
        return os.path.join(self.directory, sha1)

    def has(self, sha1):
        return os.path.isdir(self.path(sha1))

    def unpacking(self, sha1):
        """A fresh directory to unpack into, beside the final place."""
        partial = self.path(sha1) + f".partial-{os.getpid()}"
        remove_tree(partial)
        os.makedirs(partial)
        return partial

    def unpack_command(self, tarball, partial, prefix):
        """The tar argv unpacking ``tarball`` so its root lands in
        ``partial`` (a launchpad tarball's chroot-autobuild/ dropped)."""
        argv = ["tar", "--numeric-owner", "--preserve-permissions", "--extract",
                "--file", tarball, "--directory", partial]
        if prefix:
            argv += ["--strip-components=1", ROOT_NAME]
        return argv

    def keep(self, sha1, partial):
        """Make the unpacked ``partial`` the base of ``sha1``; forget all
        but the newest bases."""
        os.rename(partial, self.path(sha1))
        self.touch(sha1)
        bases = sorted((entry for entry in os.scandir(self.directory)
                        if entry.is_dir() and ".partial-" not in entry.name),
                       key=lambda entry: entry.stat().st_mtime, reverse=True)
        for old in bases[KEEP_BASES:]:
            remove_tree(old.path)

    def touch(self, sha1):
        os.utime(self.path(sha1))


class Chroot:
    """One build's chroot: ``base`` (read-only) under ``<build_dir>/upper``."""

    def __init__(self, build_dir, base):
        self.base = base
        self.upper = os.path.join(build_dir, "upper")
        self.work = os.path.join(build_dir, "overlay-work")
        self.root = os.path.join(build_dir, ROOT_NAME)
        # A seccomp filter file every command runs under, or None.
        self.seccomp = None

    def create(self):
        for directory in (self.upper, self.work, self.root):
            os.makedirs(directory)

    def _in_base(self, inside):
        """The base's path for ``inside``, refused when a symlink would
        lead it out of the base."""
        host = os.path.join(self.base, inside.lstrip("/"))
        real_base = os.path.realpath(self.base)
        real = os.path.realpath(host)
        if real != real_base and not real.startswith(real_base + os.sep):
            raise ChrootBroken(f"{inside} in the chroot leads outside it")
        return host

    def path(self, inside):
        """The host path of ``inside`` in the build's own layer (where
        everything a build step wrote is)."""
        return os.path.join(self.upper, inside.lstrip("/"))

    def exists(self, inside):
        return os.path.lexists(self.path(inside)) or os.path.lexists(self._in_base(inside))

    def read(self, inside):
        """The bytes of ``inside`` as the chroot sees it."""
        upper = self.path(inside)
        with open(upper if os.path.lexists(upper) else self._in_base(inside), "rb") as f:
            return f.read()

    def write(self, inside, data, mode=0o644, owner=(0, 0)):
        """Write ``data`` (bytes or text) to ``inside`` in the build's layer."""
        target = self._make_parents(inside)
        with open(target, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chown(target, *owner)
        os.chmod(target, mode)

    def mkdir(self, inside, mode=0o755, owner=(0, 0)):
        target = self._make_parents(inside)
        os.makedirs(target, exist_ok=True)
        os.chown(target, *owner)
        os.chmod(target, mode)

    def _make_parents(self, inside):
        """Create ``inside``'s parent directories in the layer, each with
        the mode and owner it has in the base; return its layer path."""
        parts = [part for part in inside.strip("/").split("/") if part]
        for depth in range(1, len(parts)):
            partial = "/" + "/".join(parts[:depth])
            layer = self.path(partial)
            if os.path.isdir(layer) and not os.path.islink(layer):
                continue
            os.mkdir(layer)
            lower = os.path.join(self.base, partial.lstrip("/"))
            if os.path.isdir(lower) and not os.path.islink(lower):
                info = os.stat(lower)
                os.chown(layer, info.st_uid, info.st_gid)
                os.chmod(layer, stat.S_IMODE(info.st_mode))
        return self.path(inside)

    def check(self):
        """Raise ChrootBroken unless this looks like a Debian system."""
        for needed in ("/bin/sh", "/usr/bin/apt-get", "/usr/bin/dpkg-buildpackage",
                       "/usr/bin/setpriv", "/etc/passwd", "/etc/group"):
            if not self.exists(needed):
                raise ChrootBroken(f"the chroot has no {needed}")

    def configure_apt(self, sources):
        """Make ``sources`` (an AptSources) the chroot's only apt sources."""
        self.mkdir("/etc/apt/buildd-sources.list.d")
        self.write("/etc/apt/sources.list", sources.sources_list())
        self.write("/etc/apt/apt.conf.d/90buildd", APT_CONFIG)
        if sources.auth:
            self.write("/etc/apt/auth.conf.d/buildd.conf", sources.auth_conf(), 0o600)
        for name, data in sources.keys:
            self.write(f"/etc/apt/trusted.gpg.d/{name}", data)

    def add_build_user(self):
        """Add the unprivileged buildd user and its empty /build home."""
        self._append_line("/etc/group", BUILDD_USER, f"{BUILDD_USER}:x:{BUILDD_GID}:")
        self._append_line(
            "/etc/passwd", BUILDD_USER,
            f"{BUILDD_USER}:x:{BUILDD_UID}:{BUILDD_GID}:Build Daemon:{BUILD_HOME}:/bin/sh")
        self.mkdir(BUILD_HOME, owner=(BUILDD_UID, BUILDD_GID))

    def copy_host_files(self):
        """Name resolution as on the host: /etc/hosts and /etc/resolv.conf."""
        for name in ("/etc/hosts", "/etc/resolv.conf"):
            if os.path.isfile(name):
                with open(name, "rb") as f:
                    self.write(name, f.read())

    def put(self, source, inside):
        """Copy the host file ``source`` to ``inside``, owned by buildd."""
        with open(source, "rb") as f:
            self.write(inside, f.read(), owner=(BUILDD_UID, BUILDD_GID))

    def command(self, argv, as_buildd=False, network=True, cwd="/", binds=()):
        """The argv running ``argv`` inside the chroot, with each (host
        directory, chroot path) of ``binds`` bound read-write."""
        overlay = [UNSHARE, "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                   OVERLAY_SCRIPT if self.seccomp is None else FILTERED_OVERLAY_SCRIPT,
                   "overlay", self.base, self.upper, self.work, self.root]
        if self.seccomp is not None:
            overlay.append(self.seccomp)
        sandbox = [BWRAP, "--bind", self.root, "/", "--dev", "/dev", "--proc", "/proc",
                   "--tmpfs", "/dev/shm", "--unshare-pid", "--unshare-ipc",
                   "--unshare-uts", "--hostname", "buildd", "--die-with-parent",
                   "--chdir", cwd]
        if self.seccomp is not None:
            sandbox += ["--seccomp", str(SECCOMP_FD)]
        for host, inside in binds:
            sandbox += ["--bind", host, inside]
        if not network:
            sandbox.append("--unshare-net")
        sandbox += ["--setenv", "HOME", BUILD_HOME if as_buildd else "/root", "--"]
        if as_buildd:
            sandbox += ["/usr/bin/setpriv", f"--reuid={BUILDD_UID}",
                        f"--regid={BUILDD_GID}", "--clear-groups", "--"]
        return overlay + sandbox + list(argv)

    def _append_line(self, inside, name, line):
        text = self.read(inside).decode("utf-8")
        if any(entry.split(":", 1)[0] == name for entry in text.splitlines()):
            return
        info = os.stat(self._in_base(inside))
        if text and not text.endswith("\n"):
            text += "\n"
        self.write(inside, text + line + "\n", stat.S_IMODE(info.st_mode),
                   (info.st_uid, info.st_gid))


def environment():
    """The environment every chroot command starts with."""
    return {"PATH": PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "DEBIAN_FRONTEND": "noninteractive", "SHELL": "/bin/sh"}


def mounts_under(path):
    """The mount points at or below ``path`` in this mount namespace."""
    real = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == real or point.startswith(real + os.sep):
                found.append(point)
    return found


def remove_tree(path):
    """Delete ``path`` and everything below it; refuse (ChrootBroken) when
    something is mounted there."""
    mounted = mounts_under(path)
    if mounted:
        raise ChrootBroken(f"not removing {path}: {mounted[0]} is mounted there")
    shutil.rmtree(path, ignore_errors=True)
