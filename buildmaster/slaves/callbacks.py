"""Slaves that say when their build ended: the optional call-back.

Polling alone hears of a finished build at the builder's next poll (0.2 s
after dispatch at best, see polling.py).  Our own slave can do better:
the dispatcher offers it, among the build arguments, a URL of this
master's to POST to the moment the build ends (``ARG``); the master then
makes that builder's poll due now and wakes the scanner.  launchpad-buildd
ignores arguments it does not know, and its builds are polled as before.

::

    dispatch: url_for(builder) ──► build(..., {ARG: <base>/<token>})
    slave, build ended: POST <base>/<token> ──► heard(token)
        ──► the builder's poll due now, the scanner woken

A call-back only moves a poll forward: the status call still decides
what happened, so a lost, late, repeated or forged call-back costs at
most one early status call, never a build.  A token is good for one
call-back, and a builder has one token at a time (its newest job's).

The base URL is ``[builddmaster] callback_url``, or else the web's own
address (``[web] host:port``) with ``/slave-callback``; a loopback base
is offered only to slaves on this host, who can reach it.
"""

import logging
import secrets
import socket

from buildmaster.runtime.listening import url_on_loopback
from buildmaster.runtime.wakeups import SCAN

LOG = logging.getLogger("buildmaster.callbacks")

ARG = "build_end_callback"
PATH = "/slave-callback/"


def base_url(config):
    """Where slaves call back (no trailing slash), or None for no call-backs."""
    configured = config.builddmaster.callback_url
    if configured == "none":
        return None
    if configured:
        return configured
    web = getattr(config, "web", None)
    if web is None or not web.port:
        return None
    host = web.host if web.host not in ("", "0.0.0.0", "::") else socket.getfqdn()
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{web.port}{PATH.rstrip('/')}"


class BuildEndCallbacks:
    """The call-back URLs handed out, and what hearing one does."""

    def __init__(self, base, polls, wakeups):
        self.base = base
        self.base_is_loopback = url_on_loopback(base)
        self.polls = polls
        self.wakeups = wakeups
        self._builders = {}   # token -> builder id
        self._tokens = {}     # builder id -> its one token

    def url_for(self, builder_id, slave_url):
        """A fresh call-back URL for ``builder_id``'s next job (the old
        token dropped), or None when that slave could not reach ours."""
        old = self._tokens.pop(builder_id, None)
        self._builders.pop(old, None)
        if self.base_is_loopback and not url_on_loopback(slave_url):
            return None
        token = secrets.token_urlsafe(16)
        self._tokens[builder_id] = token
        self._builders[token] = builder_id
        return f"{self.base}/{token}"

    def heard(self, token):
        """A slave called back with ``token``: its builder is polled now.
        False for a token not (or no longer) handed out."""
        builder_id = self._builders.pop(token, None)
        if builder_id is None:
            return False
        del self._tokens[builder_id]
        LOG.debug("builder %s called back: its build ended", builder_id)
        self.polls.called_back(builder_id)
        self.wakeups.wake(SCAN)
        return True


def make_callbacks(config, polls, wakeups):
    """The farm's BuildEndCallbacks, or None when call-backs are off."""
    base = base_url(config)
    return BuildEndCallbacks(base, polls, wakeups) if base else None


def add_to_args(build_args, url):
    """``build_args`` (manager, chroot, filemap, args) with the call-back
    URL among the args; unchanged when ``url`` is None."""
    if url is None:
        return build_args
    manager, chroot, filemap, args = build_args
    return manager, chroot, filemap, dict(args, **{ARG: url})
