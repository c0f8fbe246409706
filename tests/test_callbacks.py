"""A slave that calls the master back when its build ends is collected at
once, not at its next poll; a call-back is only ever a hint.

The farm's timing runs on a fake clock (test_wakeups' farm); the
call-back's trip over HTTP, from our own slave's state machine to the
master's web, runs on real loopback sockets.
"""

import pytest
import pytest_twisted
from twisted.internet import reactor, task
from xmlrpc.client import Fault

import buildmaster.seeds.builder  # noqa: F401  (the seeds' Builder API)
from buildmaster.runtime import wakeups
from buildmaster.slaves.callbacks import ARG, BuildEndCallbacks, base_url
from buildmaster.model import BuildStatus
from buildmaster.slaves.polling import PollSchedule
from slave.binarypackage import BinaryPackageManager
from slave.rpc import SlaveRPC
from common.states import BuilderStatus, BuildStatus as SlaveBuildStatus
from test_slave_builder import builder  # noqa: F401
from test_wakeups import farm, farm_clock, jobs_config, publish, state_of  # noqa: F401
from tests.webhelpers import web  # noqa: F401


class Woken:
    """A wake-up board's subscriber that remembers the jobs woken."""

    def __init__(self, board):
        self.jobs = []
        board.subscribe(lambda job, after: self.jobs.append(job))


def token_of(url):
    return url.rsplit("/", 1)[1]


# -- The master's side on the fake clock -----------------------------------------------

def test_a_build_whose_slave_calls_back_is_collected_at_once(farm, farm_clock):
    build = publish(farm, "quick")
    farm.context.wakeups.wake(wakeups.DISPATCH)
    farm_clock.advance(0)
    assert state_of(farm.session, build.id) == BuildStatus.BUILDING
    url = farm.bob.slave.proxy.build_args[ARG]
    assert url.startswith("http://127.0.0.1:") and "/slave-callback/" in url
    farm_clock.advance(0.05)
    assert state_of(farm.session, build.id) == BuildStatus.BUILDING
    assert farm.context.callbacks.heard(token_of(url))
    farm_clock.advance(0)
    assert state_of(farm.session, build.id) == BuildStatus.FULLYBUILT
    assert farm_clock.seconds() == pytest.approx(0.05)


def test_a_call_back_heard_before_the_build_answer_still_counts():
    clock = task.Clock()
    polls = PollSchedule(clock, ceiling=5)
    polls.plan()
    clock.advance(1)
    polls.called_back(3)          # the slave's POST came first,
    polls.dispatched(3)           # then build()'s answer
    assert polls.next_in() == 0
    assert polls.plan() == (False, {3})
    polls.forget(3)
    polls.dispatched(3)           # the next job waits for its own
    assert polls.next_in() == pytest.approx(0.2)


def test_a_token_is_good_once_and_only_for_the_builders_newest_job():
    clock = task.Clock()
    board = wakeups.Wakeups(clock)
    woken = Woken(board)
    callbacks = BuildEndCallbacks("http://master:8010/slave-callback",
                                  PollSchedule(clock, ceiling=5), board)
    first = callbacks.url_for(7, "http://slave7:8221/")
    second = callbacks.url_for(7, "http://slave7:8221/")
    assert first != second
    assert not callbacks.heard(token_of(first))
    assert not callbacks.heard("made-up")
    assert woken.jobs == []
    assert callbacks.heard(token_of(second))
    assert not callbacks.heard(token_of(second))
    assert woken.jobs == [wakeups.SCAN]
    assert callbacks.polls.plan()[1] in ({7}, None)


def test_a_loopback_call_back_is_offered_only_to_slaves_on_this_host():
    clock = task.Clock()
    callbacks = BuildEndCallbacks("http://127.0.0.1:58010/slave-callback",
                                  PollSchedule(clock, ceiling=5), wakeups.Wakeups(clock))
    assert callbacks.url_for(1, "http://localhost:8221/").startswith("http://127.0.0.1")
    assert callbacks.url_for(2, "http://builder2.example.org:8221/") is None


def test_where_slaves_call_back_comes_from_the_configuration(farm_config):
    config = farm_config
    config.web.host, config.web.port = "127.0.0.1", 58010
    assert base_url(config) == "http://127.0.0.1:58010/slave-callback"
    config.builddmaster.callback_url = "https://master.example.org/cb"
    assert base_url(config) == "https://master.example.org/cb"
    config.builddmaster.callback_url = "none"
    assert base_url(config) is None
    config.builddmaster.callback_url = ""
    config.web.port = 0
    assert base_url(config) is None


# -- Over HTTP, from our slave to the master's web ---------------------------------------

async def eventually(predicate, seconds=10):
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await task.deferLater(reactor, 0.02, lambda: None)
    raise AssertionError("it never happened")


@pytest_twisted.ensureDeferred
async def test_our_slave_calls_the_master_back_when_its_build_ends(
        web, farm_context, builder):  # noqa: F811
    callbacks = BuildEndCallbacks(web.url + "/slave-callback", farm_context.polls,
                                  farm_context.wakeups)
    farm_context.callbacks = callbacks
    woken = Woken(farm_context.wakeups)
    url = callbacks.url_for(1, "http://127.0.0.1:8221/")
    builder.start("8-1", BinaryPackageManager(builder, reactor), url)
    await task.deferLater(reactor, 0.1, lambda: None)
    assert woken.jobs == []               # nothing before the build ends
    builder.finish(SlaveBuildStatus.OK, {})
    await eventually(lambda: woken.jobs)
    assert woken.jobs == [wakeups.SCAN]
    assert farm_context.polls.pending() == {1: 0.0}
    # The token was used up: a second POST is refused, and changes nothing.
    again = await web.post("/slave-callback/" + token_of(url))
    assert again.code == 404
    assert woken.jobs == [wakeups.SCAN]


@pytest_twisted.ensureDeferred
async def test_a_master_that_cannot_be_reached_costs_the_slave_nothing(builder):
    builder.start("8-1", BinaryPackageManager(builder, reactor),
                        "http://127.0.0.1:9/slave-callback/x")
    builder.finish(SlaveBuildStatus.OK, {})
    assert builder.state == BuilderStatus.WAITING
    await task.deferLater(reactor, 0.2, lambda: None)
    builder.clean()
    assert builder.state == BuilderStatus.IDLE


def test_the_slave_refuses_a_call_back_that_is_no_http_url(builder):
    rpc = SlaveRPC(builder, {"binarypackage": BinaryPackageManager}, reactor)
    builder.cache.has = lambda sha1: True
    with pytest.raises(Fault, match="build_end_callback is not an http URL"):
        rpc.xmlrpc_build("8-1", "binarypackage", "0" * 40, {"hello_1.0.dsc": "1" * 40},
                         {ARG: "file:///etc/passwd"})
    assert builder.state == BuilderStatus.IDLE
