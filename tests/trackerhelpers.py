"""Trackers for the checkwatches tests: recorded answers served over
loopback HTTP, and a port that never answers."""

import os

import pytest

from buildmaster.testing.recordedtracker import RecordedTracker, SilentPort

DATA = os.path.join(os.path.dirname(__file__), "data", "bugtrackers")


def recorded_answer(name):
    """The text of a recorded answer in tests/data/bugtrackers."""
    with open(os.path.join(DATA, name), encoding="utf-8") as handle:
        return handle.read()


@pytest.fixture
def tracker():
    """A RecordedTracker with no answers yet."""
    server = RecordedTracker().start()
    yield server
    server.stop()


@pytest.fixture
def bugzilla(tracker):
    """A Bugzilla answering every bug list with bugzilla-bugs.json."""
    tracker.answer("/rest/bug", recorded_answer("bugzilla-bugs.json"), 200,
                   "application/json")
    return tracker


@pytest.fixture
def silent():
    """A tracker that takes connections and never answers."""
    port = SilentPort()
    yield port
    port.close()
