"""Moving the librarian's disk store into Swift, and collecting garbage.

``migrate`` copies every content a LibraryFileContent row names from the
disk store into Swift, oldest row first, each streamed in with its sha1,
sha256, md5 and size checked against the row (so disk, database and
Swift agree, or the file is reported and left out).  It is resumable: a
content whose object Swift already holds with the row's size and sha256
is skipped, so a second run after a crash or ^C only copies the rest.
The disk copy is never removed.  While it runs, masters on
``backend = swift`` with ``disk_fallback = true`` read from the disk
store what Swift does not hold yet.

``collect_garbage`` removes what no row names: files of the disk store
(and its ``incoming/`` spool) and objects of the Swift container whose
sha1 no LibraryFileContent row has, once older than the grace period,
so a file stored a moment before its row commits is never taken.  A
Swift object goes with its SLO segments (``multipart-manifest=delete``),
and segments no kept object's manifest uses (a write that died before
its manifest, marked as swift.py's unnamed_segments says) go too.
"""

import dataclasses
import datetime
import os

import sqlalchemy as sa

from buildmaster.librarian.storage import StoreError
from buildmaster.model import LibraryFileContent

BATCH = 500


@dataclasses.dataclass
class MigrationReport:
    copied: int = 0
    present: int = 0
    missing: list = dataclasses.field(default_factory=list)
    failed: list = dataclasses.field(default_factory=list)


def migrate(sessions, disk, swift, progress=print):
    """Copy the disk store ``disk`` into ``swift`` (SwiftStorage); calls
    ``progress`` with one line a file; returns a MigrationReport (files
    missing from disk or refused are listed there, not raised)."""
    with sessions() as session:
        total, total_bytes = session.execute(sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(LibraryFileContent.filesize), 0))).one()
    report, done, done_bytes, last_id = MigrationReport(), 0, 0, 0
    while True:
        with sessions() as session:
            rows = session.execute(
                sa.select(LibraryFileContent.id, LibraryFileContent.sha1,
                          LibraryFileContent.sha256, LibraryFileContent.md5,
                          LibraryFileContent.filesize)
                .where(LibraryFileContent.id > last_id)
                .order_by(LibraryFileContent.id).limit(BATCH)).all()
        if not rows:
            return report
        for row in rows:
            outcome = _copy_one(row, disk, swift, report)
            done, done_bytes, last_id = done + 1, done_bytes + row.filesize, row.id
            progress(f"{done}/{total} files, {done_bytes}/{total_bytes} bytes: "
                     f"content {row.id} ({row.sha1}) {outcome}")


def _copy_one(row, disk, swift, report):
    if swift.holds(row.sha1, row.filesize, row.sha256):
        report.present += 1
        return "already in Swift"
    path = disk.path_for(row.sha1)
    try:
        with open(path, "rb") as handle:
            swift.store_content(handle, (row.sha1, row.sha256, row.md5, row.filesize), path)
    except FileNotFoundError:
        report.missing.append(row.sha1)
        return f"MISSING from {path}"
    except StoreError as error:
        report.failed.append(row.sha1)
        return f"REFUSED: {error}"
    report.copied += 1
    return "copied, checked"


@dataclasses.dataclass
class Garbage:
    """What no row names: disk paths, Swift object and segment names."""
    files: list = dataclasses.field(default_factory=list)
    objects: list = dataclasses.field(default_factory=list)
    segments: list = dataclasses.field(default_factory=list)


def collect_garbage(sessions, storage, grace, now, dry_run=False):
    """Remove (unless ``dry_run``) the files and objects of ``storage``
    (LibrarianStorage or SwiftStorage, with its disk fallback) no row
    names and older than ``grace`` (a timedelta) at ``now`` (aware);
    returns the Garbage found."""
    with sessions() as session:
        known = set(session.scalars(sa.select(LibraryFileContent.sha1)))
    cutoff = (now - grace).timestamp()
    garbage = Garbage()
    disk = getattr(storage, "fallback", storage)
    if disk is not None and hasattr(disk, "path_for") and os.path.isdir(disk.root):
        garbage.files = _disk_garbage(disk.root, known, cutoff)
    if hasattr(storage, "unnamed_objects"):
        garbage.objects = storage.unnamed_objects(known, cutoff)
        kept = set(storage.object_names()) - set(garbage.objects)
        garbage.segments = storage.unnamed_segments(kept, cutoff)
    if not dry_run:
        for path in garbage.files:
            os.unlink(path)
        for name in garbage.objects:
            storage.remove_object(name)
        for name in garbage.segments:
            storage.remove_segment(name)
    return garbage


def _disk_garbage(root, known, cutoff):
    found = []
    for directory, _, filenames in os.walk(root):
        for filename in filenames:
            path = os.path.join(directory, filename)
            spooled = os.path.basename(directory) == "incoming"
            stored = len(filename) == 40 and os.path.relpath(path, root).count(os.sep) == 2
            if (spooled or (stored and filename not in known)) \
                    and os.lstat(path).st_mtime < cutoff:
                found.append(path)
    return sorted(found)


def parse_grace(days):
    """A timedelta of ``days`` (a number of days, maybe fractional)."""
    return datetime.timedelta(days=float(days))
