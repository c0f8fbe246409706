"""The task sequencer: order, commands, callables, timeouts, failures, shutdown.

Time is a twisted Clock; commands are real /bin/sh processes spawned by
the real reactor (ClockReactor), so a test decides when a timeout
strikes and then waits for the process to really end.
"""

import textwrap

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.python.failure import Failure

import sequencer
from buildmaster import config as configmodule
from sequencer.job import KILL_GRACE, TIMEOUT_EXIT_CODE


class ClockReactor(task.Clock):
    """A fake clock that spawns real processes."""

    def spawnProcess(self, *args, **kwargs):
        return reactor.spawnProcess(*args, **kwargs)


class RecordingLog:
    def __init__(self):
        self.lines = []

    def msg(self, text):
        self.lines.append(("MSG", text))

    def err(self, what):
        text = what.getTraceback() if isinstance(what, Failure) else what
        self.lines.append(("ERR", text))

    def messages(self):
        return [text for kind, text in self.lines if kind == "MSG"]

    def errors(self):
        return [text for kind, text in self.lines if kind == "ERR"]


class Farm:
    """What callable jobs get as their context: it records each call with
    the clock's time and answers with what the test put in ``answers``
    (a value, an exception to raise, or a function returning either)."""

    def __init__(self, clock):
        self.clock = clock
        self.calls = []
        self.answers = {}

    def run(self, name):
        self.calls.append((name, self.clock.seconds()))
        answer = self.answers.get(name)
        if callable(answer):
            answer = answer()
        if isinstance(answer, Exception):
            raise answer
        return answer


def job_a(context):
    return context.run("a")


def job_b(context):
    return context.run("b")


def job_c(context):
    return context.run("c")


@pytest.fixture
def log(monkeypatch):
    recording = RecordingLog()
    monkeypatch.setattr(sequencer, "log", recording)
    return recording


@pytest.fixture
def clock():
    return ClockReactor()


@pytest.fixture
def make_sequencer(tmp_path, clock, smtp_server, log):
    """make_sequencer(jobs_ini, mailer_targets='-', shutdown_timeout=60)"""
    def make(jobs, mailer_targets="-", shutdown_timeout=60):
        path = tmp_path / "sequencer.conf"
        path.write_text(
            "[mail]\n"
            f"smtp_host = {smtp_server.host}\n"
            f"smtp_port = {smtp_server.port}\n"
            "from_address = farm@example.com\n"
            "[sequencer]\n"
            f"mailer_targets = {mailer_targets}\n"
            f"shutdown_timeout = {shutdown_timeout}\n"
            + textwrap.dedent(jobs))
        config = configmodule.load(str(path), check_dirs=False)
        return sequencer.BuildSequencer(config, reactor=clock, context=Farm(clock))
    return make


def callable_job(name, mindelay, timeout=3600, alwayslog=False):
    return (f"[sequencer.job.{name}]\ncallable = test_sequencer:job_{name}\n"
            f"mindelay = {mindelay}\ntimeout = {timeout}\nalwayslog = {alwayslog}\n")


def command_job(name, command, timeout=3600, alwayslog=False):
    return (f"[sequencer.job.{name}]\ncommand = {command}\nmindelay = 5\n"
            f"timeout = {timeout}\nalwayslog = {alwayslog}\n")


# Scheduling.

def test_jobs_run_one_at_a_time_earliest_due_first(make_sequencer, clock):
    seq = make_sequencer(callable_job("a", 5) + callable_job("b", 7) + callable_job("c", 5))
    seq.startService()
    for _ in range(15):
        clock.advance(1)
    assert seq.context.calls == [("a", 5), ("c", 5), ("b", 7), ("a", 10), ("c", 10),
                                 ("b", 14), ("a", 15), ("c", 15)]


def test_a_running_job_holds_back_the_others(make_sequencer, clock, log):
    seq = make_sequencer(callable_job("a", 5) + callable_job("b", 5))
    slow = defer.Deferred()
    seq.context.answers["a"] = slow
    seq.startService()
    clock.advance(5)
    clock.advance(100)
    assert seq.context.calls == [("a", 5)]
    slow.callback(None)
    clock.advance(0)
    assert seq.context.calls == [("a", 5), ("b", 105)]
    assert "Job a completed with exit code 0" in log.messages()
    assert seq.jobs[0].due == 110


def test_the_daemon_logs_routine_runs_at_debug_and_failures_as_they_are(
        make_sequencer, clock, monkeypatch, caplog):
    """An idle farm's log stays quiet: scheduling and clean exits are
    debug records; a failed run is still in the twistd log."""
    from twisted.logger import globalLogPublisher
    monkeypatch.setattr(sequencer, "log", sequencer.TwistedLog())
    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        with caplog.at_level("DEBUG", logger="sequencer"):
            seq = make_sequencer(callable_job("a", 5) + callable_job("b", 5))
            seq.context.answers["b"] = ValueError("broken")
            seq.startService()
            clock.advance(5)
            clock.advance(0)
            seq.stopService()
    finally:
        globalLogPublisher.removeObserver(events.append)
    shown = [event.get("text", "") for event in events if event.get("log_namespace") == "sequencer"]
    assert not any("Scheduling" in text or "exit code 0" in text for text in shown)
    assert "Job b completed with exit code 1" in shown
    routine = [r.getMessage() for r in caplog.records if r.name == "sequencer"]
    assert all(r.levelname == "DEBUG" for r in caplog.records if r.name == "sequencer")
    assert "Job a completed with exit code 0" in routine
    assert any(line.startswith("Scheduling a for") for line in routine)


def test_the_next_run_counts_from_when_the_job_finished(make_sequencer, clock):
    seq = make_sequencer(callable_job("a", 5))
    slow = defer.Deferred()
    seq.context.answers["a"] = lambda: slow
    seq.startService()
    clock.advance(5)
    clock.advance(20)
    slow.callback(None)
    assert seq.jobs[0].due == 30


def test_scheduling_logs_the_delay(make_sequencer, clock, log):
    seq = make_sequencer(callable_job("a", 5) + callable_job("b", 12))
    seq.startService()
    clock.advance(5)
    assert log.messages()[-3:] == ["Scheduling a for      5 seconds time",
                                   "Job a completed with exit code 0",
                                   "Scheduling a for      5 seconds time"]
    clock.advance(5)
    assert log.messages()[-1] == "Scheduling b for      2 seconds time"


# Callable jobs.

def test_a_callable_result_is_its_output(make_sequencer, clock, log):
    seq = make_sequencer(callable_job("a", 5, alwayslog=True))
    seq.context.answers["a"] = defer.succeed(3)
    seq.startService()
    clock.advance(5)
    assert log.messages()[-4:] == [
        "Job a completed with exit code 0", "Job output was:\nresult: 3\n\n",
        "Job error output was:\n\n", "Scheduling a for      5 seconds time"]
    assert log.errors() == []


def test_a_callable_that_raises_fails_with_its_traceback(make_sequencer, clock, log):
    seq = make_sequencer(callable_job("a", 5))
    seq.context.answers["a"] = RuntimeError("the database is gone")
    seq.startService()
    clock.advance(5)
    assert "Job a completed with exit code 1" in log.messages()
    (report,) = log.errors()
    assert "failed with exit code 1" in report
    assert "Command: test_sequencer:job_a" in report
    assert "RuntimeError: the database is gone" in report
    assert "Traceback" in seq.jobs[0].errlog


def test_a_callable_whose_deferred_fails_fails(make_sequencer, clock, log):
    seq = make_sequencer(callable_job("a", 5))
    seq.context.answers["a"] = lambda: defer.fail(ValueError("no such builder"))
    seq.startService()
    clock.advance(5)
    assert "Job a completed with exit code 1" in log.messages()
    assert "ValueError: no such builder" in log.errors()[0]


def test_one_failing_job_does_not_stop_the_others(make_sequencer, clock, log):
    seq = make_sequencer(callable_job("a", 5) + callable_job("b", 5))
    seq.context.answers["a"] = lambda: RuntimeError("broken")
    seq.startService()
    for _ in range(4):
        clock.advance(5)
    assert seq.context.calls == [("a", 5), ("b", 5), ("a", 10), ("b", 10),
                                 ("a", 15), ("b", 15), ("a", 20), ("b", 20)]
    assert len(log.errors()) == 4


def test_a_broken_failure_report_does_not_stop_the_loop(make_sequencer, clock, log,
                                                         monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no mail today")
    monkeypatch.setattr(sequencer, "sendmail", refuse)
    seq = make_sequencer(callable_job("a", 5), mailer_targets="ops@example.com")
    seq.context.answers["a"] = RuntimeError("broken")
    seq.startService()
    clock.advance(5)
    clock.advance(5)
    assert seq.context.calls == [("a", 5), ("a", 10)]
    assert any("OSError: no mail today" in error for error in log.errors())


def test_a_never_firing_deferred_is_cancelled_at_its_timeout(make_sequencer, clock, log):
    seq = make_sequencer(callable_job("a", 5, timeout=30) + callable_job("b", 5))
    seq.context.answers["a"] = lambda: defer.Deferred()
    seq.startService()
    clock.advance(5)
    clock.advance(29)
    assert seq.jobs[0].running
    clock.advance(1)
    assert not seq.jobs[0].running
    assert f"Job a completed with exit code {TIMEOUT_EXIT_CODE}" in log.messages()
    assert "killed after running longer than its timeout of 30 seconds" in log.errors()[0]
    assert seq.context.calls[-1] == ("b", 35)


def test_a_bad_callable_is_a_configuration_error(make_sequencer):
    with pytest.raises(configmodule.ConfigError) as raised:
        make_sequencer("[sequencer.job.x]\ncallable = test_sequencer:no_such\nmindelay = 5\n")
    assert "[sequencer.job.x] callable" in str(raised.value)
    assert "has no function 'no_such'" in str(raised.value)


def test_a_job_that_cannot_start_fails_with_127(make_sequencer, clock, log):
    class Unspawnable(ClockReactor):
        def spawnProcess(self, *args, **kwargs):
            raise OSError("out of processes")
    seq = make_sequencer(command_job("x", "true"))
    seq.reactor = Unspawnable()
    seq.jobs[0].updateDue()
    seq.startService()
    seq.reactor.advance(5)
    assert "Job x completed with exit code 127" in log.messages()
    assert "OSError: out of processes" in seq.jobs[0].errlog
    assert seq.pending_call.active()


# Command jobs.

async def run_once(seq, clock):
    """Start the service and the first job, and wait for the job to end."""
    seq.startService()
    clock.advance(5)
    return await seq.jobs[0].whenFinished()


@pytest_twisted.ensureDeferred
async def test_a_command_output_and_exit_code(make_sequencer, clock, log, smtp_server):
    seq = make_sequencer(command_job("x", "echo to stdout; echo to stderr >&2; exit 3"),
                         mailer_targets="-, ops@example.com")
    assert await run_once(seq, clock) == 3
    job = seq.jobs[0]
    assert (job.log, job.errlog) == ("to stdout\n", "to stderr\n")
    assert log.messages()[-3:] == ["Job x completed with exit code 3",
                                   "Mailing report to: ops@example.com",
                                   "Scheduling x for      5 seconds time"]
    assert "Output:\nto stdout\n" in log.errors()[0]
    await seq.flushMail()
    ((sender, recipients, text),) = smtp_server.messages
    assert (sender, recipients) == ("farm@example.com", ["ops@example.com"])
    assert "Subject: buildmaster job x failed with exit code 3" in text
    assert "Error output:\nto stderr\n" in text


@pytest_twisted.ensureDeferred
async def test_a_successful_command_logs_its_output_only_when_asked(make_sequencer, clock,
                                                                    log):
    seq = make_sequencer(command_job("quiet", "echo hello") +
                         command_job("loud", "echo hello", alwayslog=True))
    await run_once(seq, clock)
    clock.advance(0)
    await seq.jobs[1].whenFinished()
    assert "Job output was:\nhello\n\n" in log.messages()
    assert log.messages().count("Job output was:\nhello\n\n") == 1
    assert log.errors() == []


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


async def output_line(job):
    for _ in range(500):
        if "\n" in job.log:
            return job.log.splitlines()[0]
        await task.deferLater(reactor, 0.02, lambda: None)
    raise AssertionError(f"job {job.name} printed nothing")


async def gone(pid):
    for _ in range(500):
        if not alive(pid):
            return True
        await task.deferLater(reactor, 0.02, lambda: None)
    return False


@pytest_twisted.ensureDeferred
async def test_a_command_past_its_timeout_is_killed_with_its_children(make_sequencer,
                                                                     clock, log):
    seq = make_sequencer(command_job("sleeper", "sleep 60 & echo $!; wait", timeout=30))
    seq.startService()
    clock.advance(5)
    job = seq.jobs[0]
    sleep_pid = int(await output_line(job))
    clock.advance(30)
    assert await job.whenFinished() == TIMEOUT_EXIT_CODE
    assert await gone(sleep_pid)
    assert "killed after running longer than its timeout of 30 seconds" in job.errlog
    assert f"Job sleeper completed with exit code {TIMEOUT_EXIT_CODE}" in log.messages()


@pytest_twisted.ensureDeferred
async def test_a_command_ignoring_sigterm_is_killed(make_sequencer, clock):
    seq = make_sequencer(command_job("stubborn", "trap '' TERM; echo ready; sleep 60 & wait",
                                     timeout=10))
    seq.startService()
    clock.advance(5)
    job = seq.jobs[0]
    await output_line(job)
    clock.advance(10)
    await task.deferLater(reactor, 0.2, lambda: None)
    assert job.running
    clock.advance(KILL_GRACE)
    assert await job.whenFinished() == TIMEOUT_EXIT_CODE


# Stopping.

def test_stopping_waits_for_the_running_job(make_sequencer, clock, log):
    seq = make_sequencer(callable_job("a", 5) + callable_job("b", 5), shutdown_timeout=60)
    slow = defer.Deferred()
    seq.context.answers["a"] = slow
    seq.startService()
    clock.advance(5)
    stopped = seq.stopService()
    assert not stopped.called
    assert "Waiting up to 60 seconds for job a to finish" in log.messages()
    clock.advance(30)
    slow.callback(None)
    assert stopped.called
    clock.advance(100)
    assert seq.context.calls == [("a", 5)]
    assert log.messages()[-1] == "Sequencer stopped"


def test_stopping_is_bounded_by_the_shutdown_timeout(make_sequencer, clock, log):
    seq = make_sequencer(callable_job("a", 5), shutdown_timeout=20)
    seq.context.answers["a"] = lambda: defer.Deferred()
    seq.startService()
    clock.advance(5)
    stopped = seq.stopService()
    clock.advance(19)
    assert not stopped.called
    clock.advance(1)
    assert stopped.called
    assert not seq.jobs[0].running
    assert "Job a still running after 20 seconds; stopping it" in log.errors()
    assert f"Job a completed with exit code {TIMEOUT_EXIT_CODE}" in log.messages()


def test_stopping_an_idle_sequencer_cancels_the_next_run(make_sequencer, clock):
    seq = make_sequencer(callable_job("a", 5))
    seq.startService()
    stopped = seq.stopService()
    assert stopped.called
    clock.advance(100)
    assert seq.context.calls == []
