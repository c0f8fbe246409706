"""Waiting for many slaves, but not for the one that hangs.

A pass asks many slaves at once (status in a scan, ensurepresent and
build in a dispatch).  ``patiently(calls, clock)`` waits until every
call has ended, or until none has ended for PATIENCE seconds: then the
pass goes on with what it has, and the calls still out end on their
own, each with its own timeout, their outcomes handled when they come.
So one slave that accepts a request and never answers, or answers half
of it, holds up neither the other builders nor the next job of the
sequencer, while a busy farm whose answers keep coming is waited for
whole.
"""

from twisted.internet import defer

# Seconds with no call ending after which a pass goes on without the rest.
PATIENCE = 2.0


def patiently(calls, clock, patience=PATIENCE):
    """A Deferred firing once every one of ``calls`` has ended, or once
    none has for ``patience`` seconds (``clock``'s); it never fails and
    leaves the calls' results alone."""
    waiting = list(calls)
    done = defer.Deferred()
    timer = None

    def give_up():
        if not done.called:
            done.callback(None)

    def one_ended(result, call):
        # (A Deferred's ``called`` is no sign of a result: one paused on
        # another is called and still waiting; its callbacks tell.)
        waiting.remove(call)
        if timer is not None and not done.called:
            if waiting:
                timer.reset(patience)
            else:
                timer.cancel()
                done.callback(None)
        return result

    for call in calls:
        call.addBoth(one_ended, call)
    if not waiting:
        done.callback(None)
    else:
        timer = clock.callLater(patience, give_up)
    return done
