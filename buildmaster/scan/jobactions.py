"""The scanner's actions on jobs: requeue, give back, fail a builder or a
job, judge a streak of failed scans, record what finished.

Both scanners act through a JobActions on one session in the caller's
thread: the scan pass (scanpass.py) in its database threads, the seeds'
BuilderGroup (scanner.py) in the doctests.  Every change is committed as
soon as it is made, never across a wait, so a master killed at any
instant loses at most the change in flight.
"""

import sqlalchemy as sa

from buildmaster import health
from buildmaster.librarian.backends import make_storage
from buildmaster.model import BuildQueue, BuildStatus
from buildmaster.scan.collection import Collector, charge_usage, close_job, log_change
from buildmaster.scan.jobstates import BUILDERFAIL_NOTES
from buildmaster.slaves.buildlog import store_text_log
from buildmaster.slaves.failures import ScanFailures, judge


class JobActions:
    """The actions on jobs, on ``transaction``'s session.

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
        self.librarian = librarian or make_storage(config.librarian)
        self._mailer = mailer
        self.failures = failures or ScanFailures(config.builddmaster.scan_failure_threshold)

    @property
    def mailer(self):
        if self._mailer is None:
            from buildmaster.mail.mailer import BuildMailer
            self._mailer = BuildMailer(self.config)
        return self._mailer

    def requeue(self, queueItem, why):
        """Back to the queue: the build needs building again; unless an
        operator cancelled it, when its job goes and it stays CANCELLED."""
        build, name = queueItem.build, queueItem.builder.name
        old = build.buildstate
        if old == BuildStatus.CANCELLED:
            queueItem.builder = None
            self.session.delete(queueItem)
            self.transaction.commit()
            self.logger.info(f"{build.describe(name)}: CANCELLED, its job dropped{why}")
            return
        build.buildstate = BuildStatus.NEEDSBUILD
        queueItem.reset()
        self.transaction.commit()
        log_change(self.logger, build, name, old, why)

    def requeueAborted(self, queueItem):
        self.requeue(queueItem, " (aborted)")

    def requeueGivenBack(self, queueItem, ident):
        """A build given back starts again from score 0, as in the seed."""
        self.logger.warning(f"***** {ident} is GIVENBACK by {queueItem.builder.name} *****")
        queueItem.lastscore = 0
        self.requeue(queueItem, " (given back)")

    def fail_builder(self, queueItem, status):
        builder = queueItem.builder
        self.logger.warning(f"***** {builder.name} has failed *****")
        builder.failBuilder(BUILDERFAIL_NOTES)
        self.requeue(queueItem, f" ({builder.name} failed)")

    def failBuilderOf(self, queueItem, status=None):
        """The slave said BUILDERFAIL: the builder leaves the farm, its job
        goes back to the queue."""
        self.fail_builder(queueItem, status)

    @property
    def collector(self):
        return Collector(self.transaction, self.config, self.librarian, self.mailer,
                         self.logger)

    def store_logtails(self, logtails):
        """All running builds' log tails in one batched UPDATE."""
        if not logtails:
            return
        self.session.execute(
            sa.update(BuildQueue),
            [{"id": queue_id, "logtail": text} for queue_id, text in logtails.items()])
        self.transaction.commit()

    def judge_streak(self, builder, error):
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
            self.fail_job(job, error)
        else:
            self.requeue(job, f" (scans of {builder.name} failing: {error})")

    def fail_job(self, queueItem, error):
        """The job broke builder after builder: it fails for good."""
        build = queueItem.build
        note = (f"The build master failed this build: it failed on "
                f"{build.failure_count} builders; last on "
                f"{queueItem.builder.name}: {error}\n")
        alias = store_text_log(self.session, self.librarian, build, note, "buildlog",
                               BuildStatus.FAILEDTOBUILD)
        old = build.buildstate
        close_job(self.session, queueItem, alias, BuildStatus.FAILEDTOBUILD)
        charge_usage(self.session, self.config, [build])
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
        log_change(self.logger, build, build.builder.name, old)
        self.logger.warning(f"{build.describe(build.builder.name)}: {note.strip()}")
        if held is not None:
            self.mailer.release(held)
        health.tell(self.session, self.config, self.mailer, outcomes)
