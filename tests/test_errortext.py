"""Errors as one bounded log line."""

import xmlrpc.client

import pytest

from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.web.client import ResponseNeverReceived

from buildmaster.errortext import MAX_LENGTH, failure_text, one_line, shown


def failure_of(error):
    try:
        raise error
    except Exception:
        return Failure()


def test_a_wrapped_connection_loss_reads_as_its_reason_not_a_repr():
    lost = failure_of(ConnectionLost("the slave hung up"))
    assert failure_text(failure_of(ResponseNeverReceived([lost]))) == (
        "ResponseNeverReceived: Connection to the other side was lost in a non-clean "
        "fashion: the slave hung up.")


def test_a_huge_multiline_fault_is_one_bounded_line():
    text = failure_text(failure_of(xmlrpc.client.Fault(1, "line\n" * 100_000)))
    assert "\n" not in text and len(text) == MAX_LENGTH and text.endswith("...")


def test_values_quoted_from_a_peer_are_cut_to_size():
    assert len(shown("x" * 1_000_000)) < 200
    assert len(shown({"logtail": [b"\xff" * 10_000] * 50})) < 400
    assert one_line("a \n\t b") == "a b"


def test_a_slave_call_that_lost_its_connection_says_so_in_one_line():
    from buildmaster.slaves.errors import SlaveConnectionError, translate
    from twisted.internet.error import ConnectionDone
    from twisted.web.client import ResponseFailed
    translated = failure_of(ResponseFailed([failure_of(ConnectionDone())]))
    with pytest.raises(SlaveConnectionError) as raised:
        translate(translated, "http://127.0.0.1:1/", "build()")
    assert str(raised.value) == ("http://127.0.0.1:1/: build() failed: ResponseFailed: "
                                 "Connection was closed cleanly.")
