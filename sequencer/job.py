"""One periodic job of the sequencer: an external command or a callable.

A command runs as ``setsid /bin/sh -c COMMAND`` so that it and every
process it starts share one process group, which a timeout can kill
whole.  A callable (``module:function``) is called with the farm context
and may return a Deferred.  Either way the job ends in ``processEnded``
with an exit code: the command's own, 1 for a callable that raised or
whose Deferred failed, 127 when the job could not even be started,
128 + N for a command killed by signal N, and TIMEOUT_EXIT_CODE (124,
as coreutils' timeout) for a job stopped because it ran too long.
"""

import codecs
import importlib
import os
import signal
import traceback

from twisted.internet import defer, error, protocol
from twisted.python.failure import Failure

from common.processes import SETSID, signal_group

import sequencer

TIMEOUT_EXIT_CODE = 124
START_FAILURE_EXIT_CODE = 127
# Seconds between SIGTERM and SIGKILL for a command that is being stopped.
KILL_GRACE = 10
# Characters kept of each output stream of one run (the last ones).
MAX_OUTPUT = 1024 * 1024


def resolve_callable(spec):
    """The function named by ``'package.module:function'``."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"{spec!r} is not of the form package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error_:
        raise ValueError(f"cannot import {module_name}: {error_}") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ValueError(f"{module_name} has no function {attribute!r}")
    return function


class BuildSequencerJob(protocol.ProcessProtocol):
    """A job run over and over: ``due`` is when it may next start."""

    def __init__(self, sequencer_, config):
        self.sequencer = sequencer_
        self.name = config.getSectionName()
        spec = getattr(config, "callable", "")
        self.spec = spec
        self.function = resolve_callable(spec) if spec else None
        self.command = config.command or spec
        self.mindelay = config.mindelay
        self.alwayslog = config.alwayslog
        self.timeout = getattr(config, "timeout", None)
        self.log = ""
        self.errlog = ""
        self.running = False
        self.stopped_because = None
        self._timers = []
        self._observers = []
        self._deferred = None
        self._woken_at = None
        self._reset_decoders()
        self.updateDue()

    def getCurrentTime(self):
        return self.sequencer.getCurrentTime()

    def updateDue(self):
        """Due ``mindelay`` seconds from now, or sooner if a wake-up came
        while it ran."""
        now = self.getCurrentTime()
        self.due = now + self.mindelay
        if self._woken_at is not None:
            self.due = min(self.due, max(now, self._woken_at))
            self._woken_at = None

    def wake(self, at):
        """Make the next run due at ``at`` if that is sooner.  A running
        job runs again at ``at`` (or as soon as it ends): True when the
        due time moved now and the sequencer must schedule again."""
        if self.running:
            if self._woken_at is None or at < self._woken_at:
                self._woken_at = at
            return False
        if at < self.due:
            self.due = at
            return True
        return False

    # Running.

    def start_run(self):
        """Start one run; it always ends in processEnded, which schedules
        the next job."""
        self.log = self.errlog = ""
        self._reset_decoders()
        self.stopped_because = None
        self.running = True
        try:
            if self.timeout:
                self._later(self.timeout, self.stop,
                            f"killed after running longer than its timeout of "
                            f"{self.timeout} seconds")
            if self.function is not None:
                self._start_callable()
            else:
                self._start_command()
        except Exception:
            self.errlog += traceback.format_exc()
            self._end(START_FAILURE_EXIT_CODE)

    def _start_command(self):
        self.sequencer.reactor.spawnProcess(
            self, SETSID, [SETSID, "/bin/sh", "-c", self.command], env=dict(os.environ))

    def _start_callable(self):
        self._deferred = defer.maybeDeferred(self.function, self.sequencer.context)
        self._deferred.addCallbacks(self._returned, self._raised)
        self._deferred.addErrback(sequencer.log.err)

    def _returned(self, result):
        if result is not None:
            self.outReceived(f"result: {result!r}\n")
        self._end(0)

    def _raised(self, failure):
        if self.stopped_because is None:
            # An expected failure says all in one line (``brief``); else
            # the traceback, the job's own fault.
            if getattr(failure.value, "brief", False):
                self.errlog += f"{failure.type.__name__}: {failure.getErrorMessage()}\n"
            else:
                self.errlog += failure.getTraceback()
        self._end(1)

    def _end(self, code):
        if code == 0:
            self.processEnded(Failure(error.ProcessDone(0)))
        else:
            self.processEnded(Failure(error.ProcessTerminated(exitCode=code)))

    def stop(self, reason):
        """Stop the run now: SIGTERM to the command's process group (SIGKILL
        KILL_GRACE seconds later), or cancel the callable's Deferred.  The
        run then counts as failed with TIMEOUT_EXIT_CODE."""
        if not self.running or self.stopped_because is not None:
            return
        self.stopped_because = reason
        self.errlog += f"[sequencer] job {self.name} {reason}\n"
        if self.function is not None:
            self._deferred.cancel()
        else:
            self._signal(signal.SIGTERM)
            self._later(KILL_GRACE, self._signal, signal.SIGKILL)

    def _signal(self, signum):
        pid = self.transport.pid if self.transport is not None else None
        if pid is not None:
            signal_group(pid, signum)

    def _later(self, delay, function, *args):
        self._timers.append(self.sequencer.reactor.callLater(delay, function, *args))

    def _cancel_timers(self):
        timers, self._timers = self._timers, []
        for timer in timers:
            if timer.active():
                timer.cancel()

    def whenFinished(self):
        """A Deferred firing when the current run (if any) has ended;
        cancelling it does not disturb the run."""
        if not self.running:
            return defer.succeed(None)
        waiter = defer.Deferred()
        self._observers.append(waiter)
        return waiter

    # The ProcessProtocol side.

    def _reset_decoders(self):
        self._decoders = {
            stream: codecs.getincrementaldecoder("utf-8")(errors="replace")
            for stream in ("log", "errlog")}

    def _append(self, stream, data):
        if isinstance(data, bytes):
            data = self._decoders[stream].decode(data)
        text = getattr(self, stream) + data
        setattr(self, stream, text[-MAX_OUTPUT:])

    def outReceived(self, data):
        self._append("log", data)

    def errReceived(self, data):
        self._append("errlog", data)

    def processEnded(self, status):
        """Report the run, mail a failure, and schedule the next job."""
        code = None
        try:
            self._cancel_timers()
            code = self._exit_code(status.value)
            done = f"Job {self.name} completed with exit code {code}"
            if code == 0:
                sequencer.routine(done)
            else:
                sequencer.log.msg(done)
            if self.alwayslog:
                sequencer.log.msg("Job output was:\n%s\n" % self.log)
                sequencer.log.msg("Job error output was:\n%s\n" % self.errlog)
            if code != 0:
                self.sequencer.mailOutFailure(code, self)
        except Exception:
            sequencer.log.err(Failure())
        finally:
            self.running = False
            self.updateDue()
            self.sequencer.scheduleCallback()
            observers, self._observers = self._observers, []
            for waiter in observers:
                if not waiter.called:
                    waiter.callback(code)

    def _exit_code(self, value):
        if self.stopped_because is not None:
            return TIMEOUT_EXIT_CODE
        if value.exitCode is not None:
            return value.exitCode
        return 128 + (getattr(value, "signal", None) or 0)
