"""SlaveClient with mock slaves (proxy objects): normalisation and errors."""

import io
import xmlrpc.client

import pytest
import pytest_twisted
from twisted.internet import defer, task
from twisted.internet.error import ConnectionRefusedError

from buildmaster.slaves.answers import normalize_status
from buildmaster.slaves.client import SlaveClient
from buildmaster.slaves.errors import SlaveConnectionError, SlaveProtocolError, SlaveTimeout

URL = "http://fake:8221"


def status_of(raw):
    return normalize_status(raw, URL)


def blank(**values):
    status = dict.fromkeys(("builder_status", "build_id", "build_status",
                            "logtail", "filemap", "dependencies"))
    status.update(values)
    return status


@pytest.mark.parametrize("raw", [
    ("BuilderStatus.IDLE",), ("BuilderStatus.IDLE", ""),
    ["BuilderStatus.IDLE"], {"builder_status": "BuilderStatus.IDLE"},
])
def test_idle_forms(raw):
    assert status_of(raw) == blank(builder_status="BuilderStatus.IDLE",
                                   build_id="")


@pytest.mark.parametrize("logtail", [
    "some log", b"some log", xmlrpc.client.Binary(b"some log")])
def test_building_tuple_wraps_logtail_in_binary(logtail):
    status = status_of(("BuilderStatus.BUILDING", "1-1", logtail))
    assert isinstance(status["logtail"], xmlrpc.client.Binary)
    assert status["logtail"].data == b"some log"
    assert status["build_id"] == "1-1"


def test_waiting_ok_without_filemap_has_empty_filemap():
    assert status_of(("BuilderStatus.WAITING", "BuildStatus.OK", "1-1")) == (
        blank(builder_status="BuilderStatus.WAITING", build_id="1-1",
              build_status="BuildStatus.OK", filemap={}))


def test_waiting_depfail_tuple_with_dependencies():
    status = status_of(("BuilderStatus.WAITING", "BuildStatus.DEPFAIL",
                        "1-1", None, "baz (>= 1.0.1)"))
    assert status["dependencies"] == "baz (>= 1.0.1)"
    assert status["filemap"] is None


@pytest.mark.parametrize("state", ["BuilderStatus.ABORTING",
                                   "BuilderStatus.ABORTED"])
def test_aborting_and_aborted_tuples(state):
    assert status_of((state, "1-1")) == blank(builder_status=state,
                                              build_id="1-1")


def test_protocol_dict_keeps_only_the_known_keys():
    raw = {"builder_status": "BuilderStatus.WAITING", "build_id": "2-3",
           "build_status": "BuildStatus.OK", "filemap": {"a.deb": "f" * 40},
           "dependencies": None, "builder_version": "206"}
    assert status_of(raw) == blank(
        builder_status="BuilderStatus.WAITING", build_id="2-3",
        build_status="BuildStatus.OK", filemap={"a.deb": "f" * 40})


@pytest.mark.parametrize("raw", [
    None, 42, "BuilderStatus.IDLE", (), ("BuilderStatus.SLEEPING", "1-1"),
    {"builder_status": "nonsense"}, {}, ("BuilderStatus.BUILDING",),
    ("BuilderStatus.ABORTED", "1-1", "extra"),
    ("BuilderStatus.WAITING", "BuildStatus.WEIRD", "1-1"),
    ("BuilderStatus.WAITING", "BuildStatus.OK", "1-1", ["a.deb"]),
    ("BuilderStatus.BUILDING", "1-1", 12),
])
def test_garbage_is_a_protocol_error_naming_url_and_answer(raw):
    with pytest.raises(SlaveProtocolError) as info:
        status_of(raw)
    assert URL in str(info.value)
    assert repr(raw) in str(info.value) or "malformed" in str(info.value)


class MockSlave:
    """Answers like the seeds' mock slaves: tuples and plain values."""

    def __init__(self, status=("BuilderStatus.IDLE", "")):
        self._status = status
        self.calls = []

    def echo(self, *args):
        return args

    def status(self):
        return self._status

    def ensurepresent(self, sha1, url, user, password):
        self.calls.append(("ensurepresent", sha1, url, user, password))
        return [True, "Download"]

    def build(self, build_id, manager, chroot, filemap, args):
        return ["BuilderStatus.BUILDING", build_id]

    def getFile(self, name):
        return io.BytesIO(b"log line\n" * 10000)


@pytest_twisted.ensureDeferred
async def test_proxy_calls_are_normalised(tmp_path):
    mock = MockSlave(("BuilderStatus.BUILDING", "1-1", "tail"))
    client = SlaveClient(URL, proxy=mock)
    assert client.rpc_url == URL + "/rpc"
    assert await client.echo("a", 1) == ["a", 1]
    assert (await client.status())["logtail"].data == b"tail"
    assert await client.ensurepresent("s" * 40, "http://x/y") == (
        True, "Download")
    assert mock.calls == [("ensurepresent", "s" * 40, "http://x/y",
                           None, None)]
    assert await client.build("1-1", "binarypackage", "c", {}, {}) == (
        "BuilderStatus.BUILDING", "1-1")
    await client.getFile("buildlog", str(tmp_path / "log"))
    assert (tmp_path / "log").read_bytes() == b"log line\n" * 10000
    target = io.BytesIO()
    await client.getFile("buildlog", target)
    assert target.getvalue() == b"log line\n" * 10000


@pytest_twisted.ensureDeferred
async def test_garbage_status_through_proxy_is_protocol_error():
    client = SlaveClient(URL, proxy=MockSlave(status="I am a teapot"))
    with pytest.raises(SlaveProtocolError, match="teapot"):
        await client.status()


@pytest_twisted.ensureDeferred
async def test_bad_pair_answer_is_protocol_error():
    mock = MockSlave()
    mock.ensurepresent = lambda *args: True
    with pytest.raises(SlaveProtocolError, match=r"ensurepresent\(\)"):
        await SlaveClient(URL, proxy=mock).ensurepresent("s", "u")


@pytest_twisted.ensureDeferred
async def test_faults_pass_through():
    mock = MockSlave()

    def abort():
        raise xmlrpc.client.Fault(8002, "Could not abort")
    mock.abort = abort
    with pytest.raises(xmlrpc.client.Fault, match="Could not abort"):
        await SlaveClient(URL, proxy=mock).abort()


@pytest_twisted.ensureDeferred
async def test_connection_errors_name_the_url():
    mock = MockSlave()

    def status():
        raise ConnectionRefusedError("no one home")
    mock.status = status
    with pytest.raises(SlaveConnectionError, match="http://fake:8221/"):
        await SlaveClient(URL, proxy=mock).status()


def test_hung_proxy_call_times_out():
    clock = task.Clock()
    mock = MockSlave()
    mock.status = defer.Deferred
    d = SlaveClient(URL, timeout=5, reactor=clock, proxy=mock).status()
    clock.advance(5)
    failure = []
    d.addErrback(failure.append)
    assert failure[0].check(SlaveTimeout)
    assert "status() timed out after 5s" in failure[0].getErrorMessage()
    assert URL in failure[0].getErrorMessage()


def hung_ensurepresent(**client_args):
    """A client whose slave never answers ensurepresent, on a fake clock."""
    clock = task.Clock()
    mock = MockSlave()
    mock.ensurepresent = lambda *args: defer.Deferred()
    client = SlaveClient(URL, reactor=clock, proxy=mock, **client_args)
    return clock, client


def test_ensurepresent_waits_for_the_download_timeout():
    """The slave downloads the file before answering: the socket timeout
    is too short for that."""
    clock, client = hung_ensurepresent(timeout=5, download_timeout=60)
    failure = []
    client.ensurepresent("a" * 40, "http://librarian/1/f").addErrback(failure.append)
    clock.advance(59)
    assert failure == []
    clock.advance(1)
    assert failure[0].check(SlaveTimeout)
    assert "ensurepresent() timed out after 60s" in failure[0].getErrorMessage()


def test_a_call_may_bring_its_own_timeout():
    clock, client = hung_ensurepresent(timeout=5, download_timeout=60)
    failure = []
    client.ensurepresent("a" * 40, "http://librarian/1/f", timeout=7).addErrback(
        failure.append)
    clock.advance(7)
    assert "timed out after 7s" in failure[0].getErrorMessage()


@pytest_twisted.ensureDeferred
async def test_nothing_listening_is_a_connection_error():
    from buildmaster.testing.slaveprocess import free_port
    client = SlaveClient(f"http://127.0.0.1:{free_port()}/", timeout=5)
    with pytest.raises(SlaveConnectionError, match="127.0.0.1"):
        await client.status()
    with pytest.raises(SlaveConnectionError, match="127.0.0.1"):
        await client.getFile("buildlog", io.BytesIO())
