"""Process groups: a child started under setsid, signalled as a whole.

The slave runs each build command this way and the sequencer each job
command, so that stopping one (SIGTERM, then SIGKILL) reaches every
process it started.
"""

import os

SETSID = "/usr/bin/setsid"


def signal_group(pid, signum):
    """Send ``signum`` to the process group led by ``pid`` (a child started
    under setsid); to ``pid`` alone if setsid has not made the group yet.
    A process already gone is not an error."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
