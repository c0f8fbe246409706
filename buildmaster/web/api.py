"""``/api/1.0/``: every page's data as JSON, and the write actions.

Reads (GET), with the CLI's ``--json`` names (buildmaster.web.views)::

    /api/1.0/                      the index: what there is
    /api/1.0/farm                  builders, queue depth, finished last hour
    /api/1.0/queue                 pending jobs and dependency waits, with why
    /api/1.0/builds                ?state=&source=&archive=&arch= newest first
    /api/1.0/builds/ID             one build: history, log tail, reason
    /api/1.0/builders              the builders by name, with their states
    /api/1.0/builders/NAME         one builder: recent builds, outcomes
    /api/1.0/distributions         each with its components, upload pockets, series
    /api/1.0/distributions/NAME    one: its series in full and its archives
    /api/1.0/series/DIST/SERIES    a series: architectures, processors, chroots,
                                   parent, external lines, archives, newest builds
    /api/1.0/archives              ?distribution= every archive and its apt URL
    /api/1.0/uploads               ?state= uploads (dput's and the operator's),
                                   newest first

Every list (queue, builds, builders, distributions, archives, uploads)
takes ``?limit=`` (1 to MAX_LIMIT, default DEFAULT_LIMIT) and
``?offset=`` and answers ``{"total", "offset", "limit", "next",
"previous", "entries"}`` (``listing``), ``next`` and ``previous`` being
the URLs of the neighbouring pages or null.

Writes (POST, form-encoded or JSON body), each needing ``Authorization:
Bearer <token>`` with the ``write`` right (401 without a token or with
an unknown one, 403 without the right)::

    /api/1.0/builds/ID/retry
    /api/1.0/builds/ID/rescore     score=N
    /api/1.0/builds/ID/cancel
    /api/1.0/builders/NAME/enable
    /api/1.0/builders/NAME/disable reason=TEXT

A private archive's builds are visible, and writable, only with a token
that also has the ``private`` right; without it they are 404, as if
they did not exist, and the archive itself is left out of every list,
with the uploads to it (buildmaster.uploads.listing).
No answer ever carries an archive's buildd secret.  Errors are
``{"error": "one sentence"}``.
"""

import json
import re
from urllib.parse import urlencode

from buildmaster.operators.lookup import NotFound
from buildmaster.model import BuildStatus, utcnow
from buildmaster.uploads import listing as upload_listing
from buildmaster.web import actions, auth, farmviews, views
from buildmaster.web.http import MAX_NUMBER, Answer, parse_number

PREFIX = "/api/1.0"
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
JSON_TYPE = "application/json"


class BadRequest(Exception):
    """The request itself is wrong: 400 with this sentence."""


def json_answer(code, data, headers=None):
    body = (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8")
    return Answer(code, JSON_TYPE, body, headers or {})


def error(code, text, headers=None):
    return json_answer(code, {"error": text}, headers)


def page_of(query):
    """The Page a request's ``limit`` and ``offset`` ask for; BadRequest."""
    limit_text = query.get("limit", str(DEFAULT_LIMIT)).strip()
    offset_text = query.get("offset", "0").strip()
    if offset_text.startswith("-") and parse_number(offset_text[1:]) is not None:
        raise BadRequest("offset must not be negative")
    limit, offset = parse_number(limit_text), parse_number(offset_text)
    if limit is None and limit_text.startswith("-") and parse_number(limit_text[1:]) \
            is not None:
        limit = 0
    if limit is None or offset is None:
        raise BadRequest("limit and offset must be whole numbers "
                         f"(0 to {MAX_NUMBER}, in ASCII digits)")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be from 1 to {MAX_LIMIT}")
    return views.Page(limit, offset)


def build_id_of(text):
    """The build id a path names; NotFound for one no build can have
    (beyond the database's integers)."""
    number = parse_number(text)
    if number is None:
        raise NotFound(f"no build with id {text}")
    return number


def filter_of(query):
    """The BuildFilter of ``?state=&source=&archive=&arch=``; BadRequest."""
    state = query.get("state") or None
    if state is not None:
        try:
            state = BuildStatus[state.upper()]
        except KeyError:
            known = ", ".join(each.name for each in BuildStatus)
            raise BadRequest(f"no build state named {state!r} (known: {known})") from None
    return views.BuildFilter(state=state, source=query.get("source") or None,
                             archive=query.get("archive") or None,
                             arch=query.get("arch") or None)


def upload_state_of(query):
    """The upload state ``?state=`` asks for, or None; BadRequest."""
    state = query.get("state") or None
    if state is not None and state.upper() not in upload_listing.STATES:
        raise BadRequest(f"no upload state named {state!r} "
                         f"(known: {', '.join(upload_listing.STATES)})")
    return state.upper() if state else None


def uploads(session, viewer, page, state):
    """(total, [upload object]) newest first, private ones only for a
    viewer with the private right."""
    return upload_listing.uploads(session, viewer.see_private, state=state,
                                  limit=page.limit, offset=page.offset)


def listing(path, query, page, total, entries):
    """The paged envelope of a list."""
    def link(offset):
        return f"{path}?{urlencode(dict(query, limit=page.limit, offset=offset))}"
    after = page.offset + page.limit
    return {"total": total, "offset": page.offset, "limit": page.limit,
            "next": link(after) if after < total else None,
            "previous": link(max(0, page.offset - page.limit)) if page.offset else None,
            "entries": entries}


INDEX = {
    "farm": PREFIX + "/farm", "queue": PREFIX + "/queue", "builds": PREFIX + "/builds",
    "build": PREFIX + "/builds/{id}", "builders": PREFIX + "/builders",
    "builder": PREFIX + "/builders/{name}",
    "distributions": PREFIX + "/distributions",
    "distribution": PREFIX + "/distributions/{name}",
    "series": PREFIX + "/series/{distribution}/{series}",
    "archives": PREFIX + "/archives",
    "uploads": PREFIX + "/uploads",
    "actions": {"retry": "POST " + PREFIX + "/builds/{id}/retry",
                "rescore": "POST " + PREFIX + "/builds/{id}/rescore (score)",
                "cancel": "POST " + PREFIX + "/builds/{id}/cancel",
                "enable": "POST " + PREFIX + "/builders/{name}/enable",
                "disable": "POST " + PREFIX + "/builders/{name}/disable (reason)"},
}

# (pattern, function(session, viewer, asked, *groups) -> data)
READS = [
    (r"/?", lambda session, viewer, asked: INDEX),
    (r"/farm", lambda session, viewer, asked: views.farm(session, viewer)),
    (r"/queue", lambda session, viewer, asked: _listed(
        asked, *views.queue(session, viewer, page_of(asked.query)))),
    (r"/builds", lambda session, viewer, asked: _listed(
        asked, *_steady_builds(*views.builds(session, viewer, page_of(asked.query),
                                             filter_of(asked.query))))),
    (r"/builds/([0-9]+)", lambda session, viewer, asked, build_id: _steady(views.build(
        session, viewer, build_id_of(build_id)))),
    (r"/builders", lambda session, viewer, asked: _listed(
        asked, *views.builders(session, viewer, page_of(asked.query)))),
    (r"/builders/([^/]+)", lambda session, viewer, asked, name: views.builder(
        session, viewer, name)),
    (r"/distributions", lambda session, viewer, asked: _listed(
        asked, *farmviews.distributions(session, viewer, page_of(asked.query)))),
    (r"/distributions/([^/]+)", lambda session, viewer, asked, name:
        farmviews.distribution(session, viewer, name)),
    (r"/series/([^/]+)/([^/]+)", lambda session, viewer, asked, dist, name:
        farmviews.series(session, viewer, dist, name)),
    (r"/archives", lambda session, viewer, asked: _listed(
        asked, *farmviews.archives(session, viewer, page_of(asked.query),
                                   asked.query.get("distribution") or None))),
    (r"/uploads", lambda session, viewer, asked: _listed(
        asked, *uploads(session, viewer, page_of(asked.query),
                        upload_state_of(asked.query)))),
]
WRITES = [
    (r"/builds/([0-9]+)/(retry|rescore|cancel)", "build"),
    (r"/builders/([^/]+)/(enable|disable)", "builder"),
]


def _steady(build):
    """A build object as the API gives it: without the pages' ``elapsed``,
    which changed a listing with a running build, and so its ETag, every
    second (a client's If-None-Match never matched); ``date_started`` says
    when it started."""
    return {key: value for key, value in build.items() if key != "elapsed"}


def _steady_builds(total, builds):
    return total, [_steady(build) for build in builds]


def _listed(asked, total, entries):
    page = page_of(asked.query)
    return listing(asked.path, asked.query, page, total, entries)


def answer(context, asked):
    """The Answer to an ``/api/`` request; runs in a thread."""
    if not asked.path.startswith(PREFIX + "/") and asked.path != PREFIX:
        return error(404, f"no such API; this is {PREFIX}/")
    rest = asked.path[len(PREFIX):]
    try:
        token = auth.authenticate(context.sessions, asked.token())
    except auth.BadToken as refused:
        return error(401, str(refused), {"WWW-Authenticate": 'Bearer realm="buildmaster"'})
    viewer = views.Viewer(context.config, utcnow(), auth.can(token, auth.PRIVATE))
    try:
        if asked.method in ("GET", "HEAD"):
            return _read(context, viewer, asked, rest)
        if asked.method == "POST":
            return _write(context, viewer, asked, rest, token)
        return error(405, f"{asked.method} is not allowed here")
    except BadRequest as bad:
        return error(400, str(bad))
    except NotFound as missing:
        return error(404, str(missing))


def _read(context, viewer, asked, rest):
    for pattern, function in READS:
        match = re.fullmatch(pattern, rest)
        if match:
            with context.sessions() as session:
                return json_answer(200, function(session, viewer, asked, *match.groups()))
    if any(re.fullmatch(pattern, rest) for pattern, _ in WRITES):
        return error(405, "this is an action: POST it with a token")
    return error(404, f"no such API: {asked.path}")


def _write(context, viewer, asked, rest, token):
    match, kind = next(((re.fullmatch(pattern, rest), kind) for pattern, kind in WRITES
                        if re.fullmatch(pattern, rest)), (None, None))
    if match is None:
        return error(405 if any(re.fullmatch(p, rest) for p, _ in READS) else 404,
                     f"nothing to POST at {asked.path}")
    if token is None:
        return error(401, "this action needs a token: Authorization: Bearer <token> "
                          "(buildmaster token create NAME)",
                     {"WWW-Authenticate": 'Bearer realm="buildmaster"'})
    if not token.can(auth.WRITE):
        return error(403, f"token {token.name!r} has no write right")
    target, action = match.groups()
    params = dict(asked.form)
    params.update(asked.query)
    try:
        with context.sessions() as session:
            text = actions.perform(session, action, target, params, f"token {token.name}",
                                   viewer.see_private, context.wakeups.origin)
            actions.wake(context, action)
            shown = (_steady(views.build(session, viewer, build_id_of(target)))
                     if kind == "build"
                     else views.builder(session, viewer, target))
    except actions.Refused as refused:
        return error(refused.code, str(refused))
    return json_answer(200, {"result": text, kind: shown})
