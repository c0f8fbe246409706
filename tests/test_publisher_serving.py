"""The published archives over HTTP: public ones to anyone, private ones
with their buildd credentials only, and apt on this host reading them."""

import base64
import datetime
import os

import pytest
import pytest_twisted
import treq
from twisted.internet import threads

from buildmaster.archive.dependencies import archive_url
from buildmaster.model import DistroArchSeries, UTC
from buildmaster.publisher import layout
from buildmaster.publisher.run import publish
from buildmaster.publisher.serving import Mount, choose
from buildmaster.publisher.signing import public_key
from buildmaster.testing.archives import binary_publication
from buildmaster.testing.archiveserver import RunningArchives
from buildmaster.testing.hostapt import HostApt

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "s3cret-for-buildd"


@pytest.fixture
def hoary_amd64(sample, session):
    arch = DistroArchSeries(distroseries=sample.hoary, processor=sample.amd64,
                            architecturetag="amd64")
    session.add(arch)
    session.flush()
    return arch


@pytest.fixture
def served(farm_context, sample, session, hoary_amd64):
    """The primary archive with libfoo1, and cprov's PPA, private, with
    libsecret1, published and served."""
    ppa = sample.cprov_ppa
    ppa.private, ppa.buildd_secret = True, SECRET
    binary_publication(session, farm_context.librarian, sample.primary, hoary_amd64,
                       "libfoo1", "1.0", source="libfoo")
    binary_publication(session, farm_context.librarian, ppa, hoary_amd64,
                       "libsecret1", "0.1", source="libsecret")
    session.commit()
    assert not publish(farm_context, now=NOW).errors
    server = RunningArchives(farm_context)
    yield server
    pytest_twisted.blockon(server.stop())


def auth(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def fetch(url, **headers):
    response = await treq.get(url, headers=headers or None, persistent=False)
    return response.code, await treq.content(response)


@pytest_twisted.ensureDeferred
async def test_a_public_archive_is_served_to_anyone(served, farm_context, sample):
    base = archive_url(farm_context.config, sample.primary)
    code, body = await fetch(f"{base}/pool/main/libf/libfoo/libfoo1_1.0_amd64.deb")
    tree = layout.tree_path(farm_context.config.archives.root, sample.primary)
    with open(os.path.join(tree, "pool/main/libf/libfoo/libfoo1_1.0_amd64.deb"), "rb") as f:
        assert (code, body) == (200, f.read())
    code, body = await fetch(f"{base}/dists/hoary/InRelease")
    assert code == 200 and b"Suite: hoary" in body


@pytest_twisted.ensureDeferred
async def test_missing_files_and_staging_directories_are_not_found(
        served, farm_context, sample):
    base = archive_url(farm_context.config, sample.primary)
    assert (await fetch(f"{base}/dists/hoary/nothing-here"))[0] == 404
    dists = os.path.join(layout.tree_path(farm_context.config.archives.root,
                                          sample.primary), "dists")
    staged = os.path.realpath(os.path.join(dists, "hoary"))
    assert (await fetch(f"{base}/dists/{os.path.basename(staged)}/Release"))[0] == 404
    assert (await fetch(f"{base}/dists/hoary/../../../work/"))[0] == 404
    code, listing = await fetch(f"{base}/dists/")
    assert code == 200 and b"hoary-updates" in listing and b".hoary" not in listing


@pytest_twisted.ensureDeferred
async def test_a_private_archive_needs_its_buildd_credentials(served, farm_context, sample):
    base = archive_url(farm_context.config, sample.cprov_ppa, with_credentials=False)
    release = f"{base}/dists/hoary/Release"
    assert (await fetch(release))[0] == 401
    assert (await fetch(release, **auth("buildd", "wrong")))[0] == 401
    assert (await fetch(release, **auth("cprov", SECRET)))[0] == 401
    code, body = await fetch(release, **auth("buildd", SECRET))
    assert code == 200 and b"Suite: hoary" in body


@pytest_twisted.ensureDeferred
async def test_a_private_archive_is_never_on_a_public_url(served, farm_context, sample):
    urls = farm_context.config.archives
    for base in (urls.ppa_url, urls.primary_url):
        code, _ = await fetch(f"{base}/cprov/ppa/ubuntu/dists/hoary/Release",
                              **auth("buildd", SECRET))
        assert code == 404


@pytest_twisted.ensureDeferred
async def test_another_archives_secret_opens_nothing(served, farm_context, sample, session):
    sample.mark_ppa.private, sample.mark_ppa.buildd_secret = True, "marks-secret"
    session.commit()
    base = archive_url(farm_context.config, sample.cprov_ppa, with_credentials=False)
    code, _ = await fetch(f"{base}/dists/hoary/Release", **auth("buildd", "marks-secret"))
    assert code == 401


@pytest_twisted.ensureDeferred
async def test_a_ppa_made_private_leaves_its_public_url_at_once(
        served, farm_context, sample, session):
    ppa = sample.mark_ppa
    binary_publication(session, farm_context.librarian, ppa, sample.hoary["i386"],
                       "markstool", "1.0")
    session.commit()
    assert not publish(farm_context, now=NOW).errors
    release = f"{archive_url(farm_context.config, ppa)}/dists/hoary/Release"
    assert (await fetch(release))[0] == 200
    ppa.private, ppa.buildd_secret = True, "marks-secret"
    session.commit()
    assert (await fetch(release))[0] == 404, "before the publisher has moved the tree"


@pytest_twisted.ensureDeferred
async def test_apt_on_this_host_lists_the_published_packages(served, farm_context, sample,
                                                              tmp_path):
    config = farm_context.config
    apt = HostApt(tmp_path / "apt", [
        f"deb {archive_url(config, sample.primary)} hoary main",
        f"deb {archive_url(config, sample.cprov_ppa, with_credentials=False)} hoary main"],
        keys=[public_key(config.archives.signing_key)],
        auth=[(config.archives.private_ppa_url, "buildd", SECRET)])
    done = await threads.deferToThread(apt.update)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "W:" not in done.stderr and "E:" not in done.stderr, done.stderr
    assert await threads.deferToThread(apt.versions, "libfoo1") == ["1.0"]
    assert await threads.deferToThread(apt.versions, "libsecret1") == ["0.1"]


@pytest_twisted.ensureDeferred
async def test_apt_refuses_an_archive_signed_with_a_key_it_was_not_given(
        served, farm_context, sample, tmp_path):
    apt = HostApt(tmp_path / "apt", [
        f"deb {archive_url(farm_context.config, sample.primary)} hoary main"])
    done = await threads.deferToThread(apt.update)
    assert "NO_PUBKEY" in done.stdout + done.stderr
    assert await threads.deferToThread(apt.versions, "libfoo1") == []


def mount(url, area="primary"):
    return Mount(url, "/srv/" + url.rsplit("/", 1)[-1], area)


def test_a_request_goes_to_the_longest_base_on_its_host():
    mounts = [mount("http://farm/archive"), mount("http://farm/archive/ppa"),
              mount("http://farm/archive/private", area="private")]
    assert choose(mounts, "farm", ["archive", "ppa", "x"]) == (mounts[1], ["x"])
    assert choose(mounts, "farm", ["archive", "ubuntu"]) == (mounts[0], ["ubuntu"])
    assert choose(mounts, "farm", ["elsewhere"]) == (None, None)


def test_bases_told_apart_only_by_host_need_the_host():
    mounts = [mount("http://ftpmaster.internal"), mount("http://ppa.launchpad.dev"),
              mount("http://private-ppa.launchpad.dev", area="private")]
    assert choose(mounts, "private-ppa.launchpad.dev", ["cprov"])[0] is mounts[2]
    assert choose(mounts, "ppa.launchpad.dev", ["cprov"])[0] is mounts[1]
    assert choose(mounts, "127.0.0.1", ["cprov"]) == (None, None)
