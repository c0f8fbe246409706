"""The queue builder: missing builds for live publications, once."""

import logging

import pytest
import pytest_twisted
import sqlalchemy as sa
from sqlalchemy import event

from buildmaster.model import rows
from buildmaster.context import FarmContext
from buildmaster.model import (
    Build, BuildQueue, BuildStatus, PackagePublishingPocket, PackagePublishingStatus)
from buildmaster.queue.queuebuilder import (
    architectures_for, arch_matches, build_queue, create_missing_builds)
from buildmaster.uploads.sources import register_source
from buildmaster.testing.debpackages import build_binaries, make_source_package
from buildmaster.testing.deferreds import wait
from buildmaster.testing.mockslaves import WaitingSlave
from scannerhelpers import make_group, start_job

TAGS = {"i386", "amd64", "armhf", "armel"}


@pytest.mark.parametrize("hints, expected", [
    ("any", ["amd64", "armel", "armhf", "i386"]),
    ("all", ["i386"]),
    ("i386", ["i386"]),
    ("amd64 armhf", ["amd64", "armhf"]),
    ("sparc", []),
    ("i386 any", ["amd64", "armel", "armhf", "i386"]),
    ("amd64 all", ["amd64", "i386"]),
    ("linux-any", ["amd64", "armel", "armhf", "i386"]),
    ("any-i386", ["i386"]),
    ("any-arm", ["armel", "armhf"]),
    ("linux-amd64", ["amd64"]),
    ("kfreebsd-any hurd-i386", []),
    ("any-any", ["amd64", "armel", "armhf", "i386"]),
    ("", []),
])
def test_architectures_for(hints, expected):
    assert architectures_for(hints, TAGS, "i386") == expected


def test_all_without_a_nominated_architecture_builds_nowhere():
    assert architectures_for("all", TAGS, None) == []
    assert architectures_for("all", {"amd64"}, "i386") == []


def test_armel_does_not_match_armhf():
    assert not arch_matches("armel", "armhf")
    assert arch_matches("armhf", "armhf")


def new_source(session, sample, name, hints, archive=None, component="main",
               pocket=PackagePublishingPocket.RELEASE,
               status=PackagePublishingStatus.PUBLISHED):
    release = rows.source_release(session, name, "1.0", sample.person["mark"],
                                  component_name=component, architecturehintlist=hints)
    rows.publish_source(session, release, archive or sample.primary, sample.hoary,
                        pocket=pocket, status=status)
    return release


def builds_of(session, release):
    return sorted(
        (build.distroarchseries.architecturetag, build.archive.reference)
        for build in session.scalars(
            sa.select(Build).where(Build.sourcepackagerelease_id == release.id)))


def test_sample_data_needs_nothing(sample, session):
    assert create_missing_builds(session) == []


def test_creates_builds_by_architecture_hint(sample, session, hoary_amd64, caplog):
    caplog.set_level(logging.INFO)
    anyarch = new_source(session, sample, "anyarch", "any")
    indep = new_source(session, sample, "indep", "all")
    only = new_source(session, sample, "only64", "amd64")
    pending = new_source(session, sample, "pending", "i386",
                         archive=sample.cprov_ppa, status=PackagePublishingStatus.PENDING)

    created = create_missing_builds(session)

    # The five sample publications in hoary gain amd64 builds too.
    assert len(created) == 5 + 5
    assert builds_of(session, anyarch) == [("amd64", "primary"), ("i386", "primary")]
    assert builds_of(session, indep) == [("i386", "primary")]
    assert builds_of(session, only) == [("amd64", "primary")]
    assert builds_of(session, pending) == [("i386", "~cprov/ppa")]
    for build in session.scalars(sa.select(Build).where(Build.id.in_(created))):
        assert build.buildstate == BuildStatus.NEEDSBUILD
        assert build.buildqueue_record.processor_id == build.processor_id
        assert build.buildqueue_record.builder_id is None
    ppa_entry = builds_of_entry(session, pending)
    assert ppa_entry.virtualized is True
    assert ppa_entry.lastscore == 1500 + 1000 + 5
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 10
    assert any(m.endswith("(pending 1.0 i386): created NEEDSBUILD in ~cprov/ppa hoary, "
                          "score 2505") for m in messages)


def test_an_arch_all_source_is_built_once_on_the_nominated_architecture(
        sample, session, hoary_amd64, transaction, farm_config, librarian, build_mailer,
        tmp_path):
    dsc = make_source_package(str(tmp_path), name="docs", kind="all")
    release = register_source(session, librarian, dsc, "ubuntu", "hoary") \
        .sourcepackagerelease
    assert release.architecturehintlist == "all"
    create_missing_builds(session)
    (build,) = session.scalars(sa.select(Build).where(
        Build.sourcepackagerelease_id == release.id)).all()
    assert (build.distroarchseries, build.arch_indep) == (sample.hoary["i386"], True)

    # Its slave built the one Architecture: all package; the upload is taken.
    files = build_binaries(dsc, "i386", arch_indep=True)
    entry = start_job(build, sample.bob, WaitingSlave("BuildStatus.OK", files=files))
    session.commit()
    wait(make_group(transaction, farm_config, librarian, build_mailer).updateBuild(entry))
    session.expire_all()
    assert build.buildstate == BuildStatus.FULLYBUILT
    assert [(each.name, each.architecturespecific) for each in build.binarypackages] == [
        ("docs", False)]


def builds_of_entry(session, release):
    build = session.scalars(sa.select(Build).where(
        Build.sourcepackagerelease_id == release.id)).one()
    return build.buildqueue_record


def test_second_run_creates_nothing(sample, session, hoary_amd64):
    new_source(session, sample, "anyarch", "any")
    assert len(create_missing_builds(session)) == 2 + 5
    assert create_missing_builds(session) == []


def test_existing_build_for_the_tag_in_another_series_counts(sample, session):
    release = new_source(session, sample, "copied", "any")
    rows.build_for(release, sample.warty["i386"], sample.primary,
                   status=BuildStatus.FULLYBUILT)
    assert create_missing_builds(session) == []


def test_skips_dead_publications_disabled_archives_and_chrootless_arches(
        sample, session, hoary_amd64):
    new_source(session, sample, "gone", "any", status=PackagePublishingStatus.SUPERSEDED)
    new_source(session, sample, "off", "any", archive=sample.mark_ppa)
    sample.mark_ppa.enabled = False
    hoary_amd64.chroot = None
    session.flush()
    assert create_missing_builds(session) == []


def test_skips_pockets_the_series_does_not_build(sample, session):
    new_source(session, sample, "update", "any", pocket=PackagePublishingPocket.UPDATES)
    assert create_missing_builds(session) == []  # hoary is in development


def test_one_query_count_whatever_the_number_of_sources(sample, session, db):
    def count_queries(sources):
        for index in range(sources):
            new_source(session, sample, f"bulk{sources}-{index}", "any")
        session.flush()
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert len(create_missing_builds(session)) == sources
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    assert count_queries(3) == count_queries(30)


@pytest_twisted.inlineCallbacks
def test_build_queue_job_creates_scores_and_commits(sample, session, farm_config, db):
    new_source(session, sample, "jobsource", "any")
    session.commit()
    context = FarmContext(farm_config, engine=db.engine)
    created = yield build_queue(context)
    assert created == 1
    session.expire_all()
    entry = session.scalars(sa.select(BuildQueue).join(Build).where(
        Build.buildstate == BuildStatus.NEEDSBUILD, BuildQueue.id > 2)).one()
    assert entry.lastscore == 2505
    assert (yield build_queue(context)) == 0
