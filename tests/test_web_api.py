"""``/api/1.0/``: every endpoint over a real loopback socket, on the
sample world (builds 1-9; bob builds build 8, job 2 is build 9)."""

import datetime
import logging

import pytest_twisted

from buildmaster.operators import output
from buildmaster.runtime import wakeups
from buildmaster.model import Build, BuildQueue, BuildStatus, utcnow
from buildmaster.web import auth
from tests.webhelpers import make_token, web  # noqa: F401

BUILD_KEYS = {"id", "title", "source", "version", "distribution", "series", "arch",
              "archive", "pocket", "state", "colour", "warnings", "builder", "datecreated",
              "datebuilt", "buildlog_url", "dependencies", "failure_count", "upstream_bugs"}
BUILDER_KEYS = {"name", "title", "url", "processor", "virtualized", "manual", "builderok",
                "failnotes", "failure_count", "current_build", "state", "building"}


@pytest_twisted.ensureDeferred
async def test_the_index_names_every_endpoint(web, sample):
    index = await web.json("/api/1.0/")
    assert index["builds"] == "/api/1.0/builds"
    assert index["actions"]["retry"] == "POST /api/1.0/builds/{id}/retry"
    assert (await web.get("/api/1.0/nothing")).code == 404


@pytest_twisted.ensureDeferred
async def test_the_farm_at_a_glance(web, sample, session):
    session.get(Build, 3).datebuilt = utcnow() - datetime.timedelta(minutes=10)
    session.commit()
    farm = await web.json("/api/1.0/farm")
    by_name = {builder["name"]: builder for builder in farm["builders"]}
    assert by_name["bob"]["state"] == "building" and by_name["bob"]["current_build"] == 8
    assert by_name["bob"]["building_title"].startswith("i386 build of mozilla-firefox")
    assert by_name["frog"]["state"] == "idle"
    assert farm["queue_depth"] == [{"processor": "386", "archive": "primary", "jobs": 1}]
    assert (farm["pending"], farm["dependency_waits"]) == (1, 1)
    assert farm["finished_last_hour"] == {"FAILEDTOBUILD": 1}
    assert [build["id"] for build in farm["recent_builds"]] == [9, 8, 7, 6, 5, 4, 3, 2, 1]


@pytest_twisted.ensureDeferred
async def test_builds_are_filtered_and_paged(web, sample):
    page = await web.json("/api/1.0/builds?limit=4")
    assert (page["total"], page["offset"], page["limit"], page["previous"]) == (9, 0, 4, None)
    assert [build["id"] for build in page["entries"]] == [9, 8, 7, 6]
    assert BUILD_KEYS <= set(page["entries"][0])
    assert page["next"] == "/api/1.0/builds?limit=4&offset=4"
    last = await web.json("/api/1.0/builds?limit=4&offset=8")
    assert [b["id"] for b in last["entries"]] == [1] and last["next"] is None
    assert last["previous"] == "/api/1.0/builds?limit=4&offset=4"

    async def ids(query):
        return [b["id"] for b in (await web.json("/api/1.0/builds?" + query))["entries"]]
    assert await ids("state=failedtobuild") == [3]
    assert await ids("source=foobar") == [9, 6, 3]
    assert await ids("archive=~mark/ppa") == [5, 3]
    assert await ids("archive=primary&state=FULLYBUILT") == [7, 6, 2, 1]
    assert await ids("arch=amd64") == []


@pytest_twisted.ensureDeferred
async def test_bad_paging_and_filters_are_400_naming_the_problem(web, sample):
    for query, text in [("limit=0", "limit must be from 1 to 500"),
                        ("limit=x", "limit and offset must be whole numbers"),
                        ("offset=-1", "offset must not be negative"),
                        ("state=GONE", "no build state named 'GONE'")]:
        answer = await web.json("/api/1.0/builds?" + query, code=400)
        assert answer["error"].startswith(text)


@pytest_twisted.ensureDeferred
async def test_one_build_with_its_history_and_log_tail(web, sample, session):
    session.get(BuildQueue, 1).logtail = "dpkg-buildpackage: <b>building</b>\n"
    session.commit()
    build = await web.json("/api/1.0/builds/8")
    assert BUILD_KEYS <= set(build)
    assert (build["state"], build["builder"], build["score"], build["job"]) == (
        "BUILDING", "bob", 1, 1)
    assert build["logtail"] == "dpkg-buildpackage: <b>building</b>\n"
    assert [event["state"] for event in build["history"]] == ["NEEDSBUILD", "BUILDING"]
    assert build["history"][1]["builder"] == "bob"
    assert (build["retryable"], build["cancellable"], build["reason"]) == (
        False, True, None)
    waiting = await web.json("/api/1.0/builds/9")
    assert waiting["reason"] == "next dispatch: frog is free" and waiting["cancellable"]
    missing = await web.json("/api/1.0/builds/999", code=404)
    assert missing == {"error": "no build with id 999"}


@pytest_twisted.ensureDeferred
async def test_a_finished_build_links_its_logs_in_the_librarian(
        web, sample, session, librarian, farm_config):
    failed = session.get(Build, 3)
    failed.buildlog = librarian.add_bytes(session, "buildlog.txt.gz", b"log",
                                          mimetype="text/plain")
    session.commit()
    build = await web.json("/api/1.0/builds/3")
    assert build["buildlog_url"] == output.file_url(farm_config, failed.buildlog)
    assert [e["state"] for e in build["history"]] == ["NEEDSBUILD", "FAILEDTOBUILD"]
    assert build["retryable"] and not build["cancellable"]


@pytest_twisted.ensureDeferred
async def test_builders_and_one_builder(web, sample):
    builders = await web.json("/api/1.0/builders")
    assert [b["name"] for b in builders["entries"]] == ["bob", "frog"]
    assert all(BUILDER_KEYS <= set(b) for b in builders["entries"])
    assert [(b["building"], b["current_build"]) for b in builders["entries"]] == [
        (True, 8), (False, None)]
    bob = await web.json("/api/1.0/builders/bob")
    assert [build["id"] for build in bob["recent_builds"]] == [7, 6, 5, 4, 3, 2, 1]
    assert bob["outcomes"] == {} and bob["building_for"]
    assert (await web.json("/api/1.0/builders/nobody", code=404)) == {
        "error": "no builder named 'nobody'"}


@pytest_twisted.ensureDeferred
async def test_every_list_is_paged_in_one_envelope(web, sample):
    """As README.rst says: every list takes limit and offset and answers
    {"total", "offset", "limit", "next", "previous", "entries"}."""
    for path, total in [("/api/1.0/builders", 2), ("/api/1.0/builds", 9),
                        ("/api/1.0/queue", 2), ("/api/1.0/distributions", 1),
                        ("/api/1.0/archives", 4), ("/api/1.0/uploads", 0)]:
        page = await web.json(path + "?limit=1")
        assert set(page) == {"total", "offset", "limit", "next", "previous", "entries"}
        assert (page["total"], page["limit"], len(page["entries"])) == (
            total, 1, min(total, 1)), path
        assert page["next"] == (f"{path}?limit=1&offset=1" if total > 1 else None)
        await web.json(path + "?limit=0", code=400)
    second = await web.json("/api/1.0/builders?limit=1&offset=1")
    assert [b["name"] for b in second["entries"]] == ["frog"]
    assert second["previous"] == "/api/1.0/builders?limit=1&offset=0"


@pytest_twisted.ensureDeferred
async def test_a_builds_start_is_known_once_it_finished_and_while_it_runs(
        web, sample, session):
    """date_started and duration: from its job while it runs, from its end
    and duration once it finished (its job is gone).  No seconds elapsed:
    they would change the answer every second."""
    running = session.get(BuildQueue, 1)
    running.date_started = utcnow() - datetime.timedelta(minutes=5)
    session.commit()
    build = await web.json("/api/1.0/builds/8")
    assert build["date_started"] == running.date_started.isoformat()
    assert build["duration"] is None and "elapsed" not in build
    finished = session.get(Build, 7)
    built = await web.json("/api/1.0/builds/7")
    assert built["date_started"] == (finished.datebuilt - finished.buildduration).isoformat()
    assert built["duration"] == 600
    pending = await web.json("/api/1.0/builds/9")
    assert (pending["date_started"], pending["duration"]) == (None, None)


@pytest_twisted.ensureDeferred
async def test_an_unchanged_answer_is_304_by_its_etag(web, sample, monkeypatch):
    """Also across a second's turn while a build runs (the running build's
    seconds elapsed made the second answer differ: a flaky test)."""
    from buildmaster.web import api
    now = api.utcnow()
    later = iter([now, now + datetime.timedelta(seconds=7)])
    monkeypatch.setattr(api, "utcnow", lambda: next(later, now))
    first = await web.get("/api/1.0/builds")
    (tag,) = first.headers.getRawHeaders("etag")
    again = await web.get("/api/1.0/builds", headers={"If-None-Match": tag})
    assert (again.code, again.body) == (304, b"")
    other = await web.get("/api/1.0/builds?limit=2", headers={"If-None-Match": tag})
    assert other.code == 200


@pytest_twisted.ensureDeferred
async def test_actions_need_a_token_with_the_write_right(web, sample, session):
    reader = make_token(session, "reader", (auth.PRIVATE,))
    nobody = await web.json("/api/1.0/builds/3/retry", data={}, code=401)
    assert "needs a token" in nobody["error"]
    response = await web.post("/api/1.0/builds/3/retry")
    assert response.headers.getRawHeaders("www-authenticate") == [
        'Bearer realm="buildmaster"']
    assert (await web.json("/api/1.0/builds/3/retry", data={}, token="bm_wrong",
                           code=401)) == {"error": "unknown token"}
    assert (await web.json("/api/1.0/builds/3/retry", data={}, token=reader,
                           code=403)) == {"error": "token 'reader' has no write right"}
    assert (await web.get("/api/1.0/builds/3/retry")).code == 405
    session.expire_all()
    assert session.get(Build, 3).buildstate == BuildStatus.FAILEDTOBUILD
    session.rollback()


@pytest_twisted.ensureDeferred
async def test_retry_requeues_a_failed_build_and_logs_the_tokens_name(
        web, sample, session, caplog):
    token = make_token(session, "release-team")
    with caplog.at_level(logging.INFO, logger="buildmaster.web"):
        done = await web.json("/api/1.0/builds/3/retry", data={}, token=token)
    assert done["build"]["state"] == "NEEDSBUILD" and done["build"]["job"] is not None
    assert done["result"].startswith("build 3 was FAILEDTOBUILD; now NEEDSBUILD as job")
    assert any("build 3 (foobar 1.0 i386): FAILEDTOBUILD -> NEEDSBUILD" in line
               and "(retried by token release-team)" in line for line in caplog.messages)
    again = await web.json("/api/1.0/builds/3/retry", data={}, token=token, code=409)
    assert "is NEEDSBUILD; only FAILEDTOBUILD" in again["error"]
    assert (await web.json("/api/1.0/builds/999/retry", data={}, token=token,
                           code=404)) == {"error": "no build with id 999"}


@pytest_twisted.ensureDeferred
async def test_rescore_keeps_the_operators_score(web, sample, session):
    token = make_token(session)
    done = await web.json("/api/1.0/builds/9/rescore", json={"score": 5000}, token=token)
    assert done["build"]["score"] == 5000
    session.expire_all()
    assert session.get(BuildQueue, 2).manual
    session.rollback()
    for score, code in (("lots", 400), ("99999999", 400)):
        await web.json("/api/1.0/builds/9/rescore", data={"score": score}, token=token,
                       code=code)
    await web.json("/api/1.0/builds/8/rescore", data={"score": "1"}, token=token, code=409)


@pytest_twisted.ensureDeferred
async def test_cancel_ends_a_pending_job_a_dependency_wait_or_a_running_build(
        web, sample, session, farm_context, caplog):
    """As ``buildmaster cancel``: a running build ends CANCELLED, its job
    left on its builder for the scanner, which the cancel wakes, to abort
    on its slave (tests/test_scanner.py)."""
    woken = []
    farm_context.wakeups.subscribe(lambda job, after: woken.append(job))
    token = make_token(session)
    done = await web.json("/api/1.0/builds/9/cancel", data={}, token=token)
    assert (done["build"]["state"], done["build"]["job"]) == ("CANCELLED", None)
    waited = await web.json("/api/1.0/builds/4/cancel", data={}, token=token)
    assert waited["result"] == "build 4 was MANUALDEPWAIT; now CANCELLED"
    assert (await web.json("/api/1.0/builds/8"))["cancellable"]
    with caplog.at_level(logging.INFO, logger="buildmaster.web"):
        building = await web.json("/api/1.0/builds/8/cancel", data={}, token=token)
    assert building["result"] == ("build 8 was BUILDING on bob; now CANCELLED, the "
                                  "scanner aborts it on its slave")
    assert (building["build"]["state"], building["build"]["history"][-1]["state"]) == (
        "CANCELLED", "CANCELLED")
    assert "build 8 (mozilla-firefox 0.9 i386): BUILDING -> CANCELLED on bob " \
        "(cancelled by token ops)" in caplog.messages
    session.expire_all()
    assert session.get(BuildQueue, 1).builder.name == "bob"
    session.rollback()
    assert woken[-1] == wakeups.SCAN
    again = await web.json("/api/1.0/builds/8/cancel", data={}, token=token, code=409)
    assert again["error"].endswith(
        "is CANCELLED; only pending, waiting and running builds can be cancelled")
    assert (await web.json("/api/1.0/queue"))["total"] == 0
    # A cancelled build can be queued again.
    await web.json("/api/1.0/builds/9/retry", data={}, token=token)


@pytest_twisted.ensureDeferred
async def test_a_builder_is_disabled_and_enabled(web, sample, session):
    token = make_token(session)
    done = await web.json("/api/1.0/builders/frog/disable", data={"reason": "disk full"},
                          token=token)
    assert (done["builder"]["state"], done["builder"]["failnotes"]) == (
        "disabled", "disk full")
    assert (await web.json("/api/1.0/queue"))["entries"][0]["reason_code"] == "builders_busy"
    done = await web.json("/api/1.0/builders/frog/enable", data={}, token=token)
    assert (done["builder"]["state"], done["builder"]["builderok"]) == ("idle", True)
    await web.json("/api/1.0/builders/nobody/enable", data={}, token=token, code=404)


@pytest_twisted.ensureDeferred
async def test_private_archives_are_hidden_without_the_private_right(
        web, sample, session):
    sample.mark_ppa.private = True  # builds 3 and 5
    writer = make_token(session, "writer")
    seer = make_token(session, "seer", (auth.WRITE, auth.PRIVATE))
    listed = await web.json("/api/1.0/builds")
    assert [b["id"] for b in listed["entries"]] == [9, 8, 7, 6, 4, 2, 1]
    assert listed["total"] == 7
    assert (await web.json("/api/1.0/builds/3", code=404)) == {
        "error": "no build with id 3"}
    assert [b["id"] for b in (await web.json("/api/1.0/builders/bob"))[
        "recent_builds"]] == [7, 6, 4, 2, 1]
    await web.json("/api/1.0/builds/3/retry", data={}, token=writer, code=404)
    seen = await web.json("/api/1.0/builds/3", token=seer)
    assert seen["private"] and seen["archive"] == "~mark/ppa"
    assert (await web.json("/api/1.0/builds", token=seer))["total"] == 9
    await web.json("/api/1.0/builds/3/retry", data={}, token=seer)


@pytest_twisted.ensureDeferred
async def test_a_retry_or_an_enabled_builder_wakes_this_masters_dispatcher_at_once(
        web, sample, session, farm_context):
    """On SQLite too, where no NOTIFY carries it: the web runs in the
    daemon, so it wakes the daemon's own dispatcher itself."""
    woken = []
    farm_context.wakeups.subscribe(lambda job, after: woken.append(job))
    token = make_token(session)
    await web.json("/api/1.0/builds/3/retry", data={}, token=token)
    await web.json("/api/1.0/builds/9/rescore", data={"score": "10"}, token=token)
    await web.json("/api/1.0/builders/frog/enable", data={}, token=token)
    await web.json("/api/1.0/builds/3/retry", data={}, token=token, code=409)
    assert woken == [wakeups.DISPATCH, wakeups.DISPATCH]


@pytest_twisted.ensureDeferred
async def test_a_removed_builder_is_gone_from_every_page_list_reason_and_action(
        web, sample, session):
    """``builder remove`` marks a builder not active: no page, list,
    count or reason shows it any more, and its actions are 404; its
    builds keep its name, unlinked."""
    sample.frog.active = False  # as buildmaster builder remove frog
    session.get(Build, 7).builder = sample.frog
    sample.bob.failBuilder("disk full")
    session.commit()
    token = make_token(session)
    builders = await web.json("/api/1.0/builders")
    assert [b["name"] for b in builders["entries"]] == ["bob"]
    assert builders["total"] == 1
    farm = await web.json("/api/1.0/farm")
    assert [b["name"] for b in farm["builders"]] == ["bob"]
    job = (await web.json("/api/1.0/queue"))["entries"][0]
    assert job["reason"] == ("every builder that could take it is out of use: "
                             "bob (disabled: disk full)")
    assert (await web.json("/api/1.0/builders/frog", code=404)) == {
        "error": "no builder named 'frog'"}
    for action in ("enable", "disable"):
        refused = await web.json(f"/api/1.0/builders/frog/{action}", data={},
                                 token=token, code=404)
        assert refused == {"error": "no builder named 'frog'"}
    session.expire_all()
    assert (sample.frog.active, sample.frog.builderok) == (False, True)
    session.rollback()
    for path in ("/", "/builders"):
        assert b'data-builder="frog"' not in (await web.get(path)).body, path
    assert b"frog" not in (await web.get("/queue")).body
    assert (await web.get("/builders/frog")).code == 404
    assert (await web.post("/builders/frog/enable", data={"token": token})).code == 404
    build = (await web.get("/builds/7")).body
    assert b"frog <small>(removed)</small>" in build and b'href="/builders/frog"' not in build
    metrics = (await web.get("/metrics")).body.decode()
    assert 'buildmaster_builders{state="disabled"} 1.0' in metrics
