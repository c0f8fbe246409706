"""Collecting finished builds: logs and files fetched, outcomes recorded.

::

    slave WAITING ──► FinishedJob ──► fetch (reactor): build log gzipped
                                      and, for a good build, its files,
                                      onto the master's disk
                  ──► record (one transaction, any thread): upload processed,
                      logs stored, builds ended, queue entries and builders
                      freed, health recorded; COMMIT; uploads filed away,
                      changes logged, people told
                  ──► the caller cleans the slaves

Jobs are recorded together, in one transaction with a fixed number of
queries however many finished; if that fails each is recorded alone, so
one bad job never holds up the others.  A slave is cleaned only once
its results are committed, so a master stopped at any point loses
nothing: the next one finds the slave still waiting.

A FinishedJob made by the scan pass (``FinishedJob.of_target``) knows
only ids and names while its files come in; ``attach`` gives it its
queue entry, build and builder in the session that records it.
"""

import os
import shutil

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from twisted.internet import defer
from twisted.python.failure import Failure

from buildmaster import health
from buildmaster.slaves.buildlog import (
    StepLines, download_build_log, last_slave_note, log_filename, store_text_log,
    stored_log_entry)
from buildmaster.model import (
    Build, Builder, BuildQueue, BuildStatus, DistroArchSeries, DistroSeries, SourcePackageRelease,
    utcnow)
from buildmaster.queue.fairshare import charge, scheduling_of
from buildmaster.slaves.registry import slave_of
from buildmaster.uploads.processor import UploadProcessor, fetch_upload, incoming_directory, upload_id


def log_change(logger, build, builder_name, old, why=""):
    """The one line a build's change of state gets."""
    logger.info(f"{build.describe(builder_name)}: {old.name} -> "
                f"{build.buildstate.name}{why}")


def close_job(session, queueItem, buildlog, state, dependencies=None, now=None):
    """The build ends in ``state``; its queue entry and builder are
    freed.  The caller commits."""
    build, builder = queueItem.build, queueItem.builder
    now = now or utcnow()
    build.builder = builder
    build.datebuilt = now
    build.buildduration = now - (queueItem.date_started or now)
    build.buildlog = buildlog
    build.dependencies = dependencies
    build.buildstate = state
    builder.failure_count = 0
    queueItem.builder = None
    session.delete(queueItem)


def charge_usage(session, config, builds, now=None):
    """Charge each of ``builds``, just ended, to its archive's and
    owner's fair-share usage (buildmaster.queue.fairshare): one query and
    one flush however many.  The caller commits."""
    charge(session, [(build.archive_id, build.archive.owner_id,
                      build.buildduration.total_seconds())
                     for build in builds if build.buildduration is not None],
           now or utcnow(), scheduling_of(config).half_life)


def _step_times(job):
    """{step: seconds} of ``job``'s attempt: its wait in the queue (from
    its queueing, a requeued job's earlier attempts included, to its
    start) and the steps its slave's log gave; None for neither."""
    entry, steps = job.queueItem, {}
    if entry.created is not None and entry.date_started is not None:
        steps["queue"] = round(max(0.0, (entry.date_started - entry.created).total_seconds()), 2)
    steps.update(job.steps.steps())
    return steps or None


class FinishedJob:
    """A job whose slave waits with its results, on their way in.

    ``state`` is how the build ends, or None for a good build: its upload
    decides.  ``refusal`` says why the master refuses a good build's
    upload without fetching it (FAILEDTOUPLOAD).  The fetched log (and
    upload directory) are on the master's disk until ``discard``.
    ``problem`` is what the slave said of a chroot problem (CHROOTWAIT),
    read from its log when the job is recorded.  ``steps`` picks the
    slave's step times out of the log as it comes in (StepLines).
    """

    def __init__(self, queueItem, state, dependencies=None, filemap=None, refusal=None):
        self.state = state
        self.dependencies = dependencies
        self.filemap = filemap
        self.refusal = refusal
        self.problem = None
        self.steps = StepLines()
        self.log_path = self.directory = self.upload = None
        self.refused = ()
        self.fetching = None
        self.queueItem = self.build = self.builder = None
        self.log_name = None
        if queueItem is not None:
            self._take(queueItem)
            self.slave = slave_of(queueItem.builder)

    @classmethod
    def of_target(cls, target, state, dependencies=None, filemap=None, refusal=None):
        """A job the scan pass found finished on ``target`` (a scan
        Target: ids and names, its slave), with no database object yet."""
        job = cls(None, state, dependencies, filemap, refusal)
        job.queue_id, job.build_id = target.queue_id, target.build_id
        job.builder_name, job.slave = target.name, target.slave
        job.log_name = target.log_name
        return job

    def _take(self, queueItem):
        self.queueItem = queueItem
        self.build = queueItem.build
        self.builder = queueItem.builder
        self.queue_id, self.build_id = queueItem.id, queueItem.build_id
        self.builder_name = self.builder.name

    @property
    def upload_log(self):
        """The upload's log, or the refusal; None when nothing was uploaded."""
        if self.refusal is not None:
            return self.refusal
        return self.upload.log if self.upload is not None else None

    def discard(self):
        """Remove what is left of the fetched files on the master's disk."""
        if self.log_path is not None and os.path.exists(self.log_path):
            os.unlink(self.log_path)
        if self.directory is not None and os.path.isdir(self.directory):
            shutil.rmtree(self.directory, ignore_errors=True)


class JobGone(Exception):
    """The queue entry of a finished job is no longer the builder's."""


# What record() reads of each job, joined into the one query that loads
# them all.  The builder's own side of the job (``currentjob``) too: the
# flush that frees the builder would otherwise load it, builder by builder.
RECORD_LOADS = (
    joinedload(BuildQueue.builder).joinedload(Builder.currentjob),
    joinedload(BuildQueue.build, innerjoin=True).options(
        joinedload(Build.sourcepackagerelease, innerjoin=True)
        .joinedload(SourcePackageRelease.sourcepackagename, innerjoin=True),
        joinedload(Build.distroarchseries, innerjoin=True)
        .joinedload(DistroArchSeries.distroseries, innerjoin=True)
        .joinedload(DistroSeries.distribution, innerjoin=True),
        joinedload(Build.archive, innerjoin=True)),
)


def attach(session, jobs):
    """Give scan-made ``jobs`` their queue entry, build and builder from
    ``session`` (a fixed number of queries); {job: Failure} of those
    whose entry is gone or no longer on that builder."""
    ids = [job.queue_id for job in jobs]
    entries = {entry.id: entry for entry in session.scalars(
        sa.select(BuildQueue).where(BuildQueue.id.in_(ids)).options(*RECORD_LOADS))}
    missing = {}
    for job in jobs:
        entry = entries.get(job.queue_id)
        if entry is None or entry.builder is None or entry.builder.name != job.builder_name:
            missing[job] = Failure(JobGone(
                f"job {job.build_id}-{job.queue_id} is no longer {job.builder_name}'s"))
        else:
            job._take(entry)
    return missing


def fetch(job, semaphore, config):
    """The Deferred fetch of ``job``'s results, started if need be."""
    if job.fetching is None:
        job.fetching = _download(job, semaphore, config)
    return job.fetching


@defer.inlineCallbacks
def _download(job, semaphore, config):
    """The build log, and for a good build its files, onto our disk."""
    if job.log_name is None:
        job.log_name = log_filename(job.build)
    job.log_path = yield semaphore.run(download_build_log, job.slave, config, job.steps)
    if job.state is None:
        job.directory = incoming_directory(
            config, upload_id(job.build_id, job.queue_id, utcnow()))
        job.refused = yield semaphore.run(fetch_upload, job.slave, job.filemap,
                                          job.directory)


@defer.inlineCallbacks
def collect(jobs, record, clean):
    """Collect ``jobs``, whose fetches have started: ``record(jobs)`` (a
    Deferred of [Failure or None]) records those whose files came in,
    then ``clean(job)`` (a Deferred) cleans the slave of each recorded.
    Fires with a Failure or None for each job.  Every fetched file is
    removed from the master's disk whatever happens."""
    fetched = yield defer.DeferredList([job.fetching for job in jobs], consumeErrors=True)
    outcomes = {job: None if ok else result for job, (ok, result) in zip(jobs, fetched)}
    try:
        arrived = [job for job in jobs if outcomes[job] is None]
        if arrived:
            outcomes.update(zip(arrived, (yield record(arrived))))
    finally:
        for job in jobs:
            job.discard()
    recorded = [job for job in jobs if outcomes[job] is None]
    cleaned = yield defer.DeferredList([clean(job) for job in recorded], consumeErrors=True)
    for job, (ok, result) in zip(recorded, cleaned):
        outcomes[job] = None if ok else result
    return [outcomes[job] for job in jobs]


class Collector:
    """Records finished jobs in ``transaction``'s session: the scanner's
    collection step, in whatever thread owns that session."""

    def __init__(self, transaction, config, librarian, mailer, logger):
        self.transaction = transaction
        self.session = transaction.session
        self.config = config
        self.librarian = librarian
        self.mailer = mailer
        self.logger = logger

    def record(self, jobs):
        """Record ``jobs`` in one transaction; if that fails, each in its
        own, so one bad job never holds up the others.  {job: Failure} of
        the jobs not recorded."""
        if not jobs:
            return {}
        try:
            self._record_together(jobs)
            return {}
        except Exception:
            self.transaction.abort()
            if len(jobs) == 1:
                return {jobs[0]: Failure()}
        failures = {}
        for job in jobs:
            try:
                self._record_together([job])
            except Exception:
                self.transaction.abort()
                failures[job] = Failure()
        return failures

    def _record_together(self, jobs):
        """Uploads processed, logs stored, builds ended, failure mail held
        in the spool, one commit; then the uploads filed away, the changes
        logged and the mail released.  Mail held before the commit is
        never lost to a master killed after it (mail.holdBuildFailure)."""
        uploads = [job for job in jobs if job.state is None]
        processor = UploadProcessor(self.config, self.session, self.librarian)
        results = processor.process_many(
            [(job.build, job.directory, job.refused) for job in uploads])
        # How each build ends: the slave's word, or for a good build its
        # upload's fate.  Kept here, not on the job: if this transaction
        # fails, each job is recorded again alone, its upload processed
        # again, never taken as decided.
        ends = {job: job.state for job in jobs}
        for job, result in zip(uploads, results):
            job.upload = result
            ends[job] = self._upload_state(job)
        logs = self.librarian.add_paths(self.session, [
            stored_log_entry(job.build, job.log_path, job.log_name) for job in jobs])
        changes = [(job, job.build.buildstate) for job in jobs]
        for job, alias in zip(jobs, logs):
            if ends[job] == BuildStatus.CHROOTWAIT:
                job.problem = last_slave_note(job.log_path)
            if ends[job] == BuildStatus.FAILEDTOUPLOAD:
                job.build.upload_log = store_text_log(
                    self.session, self.librarian, job.build, job.upload_log,
                    "upload_log", BuildStatus.FAILEDTOUPLOAD)
            job.build.step_times = _step_times(job)
            close_job(self.session, job.queueItem, alias, ends[job], job.dependencies)
        charge_usage(self.session, self.config, [job.build for job in jobs])
        outcomes = health.record(self.session, self.config, [
            health.Finished(job.queueItem, log_path=job.log_path,
                            upload_log=job.upload_log)
            for job in jobs])
        held = self._hold_failure_mail(changes)
        try:
            self.transaction.commit()
        except Exception:
            for batch in held.values():
                self.mailer.drop(batch)
            raise
        for job, result in zip(uploads, results):
            processor.file_away(result)
        for job, old in changes:
            self._report_finished(job, old)
            if job in held:
                self.mailer.release(held[job])
        health.tell(self.session, self.config, self.mailer, outcomes)

    def _hold_failure_mail(self, changes):
        """{job: its failure mail, held} for the jobs whose build ends in a
        state people are told of."""
        from buildmaster.mail.mailer import NOTIFIED_STATES
        held = {}
        for job, old in changes:
            build = job.build
            if build.buildstate in NOTIFIED_STATES and old != BuildStatus.FULLYBUILT:
                batch = self.mailer.holdBuildFailure(build, upload_log=job.upload_log,
                                                     job=job.queueItem.id, problem=job.problem)
                if batch is not None:
                    held[job] = batch
        return held

    def _upload_state(self, job):
        """FULLYBUILT or FAILEDTOUPLOAD, by the upload's fate; FULLYBUILT
        whatever it was when someone else uploaded the binaries already."""
        if job.build.buildstate == BuildStatus.FULLYBUILT or job.upload.accepted:
            return BuildStatus.FULLYBUILT
        return BuildStatus.FAILEDTOUPLOAD

    def _report_finished(self, job, old):
        build, name = job.build, job.builder.name
        if old == BuildStatus.FULLYBUILT:
            self.logger.info(f"{build.describe(name)}: already FULLYBUILT, upload "
                             f"kept in {job.upload.directory}")
        log_change(self.logger, build, name, old, f" ({job.problem})" if job.problem else "")
        if job.refusal is not None:
            self.logger.error(f"{build.describe(name)}: AssertionError: {job.refusal}; "
                              "ended FAILEDTOUPLOAD, its files left unfetched")
