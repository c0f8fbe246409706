"""The slave's state machine: IDLE -> BUILDING [-> ABORTING] -> WAITING.

WAITING is persisted to a small JSON file in the work dir, so a slave
restarted before the master collected the results still offers them.
"""

import itertools
import json
import os
import shutil
from xmlrpc.client import Binary

from twisted.internet import threads
from twisted.logger import Logger

from common.states import BuilderStatus, BuildStatus
from slave.buildlog import BuildLog
from slave.callback import call_back
from slave.chroot import mounts_under
from slave.speed import own_parallel

STATE_FILE = "waiting-state.json"
BUILD_DIR = "build"
# A cleaned build dir is renamed to this prefix at once and deleted in a
# thread (a chroot is hundreds of megabytes); leftovers go at start-up.
DISCARDED_PREFIX = "discarded-build-"
_discards = itertools.count(1)

log = Logger()


class WrongState(Exception):
    """A request that the current builder state does not allow."""


class Builder:
    """Holds the state the XML-RPC status() reports; one build at a time."""

    def __init__(self, config, cache):
        self.config = config
        self.cache = cache
        self.buildlog = BuildLog(os.path.join(config.workdir, "buildlog"))
        self.state = BuilderStatus.IDLE
        self.build_id = ""
        self.build_status = None
        self.filemap = {}
        self.dependencies = None
        self.manager = None
        self.callback_url = None

    @property
    def build_dir(self):
        return os.path.join(self.config.workdir, BUILD_DIR)

    @property
    def _state_path(self):
        return os.path.join(self.config.workdir, STATE_FILE)

    def status(self):
        """The protocol '1.0' status dict for the current state, with the
        N of the parallel=N this slave gives a build ('parallel', which a
        master may ignore)."""
        result = {"builder_status": self.state, "parallel": own_parallel(self.config)}
        if self.state == BuilderStatus.IDLE:
            return result
        result["build_id"] = self.build_id
        if self.state == BuilderStatus.BUILDING:
            result["logtail"] = Binary(self.buildlog.tail())
        elif self.state == BuilderStatus.WAITING:
            result["build_status"] = self.build_status
            result["filemap"] = dict(self.filemap)
            result["dependencies"] = self.dependencies
        return result

    def start(self, build_id, manager, callback_url=None):
        """IDLE -> BUILDING with ``manager`` running the build; the master
        is called back at ``callback_url`` when it ends (callback.py)."""
        self._require(BuilderStatus.IDLE, "build")
        self.buildlog.reset()
        self.build_id = build_id
        self.manager = manager
        self.callback_url = callback_url
        self._change(BuilderStatus.BUILDING)

    def abort(self):
        """BUILDING -> ABORTING; the manager reports back via finish()."""
        if self.state == BuilderStatus.ABORTING:
            return
        self._require(BuilderStatus.BUILDING, "abort")
        self._change(BuilderStatus.ABORTING)
        self.manager.abort()

    def finish(self, build_status, filemap=None, dependencies=None):
        """BUILDING/ABORTING -> WAITING with the build's outcome."""
        if self.state not in (BuilderStatus.BUILDING, BuilderStatus.ABORTING):
            return
        if self.state == BuilderStatus.ABORTING:
            build_status = BuildStatus.ABORTED
        self.build_status = build_status
        self.filemap = dict(filemap or {})
        self.dependencies = dependencies
        self.manager = None
        self._save()
        self._change(BuilderStatus.WAITING, build_status)
        if self.callback_url is not None:
            call_back(self.callback_url, self.build_id)
            self.callback_url = None

    def clean(self):
        """WAITING -> IDLE: drop the build dir, results and log."""
        self._require(BuilderStatus.WAITING, "clean")
        self._discard_build_dir()
        for sha1 in set(self.filemap.values()):
            self.cache.remove(sha1)
        self.buildlog.remove()
        try:
            os.unlink(self._state_path)
        except FileNotFoundError:
            pass
        self.build_id = ""
        self.build_status = None
        self.filemap = {}
        self.dependencies = None
        self._change(BuilderStatus.IDLE)

    def shutdown(self):
        """The slave is stopping: a running build is given back.

        (An aborting one still ends ABORTED, as finish() decides.)
        """
        if self.manager is None:
            return
        self.buildlog.note("slave shutting down, giving the build back")
        self.manager.kill()
        self.finish(BuildStatus.GIVENBACK)

    def _discard_build_dir(self):
        """Move the build dir (and its chroot) aside and delete it in a
        thread; leave it, with an error, if anything is mounted in it."""
        if not os.path.isdir(self.build_dir):
            return
        mounted = mounts_under(self.build_dir)
        if mounted:
            log.error("not removing {path}: {mount} is mounted there",
                      path=self.build_dir, mount=mounted[0])
            return
        discarded = os.path.join(self.config.workdir,
                                 f"{DISCARDED_PREFIX}{os.getpid()}-{next(_discards)}")
        os.rename(self.build_dir, discarded)
        threads.deferToThread(shutil.rmtree, discarded, True)

    def remove_discarded(self):
        """Delete build dirs a previous run discarded but did not finish
        deleting, and chroots it did not finish unpacking (at start-up,
        before any build)."""
        chroots = os.path.join(self.config.workdir, "chroots")
        leftovers = [os.path.join(self.config.workdir, name)
                     for name in os.listdir(self.config.workdir)
                     if name.startswith(DISCARDED_PREFIX)]
        if os.path.isdir(chroots):
            leftovers += [os.path.join(chroots, name) for name in os.listdir(chroots)
                          if ".partial-" in name]
        for path in leftovers:
            if not mounts_under(path):
                shutil.rmtree(path, ignore_errors=True)

    def restore(self):
        """Come back WAITING if a saved state file says so."""
        try:
            with open(self._state_path, encoding="utf-8") as f:
                saved = json.load(f)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            log.warn("ignoring unreadable {path}: {e}",
                     path=self._state_path, e=e)
            return
        self.build_id = saved["build_id"]
        self.build_status = saved["build_status"]
        self.filemap = saved["filemap"]
        self.dependencies = saved["dependencies"]
        self._change(BuilderStatus.WAITING, "restored from " + STATE_FILE)

    def _save(self):
        """Write the WAITING state atomically; a failure is only logged."""
        saved = {"build_id": self.build_id, "build_status": self.build_status,
                 "filemap": self.filemap, "dependencies": self.dependencies}
        tmp = self._state_path + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(saved, f)
            os.replace(tmp, self._state_path)
        except OSError as e:
            log.error("cannot save {path}: {e}", path=self._state_path, e=e)

    def _require(self, state, action):
        if self.state != state:
            raise WrongState(
                f"cannot {action}: builder is {self.state}, not {state}")

    def _change(self, state, detail=""):
        log.info("builder state {old} -> {new} (build {build_id}) {detail}",
                 old=self.state, new=state, build_id=self.build_id or "-",
                 detail=detail)
        self.state = state
