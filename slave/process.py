"""Child processes of a build: own session, output into the build log."""

import os
import signal

from twisted.internet import defer, protocol
from twisted.internet.error import ProcessDone, ProcessTerminated

from common.processes import SETSID, signal_group

OUTPUT_KEPT = 4096
KILL_GRACE = 5.0


class LoggedProcess(protocol.ProcessProtocol):
    """Feed a child's stdout and stderr into the log; keep a short tail.

    ``ended`` fires with the exit code, or a negative signal number when
    the child was killed.
    """

    def __init__(self, log):
        self.log = log
        self.output = b""
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.log.write(data)
        self.output = (self.output + data)[-OUTPUT_KEPT:]

    errReceived = outReceived

    def processEnded(self, reason):
        if isinstance(reason.value, ProcessDone):
            self.ended.callback(0)
        elif isinstance(reason.value, ProcessTerminated):
            value = reason.value
            code = value.exitCode if value.signal is None else -value.signal
            self.ended.callback(code)
        else:
            self.ended.errback(reason)


class ProcessGroup:
    """One command run as a session leader so abort can kill its tree."""

    def __init__(self, reactor, log):
        self.reactor = reactor
        self.log = log
        self.pid = None
        self._kill_call = None

    def start_command(self, argv, cwd, env=None, shown=()):
        """Start ``argv`` in ``cwd``; return its LoggedProcess.

        The log says "running: <shown>" (``argv`` by default; nothing for
        None): a command wrapped in a sandbox is shown as the command.
        ``setsid`` execs in place (our child is never a group leader), so
        the child's pid is its process group id.
        """
        proto = LoggedProcess(self.log)
        if shown is not None:
            self.log.note("running: " + " ".join(shown or argv))
        transport = self.reactor.spawnProcess(
            proto, SETSID, [SETSID] + list(argv), env=env or _build_env(),
            path=cwd, usePTY=False)
        self.pid = transport.pid
        proto.ended.addBoth(self._ended)
        return proto

    def terminate(self):
        """SIGTERM the whole group now, SIGKILL it after a short grace."""
        if self.pid is None:
            return
        self._signal(signal.SIGTERM)
        self._kill_call = self.reactor.callLater(
            KILL_GRACE, self._signal, signal.SIGKILL)

    def kill(self):
        """SIGKILL the whole group at once (the slave is going away)."""
        if self.pid is not None:
            self._signal(signal.SIGKILL)

    def _signal(self, signum):
        signal_group(self.pid, signum)

    def _ended(self, result):
        """Reap any grandchildren left in the group, then report."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self._kill_call is not None and self._kill_call.active():
            self._kill_call.cancel()
        self._kill_call = None
        self.pid = None
        return result


def _build_env():
    """A small, predictable environment for build commands."""
    return {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/tmp"),
    }
