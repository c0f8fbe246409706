"""One scan pass: the slaves asked on the reactor, the database in threads.

::

    targets (thread: one query) ──► status of each (reactor; at most
        max_concurrent_calls in flight, each with its timeout)
      ├─ BUILDING, ABORTING: its log tail ──────────────┐
      ├─ running a job the farm may not know ───────────┤ one transaction
      ├─ WAITING GIVENBACK, BUILDERFAIL ─────────────────┤ (thread): log tails,
      │                                                 ┘ jobs looked up, requeues
      │     └─► rescues (abort or clean), cleans (reactor)
      ├─ ABORTED: clean (reactor) ──► requeue (thread)
      └─ WAITING with results: fetched at once (reactor) ──► recorded
         (thread, collection.py) ──► slave cleaned (reactor)
    builders whose build it collected ──► dispatched to in the same pass
    jobs it put back in the queue ──► the dispatcher woken
    a streak of failed scans complete ──► verdict (thread, failures.py)

The reactor only ever holds plain data: a Target per builder (ids,
names, its slave).  Each database step is one transaction in a thread
of the context's pool, on its own session, doing the same work as the
seeds' BuilderGroup (JobActions made on that session), with a fixed number of
queries whatever the number of builders.  Failure mail is composed and
spooled in the thread and handed to the mailer in the reactor's.

``scan(context)`` scans every builder; ``scan_due(context)``, the
sequencer's job, scans every builder when a full scan is due and
otherwise only those whose poll is (polling.py), then asks to run again
when the next one is.
"""

import logging

import sqlalchemy as sa
from twisted.internet import defer
from twisted.python.failure import Failure

from buildmaster.scan.collection import FinishedJob, attach, collect, fetch
from buildmaster.db.engine import Transaction
from buildmaster.errortext import failure_text
from buildmaster.slaves.patience import patiently
from buildmaster.mail.mailer import ThreadMailer
from buildmaster.db.outage import is_outage
from buildmaster.model import Build, Builder, BuildQueue, BuildStatus, utcnow
from buildmaster.scan.jobactions import JobActions
from buildmaster.scan.targets import load_targets
from buildmaster.scan.jobstates import (
    ABORTING_TAIL, BUILDER_FAILED, GIVEN_BACK, JOB_STATES, SCAN_FAILURES, WAITING,
    JobVanished, dependencies_of, is_aborted, logtail_text, lost_reason, parse_job_id,
    refusal_text, rescue_slave, shout)
from buildmaster.slaves.stragglers import stragglers_of
from buildmaster.uploads.processor import UploadLocked
from buildmaster.runtime.wakeups import DISPATCH, SCAN
from common.states import BuilderStatus

LOG = logging.getLogger("buildmaster.scanner")
VANISHED_WHY = (" (its slave is idle: the master that claimed the job stopped before "
                "the slave took it)")

# -- The database steps, each one transaction in a thread ----------------------------

class _Work:
    """What a database step needs from the context, passed to the thread."""

    def __init__(self, context, logger):
        self.config = context.config
        self.librarian = context.librarian
        self.failures = context.scan_failures
        self.mailer = ThreadMailer(context.mailer, context.reactor)
        self.logger = logger

    def group(self, session):
        return JobActions(self.logger, Transaction(session), config=self.config,
                          librarian=self.librarian, mailer=self.mailer,
                          failures=self.failures)


def _entries(session, queue_ids):
    from buildmaster.scan.collection import RECORD_LOADS
    if not queue_ids:
        return {}
    return {entry.id: entry for entry in session.scalars(
        sa.select(BuildQueue).where(BuildQueue.id.in_(queue_ids)).options(*RECORD_LOADS))}


def settle(session, work, logtails, suspects, given_back, builder_failed):
    """The status answers' database work in one go: log tails stored,
    the jobs of suspect slaves looked up, jobs given back requeued,
    builders that failed taken out with their jobs requeued.  Returns
    {builder id: why its slave's job is not the farm's} for the lost."""
    group = work.group(session)
    group.store_logtails(logtails)
    reasons = _lost_reasons(session, suspects)
    entries = _entries(session, [target.queue_id for target, _ in given_back + builder_failed])
    for target, ident in given_back:
        if target.queue_id in entries:
            group.requeueGivenBack(entries[target.queue_id], ident)
    for target, _ in builder_failed:
        if target.queue_id in entries:
            group.failBuilderOf(entries[target.queue_id])
    return reasons


def _lost_reasons(session, suspects):
    """{builder id: reason} of the suspects [(target, ident)] whose job is
    not theirs in the farm (two queries for all of them)."""
    if not suspects:
        return {}
    named = {target.id: parse_job_id(ident) for target, ident in suspects}
    build_ids = {ids[0] for ids in named.values() if ids}
    queue_ids = {ids[1] for ids in named.values() if ids}
    builds = set(session.scalars(sa.select(Build.id).where(Build.id.in_(build_ids))))
    queues = {row.id: (row.build_id, row.builder_id) for row in session.execute(
        sa.select(BuildQueue.id, BuildQueue.build_id, BuildQueue.builder_id)
        .where(BuildQueue.id.in_(queue_ids)))}
    reasons = {}
    for target, ident in suspects:
        ids = named[target.id]
        if ids is None:
            reason = lost_reason(ident, False, None)
        else:
            reason = lost_reason(ident, ids[0] in builds, queues.get(ids[1]), target.id)
        if reason is not None:
            reasons[target.id] = reason
    return reasons


def requeue_aborted(session, work, targets):
    """Back to the queue, the jobs whose slaves were aborted and cleaned."""
    group = work.group(session)
    entries = _entries(session, [target.queue_id for target in targets])
    for target in targets:
        if target.queue_id in entries:
            group.requeueAborted(entries[target.queue_id])


def requeue_vanished(session, work, targets):
    """Back to the queue, the jobs whose slaves are idle though a master that
    is gone (or this one, before its restart) claimed them."""
    group = work.group(session)
    entries = _entries(session, [target.queue_id for target in targets])
    for target in targets:
        if target.queue_id in entries:
            group.requeue(entries[target.queue_id], VANISHED_WHY)


def record(session, work, jobs):
    """Record the finished ``jobs`` (collection.py), then remove their
    fetched files from the master's disk; [Failure or None]."""
    try:
        failures = attach(session, jobs)
        failures.update(work.group(session).collector.record(
            [job for job in jobs if job not in failures]))
        return [failures.get(job) for job in jobs]
    finally:
        for job in jobs:
            job.discard()


def judge_streaks(session, work, streaks):
    """A verdict for every builder whose streak of failed scans completed
    [(builder id, last error)]; True when a job went back to the queue."""
    group = work.group(session)
    requeued = False
    for builder_id, error in streaks:
        builder = session.get(Builder, builder_id)
        if builder is None:
            continue
        had_job = builder.currentjob is not None
        group.judge_streak(builder, error)
        requeued |= had_job
    return requeued


# -- The pass ---------------------------------------------------------------------------

class ScanPass:
    """One pass over ``only`` (builder ids) or every active builder."""

    def __init__(self, context, logger=None, only=None):
        self.context = context
        self.config = context.config
        self.logger = logger or LOG
        self.only = only
        self.work = _Work(context, self.logger)
        self.failures = context.scan_failures
        self.polls = context.polls
        self.semaphore = defer.DeferredSemaphore(
            max(1, self.config.builddmaster.max_concurrent_calls))
        self.failed = 0
        self.patience_over = False
        self.routed = set()     # builder ids whose answer came within patience
        self.logtails = {}
        self.suspects = []      # (target, status)
        self.given_back = []    # (target, ident)
        self.builder_failed = []
        self.vanished = []      # targets whose job a gone master claimed
        self.aborted = []
        self.cancelling = []    # targets building a build an operator cancelled
        self.finished = []      # FinishedJob
        self.streaks = []       # (builder id, error)
        self.freed = set()      # builder ids whose build this pass collected

    def _call(self, slave, method, *args):
        return self.semaphore.run(getattr(slave, method), *args)

    async def scan_builders(self):
        """The number of builders whose scan failed."""
        self.context.slaves.configure(self.config)
        targets = await self.context.db.run_in_thread(load_targets, self.only)
        stragglers = stragglers_of(self.context)
        targets = [target for target in targets
                   if target.worth_scanning and target.id not in stragglers.calls]
        for target in targets:
            target.slave = self.context.slaves.slave_for(target)
        asked = [(target, (stragglers.answer_for(target)
                           or self._call(target.slave, "status")).addBoth(self._route, target))
                 for target in targets]
        await patiently([call for _, call in asked], self.context.reactor)
        self.patience_over = True
        for target, call in asked:
            if target.id not in self.routed:
                stragglers.wait_for(target, call, self.logger, self.context)
        reasons = {}
        if self.logtails or self.suspects or self.given_back or self.builder_failed:
            reasons = await self.context.db.run_in_thread(
                settle, self.work, self.logtails,
                [(target, status["build_id"]) for target, status in self.suspects],
                self.given_back, self.builder_failed)
        await defer.DeferredList(
            [self._rescue(target, status, reasons.get(target.id))
             for target, status in self.suspects]
            + [self._after_give_back(target) for target, _ in self.given_back]
            + [self._clean_aborted(target) for target in list(self.aborted)]
            + [self._abort_cancelled(target) for target in self.cancelling])
        if self.aborted:
            await self.context.db.run_in_thread(requeue_aborted, self.work, self.aborted)
        if self.vanished:
            await self.context.db.run_in_thread(requeue_vanished, self.work, self.vanished)
        if self.aborted or self.given_back or self.vanished:
            self.context.wakeups.wake(DISPATCH)
        await self._collect()
        if self.streaks:
            if await self.context.db.run_in_thread(judge_streaks, self.work, self.streaks):
                self.context.wakeups.wake(DISPATCH)
        await self._refill()
        return self.failed

    # -- Answers ----------------------------------------------------------------

    def _route(self, result, target):
        """An answer (or a Failure) within the pass's patience is acted on
        now; a later one passes on to the Stragglers."""
        if self.patience_over:
            return result
        self.routed.add(target.id)
        if isinstance(result, Failure):
            self._failed(result, target)
        else:
            self._answered(result, target)
        return None

    def _answered(self, status, target):
        try:
            self._act(target, status)
        except Exception:
            self._failed(Failure(), target)

    def _act(self, target, status):
        state = status["builder_status"]
        if state in JOB_STATES and status["build_id"] != target.ident:
            self.suspects.append((target, status))
            return
        if target.queue_id is None:
            self.polls.forget(target.id)
            self.failures.succeeded(target.name)
            return
        if target.cancelled and state != BuilderStatus.ABORTING:
            # An operator cancelled it (commands/operating.py): aborted if
            # it still builds, else cleaned and its job dropped, the build
            # kept CANCELLED (JobActions.requeue), its results unused.
            (self.cancelling if state == BuilderStatus.BUILDING else self.aborted).append(
                target)
            self.failures.succeeded(target.name)
            return
        if state in (BuilderStatus.BUILDING, BuilderStatus.ABORTING):
            self.logtails[target.queue_id] = (
                logtail_text(status) if state == BuilderStatus.BUILDING else ABORTING_TAIL)
            self.polls.still_building(target.id)
            self.failures.succeeded(target.name)
            return
        self.polls.forget(target.id)
        if is_aborted(status):
            self.aborted.append(target)
            return
        if state != BuilderStatus.WAITING:
            if self._claimed_by_a_gone_master(target):
                self.vanished.append(target)
                self.failures.succeeded(target.name)
                return
            raise JobVanished(f"{target.url}: slave is {state} but should be running "
                              f"job {target.ident}")
        end = WAITING[status["build_status"]]
        if end == GIVEN_BACK:
            self.given_back.append((target, status["build_id"]))
        elif end == BUILDER_FAILED:
            self.builder_failed.append((target, status["build_id"]))
            self.failures.succeeded(target.name)
        else:
            self._finished(target, end, status)

    def _claimed_by_a_gone_master(self, target):
        """An idle slave's job was claimed before this master started, or
        longer ago than a dispatch may take: the claim's master stopped
        between its commit and the slave's build(), and no scan streak
        (kept in memory, lost at every restart) needs to prove it."""
        claimed = target.claimed
        if claimed is None or claimed < self.context.started:
            return True
        return (utcnow() - claimed).total_seconds() > self.config.builddmaster.download_timeout

    def _finished(self, target, state, status):
        shout(self.logger, target.name, state)
        if state is None and not target.pocket_ok:
            job = FinishedJob.of_target(
                target, BuildStatus.FAILEDTOUPLOAD,
                refusal=refusal_text(target.title, target.build_id, target.pocket))
        else:
            job = FinishedJob.of_target(
                target, state, dependencies=dependencies_of(state, status),
                filemap=(status["filemap"] or {}) if state is None else None)
        job.target = target
        # Fetching starts at once, while other slaves are still asked.
        fetch(job, self.semaphore, self.config)
        self.finished.append(job)

    def _failed(self, failure, target):
        """Count a slave's failure; log anything else as the master's fault."""
        self.failed += 1
        self.polls.forget(target.id)
        if not failure.check(*SCAN_FAILURES):
            self.logger.error(
                f"Scanning {target.name} failed: {failure_text(failure)}",
                exc_info=(failure.type, failure.value, failure.getTracebackObject()))
            return None
        error = failure_text(failure)
        streak = self.failures.streak(target.name) + 1
        self.logger.warning(f"Scan of {target.name} failed ({streak} of "
                            f"{self.failures.threshold} in a row): {error}")
        if self.failures.failed(target.name):
            self.streaks.append((target.id, error))
        return None

    # -- Slave calls the database asked for ------------------------------------------

    def _rescue(self, target, status, reason):
        if reason is None:
            self.failures.succeeded(target.name)
            return defer.succeed(None)
        d = rescue_slave(self._call, target.name, target.slave, status, reason,
                         self.logger)
        return d.addCallbacks(lambda _: self.failures.succeeded(target.name),
                              self._failed, errbackArgs=(target,))

    def _after_give_back(self, target):
        d = self._call(target.slave, "clean")

        return d.addCallbacks(lambda _: self.failures.succeeded(target.name),
                              self._failed, errbackArgs=(target,))

    def _abort_cancelled(self, target):
        self.logger.info(f"{target.label} on {target.name}: cancelled; aborting it")
        return self._call(target.slave, "abort").addErrback(self._failed, target)

    def _clean_aborted(self, target):
        d = self._call(target.slave, "clean")

        def failed(failure):
            self.aborted.remove(target)
            return self._failed(failure, target)
        return d.addCallbacks(lambda _: self.failures.succeeded(target.name), failed)

    # -- Finished builds --------------------------------------------------------------

    async def _collect(self):
        fetched = set()
        for job in self.finished:
            job.fetching.addBoth(lambda result, job=job: fetched.add(job) or result)
        await patiently([job.fetching for job in self.finished], self.context.reactor)
        jobs = [job for job in self.finished if job in fetched]
        for job in self.finished:
            if job not in fetched:
                stragglers_of(self.context).wait_for_fetch(job, self.logger, self.context)
        if not jobs:
            return
        outcomes = await collect(
            jobs, lambda arrived: self.context.db.run_in_thread(record, self.work, arrived),
            lambda job: self._call(job.slave, "clean"))
        cut_off = next((outcome for outcome in outcomes
                        if outcome is not None and is_outage(outcome.value)), None)
        if cut_off is not None:
            # Not the slaves' fault: the pass fails, the outage is told
            # once (outage.py), and the next pass collects these again.
            cut_off.raiseException()
        for job, outcome in zip(jobs, outcomes):
            if outcome is None:
                self.failures.succeeded(job.builder_name)
                self.freed.add(job.target.id)
            elif outcome.check(UploadLocked):
                self.logger.info(f"{job.target.label} on {job.builder_name}: upload "
                                 f"waits ({failure_text(outcome)}); retrying at "
                                 "the next scan")
            else:
                self._failed(outcome, job.target)

    # -- Refilling ----------------------------------------------------------------------

    async def _refill(self):
        """Give the builders this pass freed their next job now."""
        if not self.freed:
            return
        from buildmaster.dispatch.dispatchpass import dispatch_idle_builders
        await dispatch_idle_builders(self.context, builder_ids=self.freed)


def scan(context, logger=None, only=None):
    """One pass over every builder (of ``only``, ids, if given); a
    Deferred firing with the number of builders whose scan failed."""
    return defer.ensureDeferred(ScanPass(context, logger, only).scan_builders())


def scan_due(context, logger=None):
    """The sequencer's scan: every builder when a full scan is due, else
    only the builders whose poll is; then the job is woken again for the
    next poll or full scan."""
    full, due = context.polls.plan()
    if full or due:
        d = scan(context, logger, None if full else due)
    else:
        d = defer.succeed(0)

    def again(result):
        context.wakeups.wake(SCAN, context.polls.next_in())
        return result
    return d.addBoth(again)

