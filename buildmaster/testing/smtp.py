"""A real SMTP server on loopback that keeps what it is sent, for tests.

It runs in the test's own reactor (twisted.mail's ESMTP server), so mail
the code under test sends is received as soon as the test lets the
reactor turn, e.g. by ``pytest_twisted.blockon(mailer.flush())``.
``messages`` holds ``(from, [to, ...], raw message text)`` in arrival
order, as the seeds' stub mailer did.  ``refusing = True`` makes it
answer 550 to every recipient; ``hanging = True`` makes it accept
connections and never greet them, like a server whose listen backlog
overflowed; ``stop()`` and ``start()`` take it off the network and back
onto the same port.  ``connections`` is how many clients are connected
now, ``most_connections`` the most there ever were at once and
``sessions`` how many connections it has accepted in all.  With
``journal`` (a path) each message received is also appended there as a
JSON line (time, from, to, Message-ID, Subject), for a process that
checks the mail of a farm it does not run in.
"""

import json
import time

from twisted.internet import defer
from twisted.mail import smtp
from zope.interface import implementer


class _Transaction:
    """One MAIL FROM ... DATA exchange."""

    def __init__(self, origin):
        self.origin = str(origin)
        self.recipients = []


class _Message:
    """The DATA of a transaction as one recipient receives it; only the
    first recipient's copy is recorded, so a message sent to several
    people is kept once with all of them."""

    def __init__(self, server, transaction, records):
        self.server = server
        self.transaction = transaction
        self.records = records
        self.lines = []

    def lineReceived(self, line):
        self.lines.append(line.decode("utf-8"))

    def eomReceived(self):
        if self.records:
            message = (self.transaction.origin, list(self.transaction.recipients),
                       "\n".join(self.lines) + "\n")
            self.server.messages.append(message)
            self.server.journalled(message)
        return defer.succeed(None)

    def connectionLost(self):
        self.lines = []


@implementer(smtp.IMessageDelivery)
class _Delivery:
    def __init__(self, server):
        self.server = server
        self.transaction = None

    def receivedHeader(self, helo, origin, recipients):
        return None

    def validateFrom(self, helo, origin):
        self.transaction = _Transaction(origin)
        return origin

    def validateTo(self, user):
        if self.server.refusing:
            raise smtp.SMTPBadRcpt(user)
        transaction = self.transaction
        first = not transaction.recipients
        transaction.recipients.append(str(user.dest))
        return lambda: _Message(self.server, transaction, first)


class _Protocol(smtp.ESMTP):
    """Counts its connections; stays silent while the server hangs."""

    def connectionMade(self):
        server = self.factory.server
        server.sessions += 1
        server.connections += 1
        server.most_connections = max(server.most_connections, server.connections)
        if not server.hanging:
            super().connectionMade()

    def connectionLost(self, reason):
        self.factory.server.connections -= 1
        super().connectionLost(reason)


class _Factory(smtp.SMTPFactory):
    protocol = _Protocol
    domain = b"localhost"

    def __init__(self, server):
        super().__init__()
        self.server = server

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.delivery = _Delivery(self.server)
        return protocol


class LoopbackSMTPServer:
    """An SMTP server on 127.0.0.1; ``port`` is fixed by the first start()."""

    host = "127.0.0.1"

    def __init__(self, reactor=None, journal=None):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.journal = journal
        self.messages = []
        self.refusing = False
        self.hanging = False
        self.connections = self.most_connections = self.sessions = 0
        self.port = 0
        self._listening = None

    def journalled(self, message):
        """Append ``message`` to the journal file, if there is one."""
        if self.journal is None:
            return
        import email
        origin, recipients, raw = message
        parsed = email.message_from_string(raw)
        with open(self.journal, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({
                "time": time.time(), "from": origin, "to": recipients,
                "message_id": parsed["Message-ID"], "subject": parsed["Subject"]}) + "\n")

    def start(self):
        """Listen (again) on ``port``; the first start picks a free one."""
        if self._listening is None:
            self._listening = self.reactor.listenTCP(
                self.port, _Factory(self), interface=self.host)
            self.port = self._listening.getHost().port

    def stop(self):
        """Stop listening, so connections are refused; a Deferred."""
        listening, self._listening = self._listening, None
        if listening is None:
            return defer.succeed(None)
        return defer.maybeDeferred(listening.stopListening)
