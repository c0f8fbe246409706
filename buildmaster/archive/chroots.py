"""Buildd chroot tarballs, made with mmdebstrap the way sbuild's are.

A chroot is the ``buildd`` variant of a Debian suite (Essential packages,
apt and build-essential) plus fakeroot, packed as one tarball that a
slave unpacks afresh for every build.  With no mirror given, mmdebstrap
reads this host's own apt sources, so a farm builds from the mirror its
machine already uses.

A made tarball is kept with a record of what made it (``<tarball>.mmdebstrap``:
suite, architecture, mirror, packages, and the command line), so asking
again for the same chroot at the same place reuses it: the tests' and the
demo's cache, and ``buildmaster chroot make``, go through one function,
``ensure_buildd_chroot``.
"""

import fcntl
import json
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
    argv = [MMDEBSTRAP, "--variant=buildd"]
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
    ``target``.  Raises ChrootError with mmdebstrap's reason: apt's first
    error (an unknown suite's missing Release file, a package apt cannot
    locate), else its last line.

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
            raise ChrootError(f"mmdebstrap {suite} failed: "
                              f"{_reason(result.stderr or result.stdout, result.returncode)}")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target


def _reason(output, status):
    lines = output.strip().splitlines()
    errors = [line[3:] for line in lines if line.startswith("E: ")]
    if errors:
        return errors[0]
    return lines[-1] if lines else f"exit status {status}"


def host_architecture():
    """This machine's Debian architecture, e.g. 'amd64'."""
    return subprocess.run(["dpkg", "--print-architecture"], check=True,
                          capture_output=True, text=True).stdout.strip()


def cache_dir():
    """Where made chroots are kept between runs: ``$BUILDMASTER_CACHE``
    or ``~/.cache/buildmaster``."""
    return os.environ.get("BUILDMASTER_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "buildmaster")


def cached_buildd_chroot(suite="bookworm"):
    """The path of a buildd chroot tarball of ``suite`` for this machine,
    in cache_dir(); see ensure_buildd_chroot."""
    return ensure_buildd_chroot(suite)[0]


def ensure_buildd_chroot(suite, arch=None, mirror=None, include=DEFAULT_INCLUDE,
                         target=None, fresh=False):
    """The path of a buildd chroot tarball of ``suite`` for ``arch``
    (default: this machine's), at ``target`` (default: in cache_dir()),
    and whether it was made now: made with mmdebstrap (about a minute)
    unless ``target`` holds one made from the same suite, architecture,
    mirror and packages, or ``fresh`` asks for a new one.  A lock file
    beside ``target`` keeps two processes from making it at once.
    Raises ChrootError.
    """
    arch = arch or host_architecture()
    include = tuple(include)
    if target is None:
        target = os.path.join(cache_dir(), f"{suite}-{arch}-buildd.tar.gz")
    wanted = {"suite": suite, "architecture": arch, "mirror": mirror,
              "include": list(include)}
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    with open(target + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not fresh and os.path.exists(target) and _made_from(target) == wanted:
            return target, False
        if os.path.exists(record_path(target)):
            os.unlink(record_path(target))
        make_buildd_chroot(target, suite, arch, mirror, include)
        command = " ".join(mmdebstrap_command(os.path.basename(target), suite, arch,
                                              mirror, include))
        _write_atomically(record_path(target),
                          json.dumps(dict(wanted, command=command), indent=2) + "\n")
    return target, True


def record_path(target):
    """Where the record of what made the tarball ``target`` is kept."""
    return target + ".mmdebstrap"


def made_by_mmdebstrap(target):
    """True when ``target`` was made by ensure_buildd_chroot."""
    return _made_from(target) is not None


def _made_from(target):
    """What made ``target`` (its record, less the command line), or None."""
    try:
        with open(record_path(target), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    record.pop("command", None)
    return record


def _write_atomically(path, text):
    partial = f"{path}.partial-{os.getpid()}"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)
