"""Trac environments, read through the CSV form of their ticket query.

``<base>/query?id=1,2&format=csv&col=id&col=status&col=resolution``
answers one line per existing ticket; the header names the columns by
their labels ("id,Status,Resolution").  A ticket's remote status is its
status, then its resolution when it has one: "new", "closed fixed".
"""

from buildmaster.bugs.externalbugtracker.base import ExternalBugTracker, words
from buildmaster.model.bugtracker import BugStatus


class Trac(ExternalBugTracker):
    batch_size = 100
    STATUSES = {
        "new": BugStatus.NEW,
        "reopened": BugStatus.NEW,
        "assigned": BugStatus.CONFIRMED,
        "accepted": BugStatus.INPROGRESS,
        "closed fixed": BugStatus.FIXRELEASED,
        "closed invalid": BugStatus.INVALID,
        "closed worksforme": BugStatus.INVALID,
        "closed duplicate": BugStatus.INVALID,
        "closed wontfix": BugStatus.WONTFIX,
    }
    URL_PATTERNS = (r"^(?P<base>https?://.+?)/ticket/(?P<bug>\d+)/?$",)

    @classmethod
    def bugURL(cls, baseurl, remotebug):
        return f"{baseurl.rstrip('/')}/ticket/{remotebug}"

    def getRemoteStatuses(self, remote_ids):
        params = [("id", ",".join(remote_ids)), ("format", "csv"), ("col", "id"),
                  ("col", "status"), ("col", "resolution"),
                  ("max", str(len(remote_ids))), ("order", "id")]
        return self._csv_statuses("query", params, ("id", "status", "resolution"),
                                  lambda row: words(row["status"], row["resolution"]))
