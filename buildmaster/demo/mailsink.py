"""The demo's mail: an SMTP server on loopback keeping every message as a file.

``make run`` starts ``python -m buildmaster.demo.mailsink DIRECTORY PORT``
on the ``[mail] smtp_port`` of its configuration, so the failure and
status mail its farm sends is delivered at once and can be read in
``var/demo/mail/``, instead of being refused and retried every
``retry_delay`` seconds against a port nobody listens on.  Nothing
leaves the machine: every sender and recipient is taken.

Each recipient's copy of a message becomes one file, ``NNNNN.eml``
numbered on from the highest already there, holding the message as it
came with ``Return-Path`` and ``Delivered-To`` lines before it.  A file
is written aside and renamed into place, in a thread (the reactor never
waits on the disk), and the server answers 250 only once it is there:
the mailer never takes a message for sent that was not kept.  Each one
kept is said on one line on stdout (the demo sends that to
``var/demo/mail-sink.log``).
"""

import os
import re
import socket
import subprocess
import sys
import time

from twisted.internet import threads
from twisted.mail import smtp
from zope.interface import implementer

NAME = re.compile(r"^(\d+)\.eml$")
START_TIMEOUT = 30.0


class MailSink:
    """Keeps messages in ``directory``; ``say`` prints a line."""

    def __init__(self, directory, say=print, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.directory = directory
        self.say = say
        self.reactor = reactor
        os.makedirs(directory, exist_ok=True)
        numbers = [int(found.group(1)) for found in map(NAME.match, os.listdir(directory))
                   if found]
        self.last = max(numbers, default=0)

    def listen(self, port, interface="127.0.0.1"):
        """Listen on ``port`` (0: any free one); the listening port."""
        factory = _Factory(self)
        factory.noisy = False
        return self.reactor.listenTCP(port, factory, interface=interface)

    def keep(self, origin, recipient, lines):
        """A Deferred firing once the message (its ``lines``, bytes) is in
        a file of its own; with the file's path."""
        self.last += 1
        path = os.path.join(self.directory, f"{self.last:05d}.eml")
        head = f"Return-Path: <{origin}>\nDelivered-To: {recipient}\n".encode("utf-8")
        d = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                      _write, path, head + b"\n".join(lines) + b"\n")
        d.addCallback(lambda _: self.say(f"mail to {recipient} kept in {path}"))
        return d.addCallback(lambda _: path)


def _write(path, data):
    partial = f"{path}.partial"
    with open(partial, "wb") as handle:
        handle.write(data)
    os.replace(partial, path)


class _Message:
    """One recipient's copy of a message, as it arrives."""

    def __init__(self, sink, origin, recipient):
        self.sink, self.origin, self.recipient = sink, origin, recipient
        self.lines = []

    def lineReceived(self, line):
        self.lines.append(line)

    def eomReceived(self):
        return self.sink.keep(self.origin, self.recipient, self.lines)

    def connectionLost(self):
        self.lines = []


@implementer(smtp.IMessageDelivery)
class _Delivery:
    def __init__(self, sink):
        self.sink = sink
        self.origin = None

    def receivedHeader(self, helo, origin, recipients):
        return None

    def validateFrom(self, helo, origin):
        self.origin = str(origin)
        return origin

    def validateTo(self, user):
        origin, recipient = self.origin, str(user.dest)
        return lambda: _Message(self.sink, origin, recipient)


class _Factory(smtp.SMTPFactory):
    protocol = smtp.ESMTP
    domain = b"localhost"

    def __init__(self, sink):
        super().__init__()
        self.sink = sink

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.delivery = _Delivery(self.sink)
        return protocol


def start_process(directory, port, log_path, pass_fds=(), timeout=START_TIMEOUT):
    """Run the sink on 127.0.0.1:``port`` in a process of its own, logging
    to ``log_path`` and inheriting ``pass_fds``; its Popen, once the port
    takes connections.  Raises RuntimeError with its log when it ends or
    does not listen within ``timeout`` seconds."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "buildmaster.demo.mailsink", directory, str(port)],
            stdout=log, stderr=subprocess.STDOUT, pass_fds=pass_fds)
    deadline = time.monotonic() + timeout
    while not _accepting(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            with open(log_path, encoding="utf-8", errors="replace") as log:
                raise RuntimeError(f"the mail sink did not start: {log.read().strip()}")
        time.sleep(0.05)
    return process


def _accepting(port):
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def main(argv=None):
    """``python -m buildmaster.demo.mailsink DIRECTORY PORT``: serve until
    SIGTERM or SIGINT."""
    directory, port = argv or sys.argv[1:]
    from twisted.internet import reactor
    sink = MailSink(directory, say=lambda line: print(line, flush=True), reactor=reactor)
    listening = sink.listen(int(port))
    print(f"keeping the mail sent to 127.0.0.1:{listening.getHost().port} in {directory}",
          flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
