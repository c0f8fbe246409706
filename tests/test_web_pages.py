"""The HTML pages: each renders, escapes what it shows, works as plain
forms, and keeps private archives out of sight."""

import datetime

import pytest
import pytest_twisted

from buildmaster.model import Build, BuildQueue, BuildStatus, utcnow
from buildmaster.web import auth
from tests.webhelpers import make_token, web  # noqa: F401


@pytest.mark.parametrize("path, shown", [
    ("/", b"The farm at a glance"),
    ("/queue", b"next dispatch: frog is free"),
    ("/builds", b"mozilla-firefox"),
    ("/builds?state=FAILEDTOBUILD&source=foobar", b'data-build="3"'),
    ("/builds/8", b"Dummy sampledata entry, not processing"),
    ("/builds/8", b'action="/builds/8/cancel"'),
    ("/builds/4", b"waiting on a dependency: libgtk2.0-dev (&gt;= 2.6)"),
    ("/builders", b'data-builder="frog"'),
    ("/builders?limit=1&offset=1", b'rel="prev" href="/builders?limit=1&amp;offset=0"'),
    ("/builders/bob", b"Bob The Builder"),
    ("/login", b'name="token"'),
])
@pytest_twisted.ensureDeferred
async def test_every_page_renders(web, sample, path, shown):
    page = await web.get(path)
    assert page.code == 200
    assert page.headers.getRawHeaders("content-type") == ["text/html; charset=utf-8"]
    assert shown in page.body
    assert page.headers.getRawHeaders("x-content-type-options") == ["nosniff"]
    assert "script-src 'self'" in page.headers.getRawHeaders("content-security-policy")[0]
    assert b"<script>" not in page.body  # only /static/live.js


@pytest_twisted.ensureDeferred
async def test_markup_in_what_a_page_shows_is_text(web, sample, session):
    session.get(BuildQueue, 1).logtail = '<script>alert("tail")</script>'
    sample.frog.failBuilder('<img src=x onerror="alert(1)">')
    session.commit()
    build = (await web.get("/builds/8")).body
    assert b'&lt;script&gt;alert(&#34;tail&#34;)&lt;/script&gt;' in build
    assert b"<script>alert" not in build
    for path in ("/", "/builders", "/builders/frog"):
        body = (await web.get(path)).body
        assert b"&lt;img src=x onerror=" in body and b"<img src=x" not in body


@pytest_twisted.ensureDeferred
async def test_unknown_pages_and_builds_are_404_pages(web, sample):
    for path in ("/nowhere", "/builds/999", "/builders/nobody"):
        page = await web.get(path)
        assert page.code == 404 and b"Not found" in page.body


@pytest_twisted.ensureDeferred
async def test_a_form_without_a_token_is_401_and_changes_nothing(web, sample, session):
    page = await web.post("/builds/3/retry", data={})
    assert page.code == 401 and b"This action needs a token" in page.body
    refused = await web.post("/builds/3/retry", data={"token": "bm_nonsense"})
    assert refused.code == 401 and b"That token was refused: unknown token" in refused.body
    session.expire_all()
    assert session.get(Build, 3).buildstate == BuildStatus.FAILEDTOBUILD
    session.rollback()


@pytest_twisted.ensureDeferred
async def test_a_form_with_a_token_retries_and_returns_to_the_build(web, sample, session):
    token = make_token(session)
    done = await web.post("/builds/3/retry", data={"token": token})
    assert done.code == 303
    (location,) = done.headers.getRawHeaders("location")
    assert location.startswith("/builds/3?done=build+3+was+FAILEDTOBUILD")
    page = await web.get(location)
    assert b"state-NEEDSBUILD" in page.body and b"now NEEDSBUILD as job" in page.body


@pytest_twisted.ensureDeferred
async def test_logging_in_sets_a_strict_cookie_that_only_this_site_can_use(
        web, sample, session):
    token = make_token(session, "ops", (auth.WRITE, auth.PRIVATE))
    login = await web.post("/login", data={"token": token})
    (cookie,) = login.headers.getRawHeaders("set-cookie")
    assert cookie.startswith(f"bm_token={token};") and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    jar = {"Cookie": f"bm_token={token}"}
    assert b"token <strong>ops</strong>" in (await web.get("/", headers=jar)).body
    foreign = await web.post("/builders/frog/disable", data={"reason": "x"},
                             headers=dict(jar, Origin="http://elsewhere.example"))
    assert foreign.code == 403
    own = await web.post("/builders/frog/disable", data={"reason": "disk full"},
                         headers=dict(jar, Origin=web.url))
    assert own.code == 303
    assert b"disk full" in (await web.get("/builders/frog")).body
    logout = await web.post("/logout", headers=jar)
    assert logout.headers.getRawHeaders("set-cookie")[0].startswith("bm_token=;")
    wrong = await web.post("/login", data={"token": "bm_guess"})
    assert wrong.code == 401


@pytest_twisted.ensureDeferred
async def test_private_builds_show_only_to_a_token_with_the_right(web, sample, session):
    sample.mark_ppa.private = True
    token = make_token(session, "seer", (auth.PRIVATE,))
    assert (await web.get("/builds/3")).code == 404
    assert b"~mark/ppa" not in (await web.get("/builds")).body
    assert b"~mark/ppa" not in (await web.get("/builders/bob")).body
    seen = await web.get("/builds/3", headers={"Cookie": f"bm_token={token}"})
    assert seen.code == 200 and b'class="private"' in seen.body


@pytest_twisted.ensureDeferred
async def test_pages_poll_by_etag(web, sample):
    first = await web.get("/builders/frog")
    (tag,) = first.headers.getRawHeaders("etag")
    again = await web.get("/builders/frog", headers={"If-None-Match": tag})
    assert (again.code, again.body) == (304, b"")
    script = await web.get("/static/live.js")
    assert script.code == 200 and b"data-live" in script.body


@pytest_twisted.ensureDeferred
async def test_lists_show_each_builds_health_and_how_long_it_took(web, sample, session):
    """The colour of buildmaster.health beside a finished build's state,
    how long it took, and how long a running one has run so far."""
    session.get(BuildQueue, 1).date_started = utcnow() - datetime.timedelta(minutes=5)
    session.commit()
    for path in ("/", "/builds", "/builders/bob"):
        body = (await web.get(path)).body
        assert b'<span class="health colour-green" title="health: green">green' in body
        assert b'<span class="health colour-red" title="health: red">red' in body
        assert b"<th>Took</th>" in body and b"10m 00s" in body, path
    assert b"5m 0" in (await web.get("/builds")).body  # build 8, so far
    running = (await web.get("/builds/8")).body
    started = session.get(BuildQueue, 1).date_started
    assert f'<dt>Started</dt><dd><time datetime="{started.isoformat()}">'.encode() in running
    assert b'<span class="running">building for 5m 0' in running
    finished = (await web.get("/builds/7")).body
    assert b"<dt>Started</dt><dd><time" in finished and b"after 10m 00s" in finished


@pytest_twisted.ensureDeferred
async def test_every_page_links_the_favicon_it_serves(web, sample):
    page = (await web.get("/")).body
    assert b'<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    icon = await web.get("/static/favicon.svg")
    assert icon.code == 200 and icon.body.startswith(b"<svg")
    assert icon.headers.getRawHeaders("content-type") == ["image/svg+xml"]
