"""The chroot's apt sources and the dep-wait decision, without a chroot."""

import base64

import pytest
from debian import deb822

from slave import depwait
from slave.binarypackage import BadRequest, BinaryPackageManager, _satisfy_arguments
from slave.chroot import Chroot, ChrootBroken, tarball_prefix
from slave.sourceslist import BadArchives, apt_sources, mask

PRIVATE = "deb http://buildd:s3cret@ppa.example:8080/owner/ppa/ubuntu hoary main"


def test_credentials_move_from_the_line_to_auth_conf():
    sources = apt_sources([PRIVATE, "deb [trusted=yes] http://farm.example/ubuntu hoary main"])
    assert sources.sources_list() == (
        "deb http://ppa.example:8080/owner/ppa/ubuntu hoary main\n"
        "deb [trusted=yes] http://farm.example/ubuntu hoary main\n")
    assert sources.auth_conf() == (
        "machine http://ppa.example:8080/owner/ppa/ubuntu login buildd password s3cret\n")


def test_the_same_credentials_are_written_once():
    updates = PRIVATE.replace("hoary main", "hoary-updates main")
    assert len(apt_sources([PRIVATE, updates]).auth) == 1


def test_a_masked_line_hides_only_the_password():
    assert mask(PRIVATE) == (
        "deb http://buildd:********@ppa.example:8080/owner/ppa/ubuntu hoary main")
    assert mask("deb http://farm.example/ubuntu hoary main") == (
        "deb http://farm.example/ubuntu hoary main")


@pytest.mark.parametrize("archives, problem", [
    ([], "non-empty list"),
    ("deb http://x/ hoary main", "non-empty list"),
    (["http://x/ubuntu hoary main"], "not a sources.list line"),
    (["deb ftp://x/ubuntu hoary main"], "not an http"),
    (["deb [trusted=yes] http://x/ubuntu"], "no URL and suite"),
    (["deb http://x/ubuntu hoary\nmain"], "not a single line"),
])
def test_lines_apt_cannot_read_are_refused(archives, problem):
    with pytest.raises(BadArchives, match=problem):
        apt_sources(archives)


def test_trusted_keys_are_armored_or_binary_openpgp():
    armored = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQ==\n-----END PGP PUBLIC KEY BLOCK-----\n"
    binary = bytes([0x99, 0x01, 0x0d])
    sources = apt_sources([PRIVATE], [base64.b64encode(armored).decode(),
                                      base64.b64encode(binary).decode()])
    assert sources.keys == [("buildd-archive-1.asc", armored),
                            ("buildd-archive-2.gpg", binary)]
    with pytest.raises(BadArchives, match="key 1 is not base64"):
        apt_sources([PRIVATE], ["not base64!"])
    with pytest.raises(BadArchives, match="key 1 is not an OpenPGP key"):
        apt_sources([PRIVATE], [base64.b64encode(b"plain text").decode()])


def test_a_request_with_unusable_archives_is_refused():
    with pytest.raises(BadRequest, match="not a sources.list line"):
        BinaryPackageManager.check_request({"a.dsc": "0" * 40}, {"archives": ["nonsense"]})
    BinaryPackageManager.check_request({"a.dsc": "0" * 40}, {"archives": [PRIVATE]})


AVAILABLE = """\
Package: debhelper
Version: 13.11.4
Provides: debhelper-compat (= 13)

Package: libfoo-dev
Version: 1.1-2

Package: mail-transport-agent-impl
Version: 2.0
Provides: mail-transport-agent
"""


def relations(text):
    return depwait.build_relations({"Build-Depends": text}, arch_indep=False)


@pytest.mark.parametrize("depends, waits_on", [
    ("debhelper-compat (= 13), libfoo-dev (>= 1.0)", None),
    ("libfoo-dev (>= 1.2)", "libfoo-dev (>= 1.2)"),
    ("libfoo-dev (>= 1.2) | libfoo2-dev", "libfoo-dev (>= 1.2) | libfoo2-dev"),
    ("libfoo-dev (>= 1.2) | debhelper", None),
    ("debhelper-compat (= 14)", "debhelper-compat (= 14)"),
    ("mail-transport-agent", None),
    ("nothere [i386], alsonothere [!amd64]", None),
    ("nothere [amd64 i386]", "nothere"),
    ("nothere <!nocheck>", "nothere"),
    ("nothere <nocheck>", None),
    ("libfoo-dev:native (<< 1.1-3), missing:any", "missing"),
])
def test_a_build_waits_only_on_relations_no_archive_meets(depends, waits_on):
    available = depwait.available_packages(AVAILABLE)
    assert depwait.waiting_on(relations(depends), available, "amd64") == waits_on


def test_build_depends_indep_count_only_on_the_arch_indep_build():
    dsc = {"Build-Depends": "a", "Build-Depends-Arch": "b", "Build-Depends-Indep": "c"}
    names = lambda found: [alternatives[0]["name"] for alternatives in found]
    assert names(depwait.build_relations(dsc, arch_indep=False)) == ["a", "b"]
    assert names(depwait.build_relations(dsc, arch_indep=True)) == ["a", "b", "c"]


def test_apt_satisfies_the_build_dependencies_plus_fakeroot():
    dsc = deb822.Dsc("Source: x\nBuild-Depends: a (>= 1),\n b [amd64]\n"
                     "Build-Depends-Indep: c\nBuild-Conflicts: d\n")
    assert _satisfy_arguments(dsc, arch_indep=False) == ("fakeroot, a (>= 1), b [amd64]", "d")
    assert _satisfy_arguments(dsc, arch_indep=True) == (
        "fakeroot, a (>= 1), b [amd64], c", "d")


def test_a_symlink_in_the_tarball_cannot_lead_the_slave_out(tmp_path):
    base = tmp_path / "base"
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "group").write_text("root:x:0:\n")
    (base / "etc" / "passwd").symlink_to("/etc/hostname")
    chroot = Chroot(str(tmp_path / "build"), str(base))
    chroot.create()
    with pytest.raises(ChrootBroken, match="leads outside"):
        chroot.add_build_user()
    with pytest.raises(ChrootBroken, match="leads outside"):
        chroot.read("/etc/passwd")


def test_writes_go_to_the_build_layer_and_never_the_base(tmp_path):
    base = tmp_path / "base"
    (base / "etc" / "apt").mkdir(parents=True)
    (base / "etc" / "apt").chmod(0o750)
    (base / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh")
    (base / "etc" / "group").write_text("root:x:0:\n")
    chroot = Chroot(str(tmp_path / "build"), str(base))
    chroot.create()
    chroot.add_build_user()
    chroot.write("/etc/apt/sources.list", "deb http://x/ hoary main\n")
    assert (base / "etc" / "passwd").read_text() == "root:x:0:0:root:/root:/bin/sh"
    assert not (base / "build").exists() and not (base / "etc" / "apt" / "sources.list").exists()
    upper = tmp_path / "build" / "upper"
    assert (upper / "etc" / "passwd").read_text() == (
        "root:x:0:0:root:/root:/bin/sh\n"
        "buildd:x:2001:2501:Build Daemon:/build:/bin/sh\n")
    assert (upper / "etc" / "group").read_text() == "root:x:0:\nbuildd:x:2501:\n"
    assert oct((upper / "etc" / "apt").stat().st_mode & 0o777) == "0o750"
    assert (upper / "build").stat().st_uid == 2001
    chroot.add_build_user()
    assert (upper / "etc" / "passwd").read_text().count("buildd") == 1


def test_launchpad_and_mmdebstrap_tarball_layouts(tmp_path):
    import tarfile
    for prefix in ("chroot-autobuild/", "./", ""):
        path = tmp_path / f"t{len(prefix)}.tar"
        with tarfile.open(path, "w") as tar:
            info = tarfile.TarInfo(prefix + "etc")
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        expected = "chroot-autobuild/" if prefix.startswith("chroot") else ""
        assert tarball_prefix(str(path)) == expected
