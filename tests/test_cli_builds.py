"""``buildmaster queue``, ``builds``, ``retry``, ``log`` and ``rescore``."""

import gzip
import subprocess
import sys

import pytest

import buildmaster.queue.scoring
from buildmaster.model import Build, BuildQueue, BuildStatus
from tests.clihelpers import cli  # noqa: F401


@pytest.fixture
def scoring():
    """``retry`` and ``rescore`` score jobs with buildmaster.queue.scoring."""
    return buildmaster.queue.scoring

BUILD_KEYS = {"id", "source", "version", "arch", "archive", "pocket", "state", "builder",
              "buildlog_url", "dependencies", "colour", "warnings"}
QUEUE_KEYS = {"id", "build_id", "source", "version", "arch", "archive", "score", "age"}


def store_log(session, librarian, build, data, filename):
    build.buildlog = librarian.add_bytes(session, filename, data, mimetype="text/plain")
    session.commit()
    return build.buildlog


def test_queue_lists_pending_jobs_highest_score_first(cli, session, sample):
    # Build 3 (foobar, ~mark/ppa) failed; queue it again above build 9.
    failed = session.get(Build, 3)
    failed.buildstate = BuildStatus.NEEDSBUILD
    failed.createBuildQueueEntry(lastscore=2500)
    session.commit()

    first, second = cli("queue", "--json").json()
    assert QUEUE_KEYS <= set(first)
    assert {key: first[key] for key in QUEUE_KEYS - {"age"}} == {
        "id": 3, "build_id": 3, "source": "foobar", "version": "1.0", "arch": "i386",
        "archive": "~mark/ppa", "score": 2500}
    assert (second["id"], second["build_id"], second["archive"], second["score"]) == (
        2, 9, "primary", 10)
    assert isinstance(first["age"], int) and first["age"] >= 0
    # BuildQueue 1 is running on bob: not pending, not listed.

    header, *lines = cli("queue").out.splitlines()
    assert header.split() == ["JOB", "BUILD", "SOURCE", "VERSION", "ARCH", "ARCHIVE",
                              "SCORE", "AGE", "REASON"]
    assert [line.split()[:7] for line in lines] == [
        ["3", "3", "foobar", "1.0", "i386", "~mark/ppa", "2500"],
        ["2", "9", "foobar", "1.0", "i386", "primary", "10"]]


def test_an_empty_queue_says_so(cli, session):
    session.delete(session.get(BuildQueue, 2))
    session.commit()
    assert cli("queue").out == "No pending jobs.\n"
    assert cli("queue", "--json").json() == []


def test_builds_newest_first_with_filters(cli):
    listed = cli("builds", "--json").json()
    assert [build["id"] for build in listed] == [9, 8, 7, 6, 5, 4, 3, 2, 1]
    assert all(BUILD_KEYS <= set(build) for build in listed)
    assert [b["id"] for b in cli("builds", "--limit", "3", "--json").json()] == [9, 8, 7]
    assert [b["id"] for b in cli("builds", "--state", "failedtobuild", "--json").json()] \
        == [3]
    assert [b["id"] for b in cli("builds", "--source", "foobar", "--json").json()] == [
        9, 6, 3]
    assert cli("builds", "--source", "foobar", "--state", "FULLYBUILT",
               "--limit", "1").out.splitlines()[1].split() == [
        "6", "foobar", "1.0", "i386", "warty", "primary", "RELEASE", "FULLYBUILT", "green",
        "bob"]


def test_build_objects_say_what_the_operator_needs(cli, session, librarian, farm_config):
    alias = store_log(session, librarian, session.get(Build, 3), gzip.compress(b"log\n"),
                      "buildlog_ubuntu-warty-i386.foobar_1.0_FAILEDTOBUILD.txt.gz")
    builds = {build["id"]: build for build in cli("--json", "builds").json()}
    assert {key: builds[3][key] for key in BUILD_KEYS} == {
        "id": 3, "source": "foobar", "version": "1.0", "arch": "i386",
        "archive": "~mark/ppa", "pocket": "RELEASE", "state": "FAILEDTOBUILD",
        "builder": "bob", "dependencies": None, "colour": "red", "warnings": None,
        "buildlog_url": f"{farm_config.librarian.public_url}/{alias.id}/{alias.filename}"}
    assert builds[4]["dependencies"] == "libgtk2.0-dev (>= 2.6)"
    assert builds[4]["archive"] == "~cprov/ppa"
    # Build 8 is running on bob: its queue entry says so.
    assert (builds[8]["state"], builds[8]["builder"]) == ("BUILDING", "bob")
    # A running build has no colour yet; a dependency wait says nothing of
    # the package.
    assert (builds[8]["colour"], builds[4]["colour"]) == (None, "none")
    assert (builds[9]["builder"], builds[9]["buildlog_url"]) == (None, None)


def test_builds_refuses_bad_filters(cli):
    assert cli("builds", "--state", "BROKEN").error_line().startswith(
        "buildmaster: error: no build state named 'BROKEN' (known: NEEDSBUILD, ")
    assert cli("builds", "--limit", "0").status == 2
    assert cli("builds", "--source", "nothing").out == "No builds.\n"


def test_retry_queues_a_failed_build_again(cli, session, librarian, scoring):
    depwait = session.get(Build, 4)
    store_log(session, librarian, depwait, b"missing libgtk\n", "buildlog.txt")
    depwait.failure_count = 2
    session.commit()
    result = cli("retry", "4")
    assert result.status == 0, result.err
    build = session.get(Build, 4)
    entry = build.buildqueue_record
    assert result.out == (
        "Build 4 (i386 build of evolution 1.0 in ubuntu hoary RELEASE) was "
        f"MANUALDEPWAIT; now NEEDSBUILD as job {entry.id} with score "
        f"{entry.lastscore}.\n")
    # Scored as the queue builder scores: RELEASE, main, MEDIUM urgency.
    assert entry.lastscore == scoring.score(entry) > 0
    assert build.buildstate == BuildStatus.NEEDSBUILD
    assert (build.dependencies, build.failure_count, build.builder, build.buildlog,
            build.datebuilt) == (None, 0, None, None, None)
    assert (entry.builder, entry.virtualized) == (None, True)
    assert 4 in [job["build_id"] for job in cli("queue", "--json").json()]


@pytest.mark.parametrize("build_id, state", [
    (3, BuildStatus.FAILEDTOBUILD), (5, BuildStatus.CHROOTWAIT)])
def test_retry_takes_every_failed_state(cli, session, build_id, state, scoring):
    assert session.get(Build, build_id).buildstate == state
    assert cli("retry", str(build_id)).status == 0
    assert session.get(Build, build_id).buildstate == BuildStatus.NEEDSBUILD


def test_retry_refuses_what_did_not_fail(cli, session):
    assert cli("retry", "1").error_line() == (
        "buildmaster: error: build 1 (i386 build of evolution 1.0 in ubuntu warty "
        "RELEASE) is FULLYBUILT; only FAILEDTOBUILD, MANUALDEPWAIT, CHROOTWAIT, "
        "FAILEDTOUPLOAD, CANCELLED builds can be retried")
    assert "is BUILDING" in cli("retry", "8").error_line()
    assert session.get(Build, 1).buildqueue_record is None


def test_retry_refuses_a_pocket_that_no_longer_builds(cli, session):
    session.get(Build, 6).buildstate = BuildStatus.FAILEDTOUPLOAD
    session.commit()
    assert cli("retry", "6").error_line() == (
        "buildmaster: error: build 6 (i386 build of foobar 1.0 in ubuntu warty RELEASE): "
        "warty is Current Stable Release, its RELEASE pocket takes no builds")


def test_log_prints_a_gzipped_log_decompressed(cli, session, librarian):
    text = "".join(f"line {number}: compiling something\n" for number in range(50000))
    store_log(session, librarian, session.get(Build, 3), gzip.compress(text.encode()),
              "buildlog_ubuntu-warty-i386.foobar_1.0_FAILEDTOBUILD.txt.gz")
    result = cli("log", "3")
    assert (result.status, result.err) == (0, "")
    assert result.out == text


def test_log_prints_a_plain_log_as_it_is(cli, session, librarian):
    store_log(session, librarian, session.get(Build, 3), b"plain text log\n", "log.txt")
    assert cli.process("log", "3").out == "plain text log\n"


def test_log_problems_are_one_line(cli, session, librarian):
    assert cli("log", "9").error_line() == (
        "buildmaster: error: build 9 (i386 build of foobar 1.0 in ubuntu hoary RELEASE) "
        "has no build log")
    assert cli("log", "999").error_line() == "buildmaster: error: no build with id 999"
    alias = store_log(session, librarian, session.get(Build, 3), b"\x1f\x8bnot gzip",
                      "broken.txt.gz")
    assert cli("log", "3").error_line().startswith(
        f"buildmaster: error: librarian file {alias.id} (broken.txt.gz) is not valid gzip")


def test_unknown_build_ids_are_one_line_for_every_command(cli):
    for command in ("retry", "log"):
        result = cli.process(command, "12345")
        assert result.error_line() == "buildmaster: error: no build with id 12345"
        assert cli(command, "twelve").status == 2


def test_rescore_recomputes_pending_scores(cli, session, scoring):
    session.get(BuildQueue, 2).lastscore = -12345
    session.commit()
    result = cli("rescore")
    assert (result.status, result.out) == (
        0, "Rescored the queue: 1 of 1 pending jobs changed score.\n")
    entry = session.get(BuildQueue, 2)
    assert entry.lastscore == scoring.score(entry) > 0
    assert cli("rescore").out == "Rescored the queue: 0 of 1 pending jobs changed score.\n"


def test_log_reader_may_stop_early(cli, session, librarian, farm_config):
    """``buildmaster log 3 | head -1``: no traceback when head goes away."""
    text = "".join(f"line {number}\n" for number in range(200000))
    store_log(session, librarian, session.get(Build, 3), gzip.compress(text.encode()),
              "buildlog.txt.gz")
    session.rollback()
    reader = subprocess.Popen(
        [sys.executable, "-m", "buildmaster.cli", "--config", farm_config.path, "log", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout.readline() == b"line 0\n"
    reader.stdout.close()
    assert reader.wait(timeout=60) == 0
    assert reader.stderr.read() == b""
