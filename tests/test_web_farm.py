"""The farm's definition on the web: ``/api/1.0/distributions``,
``/api/1.0/series/DIST/SERIES`` and ``/api/1.0/archives``, and the pages
``/distributions``, ``/distributions/NAME`` and ``/series/DIST/SERIES``.

On the sample world (ubuntu with warty and hoary, each i386 with a
chroot; archives primary, partner, ~cprov/ppa and ~mark/ppa; builds 4,
5, 7, 8 and 9 in hoary), and on a farm made by ``buildmaster apply``.
"""

import pytest
import pytest_twisted
import sqlalchemy as sa

from buildmaster.model import Archive, Distribution, DistroArchSeries
from buildmaster.operators import output
from buildmaster.web import auth, farmviews
from tests.clihelpers import Cli
from tests.webhelpers import make_token, web  # noqa: F401

SECRET = "s3cret-buildd-password-0123456789"
ARCHIVE_KEYS = {"reference", "distribution", "enabled", "private", "url"}


def like(shown, expected):
    """``shown`` cut down to the keys of ``expected`` (the CLI's object),
    in nested dicts and lists too: the web may say more, never otherwise."""
    if isinstance(expected, dict):
        return {key: like(shown[key], value) for key, value in expected.items()}
    if isinstance(expected, list) and len(shown) == len(expected):
        return [like(each, value) for each, value in zip(shown, expected)]
    return shown


def cookie(token):
    return {"Cookie": f"bm_token={token}"}


def amd64_without_chroot(sample, session):
    """hoary gets amd64, with no chroot: nothing builds there yet."""
    arch = DistroArchSeries(distroseries=sample.hoary, processor=sample.amd64,
                            architecturetag="amd64")
    session.add(arch)
    session.commit()
    return arch


def private_mark_ppa(sample, session):
    """~mark/ppa (builds 3 and 5) made private, with a buildd secret."""
    sample.mark_ppa.private = True
    sample.mark_ppa.buildd_secret = SECRET
    session.commit()


# -- The API ------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_the_index_names_the_farms_endpoints(web, sample):
    index = await web.json("/api/1.0/")
    assert index["distributions"] == "/api/1.0/distributions"
    assert index["distribution"] == "/api/1.0/distributions/{name}"
    assert index["series"] == "/api/1.0/series/{distribution}/{series}"
    assert index["archives"] == "/api/1.0/archives"


@pytest_twisted.ensureDeferred
async def test_distributions_are_listed_with_components_pockets_and_series(
        web, sample, session):
    session.add(Distribution(name="acme", displayname="Acme", title="Acme Linux",
                             components=["main", "contrib"],
                             upload_pockets=["RELEASE", "UPDATES"]))
    session.commit()
    listed = await web.json("/api/1.0/distributions")
    assert (listed["total"], listed["offset"], listed["next"], listed["previous"]) == (
        2, 0, None, None)
    assert listed["entries"] == [
        {"name": "acme", "title": "Acme Linux", "displayname": "Acme",
         "components": ["main", "contrib"], "upload_pockets": ["RELEASE", "UPDATES"],
         "series": []},
        {"name": "ubuntu", "title": "Ubuntu Linux", "displayname": "Ubuntu",
         "components": ["main", "restricted", "universe", "multiverse"],
         "upload_pockets": ["RELEASE"],
         "series": ["warty", "hoary"]}]
    first = await web.json("/api/1.0/distributions?limit=1")
    assert [each["name"] for each in first["entries"]] == ["acme"]
    assert first["next"] == "/api/1.0/distributions?limit=1&offset=1"
    second = await web.json(first["next"])
    assert [each["name"] for each in second["entries"]] == ["ubuntu"]
    assert second["previous"] == "/api/1.0/distributions?limit=1&offset=0"
    assert (await web.json("/api/1.0/distributions?limit=0", code=400))["error"].startswith(
        "limit must be from 1 to 500")


@pytest_twisted.ensureDeferred
async def test_a_series_with_architectures_chroots_parent_lines_archives_and_builds(
        web, sample, session):
    amd64_without_chroot(sample, session)
    sample.hoary.parent_series = sample.warty
    sample.hoary.external_dependencies = ["deb http://mirror.example/debian bookworm main"]
    session.commit()
    shown = await web.json("/api/1.0/series/ubuntu/hoary")
    session.expire_all()
    cli_form = output.series_object(sample.hoary)
    session.rollback()
    assert like(shown, cli_form) == cli_form  # the CLI's object, and more
    assert (shown["series"], shown["distribution"], shown["name"]) == (
        "ubuntu/hoary", "ubuntu", "hoary")
    assert (shown["version"], shown["status"]) == ("5.04", "DEVELOPMENT")
    assert (shown["parent"], shown["parent_path"]) == ("warty", "ubuntu/warty")
    assert shown["nominated_arch_indep"] == "i386"
    assert shown["external_dependencies"] == [
        "deb http://mirror.example/debian bookworm main"]
    assert [(a["tag"], a["processor"], a["chroot"], a["chroot_make"],
             a["nominated_arch_indep"]) for a in shown["architectures"]] == [
        ("i386", "386", True, None, True),
        ("amd64", "amd64", False, "buildmaster chroot make ubuntu/hoary/amd64", False)]
    assert shown["architectures_text"] == "i386(386) amd64(amd64, no chroot)"
    assert [a["reference"] for a in shown["archives"]] == [
        "primary", "partner", "~cprov/ppa", "~mark/ppa"]
    assert all(set(a) == ARCHIVE_KEYS for a in shown["archives"])
    assert [b["id"] for b in shown["recent_builds"]] == [9, 8, 7, 5, 4]
    assert {b["series"] for b in shown["recent_builds"]} == {"hoary"}
    warty = await web.json("/api/1.0/series/ubuntu/warty")
    assert [b["id"] for b in warty["recent_builds"]] == [6, 3, 2, 1]
    assert warty["parent"] is None and warty["architectures_text"] == "i386(386)"


@pytest_twisted.ensureDeferred
async def test_a_series_shows_its_newest_builds_only(web, sample, monkeypatch):
    monkeypatch.setattr(farmviews, "SERIES_BUILDS", 2)
    shown = await web.json("/api/1.0/series/ubuntu/hoary")
    assert [b["id"] for b in shown["recent_builds"]] == [9, 8]


@pytest_twisted.ensureDeferred
async def test_archives_are_listed_with_their_urls(web, sample, farm_config):
    listed = await web.json("/api/1.0/archives")
    assert listed["total"] == 4
    urls = {a["reference"]: a["url"] for a in listed["entries"]}
    primary = farm_config.archives.primary_url
    assert urls["primary"] == f"{primary}/ubuntu"
    assert urls["partner"] == f"{primary}/ubuntu-partner"
    assert urls["~mark/ppa"] == f"{farm_config.archives.ppa_url}/mark/ppa/ubuntu"
    paged = await web.json("/api/1.0/archives?limit=3&distribution=ubuntu")
    assert len(paged["entries"]) == 3
    assert paged["next"] == "/api/1.0/archives?limit=3&distribution=ubuntu&offset=3"


@pytest_twisted.ensureDeferred
async def test_unknown_distributions_and_series_are_404(web, sample):
    for path, text in [
            ("/api/1.0/series/ubuntu/nowhere",
             "ubuntu has no series named 'nowhere' (known: hoary, warty)"),
            ("/api/1.0/series/debian/sid", "no distribution named 'debian' (known: ubuntu)"),
            ("/api/1.0/distributions/debian",
             "no distribution named 'debian' (known: ubuntu)"),
            ("/api/1.0/archives?distribution=debian",
             "no distribution named 'debian' (known: ubuntu)")]:
        assert await web.json(path, code=404) == {"error": text}
    for path in ("/api/1.0/series/ubuntu", "/api/1.0/series/ubuntu/hoary/i386"):
        assert (await web.json(path, code=404))["error"].startswith("no such API")
    for path in ("/distributions/debian", "/series/ubuntu/nowhere", "/series/debian/sid",
                 "/series/ubuntu"):
        page = await web.get(path)
        assert page.code == 404 and b"Not found" in page.body, path


@pytest_twisted.ensureDeferred
async def test_a_private_archive_only_for_a_token_with_the_private_right(
        web, sample, session, farm_config):
    private_mark_ppa(sample, session)
    writer = make_token(session, "writer")
    seer = make_token(session, "seer", (auth.PRIVATE,))
    for token in (None, writer):
        listed = await web.json("/api/1.0/archives", token=token)
        assert listed["total"] == 3
        assert "~mark/ppa" not in [a["reference"] for a in listed["entries"]]
        hoary = await web.json("/api/1.0/series/ubuntu/hoary", token=token)
        assert "~mark/ppa" not in [a["reference"] for a in hoary["archives"]]
        assert [b["id"] for b in hoary["recent_builds"]] == [9, 8, 7, 4]
        ubuntu = await web.json("/api/1.0/distributions/ubuntu", token=token)
        assert "~mark/ppa" not in [a["reference"] for a in ubuntu["archives"]]
    seen = await web.json("/api/1.0/archives", token=seer)
    assert seen["total"] == 4
    (mark,) = [a for a in seen["entries"] if a["reference"] == "~mark/ppa"]
    assert mark == {"reference": "~mark/ppa", "distribution": "ubuntu", "enabled": True,
                    "private": True,
                    "url": f"{farm_config.archives.private_ppa_url}/mark/ppa/ubuntu"}
    hoary = await web.json("/api/1.0/series/ubuntu/hoary", token=seer)
    assert "~mark/ppa" in [a["reference"] for a in hoary["archives"]]
    assert [b["id"] for b in hoary["recent_builds"]] == [9, 8, 7, 5, 4]

    # The pages: the same, by the login cookie.
    for path in ("/distributions/ubuntu", "/series/ubuntu/hoary", "/series/ubuntu/warty"):
        hidden = await web.get(path, headers=cookie(writer))
        assert hidden.code == 200 and b"~mark/ppa" not in hidden.body, path
        shown = await web.get(path, headers=cookie(seer))
        assert b'data-archive="~mark/ppa"' in shown.body, path
        assert b'<span class="private">private</span>' in shown.body


@pytest_twisted.ensureDeferred
async def test_the_buildd_secret_never_appears(web, sample, session):
    private_mark_ppa(sample, session)
    seer = make_token(session, "seer", (auth.WRITE, auth.PRIVATE))
    paths = ["/api/1.0/distributions", "/api/1.0/distributions/ubuntu",
             "/api/1.0/series/ubuntu/hoary", "/api/1.0/series/ubuntu/warty",
             "/api/1.0/archives", "/api/1.0/archives?distribution=ubuntu",
             "/distributions", "/distributions/ubuntu", "/series/ubuntu/hoary",
             "/series/ubuntu/warty", "/builds/3", "/builds/5"]
    for path in paths:
        for headers in ({}, cookie(seer), {"Authorization": f"Bearer {seer}"}):
            answer = await web.get(path, headers=headers)
            assert answer.code in (200, 404), (path, answer.code)
            assert SECRET.encode() not in answer.body, path
            assert b"buildd:" not in answer.body, path


# -- The pages ----------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_the_series_page_says_an_architecture_without_a_chroot_builds_nothing(
        web, sample, session):
    amd64_without_chroot(sample, session)
    page = await web.get("/series/ubuntu/hoary")
    assert page.code == 200
    body = page.body.decode()
    assert "<h1>Series ubuntu/hoary <small>Hoary 5.04</small></h1>" in body
    i386 = body.split('<tr data-arch="i386">')[1].split("</tr>")[0]
    assert '<td class="chroot chroot-present">yes</td>' in i386
    assert "No chroot" not in i386
    amd64 = body.split('<tr data-arch="amd64">')[1].split("</tr>")[0]
    assert '<td class="chroot chroot-missing">none</td>' in amd64
    assert ("No chroot yet, so nothing builds for ubuntu/hoary/amd64 until one is made: "
            "<code>buildmaster chroot make ubuntu/hoary/amd64</code>") in amd64
    assert '<tr data-build="9">' in body and '<tr data-build="3">' not in body
    assert 'data-archive="~cprov/ppa"' in body
    distribution = (await web.get("/distributions/ubuntu")).body.decode()
    assert "buildmaster chroot make ubuntu/hoary/amd64" in distribution
    assert "buildmaster chroot make ubuntu/warty" not in distribution
    # With a chroot, the page says so at its next refresh.
    session.get(DistroArchSeries, sample.hoary["amd64"].id).chroot = sample.chroot
    session.commit()
    assert b"No chroot yet" not in (await web.get("/series/ubuntu/hoary")).body


@pytest.mark.parametrize("path, shown", [
    ("/distributions", b'<a href="/distributions/ubuntu">ubuntu</a>'),
    ("/distributions", b'<a href="/series/ubuntu/hoary">hoary</a>'),
    ("/distributions/ubuntu", b"<h1>Distribution ubuntu <small>Ubuntu Linux</small></h1>"),
    ("/distributions/ubuntu", b'<a href="/series/ubuntu/warty">warty</a>'),
    ("/distributions/ubuntu", b"<code>{primary_url}/ubuntu</code>"),
    ("/series/ubuntu/warty", b'<a href="/distributions/ubuntu">ubuntu</a>'),
    ("/series/ubuntu/warty", b"built on i386"),
])
@pytest_twisted.ensureDeferred
async def test_the_farm_pages_render(web, sample, farm_config, path, shown):
    page = await web.get(path)
    assert page.code == 200
    assert page.headers.getRawHeaders("content-type") == ["text/html; charset=utf-8"]
    shown = shown.replace(b"{primary_url}", farm_config.archives.primary_url.encode())
    assert shown in page.body
    assert b"<script>" not in page.body


@pytest_twisted.ensureDeferred
async def test_the_existing_pages_link_distributions_and_series(web, sample):
    for path in ("/", "/builds", "/builders/bob", "/series/ubuntu/hoary"):
        body = (await web.get(path)).body
        assert b'<a href="/distributions">Distributions</a>' in body, path  # the nav
    builds = (await web.get("/builds")).body
    assert b'<a href="/series/ubuntu/hoary">hoary</a>' in builds
    assert b'<a href="/series/ubuntu/warty">warty</a>' in builds
    build = (await web.get("/builds/8")).body
    assert (b'<a href="/distributions/ubuntu">ubuntu</a> '
            b'<a href="/series/ubuntu/hoary">hoary</a> RELEASE') in build
    assert b'<a href="/series/ubuntu/warty">warty</a>' in (await web.get("/builders/bob")).body


@pytest_twisted.ensureDeferred
async def test_markup_in_the_farms_definition_is_text(web, sample, session):
    sample.ubuntu.title = '<script>alert("title")</script>'
    sample.ubuntu.components = ["main", "<b>bold</b>"]
    sample.hoary.displayname = '<img src=x onerror="alert(1)">'
    sample.hoary.external_dependencies = ['deb <a href="x">mirror</a> bookworm main']
    session.commit()
    for path in ("/distributions", "/distributions/ubuntu", "/series/ubuntu/hoary"):
        body = (await web.get(path)).body
        assert b"<script>alert" not in body and b"<b>bold" not in body, path
        assert b"&lt;b&gt;bold&lt;/b&gt;" in body, path
    series = (await web.get("/series/ubuntu/hoary")).body
    assert b"&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in series
    assert b"<img src=x" not in series
    assert (b"<code>deb &lt;a href=&#34;x&#34;&gt;mirror&lt;/a&gt; bookworm main</code>"
            in series)
    assert b"&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in (
        await web.get("/distributions/ubuntu")).body


@pytest_twisted.ensureDeferred
async def test_an_empty_farm_says_how_to_define_one(web):
    body = (await web.get("/distributions")).body
    assert b"No distributions: define them in a farm file" in body
    assert (await web.json("/api/1.0/distributions"))["total"] == 0
    assert (await web.json("/api/1.0/archives"))["entries"] == []


# -- A farm made by `buildmaster apply` ---------------------------------------

FARM = '''\
[[processor]]
name = "amd64"
title = "AMD64"

[[distribution]]
name = "acme"
title = "Acme Linux"
components = ["main", "contrib"]

[[distribution.series]]
name = "rocket"
version = "1.0"
status = "DEVELOPMENT"
architectures = { amd64 = "amd64" }
nominated_arch_indep = "amd64"
external_dependencies = ["deb http://mirror.example/debian bookworm main"]

[[distribution.series]]
name = "shuttle"
version = "2.0"
status = "EXPERIMENTAL"
architectures = { amd64 = "amd64" }
parent = "rocket"

[[person]]
name = "alice"
email = "alice@example.org"

[[archive]]
reference = "~alice/tools"
distribution = "acme"
private = true

[[archive]]
reference = "~alice/public"
distribution = "acme"
'''


@pytest_twisted.ensureDeferred
async def test_the_web_reads_back_what_apply_made_as_the_cli_does(
        web, farm_config, session, capsys, tmp_path):
    cli = Cli(farm_config, session, capsys)
    farm_file = tmp_path / "farm.toml"
    farm_file.write_text(FARM)
    assert cli("apply", str(farm_file)).status == 0
    secret = session.scalar(sa.select(Archive.buildd_secret).where(Archive.private))
    assert secret
    cli_series = cli("series", "list", "--json").json()
    cli_archives = cli("archive", "list", "--json").json()
    seer = make_token(session, "seer", (auth.PRIVATE,))

    (acme,) = (await web.json("/api/1.0/distributions"))["entries"]
    assert (acme["components"], acme["upload_pockets"], acme["series"]) == (
        ["main", "contrib"], ["RELEASE"], ["rocket", "shuttle"])
    for expected in cli_series:
        shown = await web.json(f"/api/1.0/series/{expected['series']}")
        assert like(shown, expected) == expected
    rocket = await web.json("/api/1.0/series/acme/rocket")
    (amd64,) = rocket["architectures"]
    assert amd64["chroot_make"] == "buildmaster chroot make acme/rocket/amd64"
    assert rocket["recent_builds"] == []
    shuttle = await web.json("/api/1.0/series/acme/shuttle")
    assert (shuttle["parent"], shuttle["nominated_arch_indep"]) == ("rocket", None)

    public = await web.json("/api/1.0/archives")
    assert [a["reference"] for a in public["entries"]] == ["primary", "~alice/public"]
    everything = await web.json("/api/1.0/archives", token=seer)
    assert everything["entries"] == cli_archives  # the CLI's objects, the same
    assert [a["reference"] for a in everything["entries"]] == [
        "primary", "~alice/tools", "~alice/public"]

    page = (await web.get("/series/acme/rocket")).body.decode()
    assert "No chroot yet, so nothing builds for acme/rocket/amd64" in page
    assert "<li><code>deb http://mirror.example/debian bookworm main</code></li>" in page
    assert "~alice/tools" not in page and 'data-archive="~alice/public"' in page
    seen = await web.get("/series/acme/rocket", headers=cookie(seer))
    assert b'data-archive="~alice/tools"' in seen.body
    shuttle_page = (await web.get("/series/acme/shuttle")).body.decode()
    assert '<a href="/series/acme/rocket">acme/rocket</a>' in shuttle_page
    for path in ("/api/1.0/archives", "/api/1.0/series/acme/rocket",
                 "/distributions/acme", "/series/acme/rocket"):
        for headers in ({}, cookie(seer)):
            assert secret.encode() not in (await web.get(path, headers=headers)).body
