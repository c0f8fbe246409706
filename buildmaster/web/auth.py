"""Bearer tokens: made by ``buildmaster token create``, checked by the web.

A token is 32 random bytes, URL-safe base64, prefixed ``bm_`` so it is
easy to spot in a leaked file.  The database keeps only its SHA-256
(model/apitoken.py): a token read out of a backup is useless.  A request
presents it as ``Authorization: Bearer <token>``; a browser page as the
``token`` field of a form, or the ``bm_token`` cookie ``/login`` sets
(HttpOnly, SameSite=Strict), which counts only on requests from this
site itself (buildmaster.web.http: an Origin or Referer naming another
origin leaves it out).

``authenticate`` runs in a thread (it reads the database) and returns
the ApiToken, or None for no token; a token that is unknown, revoked or
past its expiry (``create(..., expires=)``) raises BadToken, which the
web answers with 401.
"""

import hashlib
import hmac
import secrets

import sqlalchemy as sa

from buildmaster.model import ApiToken, utcnow
from buildmaster.model.apitoken import PRIVATE, RIGHTS, WRITE

PREFIX = "bm_"
COOKIE = b"bm_token"

__all__ = ["BadToken", "PRIVATE", "WRITE", "RIGHTS", "create", "authenticate",
           "presented", "digest"]


class BadToken(Exception):
    """The token presented is unknown, revoked or expired (the text says which)."""


def digest(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_rights(text):
    """'write,private' -> ('write', 'private'); ValueError names an unknown one."""
    rights = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [right for right in rights if right not in RIGHTS]
    if unknown or not rights:
        raise ValueError(f"not a right: {', '.join(unknown) or repr(text)} "
                         f"(known: {', '.join(RIGHTS)})")
    return rights


def create(session, name, rights, now=None, expires=None):
    """Store a new token called ``name`` with ``rights``, refused from
    ``expires`` on (a UTC datetime; None: never); returns the token
    itself, which nothing else ever shows again.  ValueError when the
    name is taken."""
    if session.scalar(sa.select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise ValueError(f"a token named {name!r} already exists")
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_sha256=digest(token), rights=",".join(rights),
                         date_created=now or utcnow(), date_expires=expires))
    session.flush()
    return token


def presented(authorization, cookie=None, form=None):
    """The token a request carries, or None: the bearer header first,
    then a form field, then the cookie."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        raise BadToken("the Authorization header is not 'Bearer <token>'")
    return form or cookie or None


def authenticate(sessions, token, now=None):
    """The ApiToken of ``token`` (its last use recorded), or None when
    ``token`` is None; BadToken when it is unknown, revoked or expired."""
    if token is None:
        return None
    wanted = digest(token)
    with sessions() as session:
        found = session.scalars(sa.select(ApiToken).where(
            ApiToken.token_sha256 == wanted)).first()
        if found is None or not hmac.compare_digest(found.token_sha256, wanted):
            raise BadToken("unknown token")
        if found.revoked:
            raise BadToken(f"token {found.name!r} was revoked")
        now = now or utcnow()
        if found.expired(now):
            raise BadToken(f"token {found.name!r} expired on "
                           f"{found.date_expires:%Y-%m-%d %H:%M} UTC")
        found.date_last_used = now
        session.commit()
        session.expunge(found)
        return found


def can(token, right):
    """True when ``token`` (an ApiToken or None) has ``right``."""
    return token is not None and token.can(right)
