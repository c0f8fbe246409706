"""Uploads from anywhere with dput-ng: bookworm's real dput-ng (unpacked
beside Debian's dput, buildmaster/testing/dputng.py) over HTTP PUT and
over SFTP with Alice's SSH key, to the daemon's upload servers in this
process, with the profiles README.rst gives developers.

dput-ng runs the hooks of its DEFAULT profile (the 'boring' meta):
allowed-distribution, checksum, suite-mismatch and gpg, which checks the
.changes' signature with the test's GnuPG home.  None needs anything
missing here, so none is turned off.
"""

import json
import os
import re

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import utils

from buildmaster.model import Build
from buildmaster.testing.dputng import dputng, ssh_client_files, write_profile  # noqa: F401
from buildmaster.uploads import inbox, intake, sftpserver
from tests.uploadhelpers import (  # noqa: F401
    farm, http_port, people, process, readable, sftp_port, source, throwaway_keys, uploads)

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.rst")
HOOKS = ("allowed-distribution", "checksum", "suite-mismatch", "gpg")


def http_profile(port):
    return {"fqdn": f"127.0.0.1:{port}", "method": "http",
            "incoming": "/upload/~alice/tools/acme"}


def sftp_profile(port):
    return {"fqdn": "127.0.0.1", "port": port, "method": "sftp", "login": "alice",
            "incoming": "/~alice/tools/acme"}


@pytest.fixture
def home(tmp_path):
    """The HOME dput-ng runs with: its profiles, its .ssh."""
    directory = tmp_path / "home"
    directory.mkdir()
    return directory


async def dput_ng(dputng, home, people, changes, profile):  # noqa: F811
    """(exit status, output) of dput-ng sending ``changes`` with ``profile``."""
    write_profile(home, "farm", profile)
    readable(changes)
    argv = dputng.command("farm", changes)
    out, err, status = await utils.getProcessOutputAndValue(
        argv[0], argv[1:], env=dputng.environment(home, people["keys"].home),
        path=dputng.directory)
    return status, (out + err).decode("utf-8", "replace")


async def assert_accepted_built_and_mailed(farm, session, smtp_server, version):
    assert await process(farm, smtp_server) == 1
    [upload] = uploads(session)
    assert (upload.state, upload.source, upload.version, upload.signer.name) == \
        ("ACCEPTED", "hello-bm", version, "alice")
    [build] = session.scalars(sa.select(Build)).all()
    assert upload.builds == [build.id] and build.archive.reference == "~alice/tools"
    [(_, recipients, text)] = smtp_server.messages
    assert recipients == ["alice@example.org"]
    assert f"Subject: Accepted: hello-bm {version} into ~alice/tools/acme" in text
    assert f"build {build.id}:" in text
    root = intake.upload_root(farm.config)
    assert os.listdir(os.path.join(root, "accepted")) == [upload.queue_id]


def assert_checked(output):
    for hook in HOOKS:
        assert f"running {hook}:" in output, output
    assert "Not checking GPG signature" not in output


@pytest_twisted.ensureDeferred
async def test_a_signed_source_put_with_dput_ng_is_accepted_built_and_mailed(
        farm, http_port, people, tmp_path, session, smtp_server, dputng, home):  # noqa: F811
    changes = source(tmp_path, people)
    status, output = await dput_ng(dputng, home, people, changes, http_profile(http_port))
    assert status == 0, output
    assert_checked(output)
    await assert_accepted_built_and_mailed(farm, session, smtp_server, "1.0")


@pytest_twisted.ensureDeferred
async def test_dput_ng_over_sftp_with_a_farm_ssh_key_is_accepted_built_and_mailed(
        farm, sftp_port, people, tmp_path, session, smtp_server, dputng, home):  # noqa: F811
    key = sftpserver.host_key(farm.config.builddmaster.root)
    ssh_client_files(home, "127.0.0.1", sftp_port, people["identity"], key)
    changes = source(tmp_path, people, version="2.0")
    status, output = await dput_ng(dputng, home, people, changes, sftp_profile(sftp_port))
    assert status == 0, output
    assert_checked(output)
    assert "Logging into host 127.0.0.1 as alice" in output
    await assert_accepted_built_and_mailed(farm, session, smtp_server, "2.0")


@pytest_twisted.ensureDeferred
async def test_dput_ng_sends_nothing_of_a_source_whose_checksums_are_wrong(
        farm, http_port, people, tmp_path, session, dputng, home):  # noqa: F811
    changes = source(tmp_path, people)
    tarball = changes.replace("_source.changes", ".tar.xz")
    data = bytearray(open(tarball, "rb").read())
    data[-1] ^= 0xFF     # same size, other bytes
    open(tarball, "wb").write(bytes(data))
    status, output = await dput_ng(dputng, home, people, changes, http_profile(http_port))
    assert status != 0
    assert "Bad checksums on hello-bm_1.0_source.changes" in output
    incoming = inbox.Inbox(intake.upload_root(farm.config)).incoming("~alice/tools/acme")
    assert os.listdir(incoming) == []


def readme_profiles():
    """The dput-ng profiles README.rst shows, by method."""
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    blocks = re.findall(r"\.dput\.d/profiles/[\w.-]+\.json``::\n\n((?:    .*\n|\n)+)", text)
    return {profile["method"]: profile for profile in map(json.loads, blocks)}


@pytest.mark.parametrize("method", ["http", "sftp"])
def test_the_readme_gives_the_profiles_tested(method):
    tested = {"http": http_profile, "sftp": sftp_profile}[method](58000)
    shown = readme_profiles()[method]
    assert sorted(shown) == sorted(tested)
    assert shown["incoming"] == tested["incoming"]
    assert shown.get("login") == tested.get("login")
    assert (":" in shown["fqdn"]) == (":" in tested["fqdn"])   # HTTP's port is in its fqdn
