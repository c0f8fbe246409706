"""Telling the master a build ended: the optional call-back.

A master that wants to hear of the end of a build at once puts a URL
among the build arguments (``build_end_callback``); when the build ends
(WAITING) the slave POSTs to it once, with an empty body.  Nothing
depends on it arriving: the master polls as it always did, and the
call-back only makes that poll come sooner.  So a failed call-back is
logged and never retried, and a master that sends no URL (or
launchpad-buildd's peers) is polled alone.
"""

from urllib.parse import urlsplit

import treq
from twisted.logger import Logger

ARG = "build_end_callback"
TIMEOUT = 10

log = Logger()


def callback_url(args):
    """The call-back URL among the build ``args``, or None; ValueError
    for one that is no http URL."""
    url = args.get(ARG)
    if url is None:
        return None
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"build: {ARG} is not an http URL: {url!r}")
    return url


def where(url):
    """The URL without its path (the token stays out of the log)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def call_back(url, build_id, reactor=None):
    """POST to ``url`` that ``build_id`` ended; a Deferred that never fails."""
    d = treq.post(url, data=b"", timeout=TIMEOUT, persistent=False, reactor=reactor)
    d.addCallback(lambda response: treq.content(response).addCallback(
        lambda _: response.code))

    def answered(code):
        if code >= 300:
            log.warn("the master at {where} answered {code} to build {build_id}'s "
                     "call-back; it polls instead", where=where(url), code=code,
                     build_id=build_id)

    def failed(failure):
        log.warn("could not call the master back at {where} for build {build_id}: "
                 "{error}; it polls instead", where=where(url), build_id=build_id,
                 error=failure.getErrorMessage())
    return d.addCallbacks(answered, failed)
