"""What a finished build says about its package: a colour, and why.

* green: FULLYBUILT with no warnings;
* orange: FULLYBUILT, but its build log or upload log has lines matching
  ``[status] warning_patterns`` (by default dpkg's and the compiler's
  ``warning:`` lines);
* red: FAILEDTOBUILD, FAILEDTOUPLOAD or CHROOTWAIT;
* none: MANUALDEPWAIT, SUPERSEDED, GIVENBACK, which say nothing about the
  package itself.

Builds not finished (NEEDSBUILD, BUILDING) have no colour (None).  Pure
functions over text and states: reading the log is the caller's.
"""

import functools
import itertools
import re

GREEN, ORANGE, RED, NONE = "green", "orange", "red", "none"
COLOURS = (GREEN, ORANGE, RED)  # the colours a history line is made of

RED_STATES = frozenset({"FAILEDTOBUILD", "FAILEDTOUPLOAD", "CHROOTWAIT"})
NONE_STATES = frozenset({"MANUALDEPWAIT", "SUPERSEDED", "GIVENBACK"})

# Where a build log says what went wrong: dpkg-buildpackage, make, the
# compiler, apt.
FAILURE_MARKERS = ("error:", "Error ", "*** ", "E: ", "FAILED")
EXCERPT_LINES = 12


def colour(state, warnings=0):
    """The colour of a build that ended in ``state`` (a name, e.g.
    'FULLYBUILT') with ``warnings`` warning lines; None when unfinished."""
    if state == "FULLYBUILT":
        return ORANGE if warnings else GREEN
    if state in RED_STATES:
        return RED
    if state in NONE_STATES:
        return NONE
    return None


def read_log(lines, patterns, size=EXCERPT_LINES):
    """(warnings, excerpt) of a log given line by line, in one pass.

    ``warnings`` counts the lines matching one of the compiled
    ``patterns``; ``excerpt`` is the first lines of the failure: ``size``
    lines from the first one naming an error, else the last ``size``
    lines, as text (None for an empty log).

    The log is read in blocks of lines, and each block is searched as one
    text (a few regular expression calls, not several per line: a build
    log has tens of thousands of lines); a line a search finds is then
    checked on its own, as the patterns are written for single lines.
    """
    candidates = _any_line_of(tuple(patterns))
    warnings = 0
    failure, tail = None, []
    for block in _blocks(lines):
        text = "\n".join(block)
        if candidates is not None:
            warnings += _matching_lines(candidates, patterns, text, block)
        if failure is None:
            found = FAILURE.search(text)
            if found is None:
                tail = (tail + block)[-size:]
                continue
            first = text.count("\n", 0, found.start())
            failure = block[first:first + size]
        elif len(failure) < size:
            failure.extend(block[:size - len(failure)])
    chosen = failure or tail
    while chosen and not chosen[-1].strip():
        chosen.pop()
    return warnings, ("\n".join(chosen) if chosen else None)


FAILURE = re.compile("|".join(re.escape(marker) for marker in FAILURE_MARKERS))
BLOCK_LINES = 4096


def _blocks(lines):
    """Lists of at most BLOCK_LINES lines, their line ends stripped."""
    lines = iter(lines)
    while True:
        block = [line.rstrip("\r\n") for line in itertools.islice(lines, BLOCK_LINES)]
        if not block:
            return
        yield block


@functools.lru_cache(maxsize=8)
def _any_line_of(patterns):
    """One expression finding, in a text of many lines, every line that
    any of ``patterns`` may match (None for no patterns)."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{pattern.pattern})" for pattern in patterns),
                      re.MULTILINE)


def _matching_lines(candidates, patterns, text, block):
    """How many lines of ``block`` (joined as ``text``) a pattern matches:
    each line ``candidates`` finds is checked on its own, and the search
    goes on from the start of the next line, so none is skipped."""
    count, position, line = 0, 0, 0
    while True:
        found = candidates.search(text, position)
        if found is None:
            return count
        line += text.count("\n", position, found.start())
        if any(pattern.search(block[line]) for pattern in patterns):
            count += 1
        end = text.find("\n", found.start())
        if end < 0:
            return count
        line += 1
        position = end + 1
