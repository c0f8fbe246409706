"""Slave calls a pass went on without, and what became of them.

A scan pass waits for its slaves patiently (buildmaster.slaves.patience) and
goes on without those still answering.  ``Stragglers`` keeps each such
call per builder until it ends: meanwhile the builder is left out of the
passes; then its outcome waits for the next pass, which it wakes, and is
used there if the builder still has the job it had when asked.  A
failure always is, so a hung slave's timeouts count towards its streak
of failed scans.  A builder whose finished build's results are still
downloading is left out the same way.
"""

import weakref

from twisted.internet import defer
from twisted.python.failure import Failure

from buildmaster.runtime.wakeups import SCAN


class Stragglers:
    """The calls a pass went on without, per builder, and how they ended
    (the module docstring says what becomes of them)."""

    def __init__(self):
        self.calls = {}    # builder id -> the call still out
        self.ended = {}    # builder id -> (job it was asked about, result or Failure)

    def wait_for(self, target, call, logger, context):
        """Go on without ``target``'s ``call``; keep its outcome for later."""
        logger.info(f"{target.name} has not answered yet; the scan goes on without it")
        self.calls[target.id] = call

        def ended(result):
            del self.calls[target.id]
            self.ended[target.id] = (target.ident, result)
            context.polls.called_back(target.id)
            context.wakeups.wake(SCAN)
            return None
        call.addBoth(ended)

    def wait_for_fetch(self, job, logger, context):
        """Go on without ``job``'s results, still coming from its slave: its
        builder is left out until they have; then they are dropped (the
        next pass fetches them again) and a failure counts as a failed
        scan of the builder."""
        target = job.target
        logger.info(f"{target.label} on {target.name}: its results are still coming; "
                    "the scan goes on without them")
        self.calls[target.id] = job.fetching

        def ended(result):
            del self.calls[target.id]
            job.discard()
            if isinstance(result, Failure):
                self.ended[target.id] = (target.ident, result)
            context.polls.called_back(target.id)
            context.wakeups.wake(SCAN)
            return None
        job.fetching.addBoth(ended)

    def answer_for(self, target):
        """The ended call's outcome for ``target`` as a fired Deferred, or
        None (ask the slave)."""
        ident, result = self.ended.pop(target.id, (None, None))
        if result is None:
            return None
        if isinstance(result, Failure):
            return defer.fail(result)
        return defer.succeed(result) if ident == target.ident else None


_stragglers = weakref.WeakKeyDictionary()


def stragglers_of(context):
    """The Stragglers of ``context``'s passes."""
    found = _stragglers.get(context)
    if found is None:
        found = _stragglers[context] = Stragglers()
    return found
