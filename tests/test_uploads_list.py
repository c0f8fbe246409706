"""The list of uploads: ``buildmaster uploads``, ``/api/1.0/uploads`` and
the ``/uploads`` page, with the operator's ``buildmaster upload`` among
the developers' dput uploads.

On the sample world (ubuntu; archives primary, partner, ~cprov/ppa and
~mark/ppa).  The developers' uploads are Upload rows as the upload
server's processing records them (tests/test_uploads_dput.py sends real
ones); the operator's come from the real command.
"""

import datetime

import pytest_twisted
import sqlalchemy as sa

from buildmaster.model import Build, OpenPGPKey, Upload
from buildmaster.testing.debpackages import make_source_package
from buildmaster.testing.gpgkeys import throwaway_keys  # noqa: F401
from buildmaster.uploads import listing
from buildmaster.web import auth
from tests.clihelpers import Cli, cli  # noqa: F401
from tests.webhelpers import make_token, web  # noqa: F401

HOARY = ("--distribution", "ubuntu", "--series", "hoary")
START = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)


def at(minutes):
    return START + datetime.timedelta(minutes=minutes)


def developers_uploads(sample, session):
    """Three uploads as the upload server records them, oldest first:
    cprov's accepted into his PPA, mark's refused for two reasons, and
    one whose processing failed."""
    cprov, mark = sample.person["cprov"], sample.person["mark"]
    rows = [
        Upload(queue_id="20260301-120000-aaaa", date_received=at(0),
               target="~cprov/ppa/ubuntu", changes_name="evolution_2.1_source.changes",
               signer=cprov, fingerprint="A" * 40, source="evolution", version="2.1",
               archive=sample.cprov_ppa, state="ACCEPTED", reasons=[], builds=[7]),
        Upload(queue_id="20260301-121000-bbbb", date_received=at(10), target="ubuntu",
               changes_name="firefox_0.9_source.changes", signer=mark, fingerprint="B" * 40,
               source="firefox", version="0.9", state="REJECTED",
               reasons=["mark may not upload to primary in ubuntu (main)",
                        "firefox 0.9 is not newer than 0.9, which primary has in hoary"]),
        Upload(queue_id="20260301-122000-cccc", date_received=at(20), target="ubuntu",
               state="FAILED",
               reasons=["the master failed processing it; its log says why"]),
    ]
    session.add_all(rows)
    session.commit()
    return rows


def private_uploads(sample, session):
    """~mark/ppa made private, and uploads the public must not see: one
    accepted into it, one rejected before its archive was found (disabled),
    and one to a target that names no archive at all; beside them one
    rejected upload whose target names the public primary archive."""
    sample.mark_ppa.private = True
    mark = sample.person["mark"]
    session.add_all([
        Upload(queue_id="p1", date_received=at(30), target="~mark/ppa/ubuntu",
               signer=mark, source="embargoed", version="1.0", archive=sample.mark_ppa,
               state="ACCEPTED", reasons=[], builds=[]),
        Upload(queue_id="p2", date_received=at(40), target="~mark/ppa/ubuntu",
               signer=mark, source="embargoed", version="1.1", state="REJECTED",
               reasons=["no archive '~mark/ppa/ubuntu' takes uploads"]),
        Upload(queue_id="p3", date_received=at(50), target="~mark/secret/ubuntu",
               signer=mark, source="secret", version="1.0", state="REJECTED",
               reasons=["no archive '~mark/secret/ubuntu' takes uploads"]),
        Upload(queue_id="q1", date_received=at(60), target="ubuntu", source="public",
               version="1.0", state="REJECTED", reasons=["signed by no known key"]),
    ])
    session.commit()


# -- The command line ---------------------------------------------------------

def test_the_list_is_newest_first_with_reasons_and_builds(cli, sample, session):
    assert cli("uploads").out == "No uploads.\n"
    developers_uploads(sample, session)
    lines = cli("uploads").out.splitlines()
    assert lines[0].split() == ["TIME", "SIGNER", "SOURCE", "VERSION", "TARGET", "STATE",
                                "REASONS", "BUILDS"]
    assert lines[1].split()[:7] == ["2026-03-01", "12:20:00", "-", "-", "-", "ubuntu",
                                    "FAILED"]
    assert lines[2].split()[:8] == ["2026-03-01", "12:10:00", "mark", "firefox", "0.9",
                                    "ubuntu", "REJECTED", "mark"]
    assert ("mark may not upload to primary in ubuntu (main); firefox 0.9 is not newer "
            "than 0.9, which primary has in hoary") in lines[2]
    assert lines[3].split() == ["2026-03-01", "12:00:00", "cprov", "evolution", "2.1",
                                "~cprov/ppa/ubuntu", "ACCEPTED", "-", "7"]
    assert len(lines) == 4


def test_the_state_filter_and_json(cli, sample, session):
    developers_uploads(sample, session)
    rejected = cli("uploads", "--state", "rejected", "--json").json()
    assert [(u["source"], u["state"]) for u in rejected] == [("firefox", "REJECTED")]
    (shown,) = rejected
    assert shown == {
        "id": shown["id"], "queue_id": "20260301-121000-bbbb",
        "date_received": "2026-03-01T12:10:00+00:00", "time": "2026-03-01 12:10:00",
        "signer": "mark", "fingerprint": "B" * 40,
        "changes_name": "firefox_0.9_source.changes", "source": "firefox",
        "version": "0.9", "target": "ubuntu", "archive": None, "private": False,
        "state": "REJECTED",
        "reasons": ["mark may not upload to primary in ubuntu (main)",
                    "firefox 0.9 is not newer than 0.9, which primary has in hoary"],
        "reasons_text": "mark may not upload to primary in ubuntu (main); firefox 0.9 "
                        "is not newer than 0.9, which primary has in hoary",
        "builds": [], "builds_text": None}
    everything = cli("uploads", "--json").json()
    assert [u["state"] for u in everything] == ["FAILED", "REJECTED", "ACCEPTED"]
    assert everything[2]["builds"] == [7] and everything[2]["archive"] == "~cprov/ppa"
    assert [u["state"] for u in cli("uploads", "--json", "--limit", "1").json()] == [
        "FAILED"]
    assert cli("uploads", "--state", "FAILED").out.splitlines()[1].split()[6] == "FAILED"
    assert cli("uploads", "--state", "ACCEPTED", "--json").json()[0]["source"] == \
        "evolution"
    assert cli("uploads", "--state", "lost").error_line() == (
        "buildmaster: error: no upload state named 'lost' (known: ACCEPTED, REJECTED, "
        "FAILED)")


def test_the_operators_list_shows_private_uploads(cli, sample, session):
    private_uploads(sample, session)
    listed = cli("uploads", "--json").json()
    assert [(u["queue_id"], u["private"]) for u in listed] == [
        ("q1", False), ("p3", None), ("p2", True), ("p1", True)]


def test_an_operators_upload_is_listed_as_accepted(cli, sample, session, good_dsc):
    developers_uploads(sample, session)
    result = cli("upload", good_dsc, *HOARY)
    assert result.status == 0, result.err
    build_id = session.scalar(sa.select(sa.func.max(Build.id)))
    newest = cli("uploads", "--json").json()[0]
    assert {key: newest[key] for key in (
        "queue_id", "signer", "fingerprint", "changes_name", "source", "version", "target",
        "archive", "private", "state", "reasons", "builds")} == {
        "queue_id": None, "signer": None, "fingerprint": None, "changes_name": None,
        "source": "hello-bm", "version": "1.0", "target": "ubuntu", "archive": "primary",
        "private": False, "state": "ACCEPTED", "reasons": [], "builds": [build_id]}
    assert f"Build {build_id} (i386) queued as job" in result.out
    # A PPA is named as dput names it; its builds are the upload's.
    assert cli("upload", good_dsc, *HOARY, "--archive", "~cprov/ppa").status == 0
    newest = cli("uploads", "--json").json()[0]
    assert (newest["target"], newest["archive"], len(newest["builds"])) == (
        "~cprov/ppa/ubuntu", "~cprov/ppa", 1)
    table = cli("uploads", "--state", "ACCEPTED").out.splitlines()
    assert [line.split()[3:7] for line in table[1:]] == [
        ["hello-bm", "1.0", "~cprov/ppa/ubuntu", "ACCEPTED"],
        ["hello-bm", "1.0", "ubuntu", "ACCEPTED"],
        ["evolution", "2.1", "~cprov/ppa/ubuntu", "ACCEPTED"]]


def test_a_refused_operators_upload_records_nothing(cli, sample, session, good_dsc):
    assert cli("upload", good_dsc, *HOARY, "--archive", "~nobody/ppa").status == 2
    assert cli("uploads", "--json").json() == []


def test_a_signed_operators_upload_names_its_signer(
        cli, sample, session, farm_config, tmp_path, throwaway_keys, good_dsc):
    """The farm's person holding the key, else the release's creator."""
    cprov_key = throwaway_keys.make("Celso P <celso@example.org>")
    stranger = throwaway_keys.make("Ursula Uploader <ursula@example.org>")
    with open(farm_config.path, "a", encoding="utf-8") as handle:
        keyring = throwaway_keys.export(tmp_path / "k.gpg", cprov_key, stranger)
        handle.write(f"[upload]\nkeyring = {keyring}\n")
    session.add(OpenPGPKey(owner=sample.person["cprov"], fingerprint=cprov_key,
                           filename="cprov.asc", armored="-"))
    session.commit()
    throwaway_keys.clearsign(good_dsc, cprov_key)
    assert cli("upload", good_dsc, *HOARY).status == 0
    newest = cli("uploads", "--json").json()[0]
    assert (newest["signer"], newest["fingerprint"]) == ("cprov", cprov_key)

    other = tmp_path / "other"
    other.mkdir()
    other_dsc = make_source_package(str(other), name="other-bm", version="2.0")
    throwaway_keys.clearsign(other_dsc, stranger)
    assert cli("upload", other_dsc, *HOARY, "--archive", "partner",
               "--component", "partner").status == 0
    newest = cli("uploads", "--json").json()[0]
    assert (newest["signer"], newest["fingerprint"], newest["target"]) == (
        "ursula", stranger, "partner/ubuntu")


# -- The API ------------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_the_api_lists_uploads_in_pages_newest_first(web, sample, session):
    developers_uploads(sample, session)
    index = await web.json("/api/1.0/")
    assert index["uploads"] == "/api/1.0/uploads"
    listed = await web.json("/api/1.0/uploads")
    assert (listed["total"], listed["offset"], listed["limit"], listed["next"],
            listed["previous"]) == (3, 0, 50, None, None)
    assert [u["state"] for u in listed["entries"]] == ["FAILED", "REJECTED", "ACCEPTED"]
    session.expire_all()
    _, cli_form = listing.uploads(session, see_private=True)
    session.rollback()
    assert listed["entries"] == cli_form  # the CLI's objects, the same

    first = await web.json("/api/1.0/uploads?limit=2")
    assert [u["state"] for u in first["entries"]] == ["FAILED", "REJECTED"]
    assert (first["total"], first["next"], first["previous"]) == (
        3, "/api/1.0/uploads?limit=2&offset=2", None)
    second = await web.json(first["next"])
    assert [u["source"] for u in second["entries"]] == ["evolution"]
    assert (second["next"], second["previous"]) == (
        None, "/api/1.0/uploads?limit=2&offset=0")
    assert (await web.json("/api/1.0/uploads?limit=501", code=400))["error"] == \
        "limit must be from 1 to 500"


@pytest_twisted.ensureDeferred
async def test_the_api_filters_by_state(web, sample, session):
    developers_uploads(sample, session)
    accepted = await web.json("/api/1.0/uploads?state=ACCEPTED")
    assert accepted["total"] == 1
    assert [(u["source"], u["builds"]) for u in accepted["entries"]] == [("evolution", [7])]
    rejected = await web.json("/api/1.0/uploads?state=rejected&limit=1")
    assert [u["reasons"] for u in rejected["entries"]] == [[
        "mark may not upload to primary in ubuntu (main)",
        "firefox 0.9 is not newer than 0.9, which primary has in hoary"]]
    assert rejected["next"] is None
    assert (await web.json("/api/1.0/uploads?state=lost", code=400)) == {
        "error": "no upload state named 'lost' (known: ACCEPTED, REJECTED, FAILED)"}


@pytest_twisted.ensureDeferred
async def test_private_uploads_only_with_the_private_right(web, sample, session):
    developers_uploads(sample, session)
    private_uploads(sample, session)
    writer = make_token(session, "writer")
    seer = make_token(session, "seer", (auth.PRIVATE,))
    for token in (None, writer):
        listed = await web.json("/api/1.0/uploads", token=token)
        assert listed["total"] == 4
        assert [u["queue_id"] for u in listed["entries"]] == [
            "q1", "20260301-122000-cccc", "20260301-121000-bbbb", "20260301-120000-aaaa"]
        assert not any(u["private"] for u in listed["entries"])
        rejected = await web.json("/api/1.0/uploads?state=REJECTED&limit=1", token=token)
        assert rejected["total"] == 2 and rejected["next"] is not None
    seen = await web.json("/api/1.0/uploads", token=seer)
    assert seen["total"] == 7
    assert [(u["queue_id"], u["private"]) for u in seen["entries"][:4]] == [
        ("q1", False), ("p3", None), ("p2", True), ("p1", True)]
    assert (await web.json("/api/1.0/uploads?state=REJECTED", token=seer))["total"] == 4

    # The page: the same, by the login cookie.
    hidden = (await web.get("/uploads", headers={"Cookie": f"bm_token={writer}"})).body
    assert b"embargoed" not in hidden and b"secret" not in hidden
    assert b"~mark/ppa" not in hidden and b'data-upload=' in hidden
    shown = (await web.get("/uploads", headers={"Cookie": f"bm_token={seer}"})).body
    assert b"embargoed" in shown and b"~mark/secret/ubuntu" in shown
    assert b'~mark/ppa/ubuntu <span class="private">private</span>' in shown


@pytest_twisted.ensureDeferred
async def test_an_operators_upload_on_the_web(web, sample, session, farm_config, capsys,
                                             good_dsc):
    cli = Cli(farm_config, session, capsys)
    assert cli("upload", good_dsc, *HOARY, "--archive", "~mark/ppa").status == 0
    (shown,) = (await web.json("/api/1.0/uploads"))["entries"]
    assert (shown["source"], shown["target"], shown["state"]) == (
        "hello-bm", "~mark/ppa/ubuntu", "ACCEPTED")
    sample.mark_ppa.private = True
    session.commit()
    assert (await web.json("/api/1.0/uploads"))["total"] == 0
    assert "hello-bm" not in (await web.get("/uploads")).body.decode()


# -- The page -----------------------------------------------------------------

@pytest_twisted.ensureDeferred
async def test_the_uploads_page(web, sample, session):
    empty = await web.get("/uploads")
    assert empty.code == 200 and b"No uploads yet" in empty.body
    developers_uploads(sample, session)
    page = await web.get("/uploads")
    assert page.code == 200
    assert page.headers.getRawHeaders("content-type") == ["text/html; charset=utf-8"]
    body = page.body.decode()
    assert '<a href="/uploads">Uploads</a>' in body  # the nav
    rows = body.split("<tbody>")[1].split("</tbody>")[0].split("<tr data-upload=")[1:]
    assert len(rows) == 3
    failed, rejected, accepted = rows
    assert '<span class="state state-FAILED">FAILED</span>' in failed
    assert "<li>the master failed processing it; its log says why</li>" in failed
    assert '<a href="/builds?source=firefox">firefox</a>' in rejected
    assert "<li>mark may not upload to primary in ubuntu (main)</li>" in rejected
    assert '<time datetime="2026-03-01T12:10:00+00:00">2026-03-01 12:10:00</time>' \
        in rejected
    assert "<td>~cprov/ppa/ubuntu</td>" in accepted
    assert '<a href="/builds/7">7</a>' in accepted and "<td>cprov</td>" in accepted
    assert "<script>" not in body

    only = (await web.get("/uploads?state=ACCEPTED")).body.decode()
    assert '<option value="ACCEPTED" selected>' in only
    assert only.count("<tr data-upload=") == 1 and "evolution" in only
    assert b"No FAILED uploads." not in (await web.get("/uploads?state=FAILED")).body
    bad = await web.get("/uploads?state=lost")
    assert bad.code == 400 and b"no upload state named" in bad.body
    for path in ("/", "/builds", "/distributions"):
        assert b'<a href="/uploads">Uploads</a>' in (await web.get(path)).body, path


@pytest_twisted.ensureDeferred
async def test_markup_in_an_upload_is_text(web, sample, session):
    session.add(Upload(queue_id="x", target="ubuntu", date_received=at(0),
                       changes_name="<b>x</b>.changes", state="REJECTED",
                       reasons=['<script>alert("reason")</script>']))
    session.commit()
    body = (await web.get("/uploads")).body
    assert b"<script>alert" not in body and b"<b>x" not in body
    assert b"&lt;script&gt;alert(&#34;reason&#34;)&lt;/script&gt;" in body
    assert b"&lt;b&gt;x&lt;/b&gt;.changes" in body
