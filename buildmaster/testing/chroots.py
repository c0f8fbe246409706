"""The real bookworm buildd chroot the integration tests build in.

Made once with mmdebstrap (about a minute) and cached outside the
checkout (buildmaster.chroots.cache_dir), so later runs reuse it; a
fresh machine makes it on first use.  It is made by the function
``buildmaster chroot make`` calls, with the arguments that command
passes for bookworm on this machine's architecture, so the command's
tests register this tarball instead of making a second one.
"""

import pytest

from buildmaster.chroots import cached_buildd_chroot

SUITE = "bookworm"


def cached_chroot():
    """The path of the cached bookworm buildd chroot tarball."""
    return cached_buildd_chroot(SUITE)


@pytest.fixture(scope="session")
def buildd_chroot():
    """The path of a real bookworm buildd chroot tarball (cached)."""
    return cached_chroot()
