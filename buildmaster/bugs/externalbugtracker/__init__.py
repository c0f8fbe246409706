"""Clients of external bug trackers: one class per tracker type.

``get_external_bugtracker(tracker)`` gives the client for a BugTracker
row; ``parse_bug_url(url)`` tells which kind of tracker a bug's web
address belongs to.  The clients log what they do (``Updating 5 watches
on http://bugs.example.com``) through this package's ``log``, which a
caller may replace.
"""

import logging

from buildmaster.bugs.externalbugtracker.base import (
    DEFAULT_TIMEOUT, BugTrackerConnectError, BugTrackerTimeout, BugWatchUpdateError,
    ExternalBugTracker, UnparsableBugTrackerAnswer, UnsupportedBugTracker, WatchChange,
    record_error, select_batch)
from buildmaster.bugs.externalbugtracker.bugzilla import Bugzilla
from buildmaster.bugs.externalbugtracker.debbugs import Debbugs
from buildmaster.bugs.externalbugtracker.roundup import Roundup
from buildmaster.bugs.externalbugtracker.trac import Trac
from buildmaster.model.bugtracker import BugTrackerType

__all__ = [
    "DEFAULT_TIMEOUT", "BugTrackerConnectError", "BugTrackerTimeout",
    "BugWatchUpdateError", "Bugzilla", "Debbugs", "ExternalBugTracker", "Roundup",
    "Trac", "UnparsableBugTrackerAnswer", "UnsupportedBugTracker", "WatchChange",
    "client_class", "get_external_bugtracker", "log", "parse_bug_url",
    "record_error", "remote_status", "select_batch",
]

log = logging.getLogger("buildmaster.externalbugtracker")

CLIENTS = {
    BugTrackerType.BUGZILLA: Bugzilla,
    BugTrackerType.DEBBUGS: Debbugs,
    BugTrackerType.ROUNDUP: Roundup,
    BugTrackerType.TRAC: Trac,
}


class UnknownBugURL(ValueError):
    """A web address that is no bug on any kind of tracker we can read."""


def client_class(bugtrackertype):
    """The client class for trackers of ``bugtrackertype``, or None."""
    return CLIENTS.get(bugtrackertype)


def get_external_bugtracker(bugtracker, timeout=DEFAULT_TIMEOUT):
    """The client for ``bugtracker`` (a BugTracker row), every request
    bounded by ``timeout`` seconds; UnsupportedBugTracker when there is
    no client for its type."""
    cls = client_class(bugtracker.bugtrackertype)
    if cls is None:
        raise UnsupportedBugTracker(bugtracker.baseurl, bugtracker.bugtrackertype.name)
    return cls(bugtracker.baseurl, timeout=timeout, log=log)


def parse_bug_url(url):
    """(BugTrackerType, base URL, remote bug) for a bug's web address;
    UnknownBugURL says which forms are understood."""
    for kind, cls in CLIENTS.items():
        found = cls.parseBugURL(url)
        if found is not None:
            return (kind, *found)
    raise UnknownBugURL(
        f"{url!r} is no bug address we can watch: give a Roundup "
        ".../issueN, a Trac .../ticket/N, a Bugzilla .../show_bug.cgi?id=N or a "
        "debbugs .../cgi-bin/bugreport.cgi?bug=N address")


def remote_status(watch):
    """Our BugStatus for what ``watch`` last heard, or None for a watch
    on a tracker we have no client for."""
    cls = client_class(watch.bugtracker.bugtrackertype)
    return cls.convertRemoteStatus(watch.remotestatus) if cls else None
