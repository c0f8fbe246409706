"""One SMTP session that sends queued messages one after another.

Opening a connection per message costs a TCP and SMTP handshake each,
and a cycle that fails hundreds of builds would open hundreds at once.
A session instead asks its owner for the next message (``take``) after
each one is sent, reports each outcome (``settle``), and says QUIT when
there is nothing left; the owner decides how many sessions run at once.

A server that does not accept the connection, or does not answer a
command, within ``timeout`` seconds is dropped: the message being sent
then fails with that reason, to be retried by the owner later.
"""

import io

from twisted.internet import defer, protocol
from twisted.mail import smtp


class _SessionClient(smtp.SMTPClient):
    """Sends what ``take()`` gives until it gives None."""

    debug = False  # no per-line session log: errors are reported by code and text

    def __init__(self, take, settle, timeout, clock, done):
        super().__init__(smtp.DNSNAME)
        self.take, self.settle, self.timeout, self.done = take, settle, timeout, done
        self.callLater = clock.callLater  # the idle timeout's clock (TimeoutMixin)
        self.current = None
        self.taken = 0
        self.error = None
        self.finished = False

    def connectionMade(self):
        # A message's text and the "." ending it are separate writes: with
        # Nagle's algorithm the second waits for the server's delayed ACK.
        self.transport.setTcpNoDelay(True)
        super().connectionMade()

    def getMailFrom(self):
        self.current = self.take()
        if self.current is None:
            self.finished = True
            return None
        self.taken += 1
        return self.current.sender

    def getMailTo(self):
        return [self.current.recipient]

    def getMailData(self):
        return io.BytesIO(self.current.data)

    def sentMail(self, code, resp, numOk, addresses, log):
        outgoing, self.current = self.current, None
        if code in smtp.SUCCESS:
            self.settle(outgoing, None)
            return
        refusals = [f"{acode} {_text(aresp)}" for _, acode, aresp in addresses
                    if acode not in smtp.SUCCESS]
        self.settle(outgoing, "refused by the SMTP server: "
                    + ("; ".join(refusals) or f"{code} {_text(resp)}"))

    def sendError(self, exc):
        self.error = f"SMTP session failed: {exc}"
        super().sendError(exc)

    def timeoutConnection(self):
        self.error = f"the SMTP server did not answer within {self.timeout:g} seconds"
        self.transport.abortConnection()

    def connectionLost(self, reason=protocol.connectionDone):
        super().connectionLost(reason)
        if not self.finished and self.error is None:
            self.error = f"SMTP connection lost: {reason.getErrorMessage()}"
        if self.current is not None:
            outgoing, self.current = self.current, None
            self.settle(outgoing, self.error)
        self.done.callback((self.taken, self.error))


class _SessionFactory(protocol.ClientFactory):
    noisy = False  # a session is no event for the operators' log

    def __init__(self, take, settle, timeout, clock):
        self.take, self.settle, self.timeout, self.clock = take, settle, timeout, clock
        self.done = defer.Deferred()

    def buildProtocol(self, addr):
        client = _SessionClient(self.take, self.settle, self.timeout, self.clock, self.done)
        client.factory = self
        return client

    def clientConnectionFailed(self, connector, reason):
        error = f"Unable to connect to SMTP server: {reason.getErrorMessage()}"
        self.done.callback((0, error))


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def run_session(reactor, host, port, timeout, take, settle, clock=None):
    """Open one session to ``host:port``; a Deferred firing, never failing,
    with (messages taken, error or None) once it is closed.  ``clock``
    (default: the reactor) times the server's answers.

    ``take()`` returns the next message (anything with ``sender``,
    ``recipient`` and ``data`` bytes) or None; ``settle(message, error)``
    is called once for every message taken, error None if delivered.
    """
    factory = _SessionFactory(take, settle, timeout, clock or reactor)
    reactor.connectTCP(host, port, factory, timeout=timeout)
    return factory.done
