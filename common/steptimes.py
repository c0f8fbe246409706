"""Where a build's time goes: one line a step in the build log.

The slave writes, as each step of a build ends (whether it passed or
not)::

    [slave] step apt-update: 2.41 s

and the master reads those lines back from the log it collects
(``parse``), so the breakdown needs nothing new on the wire: a slave that
writes no such line (launchpad-buildd) just gives an empty breakdown.

The master adds its own before them (MASTER_STEPS), which no slave
line can claim:

    queue           from the job's queueing to its start on a builder

The steps, in the order a build runs them (SLAVE_STEPS):

    chroot          the chroot ready: unpacked (once per slave), set up, entered
    source          dpkg-source -x
    apt-update      apt-get update
    build-depends   the build-dependencies installed
    build           dpkg-buildpackage
    results         the produced files collected into the file cache
"""

import re

SLAVE_STEPS = ("chroot", "source", "apt-update", "build-depends", "build", "results")
MASTER_STEPS = ("queue",)
STEPS = MASTER_STEPS + SLAVE_STEPS
PREFIX = "[slave] step "
_LINE = re.compile(r"^\[slave\] step ([a-z][a-z-]*): (\d{1,9}(?:\.\d{1,6})?) s$")


def step_note(name, seconds):
    """What the slave notes (BuildLog.note adds '[slave] ') when step
    ``name`` took ``seconds``; ValueError for a step not in SLAVE_STEPS."""
    if name not in SLAVE_STEPS:
        raise ValueError(f"not a build step: {name!r} (known: {', '.join(SLAVE_STEPS)})")
    return f"step {name}: {max(0.0, seconds):.2f} s"


def ordered(steps):
    """``steps`` ({step: seconds}, as stored) in the order a build runs
    them; None for none."""
    if not steps:
        return None
    rank = {name: index for index, name in enumerate(STEPS)}
    return dict(sorted(steps.items(), key=lambda item: rank.get(item[0], len(rank))))


def parse(lines):
    """{step: seconds} of the step lines among ``lines`` (text lines, with
    or without their newline), in the order they came; a step named twice
    counts its times together, and a line naming no known step is not a
    step line."""
    steps = {}
    for line in lines:
        if not line.startswith(PREFIX):
            continue
        match = _LINE.match(line.rstrip("\r\n"))
        if match is None or match.group(1) not in SLAVE_STEPS:
            continue
        name = match.group(1)
        steps[name] = round(steps.get(name, 0.0) + float(match.group(2)), 2)
    return steps
