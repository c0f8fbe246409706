"""Bugzilla, read through its REST API (Bugzilla 5 and later).

``GET <base>/rest/bug?id=1,2&include_fields=id,status,resolution&permissive=1``
answers ``{"bugs": [{"id": 1, "status": "RESOLVED", "resolution":
"FIXED"}, ...], "faults": [{"id": 2, "faultString": "...", "faultCode":
101}]}``: with ``permissive`` a bug that does not exist (101), is not a
valid id (100) or is private (102) comes back as a fault instead of
failing the whole request.  A request Bugzilla refuses is answered
``{"error": true, "code": ..., "message": ...}``.  A bug's remote status
is its status, then its resolution when it has one: "RESOLVED FIXED".
"""

import json
from urllib.parse import urlencode

from buildmaster.bugs.externalbugtracker.base import (
    ExternalBugTracker, UnparsableBugTrackerAnswer, words)
from buildmaster.model.bugtracker import BugStatus, BugWatchErrorType

FAULTS = {
    100: BugWatchErrorType.INVALID_BUG_ID,
    101: BugWatchErrorType.BUG_NOT_FOUND,
    102: BugWatchErrorType.PRIVATE_REMOTE_BUG,
}
FIXED = BugStatus.FIXRELEASED


class Bugzilla(ExternalBugTracker):
    batch_size = 100
    STATUSES = {
        "unconfirmed": BugStatus.NEW,
        "new": BugStatus.CONFIRMED,
        "confirmed": BugStatus.CONFIRMED,
        "reopened": BugStatus.CONFIRMED,
        "assigned": BugStatus.INPROGRESS,
        "in_progress": BugStatus.INPROGRESS,
        "needinfo": BugStatus.NEW,
        **{f"{state} {resolution}": status
           for state in ("resolved", "verified", "closed")
           for resolution, status in (
               ("fixed", FIXED), ("wontfix", BugStatus.WONTFIX),
               ("invalid", BugStatus.INVALID), ("worksforme", BugStatus.INVALID),
               ("duplicate", BugStatus.INVALID), ("incomplete", BugStatus.INVALID),
               ("moved", BugStatus.UNKNOWN))},
    }
    URL_PATTERNS = (r"^(?P<base>https?://.+?)/show_bug\.cgi\?id=(?P<bug>\d+)$",)

    @classmethod
    def bugURL(cls, baseurl, remotebug):
        return f"{baseurl.rstrip('/')}/show_bug.cgi?id={remotebug}"

    def getRemoteStatuses(self, remote_ids):
        query = urlencode([("id", ",".join(remote_ids)),
                           ("include_fields", "id,status,resolution"),
                           ("permissive", "1")])
        data = self._fetch(f"{self.baseurl.rstrip('/')}/rest/bug?{query}",
                           headers={"Accept": "application/json"})
        try:
            answer = json.loads(data)
            if answer.get("error"):
                raise UnparsableBugTrackerAnswer(
                    self.baseurl, f"Bugzilla error {answer.get('code')}: "
                                  f"{answer.get('message')}")
            statuses = {str(bug["id"]): words(bug["status"], bug.get("resolution"))
                        for bug in answer["bugs"]}
            for fault in answer.get("faults") or ():
                statuses[str(fault["id"])] = FAULTS.get(
                    fault.get("faultCode"), BugWatchErrorType.UNPARSABLE_BUG)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise UnparsableBugTrackerAnswer(
                self.baseurl, f"not a Bugzilla bug list: {error!r}") from None
        return statuses
