"""Tiny real Debian source packages and a chroot tarball, for slave tests.

The packages use a hand-written ``debian/rules`` (plain make, dpkg-deb and
dpkg-gencontrol) so ``dpkg-buildpackage -b -us -uc -rfakeroot`` works
without debhelper. The ``kind`` decides what the build target does:

- ``good``: prints a line and succeeds;
- ``fail``: prints a line and exits 1 (a PACKAGEFAIL);
- ``depwait``: declares ``Build-Depends: baz (>= 1.0.1)``, never installed;
- ``slow``: prints a line and sleeps for ten minutes (for abort tests).
"""

import io
import os
import subprocess
import tarfile

import pytest

KINDS = ("good", "fail", "depwait", "slow")

DEPWAIT_DEPENDS = "baz (>= 1.0.1)"

_BUILD_COMMANDS = {
    "good": ["@echo 'building the good package'"],
    "depwait": ["@echo 'building the depwait package'"],
    "fail": ["@echo 'this build is going to fail'", "exit 1"],
    "slow": ["@echo 'a slow build starts'", "sleep 600"],
}

_RULES = """\
#!/usr/bin/make -f
PKG := {name}

build: build-arch build-indep
build-indep:
build-arch:
{build_commands}

clean:
\trm -rf debian/tmp debian/files

binary: binary-arch binary-indep
binary-indep:
binary-arch: build-arch
\trm -rf debian/tmp
\tmkdir -p debian/tmp/DEBIAN debian/tmp/usr/share/doc/$(PKG)
\techo 'hello from $(PKG)' > debian/tmp/usr/share/doc/$(PKG)/README
\tdpkg-gencontrol -Pdebian/tmp
\tdpkg-deb --build debian/tmp ..

.PHONY: build build-arch build-indep clean binary binary-arch binary-indep
"""

_CONTROL = """\
Source: {name}
Section: misc
Priority: optional
Maintainer: Build Farm Tests <tests@example.invalid>
Standards-Version: 4.6.2
{build_depends_line}
Package: {name}
Architecture: any
Description: tiny test package for the build farm
 A package built by the buildmaster slave tests.
"""

_CHANGELOG = """\
{name} ({version}) unstable; urgency=low

  * Test upload.

 -- Build Farm Tests <tests@example.invalid>  Mon, 01 Jan 2024 00:00:00 +0000
"""


def make_source_package(dirpath, name="hello-bm", version="1.0",
                        kind="good", build_depends=None,
                        source_format="3.0 (native)"):
    """Build a source package in ``dirpath`` and return its .dsc path."""
    if kind not in KINDS:
        raise ValueError(f"unknown package kind {kind!r}, not in {KINDS}")
    if build_depends is None and kind == "depwait":
        build_depends = DEPWAIT_DEPENDS
    tree = os.path.join(dirpath, f"{name}-{version}")
    debian = os.path.join(tree, "debian")
    os.makedirs(os.path.join(debian, "source"))
    depends_line = (f"Build-Depends: {build_depends}\n"
                    if build_depends else "")
    commands = "".join(f"\t{line}\n" for line in _BUILD_COMMANDS[kind])
    _write(os.path.join(debian, "control"), _CONTROL.format(
        name=name, build_depends_line=depends_line))
    _write(os.path.join(debian, "changelog"),
           _CHANGELOG.format(name=name, version=version))
    _write(os.path.join(debian, "rules"),
           _RULES.format(name=name, build_commands=commands.rstrip("\n")))
    os.chmod(os.path.join(debian, "rules"), 0o755)
    _write(os.path.join(debian, "source", "format"), source_format + "\n")
    subprocess.run(["dpkg-source", "-b", os.path.basename(tree)],
                   cwd=dirpath, check=True, capture_output=True)
    return os.path.join(dirpath, f"{name}_{version}.dsc")


def make_chroot_tarball(path):
    """Write a small valid .tar.gz standing in for a chroot; return path."""
    with tarfile.open(path, "w:gz") as tar:
        payload = b"Debian GNU/Linux 12 (test chroot)\n"
        info = tarfile.TarInfo("chroot-autobuild/etc/debian_version")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return path


def source_files(dsc_path):
    """The files of a source package: the .dsc and the files it lists."""
    from debian.deb822 import Dsc

    with open(dsc_path, encoding="utf-8") as f:
        dsc = Dsc(f)
    directory = os.path.dirname(dsc_path)
    names = [os.path.basename(dsc_path)]
    names += [entry["name"] for entry in dsc["Files"]]
    return [os.path.join(directory, name) for name in names]


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _dsc_fixture(kind):
    @pytest.fixture
    def fixture(tmp_path):
        directory = tmp_path / f"src-{kind}"
        directory.mkdir()
        return make_source_package(str(directory), kind=kind)
    fixture.__doc__ = f"The .dsc path of a '{kind}' source package."
    return fixture


good_dsc = _dsc_fixture("good")
fail_dsc = _dsc_fixture("fail")
depwait_dsc = _dsc_fixture("depwait")
slow_dsc = _dsc_fixture("slow")


@pytest.fixture
def chroot_tarball(tmp_path):
    """The path of a small valid chroot .tar.gz."""
    return make_chroot_tarball(str(tmp_path / "chroot.tar.gz"))
