"""Serving a librarian file that is not on this machine's disk (Swift).

The content is read from the store in the reactor's thread pool, a
chunk at a time, and written to the request as a push producer: when
the client reads slowly twisted.web pauses us and no more is fetched,
so a file is never held whole in memory.

The store's reader checks the content's sums at its end.  To never serve
a corrupt file as good, one chunk is held back: the last chunk is
written only once the reader has said the content is what the database
says.  When it is not, the connection is cut short of the declared
Content-Length, so the client sees a failed download, and the mismatch
is logged naming the file.
"""

import logging

from twisted.internet import defer, interfaces, threads
from zope.interface import implementer

from buildmaster.librarian.storage import CHUNK_SIZE

logger = logging.getLogger("buildmaster.librarian")


def stream_stored(reader, stored, request, defer_to_thread=threads.deferToThread):
    """Write ``reader``'s content (a store reader, already open) to
    ``request`` and finish it; a Deferred firing once done or given up."""
    body = _StoredBody(reader, stored, request, defer_to_thread)
    request.registerProducer(body, True)
    body.read_more()
    return body.done


@implementer(interfaces.IPushProducer)
class _StoredBody:

    def __init__(self, reader, stored, request, defer_to_thread):
        self.reader = reader
        self.stored = stored
        self.request = request
        self.defer_to_thread = defer_to_thread
        self.done = defer.Deferred()
        self.held = None
        self.paused = self.reading = self.stopped = False

    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False
        self.read_more()

    def stopProducing(self):
        self.stopped = True
        if not self.reading:
            self._end()

    def read_more(self):
        if self.paused or self.reading or self.done.called:
            return
        self.reading = True
        reading = self.defer_to_thread(self.reader.read, CHUNK_SIZE)
        reading.addCallbacks(self._got, self._failed)

    def _got(self, chunk):
        self.reading = False
        if self.stopped:
            self._end()
            return
        if self.held is not None:
            self.request.write(self.held)
        if not chunk:
            self.request.unregisterProducer()
            self.request.finish()
            self._end()
            return
        self.held = chunk
        self.read_more()

    def _failed(self, failure):
        self.reading = False
        logger.error(f"Librarian file {self.stored.id} ({self.stored.filename}): not served "
                     f"whole: {failure.getErrorMessage()}")
        self.request.unregisterProducer()
        self.request.channel.transport.abortConnection()
        self._end()

    def _end(self):
        self.reader.close()
        if not self.done.called:
            self.done.callback(None)
