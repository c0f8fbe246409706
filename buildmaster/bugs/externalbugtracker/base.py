"""What every external bug tracker client does, whatever the tracker.

A client asks its tracker for the status of a batch of remote bugs
(``getRemoteStatuses``, one request or a few, each with the timeout it
was given) and reads the tracker's words as one of our statuses
(``convertRemoteStatus``, no I/O).  ``updateBugWatches`` puts the two
together for a batch of watches: it writes each watch's remote status,
last check, last change and last error, and reports what changed.  It
never touches a session: committing is the caller's business.

A whole request that fails raises one of these, naming the tracker:

    BugTrackerTimeout            TIMEOUT                  no answer in time
    BugTrackerConnectError       CONNECTION_ERROR         refused, unreachable,
                                                          an HTTP error status
    UnparsableBugTrackerAnswer   UNPARSABLE_BUG_TRACKER   an answer we cannot read
    UnsupportedBugTracker        UNSUPPORTED_BUG_TRACKER  no client for its type

The trouble of one bug (not on the tracker, not a valid id, a row we
cannot read) takes the place of its status and fails nothing else.
"""

import collections
import csv
import http.client
import io
import logging
import re
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

from buildmaster.model.bugtracker import BugStatus, BugWatchErrorType

DEFAULT_TIMEOUT = 30.0
USER_AGENT = "buildmaster-checkwatches"
MAX_ANSWER = 16 * 1024 * 1024
CHUNK = 65536

# What changed on one watch: the remote status before and after.
WatchChange = collections.namedtuple("WatchChange", "watch old_status new_status")


class BugWatchUpdateError(Exception):
    """A request to a tracker failed; every watch of the batch gets
    ``error_type``."""

    error_type = None

    def __init__(self, baseurl, detail=""):
        self.baseurl = baseurl
        self.detail = detail
        super().__init__(self.describe())

    def describe(self):
        raise NotImplementedError


class BugTrackerTimeout(BugWatchUpdateError):
    error_type = BugWatchErrorType.TIMEOUT

    def describe(self):
        return f"Connection timed out when updating {self.baseurl}"


class BugTrackerConnectError(BugWatchUpdateError):
    error_type = BugWatchErrorType.CONNECTION_ERROR

    def describe(self):
        return f"Connection error when updating {self.baseurl}: {self.detail}"


class UnparsableBugTrackerAnswer(BugWatchUpdateError):
    error_type = BugWatchErrorType.UNPARSABLE_BUG_TRACKER

    def describe(self):
        return f"Unparsable answer from {self.baseurl}: {self.detail}"


class UnsupportedBugTracker(BugWatchUpdateError):
    error_type = BugWatchErrorType.UNSUPPORTED_BUG_TRACKER

    def describe(self):
        return f"No client for {self.detail} bug trackers: not updating {self.baseurl}"


class ExternalBugTracker:
    """One tracker of one type, at ``baseurl``."""

    # At most this many watches of one tracker are checked per run
    # (None: all that need it).
    batch_size = 100
    # The tracker's status words (lower case) and ours.
    STATUSES = {}
    # Patterns of a bug's web address: groups 'base' and 'bug'.
    URL_PATTERNS = ()

    def __init__(self, baseurl, timeout=DEFAULT_TIMEOUT, log=None):
        self.baseurl = baseurl
        self.timeout = timeout
        self.log = log or logging.getLogger("buildmaster.externalbugtracker")

    # What a subclass provides.

    def getRemoteStatuses(self, remote_ids):
        """{remote id: raw status, or a BugWatchErrorType} for the given
        ids (valid ones, as text); raises BugWatchUpdateError."""
        raise NotImplementedError

    @classmethod
    def bugURL(cls, baseurl, remotebug):
        """The web address of ``remotebug`` on the tracker at ``baseurl``."""
        raise NotImplementedError

    # Shared.

    @classmethod
    def convertRemoteStatus(cls, remotestatus):
        """Our BugStatus for the tracker's ``remotestatus``; UNKNOWN for
        words we do not know and for None."""
        if not remotestatus:
            return BugStatus.UNKNOWN
        return cls.STATUSES.get(remotestatus.strip().lower(), BugStatus.UNKNOWN)

    @classmethod
    def parseBugURL(cls, url):
        """(base URL, remote bug) when ``url`` is a bug's address on a
        tracker of this type, else None."""
        for pattern in cls.URL_PATTERNS:
            match = re.match(pattern, url.strip())
            if match:
                return match.group("base"), match.group("bug")
        return None

    @staticmethod
    def isValidRemoteId(remotebug):
        return remotebug.isdigit()

    def updateBugWatches(self, bug_watches, now):
        """Check ``bug_watches`` (all on this tracker) in one batch and
        record on each what was learnt at ``now``; the WatchChanges of
        those whose remote status changed.  Raises BugWatchUpdateError,
        leaving the watches as they were, when the tracker fails us."""
        self.log.info("Updating %d watches on %s", len(bug_watches), self.baseurl)
        wanted = sorted({watch.remotebug for watch in bug_watches
                         if self.isValidRemoteId(watch.remotebug)}, key=_numeric_first)
        answers = self.getRemoteStatuses(wanted) if wanted else {}
        changes = []
        for watch in bug_watches:
            if not self.isValidRemoteId(watch.remotebug):
                answer = BugWatchErrorType.INVALID_BUG_ID
            else:
                answer = answers.get(watch.remotebug, BugWatchErrorType.BUG_NOT_FOUND)
            change = record_answer(watch, answer, now)
            if change is not None:
                changes.append(change)
        return changes

    # HTTP, for the subclasses.

    def _fetch(self, url, data=None, headers=None):
        """The body of the answer to a GET (or a POST of ``data``) of
        ``url``; every socket operation and the whole read are bounded
        by the timeout."""
        request = urllib.request.Request(
            url, data=data, headers={"User-Agent": USER_AGENT, **(headers or {})})
        deadline = time.monotonic() + self.timeout
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return self._read(response, deadline)
        except urllib.error.HTTPError as error:
            error.close()
            raise BugTrackerConnectError(
                self.baseurl, f"HTTP {error.code} {error.reason} for {url}") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise BugTrackerTimeout(self.baseurl) from None
            raise BugTrackerConnectError(self.baseurl, str(error.reason)) from None
        except TimeoutError:
            raise BugTrackerTimeout(self.baseurl) from None
        except (OSError, http.client.HTTPException) as error:
            raise BugTrackerConnectError(
                self.baseurl, str(error) or type(error).__name__) from None

    def _read(self, response, deadline):
        chunks, size = [], 0
        while True:
            chunk = response.read(CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_ANSWER:
                raise UnparsableBugTrackerAnswer(
                    self.baseurl, f"answer larger than {MAX_ANSWER} bytes")
            if time.monotonic() > deadline:
                raise BugTrackerTimeout(self.baseurl)
            chunks.append(chunk)

    def _csv_statuses(self, path, params, columns, status_of):
        """{id: status_of(row)} for the rows of the CSV answer to
        ``<base>/<path>?<params>``, whose header (any case) must name every
        one of ``columns``."""
        data = self._fetch(f"{self.baseurl.rstrip('/')}/{path}?{urlencode(params)}")
        text = data.decode("utf-8-sig", errors="replace")
        reader = csv.reader(io.StringIO(text))
        try:
            header = [name.strip().lower() for name in next(reader)]
            rows = [dict(zip(header, row)) for row in reader if row]
        except (StopIteration, csv.Error) as error:
            raise UnparsableBugTrackerAnswer(
                self.baseurl, f"not CSV: {error or 'empty answer'}") from None
        missing = [name for name in columns if name not in header]
        if missing:
            raise UnparsableBugTrackerAnswer(
                self.baseurl, f"no {', '.join(missing)} column in {_excerpt(text)}")
        return {row["id"].strip(): status_of(row) for row in rows}


def words(*parts):
    """The non-empty ``parts`` as one remote status: 'RESOLVED FIXED', 'new'."""
    return " ".join(part.strip() for part in parts if part and part.strip())


def record_answer(watch, answer, now):
    """Write ``answer`` (a raw status or a BugWatchErrorType) on ``watch``
    as checked at ``now``; a WatchChange when its remote status changed."""
    watch.lastchecked = now
    if isinstance(answer, BugWatchErrorType):
        watch.last_error_type = answer
        return None
    watch.last_error_type = None
    if answer == watch.remotestatus:
        return None
    old, watch.remotestatus, watch.lastchanged = watch.remotestatus, answer, now
    return WatchChange(watch, old, answer)


def record_error(bug_watches, error_type, now):
    """Every watch of a failed batch checked at ``now``, with ``error_type``."""
    for watch in bug_watches:
        watch.lastchecked = now
        watch.last_error_type = error_type


def select_batch(bug_watches, batch_size):
    """The watches to check this run: never checked first, then the
    longest unchecked, at most ``batch_size`` (None: all)."""
    ordered = sorted(bug_watches, key=lambda watch: (
        watch.lastchecked is not None, watch.lastchecked or 0, watch.id or 0))
    return ordered if batch_size is None else ordered[:batch_size]


def _numeric_first(remotebug):
    return (len(remotebug), remotebug)


def _excerpt(text, length=60):
    flat = " ".join(text.split())
    return repr(flat[:length] + ("..." if len(flat) > length else ""))
