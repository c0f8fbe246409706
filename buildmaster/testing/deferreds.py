"""Taking results out of Deferreds in synchronous test code."""

from twisted.internet import defer
from twisted.python.failure import Failure


def wait(deferred):
    """The result of an already-fired Deferred, or its exception raised.

    Mock slaves answer at once, so every Deferred the master builds on
    them has fired by the time the call returns; this makes a doctest
    read as straight-line code.  A real-network Deferred needs
    ``pytest_twisted.blockon`` instead.
    """
    if not isinstance(deferred, defer.Deferred):
        return deferred
    results = []
    deferred.addBoth(results.append)
    if not results:
        raise AssertionError(f"{deferred!r} has not fired; use pytest_twisted.blockon")
    result = results[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result
