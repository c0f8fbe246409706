"""Request bodies within a limit, on every HTTP port the master listens on.

twisted.web reads a request's whole body before a resource sees it (into
memory or a temporary file, and a form then into memory again to parse
it), so a limit checked in ``render`` comes after the damage: a chunked
30 MB form was held whole, and a declared 50 MB one read to its end
before its 413.  Here the limit is kept while the body arrives:

* a declared Content-Length over the limit is answered 413 as soon as
  the headers end, before a byte of the body is read;
* a body of no declared length (chunked) is answered 413 the moment what
  has arrived passes the limit;

and either way the connection is closed at once: nothing more is read
from it, nothing more is parsed of what was read, and nothing but the
413 is written (no ``100 Continue``, no 400 for the rest of a chunked
body).  So a request holds at most the limit plus one read of the socket.

A site takes this by being a BoundedSite, whose ``max_body`` is its
limit.  A request class may subclass BoundedRequest to set the limit per
request (``body_limit``) and to put the body somewhere of its own
(``open_body``, ``keep_chunk``, ``drop_body``), as the upload server's
does (buildmaster/uploads/httpserver.py).
"""

import logging

from twisted.web import http, server

LOG = logging.getLogger("buildmaster.http")


class BoundedChannel(http.HTTPChannel):
    """An HTTPChannel that, once its request refused the body, reads,
    parses and answers nothing more: the 413 is the last thing written."""

    refused = None

    def refuse_body(self, why):
        """Answer 413 saying ``why`` and close the connection."""
        self.refused = why
        body = f"Refused: {why}.\n".encode()
        self.transport.write(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain; charset=utf-8"
            b"\r\nConnection: close\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\n\r\n" + body)
        self.loseConnection()

    def dataReceived(self, data):
        if self.refused is None:
            super().dataReceived(data)

    def rawDataReceived(self, data):
        if self.refused is None:
            super().rawDataReceived(data)

    def _respondToBadRequestAndDisconnect(self):
        # Twisted's own 400, for the rest of a body already refused, would
        # follow the 413 on the wire.
        if self.refused is None:
            super()._respondToBadRequestAndDisconnect()


class BoundedRequest(server.Request):
    """A request that counts its body as it arrives and refuses it with
    413 past ``body_limit()`` bytes (see the module docstring)."""

    refused = None
    received = 0
    limit = 0

    def body_limit(self):
        """The most body bytes this request may send: its site's ``max_body``."""
        return self.channel.site.max_body

    def open_body(self, length):
        """Make a place for the body (``length`` None when undeclared)."""
        super().gotLength(length)

    def keep_chunk(self, data):
        self.content.write(data)

    def drop_body(self, why):
        """Let go of what was kept of a refused body."""
        if self.content is not None:
            self.content.close()

    def gotLength(self, length):
        self.received = 0
        self.limit = self.body_limit()
        if length is not None and length > self.limit:
            self._refuse(f"a body of {length} bytes is over the limit of "
                         f"{self.limit} bytes")
            return
        self.open_body(length)

    def handleContentChunk(self, data):
        if self.refused is not None:
            return
        self.received += len(data)
        if self.received > self.limit:
            self._refuse(f"the body is over the limit of {self.limit} bytes")
            return
        self.keep_chunk(data)

    def requestReceived(self, command, path, version):
        if self.refused is None:
            super().requestReceived(command, path, version)

    def _refuse(self, why):
        self.refused = why
        # No '100 Continue' after the 413: the channel sends one after
        # gotLength when the request asked for it.
        self.requestHeaders.removeHeader(b"expect")
        self.drop_body(why)
        peer = self.channel.transport.getPeer()
        LOG.info("%s:%s: %s refused while it arrived: %s",
                 getattr(peer, "host", peer), getattr(peer, "port", ""),
                 getattr(self.channel, "_path", b"?").decode("latin-1"), why)
        self.channel.refuse_body(why)


class BoundedSite(server.Site):
    """A Site whose requests' bodies may be at most ``max_body`` bytes."""

    protocol = BoundedChannel
    requestFactory = BoundedRequest

    def __init__(self, resource, max_body, **options):
        super().__init__(resource, **options)
        self.max_body = max_body
