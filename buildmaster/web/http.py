"""What a web request and its answer are to the handlers: an Asked, read
from a twisted.web request on the reactor by ``read_request``, and the
Answer a handler returns from its thread for the reactor to write.

The login cookie counts only on a request from this site itself: one
whose Origin (or, without one, Referer) names another origin, or the
opaque ``null``, is taken without it (``Asked.from_elsewhere``).
SameSite=Strict does not see to that alone: another port of the same
host (anything listening on loopback) is the same *site* to a browser,
and is sent the cookie.  A bearer header or a token typed into a form is
no ambient credential, and counts wherever the request comes from.
"""

import dataclasses
import re
from http.cookies import CookieError, SimpleCookie
from urllib.parse import unquote, urlsplit

from buildmaster.web import auth


# The largest id or offset a request may name: the database's INTEGER
# (32 bits on PostgreSQL, which every id column is), so nothing parsed
# here can overflow a query on either database.
MAX_NUMBER = 2 ** 31 - 1
_ASCII_DIGITS = re.compile(r"[0-9]{1,10}")


def parse_number(text, maximum=MAX_NUMBER):
    """The whole number ``text`` (str or bytes) spells in ASCII digits,
    from 0 to ``maximum``; None for anything else (signs, spaces,
    other scripts' digits, which str.isdigit() and int() accept, and
    numbers beyond the database's integers)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(text, str) or not _ASCII_DIGITS.fullmatch(text):
        return None
    number = int(text)
    return number if number <= maximum else None


@dataclasses.dataclass
class Asked:
    """A request as the handlers see it, read on the reactor."""

    method: str
    path: str
    query: dict
    form: dict
    authorization: str = None
    cookie_token: str = None
    origin: str = None
    host: str = ""
    secure: bool = False
    referer: str = None

    def from_elsewhere(self):
        """Whether the request says it comes from another origin than this
        site's: its Origin, or its Referer when it has no Origin."""
        named = self.origin or self.referer
        return bool(named) and not same_origin(named, self.host)

    def site_cookie(self):
        """The login cookie's token, or None when there is none or the
        request comes from elsewhere (where the cookie does not count)."""
        return None if self.from_elsewhere() else self.cookie_token

    def token(self):
        """The token presented, or None; BadToken for a malformed header."""
        return auth.presented(self.authorization, self.site_cookie(),
                              self.form.get("token") or None)


DEFAULT_PORTS = {"http": 80, "https": 443}


def same_origin(url, host):
    """Whether ``url`` (an Origin or a Referer) names the origin the Host
    header ``host`` was sent to: the same host name and port, a port left
    out being the default of ``url``'s scheme (so a proxy adding TLS in
    front keeps its own forms working).  ``null`` and anything unparsable
    name another origin."""
    try:
        theirs, ours = urlsplit(url.strip()), urlsplit("//" + host.strip())
        scheme = theirs.scheme.lower()
        if scheme not in DEFAULT_PORTS or not theirs.hostname or not ours.hostname:
            return False
        return (theirs.hostname == ours.hostname
                and (theirs.port or DEFAULT_PORTS[scheme])
                == (ours.port or DEFAULT_PORTS[scheme]))
    except ValueError:  # a port out of range or not a number
        return False


@dataclasses.dataclass
class Answer:
    code: int
    content_type: str
    body: bytes
    headers: dict = dataclasses.field(default_factory=dict)


def _first_values(args):
    found = {}
    for key, values in (args or {}).items():
        try:
            found[key.decode("utf-8")] = values[0].decode("utf-8") if values else ""
        except UnicodeDecodeError:
            continue
    return found


def read_request(request):
    """The Asked of a twisted.web request."""
    path = unquote(request.path.decode("utf-8", "replace"))
    query = _first_values(request.args) if request.method != b"POST" else _query_only(
        request)
    form = {}
    if request.method == b"POST":
        content_type = (request.getHeader(b"content-type") or b"").decode("latin-1")
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = {key: value for key, value in _first_values(request.args).items()
                    if key not in query}
        elif content_type.startswith("application/json"):
            form = _json_form(request.content.read())
    cookie_token = None
    raw = request.getHeader(b"cookie")
    if raw:
        try:
            jar = SimpleCookie(raw.decode("latin-1"))
        except CookieError:
            jar = {}
        if auth.COOKIE.decode() in jar:
            cookie_token = jar[auth.COOKIE.decode()].value or None
    header = request.getHeader(b"authorization")
    origin = request.getHeader(b"origin")
    referer = request.getHeader(b"referer")
    return Asked(
        method=request.method.decode("ascii", "replace"), path=path, query=query,
        form=form, authorization=header.decode("latin-1") if header else None,
        cookie_token=cookie_token, origin=origin.decode("latin-1") if origin else None,
        host=(request.getHeader(b"host") or b"").decode("latin-1"),
        secure=request.isSecure(),
        referer=referer.decode("latin-1") if referer else None)


def _json_form(body):
    """A JSON object body as form fields (values as text); {} otherwise."""
    import json
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(key): str(value) for key, value in data.items() if value is not None}


def _query_only(request):
    from urllib.parse import parse_qs
    query = request.uri.partition(b"?")[2].decode("utf-8", "replace")
    return {key: values[0] for key, values in parse_qs(query).items()}
