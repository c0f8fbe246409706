"""dput-ng, the other dput developers upload with, beside Debian's dput.

The two conflict as packages, so dput-ng is never installed here:
``ensure_dputng()`` downloads bookworm's dput-ng and python3-dput with apt
(confined to a directory of its own, ``hostapt.HostApt``, from this
host's Debian mirror, so the host's apt is neither read nor changed) and
unpacks them with ``dpkg-deb -x`` into ``<cache_dir()>/dput-ng/<version>/``
(``~/.cache/buildmaster`` or ``$BUILDMASTER_CACHE``), outside the
checkout, once per machine.  The copy is made in a partial directory
renamed into place under a lock: two runs never make it at once, and a
run killed half way leaves no half copy.  Anything that keeps it from
being had raises DputNGUnavailable: a test that needs it fails, never
skips.

dput-ng reads its configuration from ``/usr/share/dput-ng/``,
``/etc/dput.d/``, ``~/.dput.d/`` and a relative ``skel/`` (its source
tree's, which holds what the package puts in the first two).  The copy
has such a ``skel/``, whose entries link to the unpacked
``usr/share/dput-ng`` (hooks, uploaders, schemas) and ``etc/dput.d``
(the DEFAULT profile and the metas), and dput-ng runs with the copy as
its working directory, this Python (python-debian; paramiko for sftp,
jsonschema for checking profiles: the test extras) with the unpacked
modules on PYTHONPATH, and HOME the test's own, where ``write_profile``
puts ``.dput.d/profiles/<name>.json`` and ``ssh_client_files`` the
``.ssh`` files its sftp uploader reads.
"""

import fcntl
import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

from buildmaster.archive.chroots import cache_dir
from buildmaster.testing.debiansources import NoDebianMirror, mirror_line
from buildmaster.testing.hostapt import HostApt

SUITE = "bookworm"
VERSION = "1.35+deb12u1"
PACKAGES = ("dput-ng", "python3-dput")
# The copy's skel/: its entry -> where it is unpacked, under root/.
SKEL = {"hooks": "usr/share/dput-ng/hooks", "uploaders": "usr/share/dput-ng/uploaders",
        "schemas": "usr/share/dput-ng/schemas", "interfaces": "usr/share/dput-ng/interfaces",
        "codenames": "usr/share/dput-ng/codenames", "commands": "usr/share/dput-ng/commands",
        "profiles": "etc/dput.d/profiles", "metas": "etc/dput.d/metas"}


class DputNGUnavailable(RuntimeError):
    """dput-ng could not be downloaded or unpacked; str() says why."""


class DputNG:
    """An unpacked dput-ng in ``directory`` (root/ and skel/)."""

    def __init__(self, directory):
        self.directory = str(directory)
        self.root = os.path.join(self.directory, "root")

    def command(self, profile, changes):
        """The argv of dput-ng uploading ``changes`` with the profile named
        ``profile`` (forced: a test may send the same upload twice)."""
        return [sys.executable, os.path.join(self.root, "usr", "bin", "dput"),
                "--force", profile, str(changes)]

    def environment(self, home, gnupghome, base=None):
        """The environment dput-ng runs in: HOME ``home`` (its profiles and
        .ssh), GNUPGHOME ``gnupghome`` (its gpg hook checks the signature),
        no SSH agent (paramiko would offer the agent's keys first)."""
        env = dict(os.environ if base is None else base)
        env.pop("SSH_AUTH_SOCK", None)
        env.update(HOME=str(home), GNUPGHOME=str(gnupghome), LANG="C.UTF-8",
                   PYTHONPATH=os.path.join(self.root, "usr", "lib", "python3",
                                           "dist-packages"))
        return env


def write_profile(home, name, profile):
    """Write ``profile`` (a dict) as ``<home>/.dput.d/profiles/<name>.json``;
    its path."""
    directory = os.path.join(str(home), ".dput.d", "profiles")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(profile, handle, indent=4)
        handle.write("\n")
    return path


def ssh_client_files(home, host, port, identity, host_key):
    """Write the ``.ssh`` files under ``home`` that dput-ng's sftp
    uploader reads (a profile has no key for either): ``config`` giving
    ``identity`` as the IdentityFile for ``host``, and ``known_hosts``
    with the server's ``host_key`` (a twisted.conch Key) for ``host``
    and ``port``, so paramiko neither asks nor offers another key."""
    directory = os.path.join(str(home), ".ssh")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    with open(os.path.join(directory, "config"), "w", encoding="utf-8") as handle:
        handle.write(f"Host {host}\n    IdentityFile {identity}\n")
    public = host_key.public().toString("OPENSSH").decode("ascii")
    with open(os.path.join(directory, "known_hosts"), "w", encoding="utf-8") as handle:
        handle.write(f"[{host}]:{port} {public}\n")


def ensure_dputng(version=VERSION, cache=None):
    """The DputNG of ``version``, unpacked into the cache when not yet
    there; raises DputNGUnavailable."""
    base = os.path.join(cache or cache_dir(), "dput-ng")
    directory = os.path.join(base, version)
    if not os.path.isdir(directory):
        os.makedirs(base, exist_ok=True)
        with open(os.path.join(base, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.isdir(directory):
                _make(directory, version)
    return DputNG(directory)


def _make(directory, version):
    partial = f"{directory}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    debs = os.path.join(partial, "debs")
    os.makedirs(debs)
    try:
        try:
            apt = HostApt(os.path.join(partial, "apt"), [mirror_line("deb", SUITE)])
        except NoDebianMirror as missing:
            raise DputNGUnavailable(f"dput-ng {version}: {missing}") from missing
        _check(apt.update(), f"apt-get update for {SUITE}")
        _check(apt.run("apt-get", "download", *(f"{name}={version}" for name in PACKAGES),
                       cwd=debs), f"apt-get download dput-ng {version}")
        for deb in sorted(glob.glob(os.path.join(debs, "*.deb"))):
            _check(subprocess.run(["dpkg-deb", "-x", deb, os.path.join(partial, "root")],
                                  capture_output=True, text=True), f"dpkg-deb -x {deb}")
        os.makedirs(os.path.join(partial, "skel"))
        for entry, target in SKEL.items():
            if not os.path.isdir(os.path.join(partial, "root", target)):
                raise DputNGUnavailable(f"dput-ng {version} has no {target}")
            os.symlink(os.path.join("..", "root", target),
                       os.path.join(partial, "skel", entry))
        shutil.rmtree(os.path.join(partial, "apt"))
        shutil.rmtree(debs)
        os.rename(partial, directory)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _check(done, what):
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines()
                 if line.startswith("E: ")] or (done.stderr or done.stdout).splitlines()
        raise DputNGUnavailable(f"{what} failed: {lines[0] if lines else done.returncode}")


@pytest.fixture(scope="session")
def dputng():
    """Bookworm's dput-ng, unpacked once into the cache (DputNG); made at
    first use, and an error, not a skip, when it cannot be had."""
    return ensure_dputng()
