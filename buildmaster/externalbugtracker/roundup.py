"""Roundup trackers, read through the CSV export of their issue index.

``<base>/issue?@action=export_csv&@columns=id,status&@filter=id&id=1,2``
answers one line per existing issue with its status by name ("unread",
"resolved" ...), as the classic template names them; anonymous users
may read it on a default tracker.  An issue missing from the answer is
not on the tracker.
"""

from urllib.parse import urlencode

from buildmaster.externalbugtracker.base import ExternalBugTracker
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
        query = urlencode([("@action", "export_csv"), ("@columns", "id,status"),
                           ("@filter", "id"), ("id", ",".join(remote_ids)),
                           ("@sort", "id")])
        rows = self._csv_rows(self._fetch(f"{self.baseurl.rstrip('/')}/issue?{query}"),
                              ("id", "status"))
        return {row["id"].strip(): row["status"].strip() for row in rows}
