"""One ``make run`` at a time in a checkout: the lock on ``var/demo/demo.pid``.

A demo takes an exclusive ``fcntl.flock`` on the file before it writes
its configuration, and writes its pid and, once it knows it, the
dashboard's URL into it.  A second demo finds the lock taken and refuses
(DemoRunning, naming the first's pid and URL) before it touches
anything: the configuration, the ports the first's master listens on,
the builders the first's slaves serve.

The master and the slaves a demo starts inherit the locked descriptor,
and the kernel frees a flock only when the last descriptor of it is
closed: the lock is held while any of them runs, so a demo killed with
SIGKILL whose master lives on still keeps a second one out, and once all
are gone (however they died) the lock is free.  The file itself stays
behind; it means nothing unlocked.
"""

import fcntl
import os

LOCK_NAME = "demo.pid"


class DemoRunning(Exception):
    """Another demo holds the lock; the text names it in one line."""


class DemoLock:
    """The lock of the demo directory ``directory``."""

    def __init__(self, directory):
        self.path = os.path.join(directory, LOCK_NAME)
        self.handle = None

    def acquire(self):
        """Take the lock and write this process's pid; returns self.
        Raises DemoRunning when another demo holds it."""
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read()
            handle.close()
            raise DemoRunning(described(holder, self.path)) from None
        self.handle = handle
        self.describe()
        return self

    def describe(self, url=""):
        """Write this demo's pid and ``url`` (its dashboard) into the file."""
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"{os.getpid()} {url}\n")
        self.handle.flush()

    @property
    def fd(self):
        """The locked descriptor, for the processes the demo starts to inherit."""
        return self.handle.fileno()

    def release(self):
        """Close this process's descriptor (children still holding theirs
        keep the lock)."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def described(holder, path):
    """The one line saying who holds the lock, from the file's text."""
    pid, _, url = holder.strip().partition(" ")
    if not pid.isdigit():
        return f"another 'make run' is starting (it holds {path}); stop it first"
    who = f"pid {pid}, {url}" if url else f"pid {pid}"
    if _alive(int(pid)):
        return (f"another 'make run' is running this farm ({who}); stop it first "
                f"(Ctrl-C in its terminal, or kill {pid})")
    return (f"the 'make run' that ran this farm ({who}) is gone, but the master or "
            f"slaves it started still run and hold {path}; stop them first")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
