"""The HTML pages: server-rendered with Jinja2, escaping everything.

::

    /                  the farm at a glance
    /queue             the pending jobs and why each waits
    /builds            ?state=&source=&archive=&arch=, paged
    /builds/ID         one build; its log tail updates while it builds
    /builders          every builder
    /builders/NAME     one builder
    /distributions     the farm's distributions and their series
    /distributions/NAME  one: its series, architectures and chroots, archives
    /series/DIST/SERIES  one series: architectures, chroots, archives, builds
    /uploads           ?state=, paged: uploads, dput's and the operator's
    /login             a token for this browser (an HttpOnly cookie)

Actions are plain HTML forms POSTed to ``/builds/ID/retry`` (and
rescore, cancel) and ``/builders/NAME/enable`` (and disable), with the
token in the form's ``token`` field or the login cookie; they answer
303 to the page they came from, or a page saying why not with the
status the API would give (401 without a token).  The cookie counts
only on requests from this site itself (SameSite=Strict, and no Origin
or Referer naming another origin: buildmaster.web.http), so only a form
of these pages can use it: a cookie-borne POST from elsewhere is 403,
and /login and /logout set or clear the cookie only for this site's own
forms.

Every page works without JavaScript.  /static/live.js only refreshes
the regions marked ``data-live`` (see its header) every
REFRESH_SECONDS, which is what makes a build's log tail follow along.
"""

from urllib.parse import quote, urlencode

import jinja2

from buildmaster.operators.lookup import NotFound
from buildmaster.model import BuildStatus, utcnow
from buildmaster.operators.output import age_text
from buildmaster.uploads.listing import STATES as UPLOAD_STATES
from buildmaster.web import actions, auth, farmviews, views
from buildmaster.web.api import (
    BadRequest, build_id_of, filter_of, listing, page_of, upload_state_of, uploads)
from buildmaster.web.http import Answer

REFRESH_SECONDS = 2
HTML = "text/html; charset=utf-8"
COOKIE_NAME = auth.COOKIE.decode()

ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("buildmaster.web", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
    lstrip_blocks=True)
ENVIRONMENT.filters["url_part"] = lambda text: quote(str(text), safe="")
ENVIRONMENT.filters["age"] = age_text  # seconds as 5m 03s
ENVIRONMENT.globals["STATES"] = [state.name for state in BuildStatus]


def render(status, template, viewer, token, **data):
    body = ENVIRONMENT.get_template(template).render(
        viewer=viewer, token_name=token.name if token else None,
        refresh=REFRESH_SECONDS, **data)
    return Answer(status, HTML, body.encode("utf-8"))


def farm_page(session, viewer, asked):
    return "farm.html", {"farm": views.farm(session, viewer)}


def queue_page(session, viewer, asked):
    page = page_of(asked.query)
    return "queue.html", {"queue": listing(asked.path, asked.query, page,
                                           *views.queue(session, viewer, page))}


def builds_page(session, viewer, asked):
    page, where = page_of(asked.query), filter_of(asked.query)
    return "builds.html", {
        "builds": listing(asked.path, asked.query, page,
                          *views.builds(session, viewer, page, where)),
        "where": where, "query": asked.query}


def build_page(session, viewer, asked, build_id):
    return "build.html", {"build": views.build(session, viewer, build_id_of(build_id)),
                          "done": asked.query.get("done")}


def builders_page(session, viewer, asked):
    page = page_of(asked.query)
    return "builders.html", {"builders": listing(asked.path, asked.query, page,
                                                 *views.builders(session, viewer, page))}


def builder_page(session, viewer, asked, name):
    return "builder.html", {"builder": views.builder(session, viewer, name),
                            "done": asked.query.get("done")}


def distributions_page(session, viewer, asked):
    page = page_of(asked.query)
    return "distributions.html", {"distributions": listing(
        asked.path, asked.query, page, *farmviews.distributions(session, viewer, page))}


def distribution_page(session, viewer, asked, name):
    return "distribution.html", {
        "distribution": farmviews.distribution(session, viewer, name)}


def series_page(session, viewer, asked, distribution, name):
    return "series.html", {"series": farmviews.series(session, viewer, distribution, name)}


def uploads_page(session, viewer, asked):
    page, state = page_of(asked.query), upload_state_of(asked.query)
    return "uploads.html", {
        "uploads": listing(asked.path, asked.query, page,
                           *uploads(session, viewer, page, state)),
        "state": state, "upload_states": UPLOAD_STATES}


def login_page(session, viewer, asked):
    return "login.html", {}


READS = [
    ("/", farm_page), ("/queue", queue_page), ("/builds", builds_page),
    (r"/builds/([0-9]+)", build_page), ("/builders", builders_page),
    (r"/builders/([^/]+)", builder_page), ("/distributions", distributions_page),
    (r"/distributions/([^/]+)", distribution_page),
    (r"/series/([^/]+)/([^/]+)", series_page), ("/uploads", uploads_page),
    ("/login", login_page),
]
WRITES = [
    (r"/builds/([0-9]+)/(retry|rescore|cancel)", "/builds/{}"),
    (r"/builders/([^/]+)/(enable|disable)", "/builders/{}"),
]


def answer(context, asked):
    """The Answer to a page request; runs in a thread."""
    import re
    token, cookie_refused = _token(context, asked)
    viewer = views.Viewer(context.config, utcnow(), auth.can(token, auth.PRIVATE))
    try:
        if asked.method in ("GET", "HEAD"):
            for pattern, function in READS:
                match = re.fullmatch(pattern, asked.path)
                if match:
                    with context.sessions() as session:
                        template, data = function(session, viewer, asked, *match.groups())
                    shown = render(200, template, viewer, token, **data)
                    if cookie_refused:
                        shown.headers["Set-Cookie"] = _cookie("", 0)
                    return shown
            raise NotFound(f"there is no page {asked.path}")
        if asked.method != "POST":
            return _problem(405, f"{asked.method} is not allowed here", viewer, token)
        if asked.path in ("/login", "/logout") and asked.from_elsewhere():
            return _problem(403, "This form came from another site; log in and out "
                                 "on this site's own pages.", viewer, None)
        if asked.path == "/login":
            return _login(context, asked, viewer)
        if asked.path == "/logout":
            return _redirect("/", _cookie("", 0))
        for pattern, back in WRITES:
            match = re.fullmatch(pattern, asked.path)
            if match:
                return _act(context, asked, viewer, token, cookie_refused, back, *match.groups())
        raise NotFound(f"nothing to POST at {asked.path}")
    except BadRequest as bad:
        return _problem(400, str(bad), viewer, token)
    except NotFound as missing:
        return _problem(404, str(missing), viewer, token)


def _token(context, asked):
    """(ApiToken or None, whether a cookie's token was refused).  A bad
    token typed into a form is the form's problem (_act); a stale
    cookie is dropped; a request from elsewhere is taken without it."""
    try:
        return auth.authenticate(context.sessions, asked.site_cookie()), False
    except auth.BadToken:
        return None, True


def _act(context, asked, viewer, token, cookie_refused, back, target, action):
    typed = asked.form.get("token")
    if typed:
        try:
            token = auth.authenticate(context.sessions, typed)
        except auth.BadToken as refused:
            return _problem(401, f"That token was refused: {refused}.", viewer, None)
    elif asked.cookie_token and asked.from_elsewhere():
        return _problem(403, "This form came from another site; the login cookie "
                             "works only on this site's own forms.", viewer, token)
    if token is None:
        return _problem(401, "This action needs a token: type one into the form, or "
                             "log in with one (buildmaster token create NAME makes one).",
                        viewer, None)
    if not token.can(auth.WRITE):
        return _problem(403, f"Token {token.name} has no write right.", viewer, token)
    viewer = views.Viewer(viewer.config, viewer.now, token.can(auth.PRIVATE))
    try:
        with context.sessions() as session:
            text = actions.perform(session, action, target, asked.form,
                                   f"token {token.name}", viewer.see_private,
                                   context.wakeups.origin)
        actions.wake(context, action)
    except actions.Refused as refused:
        return _problem(refused.code, str(refused), viewer, token)
    page = back.format(quote(target, safe=""))
    return _redirect(f"{page}?{urlencode({'done': text})}")


def _login(context, asked, viewer):
    typed = (asked.form.get("token") or "").strip()
    try:
        token = auth.authenticate(context.sessions, typed or None)
    except auth.BadToken as refused:
        return _problem(401, f"That token was refused: {refused}.", viewer, None)
    if token is None:
        return _problem(400, "Type a token to log in.", viewer, None)
    return _redirect("/", _cookie(typed, None, asked.secure))


def _cookie(value, max_age, secure=False):
    parts = [f"{COOKIE_NAME}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def _redirect(location, cookie=None):
    headers = {"Location": location}
    if cookie is not None:
        headers["Set-Cookie"] = cookie
    return Answer(303, HTML, b"", headers)


def _problem(code, text, viewer, token):
    return render(code, "problem.html", viewer, token, code=code, text=text)
