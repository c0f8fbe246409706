"""The default warning patterns on real logs: what dpkg says building a
good package is no warning, so a good build is green; a warning dpkg
gives about the package still counts."""

import os
import subprocess

import pytest

from buildmaster import config
from buildmaster.health.colours import read_log
from buildmaster.testing.debpackages import make_source_package
from buildmaster.testing.gpgkeys import throwaway_keys  # noqa: F401

PATTERNS = config.load(None, check_dirs=False).status.warning_patterns


def unpacked(dsc, target):
    """What ``dpkg-source -x`` says unpacking ``dsc``, as a slave unpacks
    it: with no keyring to check a signature with."""
    done = subprocess.run(["dpkg-source", "-x", dsc.name, str(target)], cwd=dsc.parent,
                          capture_output=True, text=True, check=True)
    return (done.stdout + done.stderr).splitlines()


def built(tree):
    """What ``dpkg-buildpackage -B`` says building ``tree``, as a slave
    builds: as a user under fakeroot (as root, without fakeroot, which
    dpkg-buildpackage would warn about: a slave never builds as root)."""
    gain_root = [] if os.geteuid() == 0 else ["-rfakeroot"]
    done = subprocess.run(["dpkg-buildpackage", "-us", "-uc", *gain_root, "-B"], cwd=tree,
                          capture_output=True, text=True, check=True)
    return (done.stdout + done.stderr).splitlines()


@pytest.fixture
def good_source(tmp_path):
    """The .dsc (a path) of a good package."""
    return tmp_path / os.path.basename(make_source_package(str(tmp_path), kind="good"))


def test_a_good_unsigned_package_builds_without_a_warning(good_source, tmp_path):
    dsc = good_source
    log = unpacked(dsc, tmp_path / "tree") + built(tmp_path / "tree")
    assert "dpkg-source: warning: extracting unsigned source package (hello-bm_1.0.dsc)" in log
    assert any(line.startswith("dpkg-buildpackage: info: binary-only upload") for line in log)
    assert read_log(log, PATTERNS)[0] == 0


def test_a_signed_source_the_slave_cannot_check_is_no_warning(
        good_source, tmp_path, throwaway_keys):  # noqa: F811
    dsc = good_source
    throwaway_keys.clearsign(dsc, throwaway_keys.make("Up Loader <up@example.invalid>"))
    log = unpacked(dsc, tmp_path / "tree")
    assert ("dpkg-source: warning: cannot verify inline signature for ./hello-bm_1.0.dsc: "
            "no acceptable signature found") in log
    assert read_log(log, PATTERNS)[0] == 0


def test_a_warning_dpkg_gives_about_the_package_still_counts(good_source, tmp_path):
    tree = tmp_path / "tree"
    unpacked(good_source, tree)
    # A substitution variable the package's control file uses but nothing defines.
    control = tree / "debian" / "control"
    control.write_text(control.read_text().replace(
        "Architecture: any\n", "Architecture: any\nDepends: ${shlibs:Depends}\n"))
    log = built(tree)
    warnings = [line for line in log if line.startswith("dpkg-gencontrol: warning: ")]
    assert warnings
    assert read_log(log, PATTERNS)[0] == len(warnings)
