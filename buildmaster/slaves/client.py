"""The master's client for build slaves speaking launchpad-buildd's protocol.

Every call has a timeout and every failure names the slave's URL, so one
hung or broken builder is a failed Deferred, never a stuck scan.  What
the slave answers is checked by buildmaster.slaves.answers (status()
always returns the same dict shape); what a call fails with is one of
buildmaster.slaves.errors' SlaveErrors.

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
    RequestTransmissionFailed, ResponseDone, ResponseNeverReceived,
    _HTTP11ClientFactory, _StandardEndpointFactory)
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from buildmaster.slaves.answers import check_pair, normalize_status
from buildmaster.slaves.errors import SlaveProtocolError, SlaveTimeout, translate

CHUNK_SIZE = 64 * 1024
MAX_RESPONSE_SIZE = 16 * 1024 * 1024
IDLE_CONNECTION_TIMEOUT = 60
CONNECTIONS_PER_SLAVE = 2
# Calls a slave may safely get twice: repeated only when a kept-alive
# connection died under a request the slave may have received.
IDEMPOTENT_CALLS = frozenset({"echo", "info", "status", "ensurepresent"})
XMLRPC_HEADERS = Headers({b"Content-Type": [b"text/xml"]})


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
        return d.addCallback(check_pair, "ensurepresent", bool, self.url)

    def build(self, build_id, manager, chroot_sha1, filemap, args):
        d = self._call("build", build_id, manager, chroot_sha1, filemap, args)
        return d.addCallback(check_pair, "build", str, self.url)

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
        return d.addErrback(translate, self.url, f"getFile({name!r})")

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
        return d.addErrback(translate, self.url, f"{method}()")

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
