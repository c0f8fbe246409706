"""The real bookworm buildd chroot the integration tests build in.

Made once with mmdebstrap (about a minute) and cached outside the
checkout (buildmaster.archive.chroots.cache_dir), so later runs reuse it; a
fresh machine makes it on first use.  It is made by the function
``buildmaster chroot make`` calls, with the arguments that command
passes for bookworm on this machine's architecture, so the command's
tests register this tarball instead of making a second one.
"""

import pytest

from buildmaster.archive.chroots import cached_buildd_chroot

SUITE = "bookworm"


def cached_chroot():
    """The path of the cached bookworm buildd chroot tarball."""
    return cached_buildd_chroot(SUITE)


@pytest.fixture(scope="session")
def buildd_chroot():
    """The path of a real bookworm buildd chroot tarball (cached)."""
    return cached_chroot()


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
