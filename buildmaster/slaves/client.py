"""The master's client for build slaves speaking launchpad-buildd's protocol.

Every call has a timeout and every failure names the slave's URL, so one
hung or broken builder is a failed Deferred, never a stuck scan. status()
accepts the protocol '1.0' dict and the older tuple forms (the seeds' mock
slaves answer those) and always returns the same dict shape.

Calls and downloads share one persistent HTTP connection pool and one
Agent per reactor (its endpoints kept per slave), so a scan cycle reuses
each slave's connection instead of opening a new one per call;
close_connections() drops the idle ones at shutdown.
"""

import os
import weakref
from io import BytesIO
import xmlrpc.client
from urllib.parse import quote

import treq
from twisted.internet import defer, error, protocol
from twisted.python.failure import Failure
from twisted.web.client import (
    Agent, BrowserLikePolicyForHTTPS, FileBodyProducer, HTTPConnectionPool, RequestNotSent,
    RequestTransmissionFailed, ResponseDone, ResponseFailed, ResponseNeverReceived,
    _HTTP11ClientFactory, _StandardEndpointFactory)
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from buildmaster.errortext import failure_text, shown
from slave.states import BuilderStatus, BuildStatus

STATUS_KEYS = ("builder_status", "build_id", "build_status", "logtail",
               "filemap", "dependencies")
BUILDER_STATES = frozenset({
    BuilderStatus.IDLE, BuilderStatus.BUILDING, BuilderStatus.WAITING,
    BuilderStatus.ABORTING, BuilderStatus.ABORTED})
BUILD_STATES = frozenset(
    value for name, value in vars(BuildStatus).items() if name.isupper())
CHUNK_SIZE = 64 * 1024
MAX_RESPONSE_SIZE = 16 * 1024 * 1024
IDLE_CONNECTION_TIMEOUT = 60
CONNECTIONS_PER_SLAVE = 2
# Calls a slave may safely get twice: repeated only when a kept-alive
# connection died under a request the slave may have received.
IDEMPOTENT_CALLS = frozenset({"echo", "info", "status", "ensurepresent"})
XMLRPC_HEADERS = Headers({b"Content-Type": [b"text/xml"]})


class SlaveError(Exception):
    """Base of the client's errors; the message names the slave's URL."""


class SlaveTimeout(SlaveError):
    """The slave did not answer within the timeout."""


class SlaveConnectionError(SlaveError):
    """The slave could not be reached or dropped the connection."""


class SlaveProtocolError(SlaveError):
    """The slave answered something this protocol does not allow."""


def normalize_status(raw, url="<slave>"):
    """Return the status dict of STATUS_KEYS for a dict or tuple answer.

    Raise SlaveProtocolError for anything else: an unknown state, a job
    name that is not text, a filemap that is not {name: sha1} text, a
    log tail that is not text or bytes.  Its message quotes the answer
    cut to a readable size (errortext.shown), however big it was.
    """
    if isinstance(raw, dict):
        status = {key: raw.get(key) for key in STATUS_KEYS}
    elif isinstance(raw, (tuple, list)) and raw:
        status = _status_from_tuple(tuple(raw), url)
    else:
        raise SlaveProtocolError(f"{url}: status() answered {shown(raw)}")
    state = status["builder_status"]
    if not isinstance(state, str) or state not in BUILDER_STATES:
        raise SlaveProtocolError(
            f"{url}: status() gave unknown builder_status {shown(state)}"
            f" in {shown(raw)}")
    if state == BuilderStatus.WAITING:
        _check_waiting(status, raw, url)
    if state == BuilderStatus.IDLE and status["build_id"] is None:
        status["build_id"] = ""
    if not isinstance(status["build_id"], str):
        raise SlaveProtocolError(
            f"{url}: status() gave a build_id that is not text in {shown(raw)}")
    status["logtail"] = _as_binary(status["logtail"], raw, url)
    return status


def _status_from_tuple(raw, url):
    """Map the pre-1.0 tuple forms onto the status dict."""
    state = raw[0]
    if not isinstance(state, str):
        raise SlaveProtocolError(
            f"{url}: status() gave unknown builder_status {shown(state)} in {shown(raw)}")
    fields = {
        BuilderStatus.IDLE: ((), ("build_id",)),
        BuilderStatus.BUILDING: (("build_id", "logtail"), ()),
        BuilderStatus.WAITING: (("build_status", "build_id"),
                                ("filemap", "dependencies")),
        BuilderStatus.ABORTING: (("build_id",), ()),
        BuilderStatus.ABORTED: (("build_id",), ()),
    }.get(state)
    if fields is None:
        raise SlaveProtocolError(
            f"{url}: status() gave unknown builder_status {shown(state)}"
            f" in {shown(raw)}")
    required, optional = fields
    values = raw[1:]
    if not len(required) <= len(values) <= len(required) + len(optional):
        raise SlaveProtocolError(
            f"{url}: status() gave a malformed {state} tuple {shown(raw)}")
    status = dict.fromkeys(STATUS_KEYS)
    status["builder_status"] = state
    status.update(zip(required + optional, values))
    return status


def _check_waiting(status, raw, url):
    build_status = status["build_status"]
    if not isinstance(build_status, str) or build_status not in BUILD_STATES:
        raise SlaveProtocolError(
            f"{url}: status() gave WAITING with unknown build_status"
            f" {shown(build_status)} in {shown(raw)}")
    if status["filemap"] is None and build_status == BuildStatus.OK:
        status["filemap"] = {}
    filemap = status["filemap"]
    if not (filemap is None or isinstance(filemap, dict) and all(
            isinstance(name, str) and isinstance(sha1, str)
            for name, sha1 in filemap.items())):
        raise SlaveProtocolError(
            f"{url}: status() gave a filemap that is not {{name: sha1}}: {shown(raw)}")
    if not isinstance(status["dependencies"], (str, type(None))):
        raise SlaveProtocolError(
            f"{url}: status() gave dependencies that are not text: {shown(raw)}")


def _as_binary(logtail, raw, url):
    if logtail is None or isinstance(logtail, xmlrpc.client.Binary):
        return logtail
    if isinstance(logtail, str):
        return xmlrpc.client.Binary(logtail.encode("utf-8"))
    if isinstance(logtail, bytes):
        return xmlrpc.client.Binary(logtail)
    raise SlaveProtocolError(f"{url}: status() gave a bad logtail in {shown(raw)}")


class _QuietHTTP11ClientFactory(_HTTP11ClientFactory):
    """A thousand slaves are a thousand connections: logging each
    factory's start and stop would bury the operators' lines."""

    noisy = False


_pools = weakref.WeakKeyDictionary()


def connection_pool(reactor):
    """The persistent HTTP connection pool all SlaveClients of ``reactor``
    share (made on first use)."""
    pool = _pools.get(reactor)
    if pool is None:
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = CONNECTIONS_PER_SLAVE
        pool.cachedConnectionTimeout = IDLE_CONNECTION_TIMEOUT
        pool.retryAutomatically = True
        pool._factory = _QuietHTTP11ClientFactory
        _pools[reactor] = pool
    return pool


@implementer(IAgentEndpointFactory)
class _KeptEndpoints:
    """Agent endpoints made once per (scheme, host, port) and kept: a
    scan asks the same slaves over and over, and making an endpoint
    parses and IDNA-encodes the host every time."""

    def __init__(self, reactor, connect_timeout):
        self._standard = _StandardEndpointFactory(reactor, BrowserLikePolicyForHTTPS(),
                                                  connect_timeout, None)
        self._kept = {}

    def endpointForURI(self, uri):
        key = (uri.scheme, uri.host, uri.port)
        endpoint = self._kept.get(key)
        if endpoint is None:
            endpoint = self._kept[key] = self._standard.endpointForURI(uri)
        return endpoint


_agents = weakref.WeakKeyDictionary()


def shared_agent(reactor, connect_timeout):
    """The Agent on ``reactor``'s shared connection pool for calls with
    ``connect_timeout``, made once."""
    agents = _agents.setdefault(reactor, {})
    agent = agents.get(connect_timeout)
    if agent is None:
        agent = agents[connect_timeout] = Agent.usingEndpointFactory(
            reactor, _KeptEndpoints(reactor, connect_timeout),
            pool=connection_pool(reactor))
    return agent


def close_connections(reactor=None):
    """Close the idle connections to slaves kept for ``reactor`` (default:
    the global reactor); the Deferred fires once they are closed."""
    if reactor is None:
        from twisted.internet import reactor
    _agents.pop(reactor, None)
    pool = _pools.pop(reactor, None)
    if pool is None:
        return defer.succeed(None)
    return pool.closeCachedConnections()


def _may_repeat(failure, method):
    """Whether a call that failed with ``failure`` may go out once more:
    its connection closed under it, and either the slave cannot have
    received all of it or the call is harmless twice."""
    if not _died_unanswered(failure):
        return False
    return method in IDEMPOTENT_CALLS or not failure.check(ResponseNeverReceived)


def _died_unanswered(failure):
    """Whether a request failed only because its connection closed under
    it (a slave dropping an idle kept-alive connection), not because we
    cancelled it or the slave answered."""
    if failure.check(RequestNotSent):
        return True
    if not failure.check(RequestTransmissionFailed, ResponseNeverReceived):
        return False
    return all(reason.check(error.ConnectionDone, error.ConnectionLost)
               and not reason.check(error.ConnectionAborted)
               for reason in failure.value.reasons)


class SlaveClient:
    """Talks to one slave at ``url`` (e.g. 'http://127.0.0.1:8221/').

    With ``proxy`` (mock slaves in tests) each call goes to the proxy's
    method of the same name instead of the network, with the same
    timeouts, normalisation and errors. ``download_timeout`` caps a whole
    getFile(); ``timeout`` always bounds each wait for bytes, and every
    other call unless it is given its own ``timeout``.
    """

    def __init__(self, url, timeout=30.0, reactor=None, proxy=None,
                 download_timeout=None):
        if reactor is None:
            from twisted.internet import reactor
        self.url = url if url.endswith("/") else url + "/"
        self.rpc_url = self.url + "rpc"
        self._rpc_url = self.rpc_url.encode("ascii")
        self.timeout = timeout
        self.reactor = reactor
        self.proxy = proxy
        self.download_timeout = download_timeout

    def __repr__(self):
        return f"<SlaveClient {self.url}>"

    def echo(self, *args):
        return self._call("echo", *args).addCallback(list)

    def info(self):
        return self._call("info")

    def status(self):
        d = self._call("status")
        return d.addCallback(normalize_status, self.url)

    def ensurepresent(self, sha1, url, user=None, password=None, timeout=None):
        """Make the slave fetch ``url`` into its cache as ``sha1``.

        The slave downloads the file before it answers, so the call may
        take ``timeout`` seconds: by default ``download_timeout`` (else
        ``timeout``), not the socket timeout of a quick call.
        """
        timeout = timeout or self.download_timeout or self.timeout
        d = self._call("ensurepresent", sha1, url, user, password, timeout=timeout)
        return d.addCallback(self._pair, "ensurepresent", bool)

    def build(self, build_id, manager, chroot_sha1, filemap, args):
        d = self._call("build", build_id, manager, chroot_sha1, filemap, args)
        return d.addCallback(self._pair, "build", str)

    def abort(self):
        return self._call("abort")

    def clean(self):
        return self._call("clean")

    def fileURL(self, name):
        """The URL of ``name`` (a sha1 or 'buildlog') in the file cache."""
        return self.url + "filecache/" + quote(name, safe="")

    def getFile(self, name, dest):
        """Stream file ``name`` into ``dest`` (a path or a binary file).

        A path that gets no complete file is removed again.
        """
        if isinstance(dest, (str, os.PathLike)):
            return self._getFileToPath(name, dest)
        return self._getFileInto(name, dest)

    @defer.inlineCallbacks
    def _getFileToPath(self, name, path):
        with open(path, "wb") as target:
            try:
                yield self._getFileInto(name, target)
            except BaseException:
                os.unlink(path)
                raise

    def _getFileInto(self, name, target):
        if self.proxy is not None:
            d = self._call("getFile", name)
            return d.addCallback(_copy_file, target)
        d = defer.ensureDeferred(self._download(self.fileURL(name), target))
        return d.addErrback(self._translate, f"getFile({name!r})")

    async def _download(self, url, target):
        d = shared_agent(self.reactor, self.timeout).request(b"GET", url.encode("ascii"))
        d.addTimeout(self.timeout, self.reactor,
                     onTimeoutCancel=self._timed_out("getFile"))
        response = await d
        if response.code != 200:
            await treq.collect(response, lambda _chunk: None)
            raise SlaveProtocolError(f"{url}: HTTP status {response.code}")
        writer = _BodyWriter(target, self.reactor, self.timeout,
                             self.download_timeout, url)
        response.deliverBody(writer)
        await writer.finished

    def _call(self, method, *args, timeout=None):
        """``method(*args)`` on the slave, failing with SlaveTimeout after
        ``timeout`` seconds (default: the client's ``timeout``)."""
        timeout = timeout or self.timeout
        if self.proxy is not None:
            d = defer.maybeDeferred(getattr(self.proxy, method), *args)
        else:
            d = defer.ensureDeferred(self._post(method, args))
        d.addTimeout(timeout, self.reactor,
                     onTimeoutCancel=self._timed_out(f"{method}()"))
        return d.addErrback(self._translate, f"{method}()")

    async def _post(self, method, args):
        """XML-RPC ``method(*args)`` over the shared pool.

        A kept-alive connection the slave closed while we sent on it is
        not an unreachable slave: the call is tried once more on a new
        connection when the slave cannot have acted on it twice.
        """
        body = xmlrpc.client.dumps(args, method, allow_none=True).encode()
        try:
            response = await self._request(body, shared_agent(self.reactor, self.timeout))
        except (RequestNotSent, RequestTransmissionFailed,
                ResponseNeverReceived):
            if not _may_repeat(Failure(), method):
                raise
            fresh = HTTPConnectionPool(self.reactor, persistent=False)
            fresh._factory = _QuietHTTP11ClientFactory
            response = await self._request(
                body, Agent(self.reactor, connectTimeout=self.timeout, pool=fresh))
        data = await self._read_body(response)
        return xmlrpc.client.loads(data)[0][0]

    def _request(self, body, agent):
        return agent.request(b"POST", self._rpc_url, XMLRPC_HEADERS,
                             FileBodyProducer(BytesIO(body)))

    async def _read_body(self, response):
        """The response body, if it is a 200 answer of at most
        MAX_RESPONSE_SIZE bytes; else SlaveProtocolError."""
        chunks = []
        size = 0

        def collect(chunk):
            nonlocal size
            size += len(chunk)
            if size > MAX_RESPONSE_SIZE:
                raise SlaveProtocolError(
                    f"{self.rpc_url}: answer larger than"
                    f" {MAX_RESPONSE_SIZE} bytes")
            chunks.append(chunk)
        await treq.collect(response, collect)
        if response.code != 200:
            raise SlaveProtocolError(
                f"{self.rpc_url}: HTTP status {response.code}")
        return b"".join(chunks)

    def _timed_out(self, what):
        """An onTimeoutCancel for addTimeout raising SlaveTimeout."""
        def raise_timeout(result, timeout):
            raise SlaveTimeout(f"{self.url}: {what} timed out after"
                               f" {timeout:g}s")
        return raise_timeout

    def _translate(self, failure, what):
        """Turn transport failures into SlaveErrors naming URL and call."""
        if failure.check(xmlrpc.client.Fault, SlaveError):
            return failure
        if failure.check(error.ConnectError, error.ConnectionLost,
                         error.ConnectionDone, ResponseFailed, RequestNotSent,
                         RequestTransmissionFailed, OSError):
            raise SlaveConnectionError(
                f"{self.url}: {what} failed: {failure_text(failure)}")
        raise SlaveProtocolError(
            f"{self.url}: {what} failed: {failure.type.__name__}:"
            f" {failure_text(failure)}")

    def _pair(self, result, method, first_type):
        """Check a two-item answer and return it as a typed tuple."""
        if not isinstance(result, (list, tuple)) or len(result) != 2:
            raise SlaveProtocolError(
                f"{self.url}: {method}() answered {shown(result)}")
        return first_type(result[0]), str(result[1])


def _copy_file(source, target):
    """Copy a mock slave's file object in chunks, then close it."""
    try:
        for chunk in iter(lambda: source.read(CHUNK_SIZE), b""):
            target.write(chunk)
    finally:
        source.close()


class _BodyWriter(protocol.Protocol):
    """Writes a response body to a file; gives up when the slave stalls.

    The idle timer restarts with every chunk, so a big file from a live
    slave is never cut short unless ``total_timeout`` is set.
    """

    def __init__(self, target, reactor, idle_timeout, total_timeout, url):
        self.target = target
        self.reactor = reactor
        self.idle_timeout = idle_timeout
        self.url = url
        self.finished = defer.Deferred()
        self._error = None
        self._idle = reactor.callLater(idle_timeout, self._give_up,
                                       f"no data for {idle_timeout:g}s")
        self._total = None
        if total_timeout is not None:
            self._total = reactor.callLater(
                total_timeout, self._give_up,
                f"download not done after {total_timeout:g}s")

    def dataReceived(self, data):
        self.target.write(data)
        if self._idle.active():
            self._idle.reset(self.idle_timeout)

    def connectionLost(self, reason):
        for call in (self._idle, self._total):
            if call is not None and call.active():
                call.cancel()
        if self._error is not None:
            self.finished.errback(self._error)
        elif reason.check(ResponseDone):
            self.finished.callback(None)
        else:
            self.finished.errback(reason)

    def _give_up(self, why):
        self._error = SlaveTimeout(f"{self.url}: {why}")
        self.transport.stopProducing()
