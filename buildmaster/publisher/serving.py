"""The archives over HTTP, at the URLs the dispatcher writes into sources.list.

The daemon listens on ``[archives] http_host:http_port`` (0: it serves
nothing; a web server of the operator's may serve ``[archives] root``'s
public areas instead).  A request is matched to one of the three base
URLs (``primary_url``, ``ppa_url``, ``private_ppa_url``) by its Host and
the longest base path it starts with, preferring bases on the requested
host; the rest of its path is a file below that base's area of the tree
(publisher/layout.py).  Bases that differ only by host need the Host
header to tell them apart: a request that matches none, or several
equally, is refused with 404.

* The primary area is served to anyone.
* The PPA area serves a PPA's files (the path's first three segments name
  it: owner, name, distribution) only while the archive is public, so a
  PPA made private is off its public URL at once, before the publisher
  has moved its tree.
* The private area answers only with HTTP basic auth ``buildd:<the
  archive's buildd_secret>`` for a private archive; anything else gets 401,
  the same answer for an archive that does not exist (or is public), so
  the private area tells no one which private archives exist.
  Each of those checks is one query, run in a thread; credentials are
  never logged.

Names starting with a dot (staging directories, temporary files) are
never served, and directory listings leave them out.
"""

import hmac
import logging
import os
from urllib.parse import urlsplit

import sqlalchemy as sa
from twisted.internet import threads
from twisted.web import resource, server, static

from buildmaster.archive.dependencies import BUILDD_USER
from buildmaster.model import Archive, ArchivePurpose, Distribution, Person
from buildmaster.publisher import layout
from buildmaster.runtime.bodylimit import BoundedSite

logger = logging.getLogger("buildmaster.publisher")

# The archives are only read (GET, HEAD), so no request needs a body: one
# over MAX_BODY is refused with 413 while it arrives, before it is read
# (buildmaster.runtime.bodylimit).
MAX_BODY = 4096

# On every answer: files are what their type says (never sniffed into
# HTML), run nothing, and are never framed; directory listings keep
# their inline style.
SECURITY_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"content-security-policy": (b"default-src 'none'; style-src 'unsafe-inline'; "
                                 b"frame-ancestors 'none'; base-uri 'none'; "
                                 b"form-action 'none'"),
}


class Mount:
    """One base URL, the area it serves and that area's directory."""

    def __init__(self, url, directory, area):
        parts = urlsplit(url)
        self.host = (parts.hostname or "").lower()
        self.segments = [s for s in parts.path.split("/") if s]
        self.directory = directory
        self.area = area

    def rest(self, segments):
        """The segments below this base, or None if the path is not under it."""
        if segments[:len(self.segments)] != self.segments:
            return None
        return segments[len(self.segments):]


def mounts(config):
    urls = layout.area_urls(config)
    return [Mount(urls[area], os.path.join(config.archives.root, area), area)
            for area in layout.AREAS]


def choose(all_mounts, host, segments):
    """(mount, segments below it) for a request, or (None, None)."""
    matching = [(m, m.rest(segments)) for m in all_mounts]
    matching = [(m, rest) for m, rest in matching if rest is not None]
    on_host = [(m, rest) for m, rest in matching if m.host == host]
    for candidates in (on_host, matching):
        if not candidates:
            continue
        longest = max(len(m.segments) for m, _ in candidates)
        best = [(m, rest) for m, rest in candidates if len(m.segments) == longest]
        if len(best) == 1:
            return best[0]
        return None, None
    return None, None


def ppa_access(sessions, owner, name, distribution):
    """(private, buildd secret) of the PPA ``~owner/name`` of
    ``distribution``, or None when there is no such PPA."""
    with sessions() as session:
        return session.execute(
            sa.select(Archive.private, Archive.buildd_secret)
            .join(Person, Person.id == Archive.owner_id)
            .join(Distribution, Distribution.id == Archive.distribution_id)
            .where(Archive.purpose == ArchivePurpose.PPA, Person.name == owner,
                   Archive.name == name, Distribution.name == distribution)).first()


class ArchiveResource(resource.Resource):
    """Serves the archive trees; see the module docstring."""

    isLeaf = True

    def __init__(self, config, sessions):
        super().__init__()
        self.mounts = mounts(config)
        self.sessions = sessions

    def render(self, request):
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name, value)
        return super().render(request)

    def render_GET(self, request):
        try:
            segments = [s.decode("utf-8") for s in request.postpath]
        except UnicodeDecodeError:
            return _refuse(request, 404, "No such file.")
        while segments and segments[-1] == "" and len(segments) > 1:
            segments.pop()
        listing = request.path.endswith(b"/")
        segments = [s for s in segments if s != ""]
        host = (request.getRequestHostname() or b"").decode("ascii", "replace").lower()
        mount, rest = choose(self.mounts, host, segments)
        if mount is None or any(s.startswith(".") or "\0" in s or "/" in s
                                for s in rest):
            return _refuse(request, 404, "No such file.")
        path = os.path.join(mount.directory, *rest)
        if mount.area == layout.PRIMARY_AREA or (
                mount.area == layout.PPA_AREA and len(rest) < 3):
            return self._serve(request, path, listing)
        if len(rest) < 3:
            return _refuse(request, 404, "No such file.")
        user = request.getUser().decode("utf-8", "replace")
        password = request.getPassword().decode("utf-8", "replace")
        finished = []
        request.notifyFinish().addBoth(finished.append)
        deferred = threads.deferToThread(ppa_access, self.sessions, *rest[:3])
        deferred.addCallback(self._authorized, mount, request, path, listing, user,
                             password, finished)
        deferred.addErrback(self._failed, request, finished)
        return server.NOT_DONE_YET

    render_HEAD = render_GET

    def _authorized(self, access, mount, request, path, listing, user, password,
                    finished):
        if finished:
            return
        private, secret = access if access is not None else (None, None)
        if mount.area == layout.PPA_AREA:
            body = (self._serve(request, path, listing) if private is False
                    else _refuse(request, 404, "No such file."))
        elif private and secret and user == BUILDD_USER and hmac.compare_digest(
                secret.encode(), password.encode()):
            request.setHeader(b"cache-control", b"private")
            body = self._serve(request, path, listing)
        else:
            # A missing (or public) archive gets the very answer a private
            # one does without its credentials, so nothing tells them apart.
            request.setHeader(b"www-authenticate", b'Basic realm="private archive"')
            body = _refuse(request, 401, "This archive needs its buildd credentials.")
        if body is not server.NOT_DONE_YET:
            request.write(body)
            request.finish()

    def _failed(self, failure, request, finished):
        logger.error("archive request %r failed: %s", request.path,
                     failure.getErrorMessage(), exc_info=failure.value)
        if not finished:
            request.write(_refuse(request, 500, "Internal error; the master's log says "
                                                "more."))
            request.finish()

    def _serve(self, request, path, listing):
        if os.path.isdir(path):
            if not listing:
                request.redirect(request.path + b"/")
                return b""
            names = sorted(name for name in os.listdir(path) if not name.startswith("."))
            return static.DirectoryLister(path, names).render(request)
        if not os.path.isfile(path):
            return _refuse(request, 404, "No such file.")
        return static.File(path).render(request)


def _refuse(request, code, reason):
    body = (reason + "\n").encode("utf-8")
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    request.setHeader(b"content-length", b"%d" % len(body))
    return b"" if request.method == b"HEAD" else body


def make_site(context):
    """The twisted.web Site serving ``context``'s archives."""
    return BoundedSite(ArchiveResource(context.config, context.sessions), MAX_BODY)
