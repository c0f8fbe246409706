"""Mock slaves for unit tests and doctests, behaving as the seeds describe.

Each answers like a launchpad-buildd slave would over XML-RPC, in the
older tuple form of ``status()`` the seeds use, and prints what it was
asked to do where the seeds print it.  Give one to a builder with
``builder.setSlaveForTesting(OkSlave())``, or wrap it in a MockBuilder
for the code paths that take any builder-like object.
"""

import hashlib
import io
import xmlrpc.client

from buildmaster.model.builder import BuilderBehaviour
from buildmaster.slaves.client import SlaveClient

BUILD_LOG = b"This is a build log"


class OkSlave:
    """An idle slave that takes every file and every build; ``calls``
    records the ensurepresent, build, abort and clean calls."""

    def __init__(self, arch_tag="i386"):
        self.arch_tag = arch_tag
        self.calls = []

    def status(self):
        return ("BuilderStatus.IDLE", "")

    def echo(self, *args):
        return list(args)

    def info(self):
        return ["1.0", self.arch_tag, ["binarypackage"]]

    def ensurepresent(self, sha1, url, user=None, password=None):
        self.calls.append(("ensurepresent", url, user, password))
        print(f"ensurepresent called, url={url}")
        if user is not None:
            print(f"URL authorisation with {user}/{password}")
        return [True, "Download"]

    def build(self, build_id, manager, chroot_sha1, filemap, args):
        self.calls.append(("build", build_id, manager, chroot_sha1, filemap, args))
        print(f"{type(self).__name__} BUILDING")
        if "archives" in args:
            print("Archives:")
            for line in sorted(args["archives"]):
                print(f" {line}")
        print(f"Suite: {args.get('suite')}")
        print(f"Ogre-component: {args.get('ogrecomponent')}")
        print(f"Archive Purpose: {args.get('archive_purpose')}")
        print(f"Archive Private: {args.get('archive_private')}")
        return ["BuilderStatus.BUILDING", build_id]

    def abort(self):
        self.calls.append(("abort",))
        return "BuilderStatus.ABORTING"

    def clean(self):
        self.calls.append(("clean",))
        return "BuilderStatus.IDLE"

    def getFile(self, name):
        if name == "buildlog":
            return io.BytesIO(BUILD_LOG)
        raise xmlrpc.client.Fault(404, f"{name} not in the file cache")


class BuildingSlave(OkSlave):
    """Busy with job ``build_id``; its log tail is 'This is a build log'."""

    def __init__(self, build_id="1-1"):
        super().__init__()
        self.build_id = build_id

    def status(self):
        return ("BuilderStatus.BUILDING", self.build_id,
                xmlrpc.client.Binary(BUILD_LOG))


class WaitingSlave(OkSlave):
    """Finished job ``build_id`` in ``state`` and waits to be collected.

    ``files`` maps file names to their bytes; they are offered in the
    filemap (by SHA-1) and served by getFile.
    """

    def __init__(self, state="BuildStatus.OK", dependencies=None, build_id="1-1",
                 files=None):
        super().__init__()
        self.state = state
        self.dependencies = dependencies
        self.build_id = build_id
        self.files = {}
        self.filemap = {}
        for name, data in (files or {}).items():
            sha1 = hashlib.sha1(data).hexdigest()
            self.files[sha1] = data
            self.filemap[name] = sha1

    def status(self):
        return ("BuilderStatus.WAITING", self.state, self.build_id,
                dict(self.filemap), self.dependencies)

    def getFile(self, name):
        if name in self.files:
            return io.BytesIO(self.files[name])
        return super().getFile(name)


class AbortingSlave(OkSlave):
    def status(self):
        return ("BuilderStatus.ABORTING", "1-1")


class AbortedSlave(OkSlave):
    def status(self):
        return ("BuilderStatus.ABORTED", "1-1")


class BrokenSlave:
    """Every call fails, as a slave whose daemon is wedged would."""

    def status(self):
        raise xmlrpc.client.Fault(8001, "Broken slave")

    def __getattr__(self, name):
        def broken(*args):
            raise xmlrpc.client.Fault(8001, "Broken slave")
        return broken


class LostBuildingSlave(BuildingSlave):
    """Building a job the database does not know."""

    def __init__(self):
        super().__init__(build_id="1000-10000")


class LostWaitingSlave(WaitingSlave):
    def __init__(self):
        super().__init__(build_id="1000-10000")


class SaneBuildingSlave(BuildingSlave):
    """Building job 8-1, the sample data's job on bob."""

    def __init__(self):
        super().__init__(build_id="8-1")


class SaneWaitingSlave(WaitingSlave):
    def __init__(self):
        super().__init__(build_id="8-1")


class InsaneWaitingSlave(WaitingSlave):
    """Waiting with job 7-1: queue entry 1 belongs to build 8, not 7."""

    def __init__(self):
        super().__init__(build_id="7-1")


class LostBuildingBrokenSlave(LostBuildingSlave):
    """Building a lost job and unable to abort it."""

    def abort(self):
        raise xmlrpc.client.Fault(8002, "Could not abort")


class MockBuilder(BuilderBehaviour):
    """A builder-like object that is not a database row."""

    def __init__(self, name, slave, url="http://fake:0000", virtualized=False):
        self.name = name
        self.url = url
        self.builderok = True
        self.failnotes = None
        self.manual = False
        self.virtualized = virtualized
        self.currentjob = None
        self.slave = SlaveClient(url, proxy=slave)
