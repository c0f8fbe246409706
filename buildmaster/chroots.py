"""Buildd chroot tarballs, made with mmdebstrap the way sbuild's are.

A chroot is the ``buildd`` variant of a Debian suite (Essential packages,
apt and build-essential) plus fakeroot, packed as one tarball that a
slave unpacks afresh for every build.  With no mirror given, mmdebstrap
reads this host's own apt sources, so a farm builds from the mirror its
machine already uses.
"""

import fcntl
import os
import shutil
import subprocess

MMDEBSTRAP = "mmdebstrap"
DEFAULT_INCLUDE = ("fakeroot",)


class ChrootError(Exception):
    """The chroot could not be made; str() says why in one line."""


def mmdebstrap_command(target, suite, arch=None, mirror=None,
                       include=DEFAULT_INCLUDE):
    """The mmdebstrap argv that writes the chroot tarball ``target``."""
    argv = [MMDEBSTRAP, "--variant=buildd", "--quiet"]
    if arch:
        argv.append(f"--architectures={arch}")
    if include:
        argv.append("--include=" + ",".join(include))
    argv += [suite, target]
    if mirror:
        argv.append(mirror)
    return argv


def make_buildd_chroot(target, suite, arch=None, mirror=None,
                       include=DEFAULT_INCLUDE):
    """Write a buildd chroot tarball of ``suite`` to ``target`` (its name
    picks the compression: .tar, .tar.gz, .tar.xz, .tar.zst); returns
    ``target``.  Raises ChrootError with mmdebstrap's last words.

    The tarball is written beside ``target`` and renamed into place, so
    a half-made chroot never stands under the final name.
    """
    if shutil.which(MMDEBSTRAP) is None:
        raise ChrootError("mmdebstrap is not installed (apt-get install mmdebstrap)")
    directory = os.path.dirname(os.path.abspath(target)) or "."
    os.makedirs(directory, exist_ok=True)
    base = os.path.basename(target)
    partial = os.path.join(directory, f".partial-{os.getpid()}-{base}")
    argv = mmdebstrap_command(partial, suite, arch, mirror, include)
    try:
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            last = lines[-1] if lines else f"exit status {result.returncode}"
            raise ChrootError(f"mmdebstrap {suite} failed: {last}")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target


def cache_dir():
    """Where made chroots are kept between runs: ``$BUILDMASTER_CACHE``
    or ``~/.cache/buildmaster``."""
    return os.environ.get("BUILDMASTER_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "buildmaster")


def cached_buildd_chroot(suite="bookworm"):
    """The path of a cached buildd chroot tarball of ``suite``, made with
    mmdebstrap when missing (about a minute).  A lock file keeps two
    processes from making it at once."""
    directory = cache_dir()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{suite}-buildd.tar.gz")
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            make_buildd_chroot(path, suite)
    return path
