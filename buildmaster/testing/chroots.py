"""The real bookworm buildd chroot the integration tests build in.

Made once with mmdebstrap (about a minute) and cached outside the
checkout, under ``$BUILDMASTER_CACHE`` or ``~/.cache/buildmaster/``, so
later runs reuse it; a fresh machine makes it on first use.  A lock file
keeps two test runs from making it at once.
"""

import fcntl
import os

import pytest

from buildmaster.chroots import make_buildd_chroot

SUITE = "bookworm"
TARBALL = f"{SUITE}-buildd.tar.gz"


def cache_dir():
    return os.environ.get("BUILDMASTER_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "buildmaster")


def cached_chroot():
    """The path of the cached bookworm buildd chroot tarball, made when
    missing."""
    directory = cache_dir()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, TARBALL)
    with open(os.path.join(directory, TARBALL + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            make_buildd_chroot(path, SUITE)
    return path


@pytest.fixture(scope="session")
def buildd_chroot():
    """The path of a real bookworm buildd chroot tarball (cached)."""
    return cached_chroot()
