"""The web's one twisted.web resource: routing, threads, ETags, headers.

Every request is read on the reactor into an Asked (method, path,
query, form, the token it carries, conditional headers; see
buildmaster.web.http), then answered
in a thread of the reactor's pool by ``api.answer`` or ``pages.answer``
on a session of its own, so the reactor never waits on the database:
a slow query delays its own request and nothing else.  The Answer comes
back to the reactor, which writes it:

* a 200 answer to a GET gets a strong ETag (a hash of its body) and
  ``Cache-Control: no-cache``; a request whose If-None-Match names it
  gets 304 and no body (the pages' live updates poll this way);
* every answer says ``X-Content-Type-Options: nosniff``, refuses frames
  and allows scripts and styles from this site only (CSP), so nothing a
  page shows can run as code even if it escaped the templates;
* a request body over MAX_FORM is answered 413 while it arrives, before
  it is read whole (buildmaster.runtime.bodylimit).

``/static/`` (the stylesheet and the live-update script) is served from
package data on the reactor; ``/metrics`` and ``/healthz`` are
buildmaster.web.metrics'.  A POST to ``/slave-callback/<token>`` (a slave
saying its build ended, buildmaster.slaves.callbacks) is answered on the
reactor at once: 204, or 404 for a token not handed out.
"""

import hashlib
import logging
import os
import re
from urllib.parse import urlsplit

from twisted.internet import threads
from twisted.web import resource, server, static

from buildmaster.runtime.bodylimit import BoundedSite
from buildmaster.slaves.callbacks import PATH as CALLBACK_PATH
from buildmaster.web import api, pages
from buildmaster.web.http import Answer, parse_number, read_request

logger = logging.getLogger("buildmaster.web")

STATIC = os.path.join(os.path.dirname(__file__), "static")
SECURITY_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"same-origin",
    b"content-security-policy": (b"default-src 'none'; script-src 'self'; "
                                 b"style-src 'self'; img-src 'self'; connect-src 'self'; "
                                 b"form-action 'self'; frame-ancestors 'none'; "
                                 b"base-uri 'none'"),
}
MAX_FORM = 64 * 1024


def etag_of(body):
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(header, tag):
    if not header:
        return False
    offered = [part.strip() for part in header.split(",")]
    return "*" in offered or tag in offered or ("W/" + tag) in offered


class WebResource(resource.Resource):
    """Answers every path of the web site (see the module docstring)."""

    isLeaf = True

    def __init__(self, context, metrics, reactor=None):
        super().__init__()
        self.context = context
        self.metrics = metrics
        self.handlers = [("/api/", api.answer), ("/", pages.answer)]
        self.static = {name: static.File(os.path.join(STATIC, name))
                       for name in os.listdir(STATIC) if not name.startswith(".")}
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor

    def render(self, request):
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name, value)
        if not request.path.startswith(b"/"):
            # An absolute URI in the request line (``GET http://host/path``,
            # RFC 9112 3.2.2): answered as its path would be.
            parts = urlsplit(request.path)
            if parts.scheme.lower() not in (b"http", b"https") or not parts.netloc \
                    or not (parts.path or b"/").startswith(b"/"):
                return self._now(request, Answer(400, "text/plain; charset=utf-8",
                                                 b"The request names no path.\n"))
            request.path = parts.path or b"/"
        path = request.path.decode("utf-8", "replace")
        match = re.fullmatch(r"/static/([a-z0-9.-]+)", path)
        if match and match.group(1) in self.static and request.method in (b"GET", b"HEAD"):
            request.setHeader(b"cache-control", b"max-age=300")
            return self.static[match.group(1)].render(request)
        if path.startswith(CALLBACK_PATH) and request.method == b"POST":
            return self._callback(request, path[len(CALLBACK_PATH):])
        length = request.getHeader(b"content-length")
        if length is not None and parse_number(length.strip()) is None:
            return self._now(request, Answer(400, "text/plain; charset=utf-8",
                                             b"Bad Content-Length.\n"))
        if path in ("/metrics", "/healthz"):
            if request.method not in (b"GET", b"HEAD"):
                request.setHeader(b"allow", b"GET, HEAD")
                return self._now(request, Answer(
                    405, "text/plain; charset=utf-8",
                    request.method + b" is not allowed here; GET or HEAD it.\n"))
            work = ((self.metrics.exposition if path == "/metrics"
                     else self.metrics.health), )
        else:
            handler = next((h for prefix, h in self.handlers if path.startswith(prefix)),
                           pages.answer)
            work = (handler, self.context, read_request(request))
        finished = []
        request.notifyFinish().addBoth(finished.append)
        deferred = threads.deferToThread(*work)
        deferred.addErrback(self._failed, request)
        deferred.addCallback(self._write, request, finished)
        return server.NOT_DONE_YET

    def _failed(self, failure, request):
        logger.error("web request %s %s failed: %s", request.method.decode(),
                     request.uri.decode("utf-8", "replace"), failure.getErrorMessage(),
                     exc_info=(failure.type, failure.value, failure.getTracebackObject()))
        return Answer(500, "text/plain; charset=utf-8",
                      b"Internal error; the master's log says more.\n")

    def _callback(self, request, token):
        callbacks = self.context.callbacks
        if callbacks is not None and callbacks.heard(token):
            request.setResponseCode(204)
            return b""
        return self._now(request, Answer(404, "text/plain; charset=utf-8",
                                         b"No such call-back.\n"))

    def _now(self, request, answer):
        request.setResponseCode(answer.code)
        request.setHeader(b"content-type", answer.content_type.encode())
        return answer.body

    def _write(self, answer, request, finished):
        if finished:
            return
        request.setResponseCode(answer.code)
        for name, value in answer.headers.items():
            request.setHeader(name.encode("latin-1"), value.encode("latin-1"))
        request.setHeader(b"content-type", answer.content_type.encode())
        body = answer.body
        if answer.code == 200 and request.method in (b"GET", b"HEAD"):
            tag = etag_of(body)
            request.setHeader(b"etag", tag.encode())
            request.setHeader(b"cache-control", b"no-cache")
            request.setHeader(b"vary", b"Authorization, Cookie")
            wanted = (request.getHeader(b"if-none-match") or b"").decode("latin-1")
            if _matches(wanted, tag):
                request.setResponseCode(304)
                body = b""
        request.setHeader(b"content-length", b"%d" % len(body))
        if request.method != b"HEAD":
            request.write(body)
        request.finish()


class QuietSite(BoundedSite):
    """A Site that logs only what is not a plain successful read or a
    slave's call-back: the pages poll every few seconds and every build
    calls back, and a log line each would bury the farm's own."""

    def log(self, request):
        if request.method in (b"GET", b"HEAD") and request.code in (200, 304):
            return
        if request.code == 204 and request.path.startswith(CALLBACK_PATH.encode()):
            return  # a slave's call-back: one per build
        super().log(request)


def make_site(context, metrics, reactor=None):
    """The twisted.web Site of the dashboard, the API, /metrics and /healthz."""
    site = QuietSite(WebResource(context, metrics, reactor), MAX_FORM)
    site.displayTracebacks = False
    site.noisy = False  # no "Starting factory" lines in the daemon's log
    return site
