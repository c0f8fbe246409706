"""The sequencer itself: picks the job due first, runs it, mails failures.

BuildSequencer is a twisted Service.  startService schedules the first
job; each job, when it ends, schedules the next (``scheduleCallback``),
so exactly one job runs or waits at any time.  stopService cancels the
waiting call, lets a running job finish (for at most ``[sequencer]
shutdown_timeout`` seconds, then stops it) and waits, as long again at
most, for failure mail still being sent.
"""

from twisted.application import service
from twisted.internet import defer

import sequencer
from buildmaster import config as configmodule
from sequencer.job import BuildSequencerJob


class BuildSequencer(service.Service):
    """Runs ``config.jobs`` one at a time on ``reactor``; callable jobs
    get ``context`` (a FarmContext, made from ``config`` when first
    needed if not given)."""

    name = "sequencer"

    def __init__(self, config=None, reactor=None, context=None):
        if config is None:
            config = configmodule.load(configmodule.config_path_from_environment(),
                                       check_dirs=False)
        if reactor is None:
            from twisted.internet import reactor
        self.config = config
        self.reactor = reactor
        self._context = context
        self._owns_context = False
        self.fromaddr = config.mail.from_address
        self.smtp_host = config.mail.smtp_host
        self.smtp_port = config.mail.smtp_port
        self.shutdown_timeout = config.sequencer.shutdown_timeout
        self.pending_call = None
        self.stopping = False
        self.outgoing = set()
        self.jobs = self.loadJobs(config)
        self.mailertargets = self.loadMailerTargets(config)

    @property
    def context(self):
        if self._context is None:
            from buildmaster.context import FarmContext
            self._context = FarmContext(self.config)
            self._owns_context = True
        return self._context

    def loadJobs(self, config):
        sequencer.log.msg("Loading jobs...")
        jobs = []
        for job_config in config.jobs:
            try:
                jobs.append(BuildSequencerJob(self, job_config))
            except ValueError as problem:
                raise configmodule.ConfigError(
                    config.path, f"sequencer.job.{job_config.name}", "callable",
                    str(problem)) from None
            sequencer.log.msg(f"   ...loaded {job_config.name}")
        return jobs

    def loadMailerTargets(self, config):
        targets = list(config.sequencer.mailer_targets)
        sequencer.log.msg("Mailer targets set to:")
        for target in targets:
            sequencer.log.msg(f"   ... {target}")
        return targets

    def getCurrentTime(self):
        return self.reactor.seconds()

    # Scheduling.

    def findEarliestJob(self):
        """(job, due) of the job due first; on a tie, the one configured first."""
        if not self.jobs:
            return None, None
        job = min(self.jobs, key=lambda each: each.due)
        return job, job.due

    def scheduleCallback(self):
        """Arrange for the job due first to run when it is due."""
        if self.stopping:
            return
        self._cancel_pending()
        job, due = self.findEarliestJob()
        if job is None:
            sequencer.log.msg("No jobs are configured; the sequencer is idle")
            return
        delay = max(0, due - self.getCurrentTime())
        sequencer.routine("Scheduling %s for %6d seconds time" % (job.name, delay))
        self.pending_call = self.callAfter(delay, job.start_run)

    def wake(self, name, after=0):
        """Make the next run of the jobs called ``name`` (a section name,
        or the ``module:function`` they call) due in ``after`` seconds,
        unless due sooner.  Jobs still run one at a time: a running job's
        wake-up takes effect when it ends, and while any job runs nothing
        else is scheduled.  The jobs' own delays stay the safety net."""
        at = self.getCurrentTime() + after
        moved = [job.wake(at) for job in self.jobs if name in (job.name, job.spec)]
        if (any(moved) and self.running and not self.stopping
                and not any(job.running for job in self.jobs)):
            self.scheduleCallback()

    def callAfter(self, delay, callback):
        return self.reactor.callLater(delay, callback)

    def _cancel_pending(self):
        if self.pending_call is not None and self.pending_call.active():
            self.pending_call.cancel()
        self.pending_call = None

    # Failure reports.

    def interpolateFailureFor(self, to, code, job):
        return sequencer.failure_message % {
            "from": self.fromaddr, "to": to, "job": job.name, "exitcode": code,
            "cmd": job.command, "log": job.log, "errlog": job.errlog}

    def mailOutFailure(self, code, job):
        """Log the failure report, and mail it to every target but '-'."""
        sequencer.log.err(self.interpolateFailureFor("-", code, job))
        for target in self.mailertargets:
            if target == "-":
                continue
            sequencer.log.msg("Mailing report to: %s" % target)
            sending = sequencer.sendmail(
                self.smtp_host, self.fromaddr, target,
                self.interpolateFailureFor(target, code, job), port=self.smtp_port)
            sending.addErrback(sequencer.log.err)
            self.outgoing.add(sending)
            sending.addBoth(self._sent, sending)

    def _sent(self, result, sending):
        self.outgoing.discard(sending)
        return result

    def flushMail(self):
        """A Deferred firing when the failure mail sent so far has gone
        (or failed, which is logged)."""
        return defer.DeferredList(list(self.outgoing)).addCallback(lambda _: None)

    # The Service.

    def startService(self):
        super().startService()
        self.stopping = False
        sequencer.log.msg(f"Sequencer starting with {len(self.jobs)} jobs")
        self.scheduleCallback()

    @defer.inlineCallbacks
    def stopService(self):
        super().stopService()
        self.stopping = True
        self._cancel_pending()
        for job in self.jobs:
            if job.running:
                sequencer.log.msg(f"Waiting up to {self.shutdown_timeout} seconds "
                                  f"for job {job.name} to finish")
                yield self._bounded(job.whenFinished(), self._stop_job, job)
        if self.outgoing:
            yield self._bounded(self.flushMail(), self._give_up_mail)
        if self._owns_context:
            self._context.close()
        sequencer.log.msg("Sequencer stopped")

    def _bounded(self, waiting, on_timeout, *args):
        """``waiting``, given up on after shutdown_timeout seconds."""
        return waiting.addTimeout(self.shutdown_timeout, self.reactor,
                                  onTimeoutCancel=lambda result, timeout: on_timeout(*args))

    def _stop_job(self, job):
        sequencer.log.err(f"Job {job.name} still running after {self.shutdown_timeout} "
                          f"seconds; stopping it")
        job.stop("stopped: still running when the sequencer shut down")

    def _give_up_mail(self):
        sequencer.log.err(f"Giving up on {len(self.outgoing)} failure mails still "
                          f"unsent after {self.shutdown_timeout} seconds")
        for sending in list(self.outgoing):
            sending.cancel()
