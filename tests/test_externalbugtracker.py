"""The tracker clients against recorded answers served over loopback HTTP,
and what every client shares: timeouts, errors, batches, URLs."""

import datetime
import socket

import pytest

from buildmaster.bugs import externalbugtracker
from buildmaster.bugs.externalbugtracker import (
    BugTrackerConnectError, BugTrackerTimeout, Bugzilla, Debbugs, Roundup, Trac,
    UnparsableBugTrackerAnswer)
from buildmaster.model import UTC, BugStatus, BugTrackerType, BugWatchErrorType
from tests.trackerhelpers import recorded_answer, silent, tracker  # noqa: F401

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


# Bugzilla.

def test_bugzilla_asks_for_the_batch_in_one_permissive_rest_request(tracker):
    tracker.answer("/rest/bug", recorded_answer("bugzilla-bugs.json"), 200,
                   "application/json")
    statuses = Bugzilla(tracker.url).getRemoteStatuses(["7", "42", "99", "2000", "123543"])
    assert statuses == {
        "2000": "RESOLVED FIXED", "123543": "ASSIGNED", "7": "VERIFIED WONTFIX",
        "42": BugWatchErrorType.BUG_NOT_FOUND, "99": BugWatchErrorType.PRIVATE_REMOTE_BUG}
    [(method, path, query, _)] = tracker.requests
    assert (method, path) == ("GET", "/rest/bug")
    assert query == {"id": "7,42,99,2000,123543", "permissive": "1",
                     "include_fields": "id,status,resolution"}


def test_bugzilla_statuses_read_as_ours():
    assert Bugzilla.convertRemoteStatus("RESOLVED FIXED") is BugStatus.FIXRELEASED
    assert Bugzilla.convertRemoteStatus("VERIFIED WONTFIX") is BugStatus.WONTFIX
    assert Bugzilla.convertRemoteStatus("ASSIGNED") is BugStatus.INPROGRESS
    assert Bugzilla.convertRemoteStatus("UNCONFIRMED") is BugStatus.NEW
    assert Bugzilla.convertRemoteStatus("SOMETHING ELSE") is BugStatus.UNKNOWN
    assert Bugzilla.convertRemoteStatus(None) is BugStatus.UNKNOWN


def test_a_refused_bugzilla_request_is_an_unparsable_answer_naming_the_tracker(tracker):
    tracker.answer("/rest/bug", recorded_answer("bugzilla-error.json"), 200,
                   "application/json")
    with pytest.raises(UnparsableBugTrackerAnswer) as raised:
        Bugzilla(tracker.url).getRemoteStatuses(["1"])
    assert str(raised.value) == (
        f"Unparsable answer from {tracker.url}: Bugzilla error 410: "
        "You must log in before using this part of Bugzilla.")
    assert raised.value.error_type is BugWatchErrorType.UNPARSABLE_BUG_TRACKER


def test_a_bugzilla_answering_html_is_unparsable(tracker):
    tracker.answer("/rest/bug", "<html><body>Maintenance</body></html>", 200, "text/html")
    with pytest.raises(UnparsableBugTrackerAnswer):
        Bugzilla(tracker.url).getRemoteStatuses(["1"])


# Debbugs.

def test_debbugs_posts_one_soap_get_status_for_the_batch(tracker):
    tracker.answer("/cgi-bin/soap.cgi", recorded_answer("debbugs-get_status.xml"), 200,
                   "text/xml; charset=utf-8")
    statuses = Debbugs(tracker.url).getRemoteStatuses(["304014", "308994", "327452", "1"])
    assert statuses == {"304014": "done important", "327452": "pending serious patch ftbfs",
                        "308994": "forwarded normal upstream"}
    [(method, path, _, body)] = tracker.requests
    assert (method, path) == ("POST", "/cgi-bin/soap.cgi")
    assert "<get_status" in body and 'xsd:int[4]' in body
    assert all(f">{bug}</item>" in body for bug in ("304014", "308994", "327452", "1"))


def test_debbugs_statuses_read_as_ours():
    assert Debbugs.convertRemoteStatus("done important") is BugStatus.FIXRELEASED
    assert Debbugs.convertRemoteStatus("pending serious patch") is BugStatus.NEW
    assert Debbugs.convertRemoteStatus("forwarded normal upstream") is BugStatus.CONFIRMED
    assert Debbugs.convertRemoteStatus("fixed normal") is BugStatus.FIXCOMMITTED
    assert Debbugs.convertRemoteStatus("done wishlist wontfix") is BugStatus.WONTFIX


def test_a_debbugs_soap_fault_is_an_unparsable_answer(tracker):
    tracker.answer("/cgi-bin/soap.cgi", recorded_answer("debbugs-fault.xml"), 500,
                   "text/xml")
    with pytest.raises(BugTrackerConnectError):
        Debbugs(tracker.url).getRemoteStatuses(["1"])
    tracker.answer("/cgi-bin/soap.cgi", recorded_answer("debbugs-fault.xml"), 200,
                   "text/xml")
    with pytest.raises(UnparsableBugTrackerAnswer) as raised:
        Debbugs(tracker.url).getRemoteStatuses(["1"])
    assert "SOAP fault: Failed to locate method (get_stauts)" in str(raised.value)


# Roundup and Trac answers that are no CSV (their real servers are in
# test_bugtrackers_real.py).

def test_a_roundup_login_page_instead_of_csv_is_unparsable(tracker):
    tracker.answer("/issue", "<html><title>Login</title></html>", 200, "text/html")
    with pytest.raises(UnparsableBugTrackerAnswer) as raised:
        Roundup(tracker.url).getRemoteStatuses(["1"])
    assert "no id, status column" in str(raised.value)


def test_trac_rows_join_status_and_resolution(tracker):
    tracker.answer("/query", "\ufeffid,Status,Resolution\r\n1,closed,fixed\r\n2,new,\r\n",
                   200, "text/csv;charset=utf-8")
    assert Trac(tracker.url).getRemoteStatuses(["1", "2", "3"]) == {
        "1": "closed fixed", "2": "new"}
    assert tracker.requests[0][2]["id"] == "1,2,3"


# What every client shares.

def test_a_tracker_that_never_answers_times_out(silent):
    with pytest.raises(BugTrackerTimeout) as raised:
        Roundup(silent.url, timeout=0.5).getRemoteStatuses(["1"])
    assert str(raised.value) == f"Connection timed out when updating {silent.url}"
    assert raised.value.error_type is BugWatchErrorType.TIMEOUT


def test_a_refused_connection_is_a_connection_error():
    url = closed_port_url()
    with pytest.raises(BugTrackerConnectError) as raised:
        Trac(url, timeout=5).getRemoteStatuses(["1"])
    assert str(raised.value).startswith(f"Connection error when updating {url}: ")
    assert "refused" in str(raised.value)
    assert raised.value.error_type is BugWatchErrorType.CONNECTION_ERROR


def test_an_http_error_status_is_a_connection_error_naming_it(tracker):
    with pytest.raises(BugTrackerConnectError) as raised:
        Trac(tracker.url).getRemoteStatuses(["1"])
    assert "HTTP 404 Not Found" in str(raised.value)


class Watch:
    """What updateBugWatches reads and writes of a BugWatch."""

    def __init__(self, id, remotebug, remotestatus=None, lastchecked=None):
        self.id, self.remotebug, self.remotestatus = id, remotebug, remotestatus
        self.lastchecked = lastchecked
        self.lastchanged = self.last_error_type = None


def test_updating_watches_records_statuses_errors_and_changes(tracker):
    tracker.answer("/rest/bug", recorded_answer("bugzilla-bugs.json"), 200,
                   "application/json")
    fixed, same, missing, junk = (Watch(1, "2000"), Watch(2, "123543", "ASSIGNED"),
                                  Watch(3, "42"), Watch(4, "not-a-number"))
    changes = Bugzilla(tracker.url).updateBugWatches([fixed, same, missing, junk], NOW)
    assert changes == [externalbugtracker.WatchChange(fixed, None, "RESOLVED FIXED")]
    assert (fixed.remotestatus, fixed.lastchanged, fixed.last_error_type) == (
        "RESOLVED FIXED", NOW, None)
    assert (same.lastchanged, same.lastchecked) == (None, NOW)
    assert missing.last_error_type is BugWatchErrorType.BUG_NOT_FOUND
    assert junk.last_error_type is BugWatchErrorType.INVALID_BUG_ID
    assert all(watch.lastchecked == NOW for watch in (fixed, same, missing, junk))
    assert tracker.requests[0][2]["id"] == "42,2000,123543"


def test_a_batch_never_checked_first_then_the_longest_unchecked():
    old = NOW - datetime.timedelta(days=3)
    older = NOW - datetime.timedelta(days=5)
    watches = [Watch(1, "1", lastchecked=old), Watch(2, "2"), Watch(3, "3", lastchecked=older),
               Watch(4, "4")]
    chosen = externalbugtracker.select_batch(watches, 3)
    assert [watch.id for watch in chosen] == [2, 4, 3]
    assert len(externalbugtracker.select_batch(watches, None)) == 4


@pytest.mark.parametrize("url, expected", [
    ("http://127.0.0.1:8917/demo/issue12", (BugTrackerType.ROUNDUP,
                                            "http://127.0.0.1:8917/demo", "12")),
    ("http://trac.example.org/project/ticket/7", (BugTrackerType.TRAC,
                                                  "http://trac.example.org/project", "7")),
    ("https://bugzilla.mozilla.org/show_bug.cgi?id=2000",
     (BugTrackerType.BUGZILLA, "https://bugzilla.mozilla.org", "2000")),
    ("http://bugs.debian.org/cgi-bin/bugreport.cgi?bug=304014",
     (BugTrackerType.DEBBUGS, "http://bugs.debian.org", "304014")),
    ("https://bugs.debian.org/304014", (BugTrackerType.DEBBUGS,
                                        "https://bugs.debian.org", "304014")),
])
def test_a_bug_address_names_its_tracker_type_base_and_bug(url, expected):
    assert externalbugtracker.parse_bug_url(url) == expected


def test_an_address_that_is_no_bug_is_refused_with_the_forms_we_know():
    with pytest.raises(externalbugtracker.UnknownBugURL) as raised:
        externalbugtracker.parse_bug_url("http://example.org/wiki/FrontPage")
    assert "'http://example.org/wiki/FrontPage' is no bug address" in str(raised.value)
    assert ".../show_bug.cgi?id=N" in str(raised.value)


def test_each_client_writes_the_bug_address_parse_bug_url_reads():
    for cls in (Roundup, Trac, Bugzilla, Debbugs):
        url = cls.bugURL("http://tracker.example.org/x", "31")
        assert externalbugtracker.parse_bug_url(url)[1:] == ("http://tracker.example.org/x",
                                                             "31")
