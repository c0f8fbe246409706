"""The publisher: pending publications become real apt trees on disk."""

import datetime
import fcntl
import gzip
import hashlib
import os
import subprocess

import pytest
import pytest_twisted
import sqlalchemy as sa
from debian.deb822 import Packages, Release, Sources

from buildmaster.model import (
    DistroArchSeries, PackagePublishingStatus, Person, SourcePackageFileType, UTC, rows)
from buildmaster.publisher import layout
from buildmaster.publisher.run import LOCK_NAME, PublisherBusy, publish
from buildmaster.publisher.signing import public_key
from buildmaster.testing.archives import binary_publication, source_publication

Status = PackagePublishingStatus
NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + datetime.timedelta(hours=1)


@pytest.fixture
def farm(farm_context, sample, session):
    return farm_context


@pytest.fixture
def hoary_i386(sample):
    return sample.hoary["i386"]


def run(farm, session, now=NOW):
    """Commit the test's work, publish, and show the test what changed."""
    session.commit()
    report = publish(farm, now=now)
    session.expire_all()
    return report


def tree(farm, archive):
    return layout.tree_path(farm.config.archives.root, archive)


def index(farm, archive, suite, relative):
    return os.path.join(tree(farm, archive), "dists", suite, relative)


def stanzas(path, kind=Packages):
    with open(path, encoding="utf-8") as handle:
        return list(kind.iter_paragraphs(handle, use_apt_pkg=False))


def packages(farm, archive, suite="hoary", component="main", arch="i386"):
    return {(p["Package"], p["Version"]) for p in stanzas(
        index(farm, archive, suite, f"{component}/binary-{arch}/Packages"))}


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_a_pending_binary_is_published_into_the_pool_and_the_packages_index(
        farm, session, sample, hoary_i386):
    publication = binary_publication(session, farm.librarian, sample.primary, hoary_i386,
                                     "libfoo1", "1.0", source="libfoo", depends="libc6")
    report = run(farm, session)
    assert (publication.status, publication.datepublished) == (Status.PUBLISHED, NOW)
    assert report.published == 1 and not report.errors
    pool = os.path.join(tree(farm, sample.primary),
                        "pool/main/libf/libfoo/libfoo1_1.0_i386.deb")
    alias = publication.binarypackagerelease.files[0].libraryfile
    assert sha256(pool) == alias.content.sha256
    (stanza,) = stanzas(index(farm, sample.primary, "hoary", "main/binary-i386/Packages"))
    assert (stanza["Package"], stanza["Version"], stanza["Depends"]) == \
        ("libfoo1", "1.0", "libc6")
    assert stanza["Filename"] == "pool/main/libf/libfoo/libfoo1_1.0_i386.deb"
    assert stanza["SHA256"] == alias.content.sha256
    with gzip.open(index(farm, sample.primary, "hoary",
                         "main/binary-i386/Packages.gz"), "rt") as packed:
        with open(index(farm, sample.primary, "hoary", "main/binary-i386/Packages")) as plain:
            assert packed.read() == plain.read()


def test_the_release_lists_every_index_with_its_checksum(farm, session, sample, hoary_i386):
    binary_publication(session, farm.librarian, sample.primary, hoary_i386, "foo", "1.0")
    run(farm, session)
    (release,) = stanzas(index(farm, sample.primary, "hoary", "Release"), Release)
    assert (release["Suite"], release["Codename"], release["Architectures"]) == \
        ("hoary", "hoary", "i386")
    assert release["Components"] == "main restricted universe multiverse"
    assert release["Date"] == "Sun, 01 Mar 2026 12:00:00 UTC"
    listed = {entry["name"]: entry["sha256"] for entry in release["SHA256"]}
    assert set(listed) >= {"main/binary-i386/Packages", "main/binary-i386/Packages.gz",
                           "main/source/Sources", "universe/binary-i386/Packages"}
    for name, digest in listed.items():
        assert sha256(index(farm, sample.primary, "hoary", name)) == digest


def test_the_release_is_signed_with_the_farm_key(farm, session, sample, hoary_i386,
                                                  tmp_path):
    binary_publication(session, farm.librarian, sample.primary, hoary_i386, "foo", "1.0")
    run(farm, session)
    keyring = tmp_path / "farm.gpg"
    keyring.write_bytes(public_key(farm.config.archives.signing_key))
    suite = os.path.dirname(index(farm, sample.primary, "hoary", "Release"))
    for argv in (["InRelease"], ["Release.gpg", "Release"]):
        subprocess.run(["gpgv", "--keyring", str(keyring), *argv], cwd=suite, check=True,
                       capture_output=True)
    with open(os.path.join(suite, "InRelease")) as handle:
        assert "Suite: hoary" in handle.read()


def test_an_unsigned_farm_writes_no_signatures(farm, session, sample, hoary_i386):
    farm.config.archives.signing_key = ""
    binary_publication(session, farm.librarian, sample.primary, hoary_i386, "foo", "1.0")
    run(farm, session)
    suite = os.path.dirname(index(farm, sample.primary, "hoary", "Release"))
    assert sorted(name for name in os.listdir(suite) if "Release" in name) == ["Release"]


def snapshot(root):
    """Every path under ``root`` with its inode and modification time."""
    seen = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            seen[path] = (info.st_ino, info.st_mtime_ns)
    return seen


def test_a_run_with_nothing_pending_writes_nothing(farm, session, sample, hoary_i386):
    binary_publication(session, farm.librarian, sample.primary, hoary_i386, "foo", "1.0")
    first = run(farm, session)
    assert "primary hoary" in first.suites
    before = snapshot(farm.config.archives.root)
    again = run(farm, session, now=LATER)
    assert (again.suites, again.published, again.errors) == ([], 0, [])
    assert snapshot(farm.config.archives.root) == before


def test_only_the_suite_with_news_is_written_again(farm, session, sample, hoary_i386):
    binary_publication(session, farm.librarian, sample.primary, hoary_i386, "foo", "1.0")
    run(farm, session)
    binary_publication(session, farm.librarian, sample.primary, hoary_i386, "bar", "2.0")
    report = run(farm, session, now=LATER)
    assert report.suites == ["primary hoary"]
    assert packages(farm, sample.primary) == {("foo", "1.0"), ("bar", "2.0")}


def test_the_indexes_a_client_just_read_about_stay_reachable_by_hash(
        farm, session, sample, hoary_i386):
    binary_publication(session, farm.librarian, sample.primary, hoary_i386, "foo", "1.0")
    run(farm, session)
    packages_path = index(farm, sample.primary, "hoary", "main/binary-i386/Packages")
    with open(packages_path, "rb") as handle:
        old = handle.read()
    (release,) = stanzas(index(farm, sample.primary, "hoary", "Release"), Release)
    assert release["Acquire-By-Hash"] == "yes"
    for later, name in enumerate(("bar", "baz", "qux", "quux"), start=1):
        binary_publication(session, farm.librarian, sample.primary, hoary_i386, name, "1.0")
        run(farm, session, now=NOW + datetime.timedelta(hours=later))
        by_hash = os.path.join(os.path.dirname(packages_path), "by-hash", "SHA256",
                               hashlib.sha256(old).hexdigest())
        if later < 3:
            with open(by_hash, "rb") as handle:
                assert handle.read() == old
    assert not os.path.exists(by_hash), "only the newest three generations are kept"
    assert packages(farm, sample.primary) == {
        ("foo", "1.0"), ("bar", "1.0"), ("baz", "1.0"), ("qux", "1.0"), ("quux", "1.0")}


def test_every_pocket_of_the_primary_archive_is_there_even_empty(farm, session, sample):
    run(farm, session)
    for series in ("warty", "hoary"):
        for suffix in ("", "-security", "-updates", "-proposed", "-backports"):
            path = index(farm, sample.primary, series + suffix, "Release")
            assert os.path.isfile(path), path


def test_a_superseded_publication_leaves_the_index_and_its_file_stays(
        farm, session, sample, hoary_i386):
    publication = binary_publication(session, farm.librarian, sample.primary, hoary_i386,
                                     "foo", "1.0")
    run(farm, session)
    publication.status = Status.SUPERSEDED
    report = run(farm, session, now=LATER)
    assert report.removed == 1 and report.suites == ["primary hoary"]
    assert publication.dateremoved == LATER
    assert packages(farm, sample.primary) == set()
    assert os.path.isfile(os.path.join(tree(farm, sample.primary),
                                       "pool/main/f/foo/foo_1.0_i386.deb"))


def test_a_deleted_publication_that_was_never_published_changes_nothing(
        farm, session, sample, hoary_i386):
    run(farm, session)
    publication = binary_publication(session, farm.librarian, sample.primary, hoary_i386,
                                     "foo", "1.0")
    publication.status = Status.DELETED
    report = run(farm, session, now=LATER)
    assert (report.suites, report.removed, publication.dateremoved) == ([], 0, None)


def test_a_newer_version_supersedes_the_older_one(farm, session, sample, hoary_i386):
    old = binary_publication(session, farm.librarian, sample.primary, hoary_i386,
                             "foo", "1.0")
    run(farm, session)
    new = binary_publication(session, farm.librarian, sample.primary, hoary_i386,
                             "foo", "1.0+b1", source="foo")
    report = run(farm, session, now=LATER)
    assert (old.status, new.status) == (Status.SUPERSEDED, Status.PUBLISHED)
    assert report.superseded == 1
    assert packages(farm, sample.primary) == {("foo", "1.0+b1")}


def test_an_older_version_published_later_loses_to_the_newer(
        farm, session, sample, hoary_i386):
    newer = binary_publication(session, farm.librarian, sample.primary, hoary_i386,
                               "foo", "2.0")
    run(farm, session)
    older = binary_publication(session, farm.librarian, sample.primary, hoary_i386,
                               "foo", "1.0~rc1")
    run(farm, session, now=LATER)
    assert (newer.status, older.status) == (Status.PUBLISHED, Status.SUPERSEDED)
    assert packages(farm, sample.primary) == {("foo", "2.0")}


def test_an_uploaded_source_is_in_sources(farm, session, sample, tmp_path):
    publication = source_publication(session, farm.librarian, sample.primary, sample.hoary,
                                     tmp_path / "src", "hello-farm", "1.0")
    run(farm, session)
    assert publication.status == Status.PUBLISHED
    (stanza,) = [s for s in stanzas(index(farm, sample.primary, "hoary",
                                          "main/source/Sources"), Sources)
                 if s["Package"] == "hello-farm"]
    assert (stanza["Package"], stanza["Version"]) == ("hello-farm", "1.0")
    assert stanza["Directory"] == "pool/main/h/hello-farm"
    for entry in stanza["Files"]:
        assert os.path.isfile(os.path.join(tree(farm, sample.primary), stanza["Directory"],
                                           entry["name"]))


def test_an_architecture_independent_package_is_in_every_architecture(
        farm, session, sample, hoary_i386):
    session.add(DistroArchSeries(distroseries=sample.hoary, processor=sample.amd64,
                                 architecturetag="amd64"))
    binary_publication(session, farm.librarian, sample.primary, hoary_i386, "foo-doc",
                       "1.0", arch_all=True)
    run(farm, session)
    for arch in ("i386", "amd64"):
        assert packages(farm, sample.primary, arch=arch) == {("foo-doc", "1.0")}


def test_a_ppa_is_published_under_ppa_and_moves_when_it_turns_private(
        farm, session, sample, hoary_i386):
    ppa = sample.cprov_ppa
    binary_publication(session, farm.librarian, ppa, hoary_i386, "foo", "1.0")
    run(farm, session)
    root = farm.config.archives.root
    public = os.path.join(root, "ppa", "cprov", "ppa", "ubuntu")
    assert packages(farm, ppa) == {("foo", "1.0")}
    assert os.path.isfile(os.path.join(public, "dists", "hoary-updates", "Release"))
    ppa.private, ppa.buildd_secret = True, "sekrit"
    run(farm, session, now=LATER)
    assert not os.path.exists(public)
    assert tree(farm, ppa) == os.path.join(root, "private", "cprov", "ppa", "ubuntu")
    assert packages(farm, ppa) == {("foo", "1.0")}


def test_a_different_file_under_the_same_pool_name_keeps_the_publication_pending(
        farm, session, sample, hoary_i386):
    publication = binary_publication(session, farm.librarian, sample.primary, hoary_i386,
                                     "foo", "1.0")
    squatter = os.path.join(tree(farm, sample.primary), "pool/main/f/foo/foo_1.0_i386.deb")
    os.makedirs(os.path.dirname(squatter))
    with open(squatter, "wb") as handle:
        handle.write(b"not the same\n")
    report = run(farm, session)
    assert publication.status == Status.PENDING
    assert "already holds other content" in report.errors[0]
    assert packages(farm, sample.primary) == set()


def test_a_run_interrupted_before_its_commit_is_done_again_the_same(
        farm, session, sample, hoary_i386):
    publication = binary_publication(session, farm.librarian, sample.primary, hoary_i386,
                                     "foo", "1.0")
    run(farm, session)
    path = index(farm, sample.primary, "hoary", "main/binary-i386/Packages")
    with open(path) as handle:
        written = handle.read()
    publication.status, publication.datepublished = Status.PENDING, None
    report = run(farm, session, now=LATER)
    assert report.published == 1 and publication.status == Status.PUBLISHED
    with open(path) as handle:
        assert handle.read() == written


def test_a_second_publisher_is_refused_while_one_runs(farm, session):
    session.commit()
    lock_path = os.path.join(farm.config.archives.root, layout.WORK, LOCK_NAME)
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    with open(lock_path, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(PublisherBusy, match="held by another publisher"):
            publish(farm, now=NOW)


def test_each_state_change_is_logged_once(farm, session, sample, hoary_i386, caplog):
    caplog.set_level("INFO", logger="buildmaster.publisher")
    publication = binary_publication(session, farm.librarian, sample.primary, hoary_i386,
                                     "foo", "1.0")
    run(farm, session)
    assert caplog.messages.count(
        f"publisher: publication {publication.id} (foo 1.0 i386 in primary hoary): "
        "PENDING -> PUBLISHED") == 1


def test_a_run_with_nothing_pending_costs_a_few_queries_however_big_the_farm(
        farm, session, sample, hoary_i386):
    from sqlalchemy import event
    from buildmaster.demo.farm import native_series
    for name in ("breezy", "dapper", "edgy"):
        native_series(session, sample.ubuntu, name, "6.06", sample.chroot)
    binary_publication(session, farm.librarian, sample.primary, hoary_i386, "foo", "1.0")
    run(farm, session)
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)
    event.listen(farm.engine, "before_cursor_execute", record)
    try:
        assert run(farm, session, now=LATER).suites == []
    finally:
        event.remove(farm.engine, "before_cursor_execute", record)
    # PPAs; dirty sources and binaries; primary archives with their
    # distributions, series and architectures; waiting builds and what
    # they wait for.
    assert len(statements) <= 8, "\n\n".join(statements)


@pytest_twisted.inlineCallbacks
def test_the_sequencer_job_publishes_in_a_thread_and_skips_when_another_runs(
        farm, session, sample, hoary_i386, caplog):
    from buildmaster import jobs
    binary_publication(session, farm.librarian, sample.primary, hoary_i386, "foo", "1.0")
    session.commit()
    lock_path = os.path.join(farm.config.archives.root, layout.WORK, LOCK_NAME)
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    with open(lock_path, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        skipped = yield jobs.publish(farm)
    assert skipped is None
    assert any("publisher: skipped:" in message for message in caplog.messages)
    report = yield jobs.publish(farm)
    assert report.published == 1


EVIL = "\"'><b>xss<i>"  # what an upload took before names were checked


def unreadable_source(session, librarian, archive, series, status):
    """A publication of a source apt-ftparchive cannot read: its name is
    no Debian name, and its .dsc lists a file whose name has a quote."""
    tarball = b"not much\n"
    dsc = (f"Format: 1.0\nSource: {EVIL}\nBinary: {EVIL}\nArchitecture: any\n"
           f"Version: 1.0\nMaintainer: Tests <tests@example.invalid>\nFiles:\n"
           f" {hashlib.md5(tarball).hexdigest()} {len(tarball)} {EVIL}_1.0.tar.gz\n")
    files = [(librarian.add_bytes(session, f"{EVIL}_1.0.dsc", dsc.encode(),
                                  mimetype="text/plain"), SourcePackageFileType.DSC),
             (librarian.add_bytes(session, f"{EVIL}_1.0.tar.gz", tarball),
              SourcePackageFileType.NATIVE_TARBALL)]
    creator = session.scalars(sa.select(Person).order_by(Person.id)).first()
    release = rows.source_release(session, EVIL, "1.0", creator, files=files,
                                  section="misc")
    return rows.publish_source(session, release, archive, series, status=status)


def sources_of(farm, archive, suite="hoary"):
    return {(s["Package"], s["Version"]) for s in stanzas(
        index(farm, archive, suite, "main/source/Sources"), Sources)}


def test_a_package_apt_ftparchive_leaves_out_is_an_error_and_not_published(
        farm, session, sample, hoary_i386, caplog):
    """apt-ftparchive exits 0 having left it out: the run fails the
    archive instead of marking it PUBLISHED with 0 errors."""
    evil = unreadable_source(session, farm.librarian, sample.primary, sample.hoary,
                             Status.PENDING)
    good = binary_publication(session, farm.librarian, sample.primary, hoary_i386,
                              "foo", "1.0")
    report = run(farm, session)
    assert evil.status == Status.PENDING and good.status == Status.PENDING
    (error,) = report.errors
    assert error.startswith(f"primary: publication {evil.id} ({EVIL} 1.0 source in "
                            "primary hoary): apt-ftparchive left pool/main/")
    assert "1 error(s)" in report.summary
    assert report.suites == []  # nothing of the archive was written either
    assert not os.path.exists(index(farm, sample.primary, "hoary", "Release"))
    evil.status = Status.DELETED  # the operator's way out
    report = run(farm, session, now=LATER)
    assert report.errors == [] and good.status == Status.PUBLISHED
    assert packages(farm, sample.primary) == {("foo", "1.0")}


def test_a_published_package_left_out_of_its_index_is_an_error_of_its_own(
        farm, session, sample, hoary_i386):
    """One published before (by a farm that took any name) costs an error
    each time its suite is written, not the others' publication."""
    evil = unreadable_source(session, farm.librarian, sample.primary, sample.hoary,
                             Status.PUBLISHED)
    good = binary_publication(session, farm.librarian, sample.primary, hoary_i386,
                              "foo", "1.0")
    report = run(farm, session)
    assert good.status == Status.PUBLISHED
    assert packages(farm, sample.primary) == {("foo", "1.0")}
    assert (EVIL, "1.0") not in sources_of(farm, sample.primary)
    assert report.errors == [
        f"publication {evil.id} ({EVIL} 1.0 source in primary hoary): apt-ftparchive "
        f"left pool/main/\"/{EVIL}/{EVIL}_1.0.dsc out of its index"]
