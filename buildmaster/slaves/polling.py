"""When to ask which slave again: a just-started build is polled often.

A builder given a job is polled ``initial`` seconds later, then after
twice as long each time its build is still running, until the interval
reaches the full scan's (``ceiling``): from then on the full scans see
it, so a short build is heard within a fraction of a second and a long
one costs a handful of extra status calls, no more.  A slave that calls
back when its build ends (see callbacks.py) is due at once, even when
its call-back came before the dispatch pass heard build()'s answer.

::

    dispatched ──► due in initial ──► still building ──► due in 2x ... ──► (ceiling) forgotten
                                  └─► finished, idle, failed ──► forgotten
    called back ──► due now

The full scan of every builder comes round every ``ceiling`` seconds
whatever the polls do, and a poll due within TOGETHER seconds of one
due now is taken with it.  Times are the ``clock``'s seconds.
"""

INITIAL = 0.2
# A poll due this soon after another is taken with it: one pass (one
# transaction, one refill) for builders started at about the same time.
TOGETHER = 0.1


class PollSchedule:
    """The builders to poll before the next full scan, and when."""

    def __init__(self, clock, ceiling, initial=INITIAL):
        self.clock = clock
        self.ceiling = ceiling
        self.initial = min(initial, ceiling)
        self._due = {}  # builder id -> (when, interval)
        self._heard = set()  # builder ids called back and not polled since
        self._last_full = None

    def dispatched(self, builder_id):
        """``builder_id`` was given a job just now: due in ``initial``, or
        now if its slave already called back (a build that ended before
        its build() answer came in)."""
        if builder_id in self._heard:
            return
        self._due[builder_id] = (self.clock.seconds() + self.initial, self.initial)

    def called_back(self, builder_id):
        """The builder's slave said its build ended: due now."""
        self._heard.add(builder_id)
        self._due[builder_id] = (self.clock.seconds(), self.initial)

    def still_building(self, builder_id):
        """Polled and still busy: ask again after twice as long, or leave
        it to the full scans once that is as long as theirs."""
        self._heard.discard(builder_id)
        entry = self._due.get(builder_id)
        if entry is None:
            return
        interval = entry[1] * 2
        if interval >= self.ceiling:
            del self._due[builder_id]
        else:
            self._due[builder_id] = (self.clock.seconds() + interval, interval)

    def forget(self, builder_id):
        self._heard.discard(builder_id)
        self._due.pop(builder_id, None)

    def plan(self):
        """What to scan now: (True, None) for every builder when a full
        scan is due, else (False, the ids of the builders due)."""
        now = self.clock.seconds()
        if self._last_full is None or now >= self._last_full + self.ceiling:
            self._last_full = now
            return True, None
        soonest = min((when for when, _ in self._due.values()), default=None)
        if soonest is None or soonest > now:
            return False, set()
        return False, {builder_id for builder_id, (when, _) in self._due.items()
                       if when <= now + TOGETHER}

    def next_in(self):
        """Seconds until the next poll or full scan is due (0 if overdue;
        ``ceiling`` before the first full scan, which its timer starts)."""
        now = self.clock.seconds()
        full = (self._last_full if self._last_full is not None else now) + self.ceiling
        soonest = min([full] + [when for when, _ in self._due.values()])
        return max(0.0, soonest - now)

    def pending(self):
        """{builder id: seconds until it is due}, for the curious (/metrics)."""
        now = self.clock.seconds()
        return {builder_id: max(0.0, when - now)
                for builder_id, (when, _) in self._due.items()}
