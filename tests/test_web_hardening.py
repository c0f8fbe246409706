"""What a hostile client on loopback tried against the web, the librarian
and the archive server: numbers beyond the database's integers, other
scripts' digits, absolute URIs in the request line, telling private
archives from missing ones, methods /metrics and /healthz do not take,
private jobs in the public metrics, and the login cookie sent from
another origin (another port of this host is the same site to a
browser)."""

import logging
import socket

import pytest_twisted
import treq
from twisted.internet import threads

from buildmaster.archive.dependencies import archive_url
from buildmaster.librarian.urls import http_url
from buildmaster.model import Build, BuildQueue
from buildmaster.web import auth
from buildmaster.web.http import MAX_NUMBER, parse_number, same_origin
from tests.test_librarian_web import add, get, log_alias  # noqa: F401
from tests.test_publisher_serving import SECRET, served  # noqa: F401
from tests.test_publisher_serving import auth as basic_auth
from tests.test_publisher_serving import fetch
from tests.webhelpers import make_token, web  # noqa: F401

HUGE = "9223372036854775808"  # 2**63
BEYOND_INTEGER = str(2 ** 31)  # one past PostgreSQL's INTEGER
ARABIC_12 = "\u0661\u0662"  # str.isdigit() and int() take it for 12


def errors_logged(caplog):
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_numbers_are_ascii_digits_within_the_databases_integers():
    assert parse_number("0") == 0 and parse_number("12") == 12
    assert parse_number(str(MAX_NUMBER)) == MAX_NUMBER
    assert parse_number(b"12") == 12
    for bad in (HUGE, BEYOND_INTEGER, ARABIC_12, "", "-1", "+1", " 1", "1\n", "1_0",
                "1" * 5000, ARABIC_12.encode("utf-8"), None):
        assert parse_number(bad) is None, bad


@pytest_twisted.ensureDeferred
async def test_huge_ids_and_offsets_are_404_and_400_not_500(web, sample, session, caplog):
    token = make_token(session)
    with caplog.at_level(logging.INFO):
        for number in (HUGE, BEYOND_INTEGER):
            await web.json(f"/api/1.0/builds/{number}", code=404)
            assert (await web.get(f"/builds/{number}")).code == 404
            for listing in ("builds", "queue", "distributions", "archives", "uploads"):
                answer = await web.json(f"/api/1.0/{listing}?offset={number}", code=400)
                assert answer["error"].startswith("limit and offset must be whole numbers")
            assert (await web.get(f"/builds?offset={number}")).code == 400
            await web.json(f"/api/1.0/builds?limit={number}", code=400)
            for action in ("retry", "rescore", "cancel"):
                await web.json(f"/api/1.0/builds/{number}/{action}",
                               data={"score": "1"}, token=token, code=404)
                answer = await web.post(f"/builds/{number}/{action}",
                                        data={"token": token, "score": "1"})
                assert answer.code == 404
    assert errors_logged(caplog) == []


@pytest_twisted.ensureDeferred
async def test_other_scripts_digits_are_no_build_id(web, sample, session, caplog):
    token = make_token(session)
    await web.json("/api/1.0/builds/12", code=404)
    assert (await web.json("/api/1.0/builds/3"))["id"] == 3
    with caplog.at_level(logging.INFO):
        await web.json(f"/api/1.0/builds/{ARABIC_12}", code=404)
        await web.json("/api/1.0/builds/\u0663", code=404)  # Arabic 3: not build 3
        assert (await web.get("/builds/\u0663")).code == 404
        await web.json("/api/1.0/builds/\u0663/retry", data={}, token=token, code=404)
        await web.json(f"/api/1.0/builds?offset={ARABIC_12}", code=400)
    assert errors_logged(caplog) == []


def raw_request(port, request_line, headers=b"Host: 127.0.0.1\r\n"):
    """The status line and the rest of the answer to ``request_line``
    sent as is (no client would send an absolute URI to a server)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request_line + b"\r\n" + headers + b"Connection: close\r\n\r\n")
        answer = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    status, _, rest = answer.partition(b"\r\n")
    return status, rest


@pytest_twisted.ensureDeferred
async def test_an_absolute_uri_is_answered_as_its_path_never_500(web, sample, caplog):
    port = web.port.getHost().port
    with caplog.at_level(logging.INFO):
        status, rest = await threads.deferToThread(
            raw_request, port, b"GET http://evil/api/1.0/builds/3 HTTP/1.1")
        assert status == b"HTTP/1.1 200 OK", rest
        assert b'"id": 3' in rest
        status, _ = await threads.deferToThread(
            raw_request, port, b"GET http://evil/api/1.0/builds/11 HTTP/1.1")
        assert status.startswith(b"HTTP/1.1 404")
        status, _ = await threads.deferToThread(
            raw_request, port, b"GET http://evil HTTP/1.1")
        assert status.startswith(b"HTTP/1.1 200")  # the farm page, as / would be
        for line in (b"GET evil HTTP/1.1", b"GET ftp://evil/x HTTP/1.1",
                     b"GET * HTTP/1.1"):
            status, _ = await threads.deferToThread(raw_request, port, line)
            # 400 (or twisted's own 405 for the asterisk form), never 500
            assert status[:10] in (b"HTTP/1.1 4",) and status[9:12] in (b"400", b"405"), (
                line, status)
    assert errors_logged(caplog) == []


@pytest_twisted.ensureDeferred
async def test_metrics_and_health_take_only_get_and_head(web, sample):
    for path in ("/metrics", "/healthz"):
        for method in ("DELETE", "POST", "PUT", "PATCH", "OPTIONS"):
            answer = await web.request(method, path)
            assert answer.code == 405, (method, path)
            assert answer.headers.getRawHeaders("allow") == ["GET, HEAD"]
        assert (await web.request("HEAD", path)).code == 200
        assert (await web.get(path)).code == 200


@pytest_twisted.ensureDeferred
async def test_metrics_leave_private_jobs_out_of_the_queue_depth(web, sample, session):
    def depth(text):
        return [line for line in text.splitlines()
                if line.startswith('buildmaster_queue_depth{processor="386"}')]
    assert depth((await web.get("/metrics")).body.decode()) == [
        'buildmaster_queue_depth{processor="386"} 1.0']
    pending = session.get(BuildQueue, 2)
    assert pending.builder_id is None
    session.get(Build, pending.build_id).archive.private = True
    session.commit()
    assert depth((await web.get("/metrics")).body.decode()) == [
        'buildmaster_queue_depth{processor="386"} 0.0']


@pytest_twisted.inlineCallbacks
def test_the_librarian_takes_no_huge_or_foreign_ids(librarian_servers, farm_config,
                                                    log_alias, caplog):
    with caplog.at_level(logging.INFO):
        for server in (librarian_servers.public_url, librarian_servers.restricted_url):
            for number in (HUGE, BEYOND_INTEGER, "%D9%A1%D9%A2"):
                response = yield get(f"{server}/{number}/x?token=t")
                yield treq.content(response)
                assert response.code == 404, (server, number, response.code)
        response = yield get(f"{librarian_servers.public_url}/{HUGE}/x")
        yield treq.content(response)
        assert response.code == 404
    assert errors_logged(caplog) == []


@pytest_twisted.inlineCallbacks
def test_the_librarian_says_nosniff_no_frames_and_a_strict_csp(
        librarian_servers, farm_config, log_alias):
    for url in (http_url(farm_config, log_alias), f"{librarian_servers.public_url}/1/x"):
        response = yield get(url)
        yield treq.content(response)
        headers = response.headers
        assert headers.getRawHeaders("x-content-type-options") == ["nosniff"]
        assert headers.getRawHeaders("x-frame-options") == ["DENY"]
        assert headers.getRawHeaders("content-security-policy")[0].startswith(
            "default-src 'none'")


@pytest_twisted.ensureDeferred
async def test_a_missing_private_archive_answers_as_a_private_one(
        served, farm_context, sample):
    private = archive_url(farm_context.config, sample.cprov_ppa, with_credentials=False)
    missing = private.replace("/cprov/ppa/", "/nobody/nothing/")
    public = private.replace("/cprov/", "/mark/")  # mark's PPA is public
    assert missing != private and public != private
    answers = []
    for base in (private, missing, public):
        for headers in ({}, basic_auth("buildd", "wrong"), basic_auth("buildd", SECRET)):
            response = await treq.get(f"{base}/dists/hoary/Release", headers=headers or None,
                                      persistent=False)
            answers.append((response.code, await treq.content(response),
                            response.headers.getRawHeaders("www-authenticate")))
    private_answers, missing_answers, public_answers = answers[:3], answers[3:6], answers[6:]
    assert private_answers[0][0] == 401
    assert private_answers[2][0] == 200, "apt with credentials still reads it"
    refused = private_answers[0]
    assert private_answers[1] == refused
    assert missing_answers == [refused] * 3
    assert public_answers == [refused] * 3


@pytest_twisted.ensureDeferred
async def test_the_archive_server_says_nosniff_no_frames_and_a_strict_csp(
        served, farm_context, sample):
    base = archive_url(farm_context.config, sample.primary)
    for url in (f"{base}/dists/hoary/InRelease", f"{base}/dists/", f"{base}/nothing"):
        response = await treq.get(url, persistent=False)
        await treq.content(response)
        headers = response.headers
        assert headers.getRawHeaders("x-content-type-options") == ["nosniff"], url
        assert headers.getRawHeaders("x-frame-options") == ["DENY"], url
        assert headers.getRawHeaders("content-security-policy")[0].startswith(
            "default-src 'none'"), url
    assert (await fetch(f"{base}/dists/hoary/InRelease"))[0] == 200


def test_an_origin_is_the_sites_own_only_with_its_host_and_port():
    host = "127.0.0.1:58010"
    assert same_origin("http://127.0.0.1:58010", host)
    assert same_origin("http://127.0.0.1:58010/builds/9?x=1", host)  # a Referer
    assert same_origin("HTTP://127.0.0.1:58010", host)
    assert same_origin("https://farm.example", "farm.example")  # a proxy adding TLS
    assert same_origin("https://Farm.Example:443/", "farm.example")
    assert same_origin("http://[::1]:8010", "[::1]:8010")
    for other in ("http://127.0.0.1:9999", "http://evil.example", "http://127.0.0.1",
                  "https://127.0.0.1:58010.evil.example", "null", "", "127.0.0.1:58010",
                  "ftp://127.0.0.1:58010", "http://127.0.0.1:99999", "http://:58010"):
        assert not same_origin(other, host), other
    assert not same_origin("http://farm.example:8080", "farm.example")


def score_of(session, build_id):
    session.expire_all()
    score = session.get(Build, build_id).buildqueue_record.lastscore
    session.rollback()
    return score


@pytest_twisted.ensureDeferred
async def test_the_login_cookie_does_not_count_on_the_api_from_another_origin(
        web, sample, session):
    token = make_token(session)
    before = score_of(session, 9)
    jar = {"Cookie": f"bm_token={token}"}
    for elsewhere in ({"Origin": "http://evil.example"},
                      {"Origin": "http://127.0.0.1:1"},  # another port of this host
                      {"Origin": "null"},
                      {"Referer": "http://evil.example/page"}):
        refused = await web.post("/api/1.0/builds/9/rescore", data={"score": "7"},
                                 headers=dict(jar, **elsewhere))
        assert refused.code == 401, (elsewhere, refused.code)
    assert score_of(session, 9) == before
    own = await web.json("/api/1.0/builds/9/rescore", data={"score": "7"},
                         headers=dict(jar, Origin=web.url, Referer=web.url + "/builds/9"))
    assert own["build"]["score"] == 7
    bearer = await web.json("/api/1.0/builds/9/rescore", data={"score": "8"}, token=token,
                            headers={"Origin": "http://evil.example"})
    assert bearer["build"]["score"] == 8


@pytest_twisted.ensureDeferred
async def test_the_login_cookie_does_not_count_on_a_page_from_another_origin(
        web, sample, session):
    token = make_token(session, "ops", (auth.WRITE, auth.PRIVATE))
    sample.mark_ppa.private = True
    session.commit()
    jar = {"Cookie": f"bm_token={token}"}
    for elsewhere in ({"Referer": "http://127.0.0.1:1/attack"}, {"Origin": "null"}):
        form = await web.post("/builds/9/rescore", data={"score": "7"},
                              headers=dict(jar, **elsewhere))
        assert form.code == 403, elsewhere
        assert b"came from another site" in form.body
        assert (await web.get("/builds/3", headers=dict(jar, **elsewhere))).code == 404
    assert (await web.get("/builds/3", headers=jar)).code == 200
    typed = await web.post("/builds/9/rescore", data={"score": "7", "token": token},
                           headers={"Origin": "http://evil.example"})
    assert typed.code == 303  # a typed token is no ambient credential


@pytest_twisted.ensureDeferred
async def test_login_and_logout_from_another_origin_set_no_cookie(web, sample, session):
    token = make_token(session)
    for path in ("/login", "/logout"):
        for elsewhere in ({"Origin": "http://evil.example"},
                          {"Referer": "http://127.0.0.1:1/"}):
            answer = await web.post(path, data={"token": token}, headers=elsewhere)
            assert answer.code == 403, (path, elsewhere)
            assert answer.headers.getRawHeaders("set-cookie") is None
    own = await web.post("/login", data={"token": token}, headers={"Origin": web.url})
    assert own.code == 303
    assert own.headers.getRawHeaders("set-cookie")[0].startswith(f"bm_token={token};")
