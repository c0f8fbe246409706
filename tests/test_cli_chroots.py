"""``buildmaster chroot set|make``: a real tarball becomes an architecture's chroot."""

import gzip
import hashlib
import os
import tarfile

import pytest

from buildmaster.archive.chroots import host_architecture
from buildmaster.model import DistroArchSeries
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


def test_set_prints_json_when_asked(cli, sample, chroot_tarball):
    old = sample.hoary["i386"].chroot
    result = cli("chroot", "set", "ubuntu/hoary/i386", chroot_tarball, "--json").json()
    new = sample.hoary["i386"].chroot
    assert result == {
        "distribution": "ubuntu", "series": "hoary", "arch": "i386",
        "chroot": {"id": new.id, "filename": "chroot.tar.gz",
                   "size": new.content.filesize, "sha1": new.content.sha1},
        "previous": {"id": old.id, "filename": old.filename,
                     "size": old.content.filesize, "sha1": old.content.sha1}}


# -- chroot make --------------------------------------------------------------
#
# Making a chroot takes a minute, so these tests make none: the suite's one
# real chroot is the buildd_chroot fixture's, made by the same function
# (buildmaster.archive.chroots.ensure_buildd_chroot) with the arguments `chroot make`
# passes for this machine's architecture and bookworm; the command finds it
# made that way (its record matches) and registers it.

@pytest.fixture
def native(sample, session):
    """hoary gains this machine's architecture, without a chroot yet."""
    arch = DistroArchSeries(distroseries=sample.hoary, processor=sample.amd64,
                            architecturetag=host_architecture())
    session.add(arch)
    session.commit()
    return arch


def sha1_of(path):
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def test_make_registers_the_chroot_mmdebstrap_made(cli, native, buildd_chroot):
    tag = native.architecturetag
    result = cli("chroot", "make", f"ubuntu/hoary/{tag}", "--suite", "bookworm",
                 "--output", buildd_chroot, "--json").json()
    assert (result["made"], result["suite"], result["mirror"], result["include"]) == (
        False, "bookworm", None, ["fakeroot"])
    assert result["mmdebstrap"] == (
        f"mmdebstrap --variant=buildd --architectures={tag} --include=fakeroot bookworm "
        f"{os.path.basename(buildd_chroot)}")
    assert result["tarball"] == buildd_chroot
    chroot = native.chroot
    assert result["chroot"] == {"id": chroot.id, "filename": os.path.basename(buildd_chroot),
                                "size": os.path.getsize(buildd_chroot),
                                "sha1": sha1_of(buildd_chroot)}
    assert result["previous"] is None
    assert chroot.mimetype == "application/x-gtar"


def test_make_keeps_the_tarball_under_the_farm_root(cli, native, buildd_chroot, farm_config):
    tag = native.architecturetag
    kept = os.path.join(farm_config.builddmaster.root, "chroots",
                        f"chroot-ubuntu-hoary-{tag}.tar.gz")
    os.makedirs(os.path.dirname(kept))
    # The tests' chroot stands there as if an earlier `chroot make` had made it.
    for suffix in ("", ".mmdebstrap"):
        os.symlink(buildd_chroot + suffix, kept + suffix)
    result = cli("chroot", "make", f"ubuntu/hoary/{tag}", "--suite", "bookworm")
    assert result.status == 0, result.err
    made_line, registered_line = result.out.splitlines()
    assert made_line == (
        f"Reused (made earlier the same way) {kept}: mmdebstrap --variant=buildd "
        f"--architectures={tag} --include=fakeroot bookworm "
        f"{os.path.basename(buildd_chroot)}")
    chroot = native.chroot
    assert registered_line == (
        f"Chroot of ubuntu hoary {tag} is now librarian file {chroot.id} "
        f"({os.path.basename(kept)}, {os.path.getsize(kept)} bytes, "
        f"sha1 {chroot.content.sha1}).")


def test_make_asks_for_a_new_chroot_when_the_packages_differ(cli, native, buildd_chroot,
                                                             tmp_path, monkeypatch):
    """Another package list is another chroot: mmdebstrap must run (and here
    cannot), the cached tarball is not registered."""
    kept = str(tmp_path / "chroot.tar.gz")
    for suffix in ("", ".mmdebstrap"):
        os.symlink(buildd_chroot + suffix, kept + suffix)
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    line = cli("chroot", "make", f"ubuntu/hoary/{native.architecturetag}", "--suite",
               "bookworm", "--include", "devscripts", "--output", kept).error_line()
    assert line == "buildmaster: error: mmdebstrap is not installed (apt-get install mmdebstrap)"
    assert native.chroot is None


def test_make_refuses_to_overwrite_a_tarball_it_did_not_make(cli, native, chroot_tarball,
                                                             tmp_path, monkeypatch):
    target = f"ubuntu/hoary/{native.architecturetag}"
    assert cli("chroot", "make", target, "--suite", "bookworm", "--output",
               chroot_tarball).error_line() == (
        f"buildmaster: error: {chroot_tarball} exists and was not made by `buildmaster "
        "chroot make`: register it with `chroot set`, or replace it with --fresh")
    # --fresh goes on to make it, which needs mmdebstrap.
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    assert "mmdebstrap is not installed" in cli(
        "chroot", "make", target, "--suite", "bookworm", "--output", chroot_tarball,
        "--fresh").error_line()
    assert tarfile.open(chroot_tarball).getnames() == ["chroot-autobuild/etc/debian_version"]


def test_make_an_unknown_suite_is_one_line_and_leaves_nothing(cli, native, tmp_path):
    output = tmp_path / "made" / "chroot.tar.gz"
    line = cli("chroot", "make", f"ubuntu/hoary/{native.architecturetag}", "--suite",
               "nosuchsuite", "--output", str(output)).error_line()
    assert line.startswith("buildmaster: error: mmdebstrap nosuchsuite failed: "
                           "The repository '")
    assert line.endswith(" nosuchsuite Release' does not have a Release file.")
    assert sorted(os.listdir(output.parent)) == ["chroot.tar.gz.lock"]
    assert native.chroot is None


def test_make_checks_its_target_and_options_first(cli, tmp_path):
    def refused(*argv):
        return cli("chroot", "make", *argv, "--output", str(tmp_path / "made" / "c.tar.gz"))

    assert refused("ubuntu/hoary/sparc", "--suite", "bookworm").error_line() == \
        "buildmaster: error: ubuntu/hoary has no architecture 'sparc' (known: i386)"
    assert refused("ubuntu/hoary/i386").status == 2  # --suite is required
    assert refused("ubuntu/hoary/i386", "--suite", "bookworm", "--include", ",").status == 2
    assert not os.path.exists(tmp_path / "made")
