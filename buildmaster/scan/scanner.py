"""The slave scanner: watch every builder and act on what its slave says.

``scan(context)`` runs one scan pass (buildmaster.scan.scanpass): every
builder, or only those whose poll is due, with the database work in
threads.  Finished builds are collected by buildmaster.scan.collection.

BuilderGroup carries the seeds' API (rescueBuilderIfLost, updateBuild,
getLogFromSlave, firstAvailable ...) on one session in the caller's
thread, and the decisions the scan pass shares with it: what a status
means for a job, why a slave's job is not the farm's, who a streak of
failed scans blames.  Every slave call returns a Deferred; every
database change is committed as soon as it is made, never across a
wait, so a master killed at any instant loses at most the change in
flight, and builders handled concurrently never see each other's
half-done work.

A slave that cannot be scanned is not blamed at once: see failures.py.
"""

import xmlrpc.client

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from twisted.internet import defer

from buildmaster import health
from buildmaster.slaves.buildlog import fetch_build_log, store_text_log
from buildmaster.scan.collection import (
    Collector, FinishedJob, close_job, collect, describe, fetch, log_change)
from buildmaster.errortext import failure_text
from buildmaster.slaves.failures import ScanFailures, judge
from buildmaster.librarian.storage import LibrarianStorage
from buildmaster.model import (
    Build, Builder, BuildQueue, BuildStatus, DistroArchSeries, DistroSeries,
    SourcePackageRelease)
from buildmaster.archive.pockets import build_allowed_in_pocket
from buildmaster.slaves.client import SlaveError, SlaveProtocolError
from buildmaster.uploads.processor import UploadLocked
from slave.states import BuilderStatus
from slave.states import BuildStatus as SlaveBuildStatus

ABORTING_TAIL = "Waiting for slave process to be terminated"
BUILDERFAIL_NOTES = "Builder returned BUILDERFAIL when asked for its status"
JOB_STATES = frozenset({BuilderStatus.BUILDING, BuilderStatus.WAITING,
                        BuilderStatus.ABORTING, BuilderStatus.ABORTED})
# What counts as a builder failing a scan (judged by failures.py); any
# other exception is a fault of the master, logged and not held against
# anyone.
SCAN_FAILURES = (SlaveError, xmlrpc.client.Fault)


class JobVanished(SlaveError):
    """The slave is idle although the farm has a job running on it."""


def _raise_first(outcomes):
    """The first failure among collection outcomes, raised."""
    for outcome in outcomes:
        if outcome is not None:
            outcome.raiseException()


def _raise_refusal(job):
    """The seed's AssertionError for a build collected as refused."""
    if job.refusal is not None:
        raise AssertionError(job.refusal)


def logtail_text(status):
    """The slave's log tail as text the database can hold."""
    binary = status.get("logtail")
    if binary is None:
        return None
    return binary.data.decode("utf-8", "replace").replace("\x00", "")


def parse_job_id(ident):
    """(build id, queue id) of a job named '<Build.id>-<BuildQueue.id>',
    or None when the name is not of that form."""
    build_id, _, queue_id = (ident or "").partition("-")
    if not (build_id.isdigit() and queue_id.isdigit()):
        return None
    return int(build_id), int(queue_id)


def lost_reason(ident, build_found, queue, builder_id=None):
    """Why the job ``ident`` a slave runs is not the farm's, or None.

    ``build_found`` says whether its build exists, ``queue`` is its queue
    entry's (build_id, builder_id) or None, ``builder_id`` the id of the
    builder asked (None for the seeds' mock builders)."""
    if not build_found or queue is None:
        return f"{ident}: 'Object not found'"
    queue_build_id, queue_builder_id = queue
    if queue_build_id != parse_job_id(ident)[0]:
        return f"{ident}: Job build entry mismatch"
    if builder_id is not None and queue_builder_id != builder_id:
        return f"{ident}: Job not assigned to this builder"
    return None


def rescue_slave(call, name, slave, status, reason, logger):
    """Reset a slave running a job the farm does not know: a building one
    is aborted (it is cleaned once it has stopped), a waiting or aborted
    one cleaned; an aborting one is left to stop.  A Deferred firing
    with ``reason``; ``call(slave, method)`` makes the slave call."""
    if status["builder_status"] == BuilderStatus.ABORTING:
        return defer.succeed(reason)
    method = "abort" if status["builder_status"] == BuilderStatus.BUILDING else "clean"

    def rescued(_):
        logger.warning(f"Builder '{name}' rescued from '{reason}'")
        return reason
    return call(slave, method).addCallback(rescued)


def refusal_text(title, build_id, pocket_name):
    """Why a build its series' pocket no longer accepts is not uploaded."""
    return f"{title} ({build_id}) can not be built for pocket {pocket_name}: illegal status"


def refusal(build):
    return refusal_text(build.title, build.id, build.pocket.name)


class BuilderGroup:
    """A set of builders and the scanner's actions on them.

    ``config`` defaults to the configuration named by BUILDMASTER_CONFIG
    (or the defaults), ``librarian`` to the store it names, ``mailer`` to
    a BuildMailer for it; ``failures`` is the long-lived ScanFailures of
    the running master (a fresh one by default).
    """

    def __init__(self, logger, transaction, config=None, librarian=None,
                 mailer=None, failures=None):
        if config is None:
            from buildmaster import config as configmodule
            config = configmodule.load(configmodule.config_path_from_environment())
        self.logger = logger
        self.transaction = transaction
        self.session = transaction.session
        self.config = config
        self.librarian = librarian or LibrarianStorage(config.librarian.storage)
        self._mailer = mailer
        self.failures = failures or ScanFailures(config.builddmaster.scan_failure_threshold)
        self.semaphore = defer.DeferredSemaphore(
            max(1, config.builddmaster.max_concurrent_calls))
        self.builders = []

    @property
    def mailer(self):
        if self._mailer is None:
            from buildmaster.mail.mailer import BuildMailer
            self._mailer = BuildMailer(self.config)
        return self._mailer

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
            [self._call(builder.slave, "status") for builder in self.builders],
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
        d = self._call(builder.slave, "status")
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
        return rescue_slave(self._call, builder.name, builder.slave, status, reason,
                            self.logger)

    def updateBuilderStatus(self, builder, archseries):
        """Probe ``builder``: alive, right architecture, not lost.

        A slave that answers with a fault or nonsense is marked failed
        (and the error passed on); an unreachable one is left to the
        scan's failure counting.
        """
        d = self._call(builder.slave, "echo", "ping")
        d.addCallback(lambda _: self._call(builder.slave, "info"))
        d.addCallback(self._checkArchitecture, builder, archseries)
        d.addCallback(lambda _: self._call(builder.slave, "status"))
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
        d = self._call(queueItem.builder.slave, "status")
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
        elif state == BuilderStatus.ABORTED or (
                state == BuilderStatus.WAITING
                and status["build_status"] == SlaveBuildStatus.ABORTED):
            return self._handleAborted(queueItem)
        elif state == BuilderStatus.WAITING:
            return self._waitingHandlers()[status["build_status"]](queueItem, status)
        else:
            raise JobVanished(
                f"{queueItem.builder.url}: slave is {state} but should be running "
                f"job {queueItem.build_id}-{queueItem.id}")
        return None

    def _waitingHandlers(self):
        return {
            SlaveBuildStatus.OK: self._handleOK,
            SlaveBuildStatus.PACKAGEFAIL: self._handlePackageFail,
            SlaveBuildStatus.DEPFAIL: self._handleDepFail,
            SlaveBuildStatus.CHROOTFAIL: self._handleChrootFail,
            SlaveBuildStatus.BUILDERFAIL: self._handleBuilderFail,
            SlaveBuildStatus.GIVENBACK: self._handleGivenBack,
        }

    def _setLogtail(self, queueItem, text):
        queueItem.logtail = text
        self.transaction.commit()

    def _logChange(self, build, builder_name, old, why=""):
        log_change(self.logger, build, builder_name, old, why)

    def _requeue(self, queueItem, why):
        """Back to the queue: the build needs building again; unless an
        operator cancelled it, when its job goes and it stays CANCELLED."""
        build, name = queueItem.build, queueItem.builder.name
        old = build.buildstate
        if old == BuildStatus.CANCELLED:
            queueItem.builder = None
            self.session.delete(queueItem)
            self.transaction.commit()
            self.logger.info(f"{describe(build, name)}: CANCELLED, its job dropped{why}")
            return
        build.buildstate = BuildStatus.NEEDSBUILD
        queueItem.reset()
        self.transaction.commit()
        self._logChange(build, name, old, why)

    @defer.inlineCallbacks
    def _handleAborted(self, queueItem):
        yield self._call(queueItem.builder.slave, "clean")
        self.requeueAborted(queueItem)

    def requeueAborted(self, queueItem):
        self._requeue(queueItem, " (aborted)")

    @defer.inlineCallbacks
    def _handleGivenBack(self, queueItem, status):
        slave = queueItem.builder.slave
        self.requeueGivenBack(queueItem, status["build_id"])
        yield self._call(slave, "clean")

    def requeueGivenBack(self, queueItem, ident):
        """A build given back starts again from score 0, as in the seed."""
        self.logger.warning(f"***** {ident} is GIVENBACK by {queueItem.builder.name} *****")
        queueItem.lastscore = 0
        self._requeue(queueItem, " (given back)")

    def _handleBuilderFail(self, queueItem, status):
        builder = queueItem.builder
        self.logger.warning(f"***** {builder.name} has failed *****")
        builder.failBuilder(BUILDERFAIL_NOTES)
        self._requeue(queueItem, f" ({builder.name} failed)")

    def failBuilderOf(self, queueItem, status=None):
        """The slave said BUILDERFAIL: the builder leaves the farm, its job
        goes back to the queue."""
        self._handleBuilderFail(queueItem, status)

    def _handlePackageFail(self, queueItem, status):
        return FinishedJob(queueItem, BuildStatus.FAILEDTOBUILD)

    def _handleDepFail(self, queueItem, status):
        self.logger.critical(f"***** {queueItem.builder.name} is MANUALDEPWAIT *****")
        return FinishedJob(queueItem, BuildStatus.MANUALDEPWAIT,
                           dependencies=status.get("dependencies"))

    def _handleChrootFail(self, queueItem, status):
        self.logger.critical(f"***** {queueItem.builder.name} is CHROOTWAIT *****")
        return FinishedJob(queueItem, BuildStatus.CHROOTWAIT)

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

    @property
    def collector(self):
        return Collector(self.transaction, self.config, self.librarian, self.mailer,
                         self.logger)

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
            fetch_build_log, queueItem.builder.slave, queueItem.build,
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
            self._call(builder.slave, "status").addCallbacks(
                answered, self._followupFailed, callbackArgs=(builder,),
                errbackArgs=(builder,))
            for builder in builders])
        self._storeLogtails(logtails)
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
                self.logger.info(f"{describe(job.build, job.builder.name)}: upload "
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

    def _storeLogtails(self, logtails):
        """All running builds' log tails in one batched UPDATE."""
        if not logtails:
            return
        self.session.execute(
            sa.update(BuildQueue),
            [{"id": queue_id, "logtail": text} for queue_id, text in logtails.items()])
        self.transaction.commit()

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
            self._judge(builder, error)

    def _judge(self, builder, error):
        """A streak of failed scans: count it and blame builder or job."""
        limits = self.config.builddmaster
        job = builder.currentjob
        build = job.build if job is not None else None
        builder.failure_count += 1
        if build is not None:
            build.failure_count += 1
        verdict = judge(builder.failure_count,
                        build.failure_count if build is not None else None,
                        limits.builder_failure_threshold, limits.job_failure_threshold)
        if verdict.fail_builder:
            builder.failBuilder(
                f"Failed {self.failures.threshold} scans in a row "
                f"{builder.failure_count} times; last error: {error}")
            self.logger.warning(f"Builder {builder.name} marked as failed: "
                                f"{builder.failnotes}")
        if build is None:
            self.transaction.commit()
        elif verdict.fail_job:
            self._failJob(job, error)
        else:
            self._requeue(job, f" (scans of {builder.name} failing: {error})")

    def _failJob(self, queueItem, error):
        """The job broke builder after builder: it fails for good."""
        build = queueItem.build
        note = (f"The build master failed this build: it failed on "
                f"{build.failure_count} builders; last on "
                f"{queueItem.builder.name}: {error}\n")
        alias = store_text_log(self.session, self.librarian, build, note, "buildlog",
                               BuildStatus.FAILEDTOBUILD)
        old = build.buildstate
        close_job(self.session, queueItem, alias, BuildStatus.FAILEDTOBUILD)
        outcomes = health.record(self.session, self.config,
                                 [health.Finished(queueItem, log_text=note)])
        # Held before the commit, so a master killed after it loses no mail.
        held = self.mailer.holdBuildFailure(build, job=queueItem.id)
        try:
            self.transaction.commit()
        except Exception:
            if held is not None:
                self.mailer.drop(held)
            raise
        self._logChange(build, build.builder.name, old)
        self.logger.warning(f"{describe(build, build.builder.name)}: {note.strip()}")
        if held is not None:
            self.mailer.release(held)
        health.tell(self.session, self.config, self.mailer, outcomes)


def sortAndSplitByProcessor(session):
    """{processor: pending queue entries, highest score first}."""
    entries = session.scalars(
        sa.select(BuildQueue).where(BuildQueue.builder_id.is_(None))
        .options(selectinload(BuildQueue.build).selectinload(Build.processor))
        .order_by(BuildQueue.lastscore.desc(), BuildQueue.id))
    split = {}
    for entry in entries:
        split.setdefault(entry.build.processor, []).append(entry)
    return split


def load_builders(session):
    """Every active builder with its job and what the log lines name,
    in a fixed handful of queries whatever the size of the farm."""
    build_details = (
        selectinload(Build.sourcepackagerelease)
        .selectinload(SourcePackageRelease.sourcepackagename),
        selectinload(Build.distroarchseries).selectinload(DistroArchSeries.distroseries)
        .selectinload(DistroSeries.distribution),
        selectinload(Build.archive),
    )
    return list(session.scalars(
        sa.select(Builder).where(Builder.active).order_by(Builder.id).options(
            selectinload(Builder.currentjob).selectinload(BuildQueue.build)
            .options(*build_details))))


def scan(context, logger=None):
    """One scan pass (buildmaster.scan.scanpass): every builder when a full
    scan is due, else only the builders whose poll is; fires with the
    number of builders whose scan failed."""
    from buildmaster.scan import scanpass
    return scanpass.scan(context, logger)
