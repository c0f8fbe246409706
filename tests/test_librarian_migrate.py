"""``buildmaster librarian migrate --to swift`` and ``librarian gc``, on the
sample farm's disk store and the real test Swift."""

import hashlib
import io
import os
import time
import uuid

import pytest
import sqlalchemy as sa

from buildmaster import config as configmodule
from buildmaster.context import FarmContext
from buildmaster.librarian.client import LibrarianClient
from buildmaster.librarian.storage import LibrarianStorage
from buildmaster.librarian.swift import SwiftStorage
from buildmaster.model import LibraryFileAlias, LibraryFileContent
from tests.clihelpers import cli  # noqa: F401
from tests.swifthelpers import MIB, some_bytes, swift_call

DAY = 24 * 3600


@pytest.fixture
def on_swift(cli, swift):
    """Rewrite the test farm's configuration file for Swift ([librarian]
    backend = swift, disk_fallback = true, a container of this test's own,
    1 MiB segments); the reloaded configuration."""
    path = cli.config.path
    with open(path) as handle:
        text = handle.read()
    container = f"librarian-{uuid.uuid4().hex[:12]}"
    with open(path, "w") as handle:
        handle.write(text.replace("[librarian]\n", (
            "[librarian]\nbackend = swift\ndisk_fallback = true\n"
            f"swift_auth_url = {swift.auth_url}\nswift_user = {swift.user}\n"
            f"swift_key = {swift.key}\nswift_container = {container}\n"
            f"swift_segment_size = {MIB}\n")))
    return configmodule.load(path)


@pytest.fixture
def disk(cli, session):
    """The disk store, with a 3 MiB file added to the sample world's."""
    store = LibrarianStorage(cli.config.librarian.storage)
    store.add_bytes(session, "big.tar.xz", some_bytes(3 * MIB + 7))
    session.commit()
    return store


def contents(session):
    return session.execute(sa.select(LibraryFileContent.sha1, LibraryFileContent.filesize,
                                     LibraryFileContent.sha256)).all()


def test_migrate_copies_every_file_checked_and_a_second_run_copies_nothing(
        cli, disk, on_swift, session):
    rows = contents(session)
    first = cli("librarian", "migrate", "--to", "swift")
    assert first.status == 0, first.err
    lines = first.out.splitlines()
    assert lines[0].startswith(f"1/{len(rows)} files, ")
    assert lines[-2].startswith(f"{len(rows)}/{len(rows)} files, ")
    assert lines[-1] == f"{len(rows)} copied, 0 already in Swift, 0 missing from disk, 0 refused"
    swift_store = SwiftStorage(on_swift.librarian)
    assert all(swift_store.holds(*row) for row in rows)
    again = cli("librarian", "migrate", "--to", "swift")
    assert again.out.splitlines()[-1] == (
        f"0 copied, {len(rows)} already in Swift, 0 missing from disk, 0 refused")


def test_migrate_resumes_where_swift_lacks_a_file(cli, disk, on_swift, session, swift):
    assert cli("librarian", "migrate", "--to", "swift").status == 0
    sha1 = contents(session)[0].sha1
    assert swift_call(swift, "DELETE", f"{on_swift.librarian.swift_container}/{sha1}")[0] == 204
    result = cli("librarian", "migrate", "--to", "swift")
    assert result.status == 0
    assert f"({sha1}) copied, checked" in result.out
    assert result.out.splitlines()[-1].startswith("1 copied, ")


def test_a_disk_file_that_is_not_its_row_is_refused_and_reported(cli, disk, on_swift, session):
    sha1 = contents(session)[0].sha1
    with open(disk.path_for(sha1), "r+b") as handle:
        handle.write(b"#")
    result = cli("librarian", "migrate", "--to", "swift")
    assert result.status == 2
    assert f"({sha1}) REFUSED: " in result.out
    assert "1 refused" in result.out
    assert not SwiftStorage(on_swift.librarian).exists(sha1)


def test_reads_fall_back_to_disk_until_the_file_is_in_swift(cli, disk, on_swift, session, db):
    context = FarmContext(on_swift, engine=db.engine)
    alias_id = LibrarianClient(context).addFile("late.txt", io.BytesIO(b"in Swift\n"))
    (old,) = [row for row in contents(session) if row.filesize == 3 * MIB + 7]
    old_alias = session.scalars(sa.select(LibraryFileAlias).join(LibraryFileAlias.content)
                                .where(LibraryFileContent.sha1 == old.sha1)).first()
    client = LibrarianClient(context)
    with client.getFileByAlias(old_alias.id) as stored:  # from disk: not migrated yet
        assert hashlib.sha1(stored.read()).hexdigest() == old.sha1
    assert cli("librarian", "migrate", "--to", "swift").status == 0
    os.unlink(disk.path_for(old.sha1))
    with client.getFileByAlias(old_alias.id) as stored:  # from Swift now
        assert hashlib.sha1(stored.read()).hexdigest() == old.sha1
    with client.getFileByAlias(alias_id) as stored:
        assert stored.read() == b"in Swift\n"
    context.db.stop()


def test_gc_removes_only_old_files_no_row_names_and_dry_run_nothing(cli, disk, session):
    orphan = disk.path_for("0" * 40)
    young = disk.path_for("1" * 40)
    spooled = os.path.join(disk.root, "incoming", "tmpabandoned")
    for path in (orphan, young, spooled):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(b"nobody's\n")
    for path in (orphan, spooled):
        os.utime(path, (time.time() - 8 * DAY,) * 2)
    dry = cli("librarian", "gc", "--dry-run")
    assert dry.status == 0, dry.err
    assert dry.out.splitlines() == [
        f"would remove file {orphan}", f"would remove file {spooled}",
        "would remove 2 files, 0 Swift objects and 0 Swift segments"]
    assert os.path.exists(orphan) and os.path.exists(spooled)
    done = cli("librarian", "gc")
    assert done.out.splitlines()[-1] == "removed 2 files, 0 Swift objects and 0 Swift segments"
    assert not os.path.exists(orphan) and not os.path.exists(spooled)
    assert os.path.exists(young)
    assert all(os.path.exists(disk.path_for(row.sha1)) for row in contents(session))


def test_gc_removes_swift_objects_no_row_names_with_their_segments(
        cli, on_swift, session, swift):
    context = FarmContext(on_swift, engine=session.get_bind())
    big = some_bytes(2 * MIB + 3, seed=b"orphan")
    kept = context.librarian.add_bytes(session, "kept.txt", b"kept\n")
    kept_big = context.librarian.add_bytes(session, "kept.bin", some_bytes(2 * MIB + 5))
    session.commit()
    context.librarian.add_bytes(session, "orphan.bin", big)
    session.rollback()  # its object stays in Swift, no row names it
    container = on_swift.librarian.swift_container
    # A write that died between its segments and its manifest.
    for number in range(2):
        swift_call(swift, "PUT", f"{container}_segments/incoming/dead/{number:08d}", b"x")
    assert cli("librarian", "gc", "--grace", "1").out.splitlines() == [
        "removed 0 files, 0 Swift objects and 0 Swift segments"]
    done = cli("librarian", "gc", "--grace", "0").out.splitlines()
    # The orphan's three segments and its marker, and the dead write's two.
    assert done[0] == f"removed Swift object {hashlib.sha1(big).hexdigest()}"
    assert done[-1] == "removed 0 files, 1 Swift objects and 6 Swift segments"
    assert {f"removed Swift segment incoming/dead/{number:08d}" for number in range(2)} \
        <= set(done)
    assert sum(line.startswith("removed Swift segment manifests/") for line in done) == 1
    status, listing = swift_call(swift, "GET", f"{container}_segments")
    assert len(listing.decode().split()) == 3 + 1  # kept.bin's segments and its marker
    assert context.librarian.exists(kept.content.sha1)
    with context.librarian.open(kept_big) as stored:
        assert stored.read() == some_bytes(2 * MIB + 5)
    context.db.stop()
