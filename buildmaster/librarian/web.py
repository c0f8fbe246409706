"""The librarian's HTTP front ends: ``/<alias id>/<filename>``.

Two sites share one resource class.  The public site serves every file
that is not restricted; the restricted site serves any file, but only
to a request carrying a valid ``?token=`` (see tokens.py), which is how
builders and people reach build logs and sources of private archives.

Each request costs one indexed query for the alias.  It runs in the
reactor's thread pool (``deferToThread``) with its own short session:
the reactor never waits on the database, so a slow database or a locked
SQLite file delays the requests that need it and nothing else.  The
content is then streamed from disk by twisted.web's static.File
producer, a chunk at a time, whatever the file's size; from Swift
([librarian] backend = swift) by streaming.py, checked as it goes.

Build logs are stored gzipped and named ``*.txt.gz``; they are served as
``text/plain`` with ``Content-Encoding: gzip`` so a browser shows them
inline.
"""

import logging
import os

from twisted.internet import threads
from twisted.web import resource, server, static

from buildmaster.librarian.aliases import find_stored_file
from buildmaster.librarian.streaming import stream_stored
from buildmaster.librarian.tokens import TokenError, check_token, load_secret
from buildmaster.model import utcnow
from buildmaster.runtime.bodylimit import BoundedSite
from buildmaster.web.http import parse_number

logger = logging.getLogger("buildmaster.librarian")

GZIPPED_TEXT_SUFFIX = ".txt.gz"
# Files are only read (GET, HEAD), so no request needs a body: one over
# MAX_BODY is refused with 413 while it arrives, before it is read
# (buildmaster.runtime.bodylimit); a smaller one is answered as its
# method deserves (405 for a POST).
MAX_BODY = 4096

# On every answer: a stored file is shown as its type says and nothing
# more (no sniffing it into HTML, no scripts, styles or frames of its
# own, never inside another site's frame).
SECURITY_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"content-security-policy": b"default-src 'none'; frame-ancestors 'none'; sandbox",
}


class Refusal(Exception):
    """A request the librarian answers with ``code`` and a one-line reason."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def content_headers(stored):
    """(Content-Type, Content-Encoding or None) for a stored file."""
    if stored.filename.endswith(GZIPPED_TEXT_SUFFIX):
        return "text/plain", "gzip"
    return stored.mimetype, None


class LibrarianResource(resource.Resource):
    """Serves ``/<alias id>/<filename>`` from the librarian's storage.

    ``restricted`` False: the public server, which refuses restricted
    files.  True: the restricted server, which serves any file but only
    with a valid token.  ``clock`` (a reactor) gives the time tokens are
    checked against.
    """

    isLeaf = True

    def __init__(self, context, restricted, clock=None):
        super().__init__()
        self.sessions = context.sessions
        self.storage = context.librarian
        self.restricted = restricted
        self.secret = load_secret(context.config.librarian.storage) if restricted else None
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock

    def render(self, request):
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name, value)
        return super().render(request)

    def render_GET(self, request):
        finished = []
        request.notifyFinish().addBoth(finished.append)
        try:
            alias_id = self._requested_id(request)
        except Refusal as refusal:
            return self._refuse(request, refusal)
        deferred = threads.deferToThread(find_stored_file, self.sessions, alias_id)
        deferred.addCallback(self._check, request, alias_id)
        deferred.addCallback(self._serve, request, finished)
        deferred.addErrback(self._fail, request, finished)
        return server.NOT_DONE_YET

    render_HEAD = render_GET

    def _requested_id(self, request):
        """The alias id the path names (token checked first on the
        restricted server, so forged requests never reach the database)."""
        segments = request.postpath
        alias_id = parse_number(segments[0]) if len(segments) == 2 else None
        if alias_id is None or not segments[1]:
            raise Refusal(404, "No such file: librarian URLs are /<file id>/<filename>.")
        if self.restricted:
            self._check_token(request, alias_id)
        return alias_id

    def _check_token(self, request, alias_id):
        tokens = request.args.get(b"token")
        if not tokens:
            raise Refusal(403, f"File {alias_id}: this server needs a ?token= "
                               "in the URL it was given.")
        try:
            check_token(self.secret, alias_id, tokens[0].decode("utf-8", "replace"),
                        self.clock.seconds())
        except TokenError as error:
            raise Refusal(403, f"File {alias_id}: {error}.") from None

    def _check(self, stored, request, alias_id):
        if stored is None:
            raise Refusal(404, f"File {alias_id} does not exist.")
        filename = request.postpath[1].decode("utf-8", "replace")
        if filename != stored.filename:
            raise Refusal(404, f"File {alias_id} is not named {filename!r}.")
        if stored.expired(utcnow()):
            raise Refusal(404, f"File {alias_id} ({stored.filename}) expired on "
                               f"{stored.expires:%Y-%m-%d %H:%M:%S} UTC.")
        if stored.restricted and not self.restricted:
            raise Refusal(403, f"File {alias_id} ({stored.filename}) is restricted: "
                               "only the restricted librarian serves it, with a token.")
        return stored

    def _serve(self, stored, request, finished):
        if finished:
            return
        if self.restricted:
            request.setHeader(b"cache-control", b"private")
        path = self.storage.local_path(stored)
        if path is None:
            return self._serve_stream(stored, request, finished)
        if not os.path.isfile(path):
            self._missing(stored)
        content = static.File(path)
        content.type, content.encoding = content_headers(stored)
        body = content.render(request)
        if body is not server.NOT_DONE_YET:
            request.write(body)
            request.finish()

    def _serve_stream(self, stored, request, finished):
        """Serve content the store streams (Swift): opened, then written a
        chunk at a time, checked (streaming.py)."""
        mimetype, encoding = content_headers(stored)
        request.setHeader(b"content-type", mimetype.encode("ascii", "replace"))
        if encoding:
            request.setHeader(b"content-encoding", encoding.encode("ascii"))
        request.setHeader(b"content-length", b"%d" % stored.size)
        if request.method == b"HEAD":
            request.finish()
            return None
        opening = threads.deferToThread(self.storage.open_stored, stored)

        def opened(reader):
            if finished:
                reader.close()
                return None
            return stream_stored(reader, stored, request)

        def lost(failure):
            failure.trap(FileNotFoundError)
            self._missing(stored)
        return opening.addCallbacks(opened, lost)

    def _missing(self, stored):
        logger.error(f"Librarian file {stored.id} ({stored.filename}): content "
                     f"{stored.sha1} is missing from the store")
        raise Refusal(500, f"File {stored.id}: its content is missing from the store.")

    def _fail(self, failure, request, finished):
        if finished:
            return
        if failure.check(Refusal):
            refusal = failure.value
        else:
            logger.error(f"Librarian request {request.uri!r} failed: "
                         f"{failure.getErrorMessage()}", exc_info=failure.value)
            refusal = Refusal(500, "Internal error; the librarian's log says more.")
        request.write(self._refuse(request, refusal))
        request.finish()

    def _refuse(self, request, refusal):
        body = (refusal.reason + "\n").encode("utf-8")
        request.setResponseCode(refusal.code)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.setHeader(b"content-length", b"%d" % len(body))
        return b"" if request.method == b"HEAD" else body


def make_sites(context, clock=None):
    """The (public, restricted) twisted.web Sites for ``context``."""
    return tuple(BoundedSite(LibrarianResource(context, restricted=restricted, clock=clock),
                             MAX_BODY) for restricted in (False, True))

