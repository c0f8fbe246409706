"""Dependency waits retried by the publisher when publishing satisfies them."""

import datetime

import pytest
import sqlalchemy as sa

from buildmaster.model import rows
from buildmaster.model import (
    Build, BuildQueue, BuildStatus, PackagePublishingStatus, UTC)
from buildmaster.publisher.depwait import check, retry_satisfiable
from buildmaster.publisher.run import publish
from buildmaster.testing.archives import binary_publication

WAITED = datetime.datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def waiting(sample, session):
    """A new source's hoary i386 build in the primary archive, gone
    MANUALDEPWAIT an hour ago on 'libfoo-dev (>= 1.0)'."""
    release = rows.source_release(session, "app", "2.0", sample.person["mark"])
    rows.publish_source(session, release, sample.primary, sample.hoary)
    build = rows.build_for(release, sample.hoary["i386"], sample.primary,
                           status=BuildStatus.MANUALDEPWAIT)
    build.dependencies = "libfoo-dev (>= 1.0)"
    build.datebuilt = WAITED
    session.commit()
    return build


def publish_binary(session, librarian, archive, das, name, version, when=NOW, **extra):
    publication = binary_publication(session, librarian, archive, das, name, version,
                                     **extra)
    publication.status = PackagePublishingStatus.PUBLISHED
    publication.datepublished = when
    session.flush()
    return publication


def queued(session, build):
    return session.scalars(sa.select(BuildQueue).where(BuildQueue.build_id == build.id)).all()


def test_a_build_waiting_on_what_is_now_published_is_retried_with_a_fresh_score(
        session, sample, librarian, waiting, caplog):
    caplog.set_level("INFO", logger="buildmaster.publisher")
    publish_binary(session, librarian, sample.primary, sample.hoary["i386"],
                   "libfoo-dev", "1.2")
    assert retry_satisfiable(session, NOW) == [waiting.id]
    assert waiting.buildstate == BuildStatus.NEEDSBUILD
    assert (waiting.dependencies, waiting.datebuilt, waiting.builder) == (None, None, None)
    (entry,) = queued(session, waiting)
    assert entry.builder is None and entry.lastscore > 0
    assert (f"build {waiting.id} (app 2.0 i386): MANUALDEPWAIT -> NEEDSBUILD, its "
            f"dependencies 'libfoo-dev (>= 1.0)' are published now "
            f"(score {entry.lastscore})") in caplog.messages


def test_a_version_too_old_keeps_the_build_waiting(session, sample, librarian, waiting):
    publish_binary(session, librarian, sample.primary, sample.hoary["i386"],
                   "libfoo-dev", "1.0~beta1")
    assert retry_satisfiable(session, NOW) == []
    assert waiting.buildstate == BuildStatus.MANUALDEPWAIT
    assert queued(session, waiting) == []


def test_a_package_published_where_the_build_cannot_see_it_does_not_count(
        session, sample, librarian, waiting):
    publish_binary(session, librarian, sample.cprov_ppa, sample.hoary["i386"],
                   "libfoo-dev", "1.2")
    publish_binary(session, librarian, sample.primary, sample.warty["i386"],
                   "libfoo-dev", "1.2")
    publish_binary(session, librarian, sample.primary, sample.hoary["i386"],
                   "libfoo-dev", "1.2", component="universe")
    assert retry_satisfiable(session, NOW) == []


def test_a_pending_package_does_not_count(session, sample, librarian, waiting):
    binary_publication(session, librarian, sample.primary, sample.hoary["i386"],
                       "libfoo-dev", "1.2")
    assert retry_satisfiable(session, NOW) == []


def test_a_package_published_before_the_build_gave_up_does_not_retry_it_again(
        session, sample, librarian, waiting):
    publish_binary(session, librarian, sample.primary, sample.hoary["i386"],
                   "libfoo-dev", "1.2", when=WAITED - datetime.timedelta(minutes=5))
    assert check(session, waiting)[0] is True
    assert retry_satisfiable(session, NOW) == []


def test_every_relation_must_be_satisfied_and_one_alternative_is_enough(
        session, sample, librarian, waiting):
    waiting.dependencies = "libbar-dev | libfoo-dev (>= 1.0), libbaz1 (= 3.0)"
    publish_binary(session, librarian, sample.primary, sample.hoary["i386"],
                   "libfoo-dev", "1.2")
    assert retry_satisfiable(session, NOW) == []
    publish_binary(session, librarian, sample.primary, sample.hoary["i386"],
                   "libbaz1", "3.0")
    assert retry_satisfiable(session, NOW) == [waiting.id]


def test_a_relation_for_other_architectures_only_is_ignored(
        session, sample, librarian, waiting):
    waiting.dependencies = "libfoo-dev (>= 1.0), libamd64-only [amd64]"
    publish_binary(session, librarian, sample.primary, sample.hoary["i386"],
                   "libfoo-dev", "1.2")
    assert retry_satisfiable(session, NOW) == [waiting.id]


def test_an_architecture_independent_package_satisfies_every_architecture(
        session, sample, librarian, waiting, hoary_amd64):
    publish_binary(session, librarian, sample.primary, hoary_amd64, "libfoo-dev", "1.2",
                   arch_all=True)
    assert retry_satisfiable(session, NOW) == [waiting.id]


@pytest.fixture
def hoary_amd64(sample, session):
    from buildmaster.model import DistroArchSeries
    arch = DistroArchSeries(distroseries=sample.hoary, processor=sample.amd64,
                            architecturetag="amd64")
    session.add(arch)
    session.flush()
    return arch


def test_a_ppa_build_sees_its_own_archive_and_the_primary_one(session, sample, librarian):
    release = rows.source_release(session, "ppa-app", "1.0", sample.person["cprov"])
    rows.publish_source(session, release, sample.cprov_ppa, sample.hoary)
    build = rows.build_for(release, sample.hoary["i386"], sample.cprov_ppa,
                           status=BuildStatus.MANUALDEPWAIT)
    build.dependencies, build.datebuilt = "libppa-dev, libfoo-dev", WAITED
    publish_binary(session, librarian, sample.cprov_ppa, sample.hoary["i386"],
                   "libppa-dev", "1.0")
    assert retry_satisfiable(session, NOW) == []
    publish_binary(session, librarian, sample.primary, sample.hoary["i386"],
                   "libfoo-dev", "1.0", component="universe")
    assert retry_satisfiable(session, NOW) == [build.id]


@pytest.mark.parametrize("dependencies", ["libfoo-dev (>= )", "libfoo-dev (>= 1:a!b)"])
def test_dependencies_that_are_not_debian_syntax_are_logged_and_left(
        session, sample, waiting, caplog, dependencies):
    waiting.dependencies = dependencies
    assert retry_satisfiable(session, NOW) == []
    assert waiting.buildstate == BuildStatus.MANUALDEPWAIT
    (message,) = [m for m in caplog.messages if "cannot read its dependencies" in m]
    assert message.startswith(f"publisher: build {waiting.id} (app 2.0 i386): ")


def test_the_publisher_run_retries_what_it_just_published_for(
        farm_context, session, sample, waiting):
    binary_publication(session, farm_context.librarian, sample.primary,
                       sample.hoary["i386"], "libfoo-dev", "1.2")
    session.commit()
    report = publish(farm_context, now=NOW)
    assert report.retried == [waiting.id]
    session.expire_all()
    assert session.get(Build, waiting.id).buildstate == BuildStatus.NEEDSBUILD
    again = publish(farm_context, now=NOW + datetime.timedelta(minutes=1))
    assert again.retried == []


def test_with_nothing_new_published_many_waiting_builds_cost_two_queries(
        session, sample, librarian, waiting):
    from sqlalchemy import event
    publish_binary(session, librarian, sample.primary, sample.hoary["i386"],
                   "libfoo-dev", "0.5", when=WAITED - datetime.timedelta(days=1))
    for n in range(20):
        release = rows.source_release(session, f"app{n}", "1.0", sample.person["mark"])
        build = rows.build_for(release, sample.hoary["i386"], sample.primary,
                               status=BuildStatus.MANUALDEPWAIT)
        build.dependencies, build.datebuilt = f"libfoo-dev (>= 1.0), lib{n}", WAITED
    session.commit()
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)
    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert retry_satisfiable(session, NOW) == []
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(statements) <= 2, statements
