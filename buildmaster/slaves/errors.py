"""The slave client's errors, and how transport failures become them.

Every SlaveError's message names the slave's URL, so a log line or a
failed scan says which builder went wrong.  ``translate`` turns what
Twisted's HTTP client fails with into SlaveConnectionError (the slave
could not be reached, or dropped the connection) or SlaveProtocolError
(anything else); XML-RPC faults and SlaveErrors pass through.
"""

import xmlrpc.client

from twisted.internet import error
from twisted.web.client import RequestNotSent, RequestTransmissionFailed, ResponseFailed

from buildmaster.errortext import failure_text


class SlaveError(Exception):
    """Base of the client's errors; the message names the slave's URL."""


class SlaveTimeout(SlaveError):
    """The slave did not answer within the timeout."""


class SlaveConnectionError(SlaveError):
    """The slave could not be reached or dropped the connection."""


class SlaveProtocolError(SlaveError):
    """The slave answered something this protocol does not allow."""


def translate(failure, url, what):
    """Turn the transport failure of call ``what`` to the slave at ``url``
    into a SlaveError naming both."""
    if failure.check(xmlrpc.client.Fault, SlaveError):
        return failure
    if failure.check(error.ConnectError, error.ConnectionLost,
                     error.ConnectionDone, ResponseFailed, RequestNotSent,
                     RequestTransmissionFailed, OSError):
        raise SlaveConnectionError(
            f"{url}: {what} failed: {failure_text(failure)}")
    raise SlaveProtocolError(
        f"{url}: {what} failed: {failure.type.__name__}:"
        f" {failure_text(failure)}")
