"""Errors as the operators' log shows them: one line, of bounded length.

A slave may answer anything: a fault whose text is a megabyte, a status
holding binary junk, an HTTP answer cut short.  Messages that quote
what a peer said use ``shown(value)`` (a repr cut to a readable size),
and log lines give a Failure as ``failure_text(failure)``: its message
on one line, the reasons a Twisted web client error wraps spelt out
instead of their reprs, at most MAX_LENGTH characters.
"""

import reprlib

MAX_LENGTH = 500

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6
_repr.maxlevel = 3


def shown(value, limit=300):
    """repr(value), cut to a readable size."""
    return one_line(_repr.repr(value), limit)


def one_line(text, limit=MAX_LENGTH):
    """``text`` with its whitespace runs made single spaces, cut at ``limit``."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def failure_text(failure, limit=MAX_LENGTH):
    """A Failure's message as one bounded line."""
    reasons = getattr(failure.value, "reasons", None)
    if reasons:
        texts = [reason.getErrorMessage() if hasattr(reason, "getErrorMessage")
                 else str(reason) for reason in reasons]
        return one_line(f"{type(failure.value).__name__}: {'; '.join(texts)}", limit)
    return one_line(failure.getErrorMessage(), limit)
