"""Slaves answering garbage, property-based (hypothesis): whatever a
slave says, a scan or a dispatch pass never crashes, never logs a fault
of the master's own, and a wrong answer is a judged failure of that
slave with one clear, bounded log line.

The shapes: anything at all instead of a status (numbers, lists, None),
status dicts and tuples with missing keys, wrong types, unknown states,
huge strings and log tails that are not UTF-8, XML-RPC faults with odd
texts, and HTTP answers cut short or not XML-RPC at all from a real
server on loopback.
"""

import functools
import logging
import xmlrpc.client

import pytest
import pytest_twisted
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet import defer, protocol, reactor

from buildmaster.scan import scanpass
from buildmaster.dispatch.dispatchpass import dispatch_idle_builders
from buildmaster.slaves import registry
from buildmaster.slaves.failures import ScanFailures
from buildmaster.model import utcnow
from buildmaster.model import Build, Builder, BuildQueue, BuildStatus
from buildmaster.testing.mockslaves import OkSlave

pytestmark = pytest.mark.chaos

# A clear log line: one line, short enough to read.
MAX_LINE = 2000
EXAMPLES = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

STATES = ["BuilderStatus.IDLE", "BuilderStatus.BUILDING", "BuilderStatus.WAITING",
          "BuilderStatus.ABORTING", "BuilderStatus.ABORTED", "BuilderStatus.NONSENSE",
          "IDLE", ""]
BUILD_STATES = ["BuildStatus.OK", "BuildStatus.PACKAGEFAIL", "BuildStatus.DEPFAIL",
                "BuildStatus.CHROOTFAIL", "BuildStatus.BUILDERFAIL",
                "BuildStatus.GIVENBACK", "BuildStatus.ABORTED", "BuildStatus.WHATEVER"]


def huge(alphabet):
    """A string of 100,000 to 2,000,000 characters, made cheaply."""
    return st.builds(lambda size, char: char * size,
                     st.integers(100_000, 2_000_000), alphabet)


TEXT = st.one_of(st.text(max_size=40), st.sampled_from(STATES + BUILD_STATES),
                 huge(st.characters(codec="utf-8")), st.just("JOB"))
BYTES = st.one_of(st.binary(max_size=200), st.just(b"\xff\xfe\x00bad \xc3\x28 utf-8\x80"),
                  huge(st.sampled_from(["\x00", "\xff"])).map(
                      lambda text: text.encode("latin-1")))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    TEXT, BYTES.map(xmlrpc.client.Binary))
VALUES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children,
                                                    max_size=4)), max_leaves=8)
STATUS_DICTS = st.fixed_dictionaries({}, optional={
    "builder_status": st.one_of(st.sampled_from(STATES), VALUES),
    "build_id": st.one_of(st.just("JOB"), VALUES),
    "build_status": st.one_of(st.sampled_from(BUILD_STATES), VALUES),
    "logtail": st.one_of(BYTES.map(xmlrpc.client.Binary), VALUES),
    "filemap": st.one_of(st.dictionaries(TEXT, st.one_of(TEXT, VALUES), max_size=3),
                         VALUES),
    "dependencies": VALUES,
    "unexpected": VALUES})
STATUS_TUPLES = st.lists(st.one_of(st.sampled_from(STATES + BUILD_STATES + ["JOB"]),
                                   VALUES), max_size=6).map(tuple)


class Fault(Exception):
    """A drawn XML-RPC fault, raised by the slave."""


FAULTS = st.builds(xmlrpc.client.Fault, st.integers(), TEXT)
ANSWERS = st.one_of(VALUES, STATUS_DICTS, STATUS_TUPLES, FAULTS)


def resolved(answer, ident):
    """``answer`` with every "JOB" standing for the job's real name."""
    if answer == "JOB":
        return ident
    if isinstance(answer, dict):
        return {key: resolved(value, ident) for key, value in answer.items()}
    if isinstance(answer, (list, tuple)):
        return type(answer)(resolved(value, ident) for value in answer)
    return answer


class GarbageSlave(OkSlave):
    """Answers status() (and every other call) with a drawn answer."""

    def __init__(self, answer):
        super().__init__()
        self.answer = answer

    def _give(self, *args):
        if isinstance(self.answer, xmlrpc.client.Fault):
            raise self.answer
        return self.answer

    status = clean = abort = _give

    def getFile(self, name):
        if isinstance(self.answer, xmlrpc.client.Fault):
            raise self.answer
        return super().getFile(name)


@pytest.fixture
def context(mailing_context):
    return mailing_context


def bob_building(session):
    """Bob building build 8 again, as the sample has it: its job's name."""
    session.rollback()
    build = session.get(Build, 8)
    bob = session.get(Builder, 1)
    bob.builderok, bob.failnotes, bob.failure_count = True, None, 0
    entry = build.buildqueue_record or build.createBuildQueueEntry()
    # Claimed by this master just now: an idle answer is the slave's failure.
    entry.builder, entry.logtail, entry.date_started = bob, None, utcnow()
    build.buildstate, build.builder, build.failure_count = BuildStatus.BUILDING, None, 0
    build.buildlog = build.upload_log = None
    for other in session.scalars(sa.select(BuildQueue).where(BuildQueue.builder_id == 2)):
        other.builder = None
    session.commit()
    return f"{build.id}-{entry.id}"


async def scanned_once(context, caplog):
    """Scan once from fresh failure streaks; (bob's streak, the scanner's
    log records)."""
    context.scan_failures = ScanFailures(10 ** 6)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        await scanpass.scan(context)
    return context.scan_failures.streak("bob"), list(caplog.records)


def in_reactor(check):
    """Run the coroutine function ``check`` for one example: pytest-twisted
    runs each example in the reactor's greenlet and waits for the
    Deferred (hypothesis sees None)."""
    @functools.wraps(check)
    def example(*args, **kwargs):
        return defer.ensureDeferred(check(*args, **kwargs))
    return example


def assert_judged_clearly(streak, records, name="bob"):
    """No fault of the master's; a failure of the slave is one clear line."""
    errors = [r.getMessage()[:300] for r in records if r.levelno >= logging.ERROR]
    assert errors == []
    lines = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert all("\n" not in line and len(line) <= MAX_LINE for line in lines), \
        [line[:300] for line in lines]
    failed = [line for line in lines if line.startswith(f"Scan of {name} failed (1 of ")]
    assert (streak == 1) == bool(failed), (streak, [line[:300] for line in lines])


@EXAMPLES
@given(answer=ANSWERS)
@in_reactor
async def test_a_scan_judges_any_status_answer(context, session, caplog, answer):
    ident = bob_building(session)
    registry.override(session.get(Builder, 1), GarbageSlave(resolved(answer, ident)))
    registry.override(session.get(Builder, 2), OkSlave())
    streak, records = await scanned_once(context, caplog)
    assert_judged_clearly(streak, records)


@EXAMPLES
@given(logtail=BYTES)
@in_reactor
async def test_any_log_tail_is_stored_as_text(context, session, caplog, logtail):
    ident = bob_building(session)
    registry.override(session.get(Builder, 1), GarbageSlave(
        {"builder_status": "BuilderStatus.BUILDING", "build_id": ident,
         "logtail": xmlrpc.client.Binary(logtail)}))
    streak, records = await scanned_once(context, caplog)
    assert_judged_clearly(streak, records)
    assert streak == 0
    session.expire_all()
    stored = session.get(Build, 8).buildqueue_record.logtail
    assert stored is not None and "\x00" not in stored


# -- Truncated and wrong HTTP from a real server -----------------------------------

class CannedHTTP(protocol.Protocol):
    """Answers any request with the factory's bytes, then hangs up."""

    def dataReceived(self, data):
        if b"\r\n\r\n" in data and not getattr(self, "answered", False):
            self.answered = True
            self.transport.write(self.factory.answer)
            self.transport.loseConnection()


def http_answers():
    body = st.one_of(
        st.binary(max_size=300),
        st.just(xmlrpc.client.dumps(({"builder_status": "BuilderStatus.IDLE"},),
                                    methodresponse=True).encode()),
        st.just(b"<?xml version='1.0'?><methodResponse><params><param><value>"))
    head = st.sampled_from([b"200 OK", b"500 Internal Server Error", b"404 Not Found"])

    def assemble(status, data, declared, cut):
        length = len(data) + declared
        return (b"HTTP/1.1 " + status + b"\r\nContent-Type: text/xml\r\n"
                b"Content-Length: " + str(length).encode() + b"\r\n\r\n" + data)[:cut]
    return st.builds(assemble, head, body, st.integers(0, 50), st.integers(0, 400))


@pytest.fixture
def canned_server():
    factory = protocol.Factory.forProtocol(CannedHTTP)
    factory.answer = b""
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    yield factory, port.getHost().port
    pytest_twisted.blockon(port.stopListening())


@EXAMPLES
@given(answer=http_answers())
@in_reactor
async def test_a_scan_judges_any_http_answer(context, session, caplog, canned_server,
                                             answer):
    factory, port = canned_server
    factory.answer = answer
    bob_building(session)
    bob = session.get(Builder, 1)
    bob.url = f"http://127.0.0.1:{port}/"
    session.commit()
    registry.clear_overrides()
    registry.override(session.get(Builder, 2), OkSlave())
    context.config.builddmaster.socket_timeout = 5
    streak, records = await scanned_once(context, caplog)
    assert_judged_clearly(streak, records)
    # An idle slave while bob should build is a failure too: every answer is.
    assert streak == 1


# -- The dispatcher ----------------------------------------------------------------

class GarbageBuilder(OkSlave):
    """Idle; answers ensurepresent() or build() with a drawn answer."""

    def __init__(self, call, answer):
        super().__init__()
        self.call, self.answer = call, answer

    def ensurepresent(self, *args):
        if self.call == "ensurepresent":
            return self._give()
        return [True, "Cached"]

    def build(self, *args):
        if self.call == "build":
            return self._give()
        return ["BuilderStatus.BUILDING", args[0]]

    def _give(self):
        if isinstance(self.answer, xmlrpc.client.Fault):
            raise self.answer
        return self.answer


def frog_idle_with_a_job_waiting(session):
    """Build 9 pending, frog idle and fresh, bob out of the way."""
    session.rollback()
    for builder in session.scalars(sa.select(Builder)):
        builder.builderok, builder.failnotes, builder.failure_count = True, None, 0
    session.get(Builder, 1).builderok = False
    build = session.get(Build, 9)
    entry = build.buildqueue_record or build.createBuildQueueEntry()
    entry.builder, entry.date_started = None, None
    build.buildstate, build.builder, build.failure_count = BuildStatus.NEEDSBUILD, None, 0
    session.commit()


@EXAMPLES
@given(call=st.sampled_from(["ensurepresent", "build"]),
       answer=st.one_of(VALUES, STATUS_TUPLES, FAULTS))
@in_reactor
async def test_a_dispatch_pass_judges_any_answer(context, session, caplog, call, answer):
    frog_idle_with_a_job_waiting(session)
    registry.clear_overrides()
    registry.override(session.get(Builder, 2), GarbageBuilder(call, answer))
    caplog.clear()
    with caplog.at_level(logging.INFO):
        started = await dispatch_idle_builders(context)
    errors = [r.getMessage()[:300] for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert all("\n" not in line and len(line) <= MAX_LINE for line in lines), \
        [line[:300] for line in lines]
    session.expire_all()
    entry = session.get(Build, 9).buildqueue_record
    if started:
        assert entry.builder_id == 2
    else:
        # Refused: the claim undone, the job pending again, one line why.
        assert entry.builder_id is None
        assert session.get(Build, 9).buildstate == BuildStatus.NEEDSBUILD
        assert any(line.startswith("Dispatch of build 9") for line in lines)
