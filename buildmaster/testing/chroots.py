"""The real bookworm buildd chroot the integration tests build in.

Made once with mmdebstrap (about a minute) and cached outside the
checkout (buildmaster.archive.chroots.cache_dir), so later runs reuse it; a
fresh machine makes it on first use.  It is made by the function
``buildmaster chroot make`` calls, with the arguments that command
passes for bookworm on this machine's architecture, so the command's
tests register this tarball instead of making a second one.
"""

import os

import pytest

from buildmaster.archive.chroots import (
    cache_dir, cached_buildd_chroot, ensure_buildd_chroot, host_architecture)

SUITE = "bookworm"


def cached_chroot():
    """The path of the cached bookworm buildd chroot tarball."""
    return cached_buildd_chroot(SUITE)


@pytest.fixture(scope="session")
def buildd_chroot():
    """The path of a real bookworm buildd chroot tarball (cached)."""
    return cached_chroot()


@pytest.fixture(scope="session")
def plain_buildd_chroot():
    """The path of a bookworm chroot of mmdebstrap's plain ``buildd``
    variant, without the fakeroot the farm's chroots include (cached
    beside the other, made on first use)."""
    target = os.path.join(cache_dir(), f"{SUITE}-{host_architecture()}-buildd-plain.tar.gz")
    return ensure_buildd_chroot(SUITE, include=(), target=target)[0]


class ScratchChroot:
    """A throwaway chroot for a test to install packages in: a writable
    layer over an unpacked chroot tarball (``base``, read only, as a
    slave keeps it), entered with bubblewrap as the slave enters a
    build's, with ``archives`` as its only apt sources.  ``remove()``
    deletes the layer; the base is never written."""

    def __init__(self, directory, base, archives, trusted_keys=()):
        from slave.chroot import Chroot
        from slave.sourceslist import apt_sources
        self.directory = str(directory)
        self.chroot = Chroot(self.directory, base)
        self.chroot.create()
        self.chroot.configure_apt(apt_sources(list(archives), trusted_keys))
        self.chroot.copy_host_files()

    def run(self, *argv):
        """Run ``argv`` in the chroot as root; the CompletedProcess (text)."""
        import subprocess

        from slave.chroot import environment
        return subprocess.run(self.chroot.command(list(argv)), env=environment(),
                              capture_output=True, text=True)

    def remove(self):
        from slave.chroot import remove_tree
        remove_tree(self.directory)
