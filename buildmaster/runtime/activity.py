"""What the farm's periodic work last did: when each kind of run (a
scan cycle, a dispatch pass) last completed and how long it took.

The sequencer's jobs run through ``Activity.timed``; the web's metrics
listen (histograms of the durations) and its health check reads
``last_completed('scan')``.  Times come from ``seconds`` (default
``time.time``), which a test replaces.  A run that fails is timed too
but does not count as completed.
"""

import time

from twisted.internet import defer

SCAN, DISPATCH = "scan", "dispatch"


class Activity:
    """Completed runs by kind; ``listeners`` are called as
    ``listener(kind, seconds_taken)`` after each completed run."""

    def __init__(self, seconds=time.time):
        self.seconds = seconds
        self.started_at = seconds()
        self.listeners = []
        self._completed = {}
        self._durations = {}

    def record(self, kind, started, ended):
        """Note a run of ``kind`` that completed at ``ended``."""
        self._completed[kind] = ended
        self._durations[kind] = ended - started
        for listener in list(self.listeners):
            listener(kind, ended - started)

    def last_completed(self, kind):
        """When the last run of ``kind`` completed (epoch seconds), or None."""
        return self._completed.get(kind)

    def last_duration(self, kind):
        return self._durations.get(kind)

    def timed(self, kind, function, *args):
        """``function(*args)`` (which may return a Deferred), recorded as a
        run of ``kind`` when it succeeds; a Deferred of its result."""
        started = self.seconds()

        def completed(result):
            self.record(kind, started, self.seconds())
            return result
        return defer.maybeDeferred(function, *args).addCallback(completed)
