"""``buildmaster chroot set``: a real tarball becomes an architecture's chroot."""

import gzip
import hashlib
import tarfile

from buildmaster.testing.debpackages import chroot_tarball  # noqa: F401
from tests.clihelpers import cli  # noqa: F401


def test_set_stores_the_tarball_and_makes_it_the_chroot(cli, sample, session, librarian,
                                                       chroot_tarball):
    old = sample.hoary["i386"].chroot
    result = cli("chroot", "set", "ubuntu/hoary/i386", chroot_tarball)
    assert result.status == 0, result.err
    chroot = sample.hoary["i386"].chroot
    assert chroot.id != old.id
    with open(chroot_tarball, "rb") as handle:
        data = handle.read()
    assert (chroot.filename, chroot.mimetype) == ("chroot.tar.gz", "application/x-gtar")
    assert chroot.content.sha1 == hashlib.sha1(data).hexdigest()
    with librarian.open(chroot) as stored:
        assert stored.read() == data
    assert result.out == (
        f"Chroot of ubuntu hoary i386 is now librarian file {chroot.id} (chroot.tar.gz, "
        f"{len(data)} bytes, sha1 {chroot.content.sha1}); it was librarian file "
        f"{old.id} (chroot-ubuntu-i386.tar.gz).\n")
    # Only hoary changed.
    assert sample.warty["i386"].chroot.id == old.id


def test_a_file_that_is_no_tarball_is_refused(cli, sample, tmp_path):
    fake = tmp_path / "chroot.tar.gz"
    fake.write_bytes(gzip.compress(b"this is text, not a tar archive\n" * 40))
    line = cli("chroot", "set", "ubuntu/hoary/i386", str(fake)).error_line()
    assert line.startswith(f"buildmaster: error: {fake}: not a readable tarball")
    assert sample.hoary["i386"].chroot.id == sample.chroot.id


def test_a_truncated_tarball_is_refused(cli, chroot_tarball, tmp_path):
    with open(chroot_tarball, "rb") as handle:
        data = handle.read()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[:len(data) // 2])
    assert "not a readable tarball" in cli(
        "chroot", "set", "ubuntu/hoary/i386", str(cut)).error_line()


def test_missing_file_and_unknown_targets_are_one_line(cli, chroot_tarball, tmp_path):
    def refused(target, path=chroot_tarball):
        return cli("chroot", "set", target, path).error_line()

    missing = tmp_path / "nothing.tar.gz"
    assert refused("ubuntu/hoary/i386", str(missing)) == \
        f"buildmaster: error: {missing}: no such file"
    assert refused("ubuntu/hoary/sparc") == \
        "buildmaster: error: ubuntu/hoary has no architecture 'sparc' (known: i386)"
    assert refused("ubuntu/breezy/i386") == \
        "buildmaster: error: ubuntu has no series named 'breezy' (known: hoary, warty)"
    assert refused("debian/sid/i386") == \
        "buildmaster: error: no distribution named 'debian' (known: ubuntu)"
    assert refused("hoary-i386") == ("buildmaster: error: 'hoary-i386' is not "
                                     "DISTRIBUTION/SERIES/ARCH, e.g. ubuntu/hoary/i386")


def test_an_empty_tarball_is_refused(cli, tmp_path):
    empty = tmp_path / "empty.tar"
    tarfile.open(empty, "w").close()
    assert cli("chroot", "set", "ubuntu/hoary/i386", str(empty)).error_line() == \
        f"buildmaster: error: {empty}: an empty tarball is no chroot"
