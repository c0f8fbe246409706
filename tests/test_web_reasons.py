"""Why a job waits, every reason, as ``/api/1.0/queue`` and ``buildmaster
queue`` tell it.  The sample world's build 9 (foobar 1.0, hoary i386,
primary) waits as job 2; bob builds build 8 and frog is idle."""

import datetime

import pytest
import pytest_twisted
import sqlalchemy as sa

from buildmaster.model import (
    Build, BuildQueue, BuildStatus, DistroSeriesStatus, PackagePublishingPocket,
    PackagePublishingStatus, SourcePackagePublishingHistory, utcnow)
from buildmaster.web import auth
from tests.clihelpers import cli  # noqa: F401
from tests.webhelpers import make_token, web  # noqa: F401


async def reason_of(web, build_id, token=None):
    listed = await web.json("/api/1.0/queue", token=token)
    (job,) = [job for job in listed["entries"] if job["build_id"] == build_id]
    return job


def publications_of_build_9(session):
    build = session.get(Build, 9)
    return session.scalars(sa.select(SourcePackagePublishingHistory).where(
        SourcePackagePublishingHistory.sourcepackagerelease_id
        == build.sourcepackagerelease_id,
        SourcePackagePublishingHistory.archive_id == build.archive_id)).all()


def no_386_builders(session, sample):
    for builder in (sample.bob, sample.frog):
        builder.processor = sample.amd64


def virtualized_job(session, sample):
    session.get(BuildQueue, 2).virtualized = True


def virtualized_builders(session, sample):
    sample.bob.virtualized = sample.frog.virtualized = True


def builders_out_of_use(session, sample):
    sample.bob.failBuilder("Disabled by an operator.")
    sample.frog.failBuilder("disk <full>")


def archive_disabled(session, sample):
    sample.primary.enabled = False


def superseded(session, sample):
    for publication in publications_of_build_9(session):
        publication.status = PackagePublishingStatus.SUPERSEDED


def security(session, sample):
    session.get(Build, 9).pocket = PackagePublishingPocket.SECURITY


def pocket_closed(session, sample):
    sample.hoary.status = DistroSeriesStatus.CURRENT


def ready(session, sample):
    pass


@pytest.mark.parametrize("change, code, text", [
    (ready, "ready", "next dispatch: frog is free"),
    (no_386_builders, "no_builder", "no builder for processor 386"),
    (virtualized_job, "virtualized_only",
     "only virtualized builders may build for primary, and processor 386 has none "
     "(bob, frog are not)"),
    (virtualized_builders, "not_virtualized",
     "every builder for processor 386 is virtualized (bob, frog), and primary does "
     "not use them"),
    (builders_out_of_use, "builders_unavailable",
     "every builder that could take it is out of use: bob (disabled: Disabled by an "
     "operator.), frog (disabled: disk <full>)"),
    (archive_disabled, "archive_disabled", "its archive primary is disabled"),
    (superseded, "superseded",
     "its source is no longer published; the next dispatch pass ends it SUPERSEDED"),
    (security, "security", "SECURITY builds are not dispatched"),
    (pocket_closed, "pocket_closed", "its series (CURRENT) takes no RELEASE builds"),
])
@pytest_twisted.ensureDeferred
async def test_each_reason_a_job_waits(web, sample, session, change, code, text):
    change(session, sample)
    session.commit()
    job = await reason_of(web, 9)
    assert (job["reason_code"], job["reason"], job["estimate"]) == (code, text, None)
    assert (job["id"], job["score"], job["processor"]) == (2, 10, "386")


@pytest_twisted.ensureDeferred
async def test_busy_builders_give_an_estimate_from_the_sources_earlier_builds(
        web, sample, session):
    # bob builds mozilla-firefox, started 4 minutes ago; its earlier builds
    # took 10 minutes (the sample's), so bob should free in about 6.
    session.get(BuildQueue, 1).date_started = utcnow() - datetime.timedelta(minutes=4)
    # frog builds evolution, which never built before: no estimate from it.
    evolution = session.get(Build, 7)
    evolution.buildduration = None
    evolution.createBuildQueueEntry().markAsBuilding(sample.frog)
    for build in session.scalars(sa.select(Build).where(Build.id.in_([1, 4]))):
        build.buildduration = None
    session.commit()
    job = await reason_of(web, 9)
    assert job["reason_code"] == "builders_busy"
    assert 350 <= job["estimate"] <= 360
    assert job["reason"].startswith(
        "all 2 builders for processor 386 are busy; one should free in about 5m ")


@pytest_twisted.ensureDeferred
async def test_a_busy_builder_past_its_median_frees_any_moment(web, sample, session):
    sample.frog.failBuilder("disk full")
    session.commit()
    job = await reason_of(web, 9)
    # bob's job started in 2005: far past mozilla-firefox's 10 minutes.
    assert (job["reason_code"], job["estimate"]) == ("builders_busy", 0)
    assert job["reason"] == ("bob, the one builder for processor 386, is busy; one "
                             "should free any moment now")


@pytest_twisted.ensureDeferred
async def test_a_private_source_waits_for_its_publication(web, sample, session):
    sample.primary.private = True
    for publication in publications_of_build_9(session):
        publication.status = PackagePublishingStatus.PENDING
    token = make_token(session, "viewer", (auth.PRIVATE,))
    listed = await web.json("/api/1.0/queue")
    assert 9 not in [job["build_id"] for job in listed["entries"]]
    job = await reason_of(web, 9, token=token)
    assert (job["reason_code"], job["reason"], job["private"]) == (
        "private_unpublished", "its private source is not yet published", True)


@pytest_twisted.ensureDeferred
async def test_a_dependency_wait_names_its_relation(web, sample):
    job = await reason_of(web, 4)
    assert (job["reason_code"], job["reason"]) == (
        "dependency", "waiting on a dependency: libgtk2.0-dev (>= 2.6)")
    assert (job["id"], job["score"], job["dependencies"]) == (
        None, None, "libgtk2.0-dev (>= 2.6)")


def test_the_cli_queue_shows_the_same_reasons(cli, sample, session):
    no_386_builders(session, sample)
    session.commit()
    (job,) = cli("queue", "--json").json()
    assert (job["build_id"], job["reason"]) == (9, "no builder for processor 386")
    assert cli("queue").out.splitlines()[1].endswith("no builder for processor 386")
    waiting = cli("queue", "--waiting", "--json").json()
    assert [(job["build_id"], job["reason_code"]) for job in waiting] == [
        (9, "no_builder"), (4, "dependency")]


def test_a_cancelled_build_is_not_waiting(cli, sample, session):
    session.get(Build, 4).buildstate = BuildStatus.CANCELLED
    session.commit()
    assert [job["build_id"] for job in cli("queue", "--waiting", "--json").json()] == [9]
