"""Events wake jobs through the sequencer; polls of a just-started build
come quickly, then less often; the timers still catch what no event told.

Time is a twisted Clock wherever timing is the point.
"""

import textwrap

import pytest
from twisted.internet import defer, task

import sequencer
from buildmaster import config as configmodule
from buildmaster.polling import PollSchedule


class Farm:
    """A callable jobs' context recording each run with the clock's time."""

    def __init__(self, clock):
        self.clock = clock
        self.calls = []
        self.answers = {}

    def run(self, name):
        self.calls.append((name, self.clock.seconds()))
        return self.answers.get(name)


def job_dispatch(context):
    return context.run("dispatch")


def job_scan(context):
    return context.run("scan")


class QuietLog:
    def msg(self, text):
        pass

    def err(self, what):
        raise AssertionError(f"unexpected sequencer error: {what}")


@pytest.fixture
def clock():
    return task.Clock()


@pytest.fixture
def seq(tmp_path, clock, monkeypatch):
    monkeypatch.setattr(sequencer, "log", QuietLog())
    path = tmp_path / "sequencer.conf"
    path.write_text(textwrap.dedent("""\
        [sequencer.job.dispatcher]
        callable = test_wakeups:job_dispatch
        mindelay = 5
        [sequencer.job.slave_scanner]
        callable = test_wakeups:job_scan
        mindelay = 5
        """))
    config = configmodule.load(str(path), check_dirs=False)
    service = sequencer.BuildSequencer(config, reactor=clock, context=Farm(clock))
    yield service
    if service.running:
        service.stopService()


def test_a_wake_up_runs_the_job_now_not_at_its_timer(seq, clock):
    seq.startService()
    clock.advance(1)
    seq.wake("test_wakeups:job_dispatch")
    clock.advance(0)
    assert seq.context.calls == [("dispatch", 1)]


def test_jobs_are_woken_by_section_name_too(seq, clock):
    seq.startService()
    clock.advance(2)
    seq.wake("slave_scanner", after=0.5)
    clock.advance(0.5)
    assert seq.context.calls == [("scan", 2.5)]


def test_a_job_woken_while_another_runs_waits_for_it(seq, clock):
    slow = defer.Deferred()
    seq.context.answers["scan"] = slow
    seq.startService()
    clock.advance(1)
    seq.wake("slave_scanner")
    clock.advance(0)
    seq.wake("dispatcher")
    clock.advance(3)
    assert seq.context.calls == [("scan", 1)]
    slow.callback(None)
    clock.advance(0)
    assert seq.context.calls == [("scan", 1), ("dispatch", 4)]


def test_a_job_woken_while_it_runs_runs_again_when_it_ends(seq, clock):
    slow = defer.Deferred()
    seq.context.answers["dispatch"] = slow
    seq.startService()
    seq.wake("dispatcher")
    clock.advance(0)
    seq.wake("dispatcher")
    clock.advance(2)
    slow.callback(None)
    seq.context.answers["dispatch"] = None
    clock.advance(0)
    assert seq.context.calls == [("dispatch", 0), ("dispatch", 2)]


def test_without_events_the_timers_still_run_every_job(seq, clock):
    seq.startService()
    for _ in range(10):
        clock.advance(1)
    assert seq.context.calls == [("dispatch", 5), ("scan", 5), ("dispatch", 10),
                                 ("scan", 10)]


def test_a_wake_up_never_delays_a_job_due_sooner(seq, clock):
    seq.startService()
    seq.wake("dispatcher", after=60)
    clock.advance(5)
    assert ("dispatch", 5) in seq.context.calls


def test_a_stopped_sequencer_ignores_wake_ups(seq, clock):
    seq.startService()
    seq.stopService()
    seq.wake("dispatcher")
    clock.advance(10)
    assert seq.context.calls == []


# -- Polls ------------------------------------------------------------------------

def test_a_just_started_build_is_polled_after_0_2_s_then_less_often(clock):
    polls = PollSchedule(clock, ceiling=5)
    assert polls.plan() == (True, None)
    polls.dispatched(7)
    assert polls.next_in() == pytest.approx(0.2)
    clock.advance(0.2)
    assert polls.plan() == (False, {7})
    polls.still_building(7)
    assert polls.next_in() == pytest.approx(0.4)
    intervals = [0.4]
    while polls.pending():
        clock.advance(polls.next_in())
        full, due = polls.plan()
        assert full or due == {7}
        polls.still_building(7)
        if polls.pending():
            intervals.append(polls.pending()[7])
    assert intervals == pytest.approx([0.4, 0.8, 1.6, 3.2])


def test_the_full_scan_comes_round_whatever_the_polls_do(clock):
    polls = PollSchedule(clock, ceiling=5)
    polls.plan()
    polls.dispatched(1)
    clock.advance(4.9)
    assert polls.plan() == (False, {1})
    polls.forget(1)
    assert polls.next_in() == pytest.approx(0.1)
    clock.advance(0.1)
    assert polls.plan() == (True, None)


def test_a_slave_calling_back_is_due_at_once(clock):
    polls = PollSchedule(clock, ceiling=5)
    polls.plan()
    clock.advance(1)
    polls.called_back(3)
    assert polls.next_in() == 0
    assert polls.plan() == (False, {3})
