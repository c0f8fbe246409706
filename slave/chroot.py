"""A build's chroot: unpacked afresh from its tarball, entered with bubblewrap.

Under the build directory::

    chroot-autobuild/          the unpacked tarball: the build's /
    chroot-autobuild/build/    the build tree, owned by the buildd user

Every command of a build runs through ``bwrap`` with the chroot bound as
/, a minimal /dev, a fresh /proc, a tmpfs /dev/shm, and its own PID, IPC
and UTS namespaces; steps that need no network (unpacking the source,
the build itself) get an empty network namespace too, as sbuild builds
offline.  bwrap's mounts live in its own mount namespace and go with it,
so nothing is ever mounted in the slave's namespace and removing a
chroot is deleting files; ``remove_tree`` still refuses a tree with a
mount point inside, rather than delete through it into the host.

Files the slave writes into the chroot (sources.list, the buildd user)
are written as root from outside, so every path is checked to stay
inside the chroot: a symlink in a tarball cannot redirect a write onto
the host.
"""

import os
import shutil
import tarfile

BWRAP = "bwrap"
ROOT_NAME = "chroot-autobuild"
BUILD_HOME = "/build"
BUILDD_USER = "buildd"
BUILDD_UID = 2001
BUILDD_GID = 2501
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
APT_CONFIG = """\
APT::Install-Recommends "false";
APT::Get::Assume-Yes "true";
Acquire::Retries "3";
Dpkg::Use-Pty "false";
"""


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


def unpack_command(tarball, build_dir, prefix):
    """The tar argv unpacking ``tarball`` so its root lands in
    ``<build_dir>/chroot-autobuild``."""
    target = build_dir if prefix else os.path.join(build_dir, ROOT_NAME)
    return ["tar", "--numeric-owner", "--preserve-permissions",
            "--extract", "--file", tarball, "--directory", target]


class Chroot:
    """One build's unpacked chroot at ``<build_dir>/chroot-autobuild``."""

    def __init__(self, build_dir):
        self.root = os.path.join(build_dir, ROOT_NAME)

    def path(self, inside):
        """The host path of ``inside`` (an absolute path in the chroot),
        refused when a symlink would lead it out of the chroot."""
        host = os.path.join(self.root, inside.lstrip("/"))
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(host)
        if real != real_root and not real.startswith(real_root + os.sep):
            raise ChrootBroken(f"{inside} in the chroot leads outside it ({real})")
        return host

    def write(self, inside, data, mode=0o644):
        """Write ``data`` (bytes or text) to ``inside``, replacing it."""
        host = self.path(inside)
        os.makedirs(os.path.dirname(host), exist_ok=True)
        if os.path.islink(host):
            os.unlink(host)
        with open(host, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(host, mode)

    def check(self):
        """Raise ChrootBroken unless this looks like a Debian system."""
        for needed in ("/bin/sh", "/usr/bin/apt-get", "/usr/bin/dpkg-buildpackage",
                       "/usr/bin/setpriv", "/etc/passwd"):
            if not os.path.lexists(self.path(needed)):
                raise ChrootBroken(f"the chroot has no {needed}")

    def configure_apt(self, sources):
        """Make ``sources`` (an AptSources) the chroot's only apt sources."""
        listdir = self.path("/etc/apt/sources.list.d")
        if os.path.isdir(listdir):
            for name in os.listdir(listdir):
                os.unlink(os.path.join(listdir, name))
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
        home = self.path(BUILD_HOME)
        os.makedirs(home, exist_ok=True)
        os.chown(home, BUILDD_UID, BUILDD_GID)

    def copy_host_files(self):
        """Name resolution as on the host: /etc/hosts and /etc/resolv.conf."""
        for name in ("/etc/hosts", "/etc/resolv.conf"):
            if os.path.isfile(name):
                with open(name, "rb") as f:
                    self.write(name, f.read())

    def put(self, source, inside):
        """Copy the host file ``source`` to ``inside``, owned by buildd."""
        host = self.path(inside)
        shutil.copyfile(source, host)
        os.chown(host, BUILDD_UID, BUILDD_GID)

    def command(self, argv, as_buildd=False, network=True, cwd="/"):
        """The argv running ``argv`` inside the chroot."""
        wrapper = [BWRAP, "--bind", self.root, "/", "--dev", "/dev", "--proc", "/proc",
                   "--tmpfs", "/dev/shm", "--unshare-pid", "--unshare-ipc",
                   "--unshare-uts", "--hostname", "buildd", "--die-with-parent",
                   "--chdir", cwd]
        if not network:
            wrapper.append("--unshare-net")
        wrapper += ["--setenv", "HOME", BUILD_HOME if as_buildd else "/root"]
        wrapper.append("--")
        if as_buildd:
            wrapper += ["/usr/bin/setpriv", f"--reuid={BUILDD_UID}",
                        f"--regid={BUILDD_GID}", "--clear-groups", "--"]
        return wrapper + list(argv)

    def _append_line(self, inside, name, line):
        host = self.path(inside)
        with open(host, encoding="utf-8") as f:
            if any(entry.split(":", 1)[0] == name for entry in f):
                return
        with open(host, "a", encoding="utf-8") as f:
            f.write(line + "\n")


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
