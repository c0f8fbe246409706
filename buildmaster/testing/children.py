"""The daemons tests start (slaves, masters, fast slaves, bug trackers),
stopped however the test ends.

A fixture stops what it started in its teardown, but a doctest that fails
half way never reaches its own ``slave.stop()`` line, and a test run
killed by CI's time limit runs no teardown at all: two slave daemons a
failed ``slave-protocol.txt`` started stayed up for over an hour.  So
every such process is started with ``spawn``, which keeps it here, and:

* after each test (the ``no_daemon_outlives_its_test`` fixture, for
  tests and doctests alike), whatever the test started and left running
  is stopped, and its name logged;
* when the test process ends, normally or by SIGTERM or SIGHUP (unless
  Twisted's reactor took the signal for itself first: then the run goes
  on through its teardowns to its normal end), everything still running
  is stopped.

Processes a longer-lived fixture started before the test are left to it.
"""

import atexit
import logging
import os
import signal
import subprocess

STOP_TIMEOUT = 10
LOG = logging.getLogger("buildmaster.testing")

_started = []


def spawn(argv, **kwargs):
    """``subprocess.Popen(argv, **kwargs)``, kept to be stopped."""
    popen = subprocess.Popen(argv, **kwargs)
    _started.append(popen)
    return popen


def running():
    """The processes started here and still running."""
    _started[:] = [popen for popen in _started if popen.poll() is None]
    return list(_started)


def stop(popen, timeout=STOP_TIMEOUT):
    """SIGCONT (a test may have stopped it), SIGTERM, then SIGKILL."""
    if popen.poll() is not None:
        return
    try:
        popen.send_signal(signal.SIGCONT)
        popen.terminate()
        popen.wait(timeout)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()
    except ProcessLookupError:
        pass


def stop_started_since(before):
    """Stop what was started after the snapshot ``before`` (``running()``)
    and still runs; their argv, for the log."""
    kept = {id(popen) for popen in before}
    left = [popen for popen in running() if id(popen) not in kept]
    for popen in left:
        LOG.warning(f"stopping pid {popen.pid}, which the test left running: "
                    f"{' '.join(map(str, popen.args))[:200]}")
        stop(popen)
    return [popen.args for popen in left]


def stop_all():
    for popen in running():
        stop(popen)


def _stop_all_and_die(signum, frame):
    stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install():
    """Stop everything at exit, and on SIGTERM and SIGHUP (no atexit then)."""
    atexit.register(stop_all)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _stop_all_and_die)
