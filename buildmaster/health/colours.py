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
    """
    warnings = 0
    failure, tail = [], []
    for line in lines:
        line = line.rstrip("\r\n")
        if any(pattern.search(line) for pattern in patterns):
            warnings += 1
        if failure:
            if len(failure) < size:
                failure.append(line)
        elif any(marker in line for marker in FAILURE_MARKERS):
            failure.append(line)
        else:
            tail.append(line)
            if len(tail) > size:
                tail.pop(0)
    chosen = failure or tail
    while chosen and not chosen[-1].strip():
        chosen.pop()
    return warnings, ("\n".join(chosen) if chosen else None)
