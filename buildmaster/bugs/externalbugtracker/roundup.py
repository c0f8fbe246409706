"""Roundup trackers, read through the CSV export of their issue index.

``<base>/issue?@action=export_csv&@columns=id,status&@filter=id&id=1,2``
answers one line per existing issue with its status by name ("unread",
"resolved" ...), as the classic template names them; anonymous users
may read it on a default tracker.  An issue missing from the answer is
not on the tracker.
"""

from buildmaster.bugs.externalbugtracker.base import ExternalBugTracker, words
from buildmaster.model.bugtracker import BugStatus


class Roundup(ExternalBugTracker):
    batch_size = 100
    STATUSES = {
        "unread": BugStatus.NEW,
        "deferred": BugStatus.CONFIRMED,
        "chatting": BugStatus.CONFIRMED,
        "need-eg": BugStatus.NEW,
        "in-progress": BugStatus.INPROGRESS,
        "testing": BugStatus.FIXCOMMITTED,
        "done-cbb": BugStatus.FIXCOMMITTED,
        "resolved": BugStatus.FIXRELEASED,
    }
    URL_PATTERNS = (r"^(?P<base>https?://.+?)/?issue(?P<bug>\d+)/?$",)

    @classmethod
    def bugURL(cls, baseurl, remotebug):
        return f"{baseurl.rstrip('/')}/issue{remotebug}"

    def getRemoteStatuses(self, remote_ids):
        params = [("@action", "export_csv"), ("@columns", "id,status"),
                  ("@filter", "id"), ("id", ",".join(remote_ids)), ("@sort", "id")]
        return self._csv_statuses("issue", params, ("id", "status"),
                                  lambda row: words(row["status"]))
