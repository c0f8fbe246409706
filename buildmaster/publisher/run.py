"""One publisher run: PENDING publications become PUBLISHED on disk.

::

    find dirty suites ──► per archive, one transaction:
        pending files ──► pool            (a conflict keeps it PENDING)
        PENDING ──► PUBLISHED             (one log line each)
        older versions ──► SUPERSEDED     (domination.py)
        no longer live ──► dateremoved    (they leave the indexes)
        indexes, Release, signatures ──► staging dir ──► dists/<suite> (rename)
        commit
    ──► MANUALDEPWAIT builds now satisfiable ──► NEEDSBUILD (depwait.py),
        the dispatchers woken (NOTIFY on PostgreSQL; the publisher job
        wakes its own master's at once)

A publication's life, as the publisher sees it::

    PENDING ──files in the pool──► PUBLISHED ──a newer version──► SUPERSEDED ─┐
       │                              └──────operator─────────► DELETED ─────┤
       └──operator──► DELETED (never on disk: nothing to remove)            │
                                         dateremoved set, out of the indexes ◄┘

Invariants:

* Disk first, then the database.  The new suite is live on disk before
  the transaction marking its publications commits; a crash in between
  leaves them PENDING with their files in the pool, and the next run
  publishes them again, writing the same indexes.  A suite is never half
  written (release.py).
* Nothing is PUBLISHED that is not in its index.  apt-ftparchive leaves
  a package it cannot read out and exits 0; the indexes it wrote are read
  back (indexes.left_out), and a publication this run would publish that
  they lack fails the archive's run (nothing of it is published, one
  error); one published before that they lack is an error of its own.
* A suite is written only when one of its publications changed (or it is
  missing on disk): a run with nothing pending reads one query's worth of
  rows, writes nothing and signs nothing.
* One publisher at a time: a run holds ``<root>/work/publisher.lock``;
  another run (the CLI beside the daemon) fails with PublisherBusy.
* Every archive of the primary kind has every pocket of every series
  with architectures, and any other archive every pocket of a series it
  publishes in, empty where nothing was published: apt refuses a
  sources.list line whose suite has no Release.
"""

import dataclasses
import errno
import fcntl
import logging
import os
import shutil

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from buildmaster.model import (
    Archive, ArchivePurpose, Distribution, DistroSeries, PackagePublishingPocket,
    PackagePublishingStatus, utcnow)
from buildmaster.model import BinaryPackagePublishingHistory as BPPH
from buildmaster.model import SourcePackagePublishingHistory as SPPH
from buildmaster.runtime import wakeups
from buildmaster.publisher import layout, release
from buildmaster.publisher.domination import binary_key, dominated, source_key
from buildmaster.publisher.indexes import IndexFailure, IndexPlan, left_out, write_indexes
from buildmaster.librarian.storage import StoreError
from buildmaster.publisher.pool import PoolConflict, place_stored, pool_file
from buildmaster.publisher.selection import (
    REMOVED_STATUSES, binary_rows, dirty_suites, source_rows)
from buildmaster.publisher.signing import ReleaseSigner, SigningError

logger = logging.getLogger("buildmaster.publisher")

Status = PackagePublishingStatus
LOCK_NAME = "publisher.lock"
NAMES_PER_QUERY = 500


class PublisherBusy(Exception):
    """Another publisher run holds the lock."""


@dataclasses.dataclass
class PublishReport:
    """What a run did."""

    published: int = 0
    superseded: int = 0
    removed: int = 0
    suites: list = dataclasses.field(default_factory=list)
    errors: list = dataclasses.field(default_factory=list)
    retried: list = dataclasses.field(default_factory=list)

    @property
    def summary(self):
        return (f"{self.published} publication(s) published, {self.superseded} "
                f"superseded, {self.removed} removed from the indexes, "
                f"{len(self.suites)} suite(s) written, {len(self.retried)} "
                f"build(s) retried, {len(self.errors)} error(s)")


def publish(context, now=None):
    """Run the publisher once over every archive; a PublishReport.
    Raises PublisherBusy when another run holds the lock."""
    return Publisher(context.config, context.sessions, context.librarian,
                     clock=(lambda: now) if now else utcnow).publish_all()


class Publisher:
    """Publishes every archive of the farm; ``clock()`` gives the time
    written into the publications and the Release files."""

    def __init__(self, config, sessions, librarian, clock=utcnow):
        self.config = config
        self.sessions = sessions
        self.librarian = librarian
        self.clock = clock
        self.root = config.archives.root
        self._signer = None
        self._fresh = set()  # (table, id) of what this archive's run publishes

    def publish_all(self):
        """Publish every archive once under the lock; a PublishReport."""
        report = PublishReport()
        with _lock(os.path.join(self.root, layout.WORK, LOCK_NAME)):
            try:
                with self.sessions() as session:
                    self._move_trees(session)
                    plan = self._plan(session)
                for archive_id, suites in sorted(plan.items()):
                    self._publish_archive(archive_id, suites, report)
            finally:
                if self._signer is not None:
                    self._signer.close()
                    self._signer = None
        from buildmaster.publisher.depwait import retry_satisfiable
        with self.sessions() as session:
            report.retried = retry_satisfiable(session, self.clock(),
                                               quiet=not report.published)
            if report.retried:
                # Every master's dispatcher hears of them as they commit.
                wakeups.notify(session, wakeups.DISPATCH)
            session.commit()
        if report.suites or report.retried or report.errors:
            logger.info("publisher: %s", report.summary)
        return report

    # -- What to publish ------------------------------------------------------

    def _plan(self, session):
        """{archive id: {(series id, pocket)}}: the dirty suites, and the
        missing suites of every primary archive."""
        plan = dirty_suites(session)
        primaries = session.scalars(
            sa.select(Archive).where(Archive.enabled,
                                     Archive.purpose == ArchivePurpose.PRIMARY)
            .options(joinedload(Archive.distribution).selectinload(Distribution.series)
                     .selectinload(DistroSeries.architectures)))
        for archive in primaries:
            tree = layout.tree_path(self.root, archive)
            for series in archive.distribution.series:
                if not series.architectures:
                    continue
                for pocket in PackagePublishingPocket:
                    path = layout.suite_path(tree, series.name, pocket)
                    if not os.path.lexists(path):
                        plan.setdefault(archive.id, set()).add((series.id, pocket))
        return {archive_id: suites for archive_id, suites in plan.items()
                if layout.is_published(session.get(Archive, archive_id))}

    def _move_trees(self, session):
        """A PPA whose privacy changed: its tree leaves the other area, so
        a private archive's files are never on a public URL."""
        for archive in session.scalars(
                sa.select(Archive).where(Archive.purpose == ArchivePurpose.PPA)
                .options(joinedload(Archive.owner), joinedload(Archive.distribution))):
            wrong = layout.tree_path(self.root, archive, private=not archive.private)
            if not os.path.isdir(wrong):
                continue
            right = layout.tree_path(self.root, archive)
            if os.path.exists(right):
                shutil.rmtree(wrong)
            else:
                os.makedirs(os.path.dirname(right), exist_ok=True)
                os.rename(wrong, right)
            logger.info("publisher: %s is %s now: its tree moved to %s",
                        archive.reference, "private" if archive.private else "public",
                        right)

    # -- One archive ----------------------------------------------------------

    def _publish_archive(self, archive_id, suites, report):
        """Publish the archive's ``suites`` (and create its missing ones) in
        one transaction; an error leaves it all to the next run."""
        self._fresh = set()
        with self.sessions() as session:
            archive = session.get(Archive, archive_id)
            tree = layout.tree_path(self.root, archive)
            wanted = set(suites)
            for series_id, _ in suites:
                wanted |= {(series_id, pocket) for pocket in PackagePublishingPocket}
            now = self.clock()
            to_write = []
            for series_id, pocket in sorted(wanted, key=lambda s: (s[0], s[1].value)):
                series = session.get(DistroSeries, series_id)
                if self._update_suite(session, archive, series, pocket, tree, now, report,
                                      dirty=(series_id, pocket) in suites):
                    to_write.append((series, pocket))
            if not to_write:
                session.commit()
                return
            try:
                self._write_suites(session, archive, tree, to_write, now, report)
            except (IndexFailure, SigningError, OSError) as error:
                message = f"{archive.reference}: {error}"
                logger.error("publisher: %s", message)
                report.errors.append(message)
                session.rollback()
                return
            session.commit()

    def _update_suite(self, session, archive, series, pocket, tree, now, report, dirty):
        """Record the suite's changes in the database (not committed);
        True when its indexes must be written."""
        missing = not os.path.lexists(layout.suite_path(tree, series.name, pocket))
        if not dirty:
            return missing
        key = (archive.id, series.id, pocket)
        where = f"{archive.reference} {layout.suite_name(series.name, pocket)}"
        changed = False
        for table, rows_of in ((SPPH, source_rows), (BPPH, binary_rows)):
            changed |= self._publish_pending(session, table, rows_of, key, tree, where,
                                             now, report)
            changed |= self._remove(session, table, rows_of, key, where, now, report)
        return changed or missing

    def _write_suites(self, session, archive, tree, suites, now, report):
        """Write every suite of ``suites`` [(series, pocket)] aside, then
        switch each to its new directory."""
        dists = os.path.join(tree, "dists")
        work = layout.work_path(self.root, archive)
        os.makedirs(work, exist_ok=True)
        staged = []
        try:
            for series, pocket in suites:
                suite = layout.suite_name(series.name, pocket)
                where = f"{archive.reference} {suite}"
                plan = self._index_plan(session, archive, series,
                                        (archive.id, series.id, pocket), tree, where, report)
                staged.append((series, suite, where, plan,
                               release.staging_directory(dists, suite, now)))
            warnings = write_indexes(tree, work, [(stage, plan)
                                                  for *_, plan, stage in staged])
            for warning in warnings:
                logger.warning("publisher: %s: apt-ftparchive: %s", archive.reference,
                               warning)
            for *_, plan, stage in staged:
                self._check_listed(plan, stage, report)
            for series, suite, _, plan, stage in staged:
                path = release.write_release(stage, self._release_fields(
                    archive, series, suite, plan), now)
                if self.config.archives.signing_key:
                    self._signer_for().sign(path)
        except BaseException:
            for *_, stage in staged:
                release.discard(stage)
            raise
        for series, suite, where, plan, stage in staged:
            release.activate(dists, suite, stage)
            report.suites.append(where)
            logger.info("publisher: %s: indexes written (%d source(s), %d binary "
                        "package(s))", where, sum(len(v) for v in plan.sources.values()),
                        len({entry[0] for v in plan.binaries.values() for entry in v}))

    def _publish_pending(self, session, table, rows_of, key, tree, where, now, report):
        """Put the suite's PENDING publications' files in the pool and
        mark them PUBLISHED, then supersede what they dominate; True when
        anything changed."""
        pending = rows_of(session, *key, [Status.PENDING])
        placed = [row for row in pending if self._place(row, tree, where, report)]
        if not placed:
            return False
        ids = [row.id for row in placed]
        self._fresh.update((table, row_id) for row_id in ids)
        session.execute(
            sa.update(table).where(table.id.in_(ids), table.status == Status.PENDING)
            .values(status=Status.PUBLISHED, datepublished=now)
            .execution_options(synchronize_session=False))
        for row in placed:
            _log_change(row, where, Status.PENDING, Status.PUBLISHED)
        report.published += len(placed)
        names = {row.name for row in placed}
        # Only the new packages' rivals; a whole new suite loads in one go.
        live = rows_of(session, *key, [Status.PUBLISHED],
                       names=names if len(names) <= NAMES_PER_QUERY else None)
        losers = dominated(live, set(ids), source_key if table is SPPH else binary_key)
        if losers:
            values = dict(status=Status.SUPERSEDED)
            if table is SPPH:
                values["datesuperseded"] = now
            session.execute(
                sa.update(table).where(table.id.in_([row.id for row in losers]),
                                       table.status == Status.PUBLISHED)
                .values(**values).execution_options(synchronize_session=False))
            for row in losers:
                _log_change(row, where, Status.PUBLISHED, Status.SUPERSEDED)
            report.superseded += len(losers)
        return True

    def _remove(self, session, table, rows_of, key, where, now, report):
        """Mark the suite's no longer live publications still on disk as
        removed (the indexes written next leave them out)."""
        gone = rows_of(session, *key, list(REMOVED_STATUSES), on_disk=True)
        if not gone:
            return False
        session.execute(
            sa.update(table).where(table.id.in_([row.id for row in gone]))
            .values(dateremoved=now).execution_options(synchronize_session=False))
        for row in gone:
            logger.info("publisher: publication %d (%s in %s): %s, removed from the "
                        "indexes", row.id, row.label, where, row.status.name)
        report.removed += len(gone)
        return True

    def _place(self, row, tree, where, report):
        """Put every file of ``row`` in the pool; False (logged) if one
        cannot go there."""
        source = getattr(row, "source", row.name)
        try:
            for pool in row.files:
                _, target = pool_file(tree, row.component, source, pool.filename)
                place_stored(self.librarian, pool.sha1, target, pool.size)
        except (PoolConflict, FileNotFoundError, StoreError) as error:
            message = f"publication {row.id} ({row.label} in {where}): {error}"
            logger.error("publisher: %s", message)
            report.errors.append(message)
            return False
        return True

    def _index_plan(self, session, archive, series, key, tree, where, report):
        """What the suite's indexes list: its PUBLISHED publications whose
        files are in the pool."""
        sources = [row for row in source_rows(session, *key, [Status.PUBLISHED])
                   if self._place(row, tree, where, report)]
        binaries = [row for row in binary_rows(session, *key, [Status.PUBLISHED])
                    if self._place(row, tree, where, report)]
        components = list(layout.default_components(archive))
        components += sorted({row.component for row in sources + binaries}
                             - set(components))
        plan = IndexPlan(components=components,
                         architectures=[das.architecturetag
                                        for das in series.architectures])
        for row in sources:
            if row.dsc is None:
                logger.warning("publisher: %s: %s has no .dsc and is left out of "
                               "Sources", where, row.label)
                continue
            path, _ = pool_file(tree, row.component, row.name, row.dsc.filename)
            plan.sources.setdefault(row.component, []).append(
                (path, row.name, row.section))
            plan.owners[path] = (f"publication {row.id} ({row.label} in {where})",
                                 (SPPH, row.id) in self._fresh)
        for row in binaries:
            arches = [row.arch] if row.arch_specific else plan.architectures
            for deb in row.debs:
                path, _ = pool_file(tree, row.component, row.source, deb.filename)
                plan.owners[path] = (f"publication {row.id} ({row.label} in {where})",
                                     (BPPH, row.id) in self._fresh)
                for arch in arches:
                    plan.binaries.setdefault((row.component, arch), []).append(
                        (path, row.name, row.priority, row.section))
        return plan

    def _check_listed(self, plan, stage, report):
        """An error for each publication the indexes in ``stage`` lack;
        IndexFailure when this run was to publish it."""
        for path in left_out(stage, plan):
            owner, fresh = plan.owners.get(path, (path, False))
            message = f"{owner}: apt-ftparchive left {path} out of its index"
            if fresh:
                raise IndexFailure(message + " (the warnings above say why)")
            logger.error("publisher: %s", message)
            report.errors.append(message)

    def _release_fields(self, archive, series, suite, plan):
        distribution = archive.distribution
        if archive.is_ppa:
            origin = f"PPA-{archive.owner.name}-{archive.name}"
        elif archive.purpose == ArchivePurpose.PARTNER:
            origin = f"{distribution.displayname} Partner"
        else:
            origin = distribution.displayname
        return release.release_fields(
            origin=origin, label=origin, suite=suite, components=plan.components,
            architectures=plan.architectures,
            description=f"{archive.displayname}, {series.displayname}")

    def _signer_for(self):
        if self._signer is None:
            self._signer = ReleaseSigner(self.config.archives.signing_key)
        return self._signer


def _log_change(row, where, old, new):
    logger.info("publisher: publication %d (%s in %s): %s -> %s",
                row.id, row.label, where, old.name, new.name)


class _lock:
    """The publisher's exclusive, non-blocking lock file."""

    def __init__(self, path):
        self.path = path
        self.handle = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.handle = open(self.path, "a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            self.handle.close()
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise PublisherBusy(f"{self.path} is held by another publisher") \
                    from None
            raise
        return self

    def __exit__(self, *exc_info):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
        return False
