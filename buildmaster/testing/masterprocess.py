"""Run the master as a real ``twistd -n -y buildmaster.tac`` process, for tests.

The process gets its configuration from BUILDMASTER_CONFIG and logs to
a file; tests wait for lines to appear in that log.  Helpers here block
(subprocess, sleeps): call them from plain tests, or from a test
driving the reactor only while nothing of its own waits on it.
"""

import os
import signal
import subprocess
import sys
import time

import buildmaster
from buildmaster.testing import children

TAC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(buildmaster.__file__))),
                   "buildmaster.tac")
STOP_TIMEOUT = 60.0


def twistd():
    return os.path.join(os.path.dirname(sys.executable), "twistd")


class MasterProcess:
    """One buildmaster daemon on ``config_path``, logging to ``log_path``."""

    def __init__(self, config_path, log_path):
        self.config_path = str(config_path)
        self.log_path = str(log_path)
        self.popen = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.popen = children.spawn(
                [twistd(), "--pidfile=", "-n", "-y", TAC],
                cwd=os.path.dirname(self.config_path),
                env=dict(os.environ, BUILDMASTER_CONFIG=self.config_path),
                stdout=log, stderr=subprocess.STDOUT)
        return self

    def run_to_exit(self, timeout=60):
        """Start, and wait for the process to end by itself; its exit status."""
        self.start()
        return self.popen.wait(timeout)

    def wait_for(self, text, timeout=120.0, after=0):
        """Wait until ``text`` is in the log (from offset ``after``); the
        offset just past it.  Blocks."""
        deadline = time.monotonic() + timeout
        while (found := self._find(text, after, deadline)) is None:
            time.sleep(0.1)
        return found

    async def logged(self, text, timeout=120.0, after=0):
        """``wait_for`` letting the reactor run meanwhile."""
        from twisted.internet import reactor, task
        deadline = time.monotonic() + timeout
        while (found := self._find(text, after, deadline)) is None:
            await task.deferLater(reactor, 0.1, lambda: None)
        return found

    def _find(self, text, after, deadline):
        log = self.read_log()
        found = log.find(text, after)
        if found >= 0:
            return found + len(text)
        if self.popen.poll() is not None:
            raise AssertionError(f"the master exited with {self.popen.returncode} "
                                 f"before logging {text!r}:\n{log[-5000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the master never logged {text!r}:\n{log[-5000:]}")
        return None

    def stop(self, signum=signal.SIGTERM):
        """Signal the master and wait for it; its exit status."""
        if self.popen is None or self.popen.poll() is not None:
            return None if self.popen is None else self.popen.returncode
        self.popen.send_signal(signum)
        try:
            return self.popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError("the master did not stop:\n" + self.read_log()[-5000:])

    def kill(self):
        """kill -9: the master gets no chance to tidy up."""
        self.popen.kill()
        self.popen.wait()

    def read_log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""
