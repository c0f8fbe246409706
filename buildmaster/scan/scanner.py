"""The seeds' slave scanner: watch a group of builders and act on what
their slaves say.

The running farm scans with buildmaster.scan.scanpass; finished builds
are collected by buildmaster.scan.collection.  BuilderGroup carries the
seeds' API (rescueBuilderIfLost, updateBuild, getLogFromSlave,
firstAvailable ...) on one session in the caller's thread, and shares
with the scan pass what a status means (jobstates.py) and the actions on
jobs (jobactions.py).  Every slave call returns a Deferred; every
database change is committed as soon as it is made, never across a
wait, so a master killed at any instant loses at most the change in
flight, and builders handled concurrently never see each other's
half-done work.

A slave that cannot be scanned is not blamed at once: see failures.py.
"""

import logging
import xmlrpc.client

import sqlalchemy as sa
from twisted.internet import defer

from buildmaster.archive.pockets import build_allowed_in_pocket
from buildmaster.errortext import failure_text
from buildmaster.model import Build, Builder, BuildQueue, BuildStatus
from buildmaster.scan.collection import FinishedJob, collect, fetch
from buildmaster.scan.jobactions import JobActions
from buildmaster.scan.jobstates import (
    ABORTING_TAIL, BUILDER_FAILED, GIVEN_BACK, JOB_STATES, SCAN_FAILURES, WAITING,
    JobVanished, dependencies_of, is_aborted, logtail_text, lost_reason, parse_job_id,
    refusal, rescue_slave, shout)
from buildmaster.slaves.buildlog import fetch_build_log
from buildmaster.slaves.errors import SlaveProtocolError
from buildmaster.slaves.registry import slave_of
from buildmaster.uploads.processor import UploadLocked
from common.states import BuilderStatus


def _raise_first(outcomes):
    """The first failure among collection outcomes, raised."""
    for outcome in outcomes:
        if outcome is not None:
            outcome.raiseException()


def _raise_refusal(job):
    """The seed's AssertionError for a build collected as refused."""
    if job.refusal is not None:
        raise AssertionError(job.refusal)


class BuilderGroup(JobActions):
    """A set of builders, the seeds' scanner of them, and the actions on
    their jobs (JobActions); the arguments are JobActions'."""

    def __init__(self, logger, transaction, config=None, librarian=None,
                 mailer=None, failures=None):
        super().__init__(logger, transaction, config, librarian, mailer, failures)
        self.semaphore = defer.DeferredSemaphore(
            max(1, self.config.builddmaster.max_concurrent_calls))
        self.builders = []

    def _call(self, slave, method, *args):
        """A slave call, waiting its turn among the calls in flight."""
        return self.semaphore.run(getattr(slave, method), *args)

    # -- Availability (the 2005 seed) --------------------------------------

    @defer.inlineCallbacks
    def firstAvailable(self):
        """The first builder that is ok and whose slave answers IDLE."""
        for builder, available in (yield self._availability()):
            if available:
                return builder
        return None

    @defer.inlineCallbacks
    def countAvailable(self):
        return sum(1 for _, available in (yield self._availability()) if available)

    @defer.inlineCallbacks
    def _availability(self):
        """[(builder, available)], asking every slave at once; a slave
        that fails to answer is not available, and its error is logged."""
        results = yield defer.DeferredList(
            [self._call(slave_of(builder), "status") for builder in self.builders],
            consumeErrors=True)
        for builder, (ok, failure) in zip(self.builders, results):
            if not ok:
                self.logger.warning(f"{builder.name} is not available: its slave "
                                    f"failed to answer: {failure_text(failure)}")
        return [(builder, ok and builder.builderok
                 and status["builder_status"] == BuilderStatus.IDLE)
                for builder, (ok, status) in zip(self.builders, results)]

    def setupBuilders(self, processor):
        """Take the active builders of ``processor`` as this group's."""
        self.builders = list(self.session.scalars(
            sa.select(Builder).where(Builder.processor_id == processor.id,
                                     Builder.active).order_by(Builder.id)))
        return self.builders

    # -- Lost slaves -------------------------------------------------------

    def rescueBuilderIfLost(self, builder):
        """Reset ``builder``'s slave if its job is not one of the farm's.

        A Deferred firing with None either way; a rescue is logged.
        """
        d = self._call(slave_of(builder), "status")
        return d.addCallback(lambda status: self._rescue(builder, status)).addCallback(
            lambda _: None)

    def lostReason(self, builder, status):
        """Why the slave's job "<Build.id>-<BuildQueue.id>" is not the farm's,
        or None when it is (or the slave has no job)."""
        if status["builder_status"] not in JOB_STATES:
            return None
        ident = status["build_id"] or ""
        build, queue = self._jobNamed(ident)
        return lost_reason(
            ident, build is not None,
            (queue.build_id, queue.builder_id) if queue is not None else None,
            builder.id if isinstance(builder, Builder) else None)

    def _jobNamed(self, ident):
        ids = parse_job_id(ident)
        if ids is None:
            return None, None
        return self.session.get(Build, ids[0]), self.session.get(BuildQueue, ids[1])

    def _rescue(self, builder, status):
        """Reset a lost slave; a Deferred, or None when it is not lost.

        A building slave is aborted (it is cleaned once it has stopped),
        a waiting or aborted one cleaned; an aborting one is left to stop.
        """
        reason = self.lostReason(builder, status)
        if reason is None:
            return None
        return rescue_slave(self._call, builder.name, slave_of(builder), status, reason,
                            self.logger)

    def updateBuilderStatus(self, builder, archseries):
        """Probe ``builder``: alive, right architecture, not lost.

        A slave that answers with a fault or nonsense is marked failed
        (and the error passed on); an unreachable one is left to the
        scan's failure counting.
        """
        d = self._call(slave_of(builder), "echo", "ping")
        d.addCallback(lambda _: self._call(slave_of(builder), "info"))
        d.addCallback(self._checkArchitecture, builder, archseries)
        d.addCallback(lambda _: self._call(slave_of(builder), "status"))
        d.addCallback(lambda status: self._rescue(builder, status))
        d.addErrback(self._markBroken, builder)
        return d

    def _checkArchitecture(self, info, builder, archseries):
        tag = archseries.architecturetag
        if not (isinstance(info, (list, tuple)) and len(info) >= 2):
            raise ValueError(f"{builder.name}: info() answered {info!r}")
        if info[1] != tag:
            raise ValueError(f"{builder.name} builds for {info[1]}, not {tag}")

    def _markBroken(self, failure, builder):
        failure.trap(xmlrpc.client.Fault, ValueError, TypeError, SlaveProtocolError)
        builder.failBuilder(str(failure.value))
        self.logger.warning(f"{builder.displayname} marked as failed due to: "
                            f"{builder.failnotes}")
        self.transaction.commit()
        return failure

    # -- One job ----------------------------------------------------------

    def updateBuild(self, queueItem):
        """Ask the slave of ``queueItem``'s builder and act on its state."""
        d = self._call(slave_of(queueItem.builder), "status")
        return d.addCallback(lambda status: self.handleStatus(queueItem, status))

    def handleStatus(self, queueItem, status):
        """Act on a slave status for the job it is running; a Deferred."""
        try:
            action = self._actOnJob(queueItem, status)
        except Exception:
            return defer.fail()
        if isinstance(action, FinishedJob):
            return self.collect([action]).addCallback(_raise_first).addCallback(
                lambda _: _raise_refusal(action))
        return defer.maybeDeferred(lambda: action)

    def _actOnJob(self, queueItem, status):
        """What the slave's state calls for: a FinishedJob to collect, a
        Deferred of slave calls, or None when it is all done."""
        state = status["builder_status"]
        if state == BuilderStatus.BUILDING:
            self._setLogtail(queueItem, logtail_text(status))
        elif state == BuilderStatus.ABORTING:
            self._setLogtail(queueItem, ABORTING_TAIL)
        elif is_aborted(status):
            return self._handleAborted(queueItem)
        elif state == BuilderStatus.WAITING:
            return self._handleWaiting(queueItem, status)
        else:
            raise JobVanished(
                f"{queueItem.builder.url}: slave is {state} but should be running "
                f"job {queueItem.build_id}-{queueItem.id}")
        return None

    def _handleWaiting(self, queueItem, status):
        """A WAITING slave's job, as the WAITING table says (jobstates.py)."""
        end = WAITING[status["build_status"]]
        if end == GIVEN_BACK:
            return self._handleGivenBack(queueItem, status)
        if end == BUILDER_FAILED:
            return self.fail_builder(queueItem, status)
        shout(self.logger, queueItem.builder.name, end, logging.CRITICAL)  # as the seeds
        if end is None:
            return self._handleOK(queueItem, status)
        return FinishedJob(queueItem, end, dependencies=dependencies_of(end, status))

    def _setLogtail(self, queueItem, text):
        queueItem.logtail = text
        self.transaction.commit()

    @defer.inlineCallbacks
    def _handleAborted(self, queueItem):
        yield self._call(slave_of(queueItem.builder), "clean")
        self.requeueAborted(queueItem)

    @defer.inlineCallbacks
    def _handleGivenBack(self, queueItem, status):
        slave = slave_of(queueItem.builder)
        self.requeueGivenBack(queueItem, status["build_id"])
        yield self._call(slave, "clean")

    def _handleOK(self, queueItem, status):
        """Built: the log and the files are to be collected, the upload
        processed.  A build its series' pocket no longer accepts is the
        seed's AssertionError (``updateBuild`` raises it once collected):
        it ends FAILEDTOUPLOAD with the error in its upload log, its
        files left on the slave, which is cleaned and reused."""
        build = queueItem.build
        if not build_allowed_in_pocket(build):
            return FinishedJob(queueItem, BuildStatus.FAILEDTOUPLOAD, refusal=refusal(build))
        return FinishedJob(queueItem, None, filemap=status["filemap"] or {})

    # -- Collecting finished jobs ------------------------------------------

    def collect(self, jobs):
        """Collect finished jobs together (see buildmaster.scan.collection);
        fire with a Failure or None for each job.  The slaves are cleaned
        once their results are committed."""
        for job in jobs:
            self._fetch(job)

        def record(arrived):
            failures = self.collector.record(arrived)
            return defer.succeed([failures.get(job) for job in arrived])
        return collect(jobs, record, lambda job: self._call(job.slave, "clean"))

    def _fetch(self, job):
        return fetch(job, self.semaphore, self.config)

    def getLogFromSlave(self, queueItem):
        """Fetch the build log, gzipped, into the librarian; a Deferred alias."""
        return self.semaphore.run(
            fetch_build_log, slave_of(queueItem.builder), queueItem.build,
            self.session, self.config, self.librarian)

    # -- The whole farm ------------------------------------------------------

    @defer.inlineCallbacks
    def scanActiveBuilders(self):
        """Scan every builder of the group once; never fails.

        Returns the number of builders whose scan failed this time.
        """
        builders = [b for b in self.builders if self._worthScanning(b)]
        logtails, followups, finished = {}, [], []

        def answered(status, builder):
            # A failure streak ends only when everything the status called
            # for has worked: a slave that answers but is idle while its
            # job should run must still count towards the threshold.
            try:
                action = self._act(builder, status, logtails)
            except Exception:
                action = defer.fail()
            if isinstance(action, FinishedJob):
                # Fetching starts at once, while other slaves are still asked.
                self._fetch(action)
                finished.append(action)
            elif isinstance(action, defer.Deferred):
                followups.append(action.addCallbacks(
                    self._scanSucceeded, self._followupFailed,
                    callbackArgs=(builder,), errbackArgs=(builder,)))
            else:
                self.failures.succeeded(builder.name)

        results = yield defer.DeferredList([
            self._call(slave_of(builder), "status").addCallbacks(
                answered, self._followupFailed, callbackArgs=(builder,),
                errbackArgs=(builder,))
            for builder in builders])
        self.store_logtails(logtails)
        collecting = self.collect(finished).addCallback(self._collected, finished)
        outcomes = yield defer.DeferredList(followups)
        failed_collections = yield collecting
        return failed_collections + sum(
            1 for _, result in results + outcomes if result is False)

    def _collected(self, outcomes, jobs):
        """Count the jobs whose collection failed as failed scans; an
        upload lock held by another process is an ordinary retry."""
        failed = 0
        for job, outcome in zip(jobs, outcomes):
            if outcome is None:
                self.failures.succeeded(job.builder.name)
            elif outcome.check(UploadLocked):
                self.logger.info(f"{job.build.describe(job.builder.name)}: upload "
                                 f"waits ({failure_text(outcome)}); retrying at "
                                 "the next scan")
            else:
                failed += 1
                self._scanFailed(job.builder, outcome)
        return failed

    @staticmethod
    def _worthScanning(builder):
        """A failed builder is left alone until an operator enables it."""
        return builder.builderok or builder.manual or builder.currentjob is not None

    def _act(self, builder, status, logtails):
        """What one status asks for: a FinishedJob to collect, a Deferred
        when slave calls follow, else None."""
        job = builder.currentjob
        state = status["builder_status"]
        expected = f"{job.build_id}-{job.id}" if job is not None else None
        if state in JOB_STATES and status["build_id"] != expected:
            return self._rescue(builder, status)
        if job is None:
            return None
        if state == BuilderStatus.BUILDING:
            logtails[job.id] = logtail_text(status)
        elif state == BuilderStatus.ABORTING:
            logtails[job.id] = ABORTING_TAIL
        else:
            return self._actOnJob(job, status)
        return None

    def _scanSucceeded(self, result, builder):
        self.failures.succeeded(builder.name)
        return result

    def _followupFailed(self, failure, builder):
        self._scanFailed(builder, failure)
        return False

    def _scanFailed(self, builder, failure):
        """Count a slave's failure; log anything else as the master's fault."""
        if not failure.check(*SCAN_FAILURES):
            self.transaction.abort()
            self.logger.error(
                f"Scanning {builder.name} failed: {failure_text(failure)}",
                exc_info=(failure.type, failure.value, failure.getTracebackObject()))
            return
        error = failure_text(failure)
        streak = self.failures.streak(builder.name) + 1
        self.logger.warning(f"Scan of {builder.name} failed ({streak} of "
                            f"{self.failures.threshold} in a row): {error}")
        if self.failures.failed(builder.name):
            self.judge_streak(builder, error)
