"""The XML-RPC interface at /rpc, as launchpad-buildd protocol '1.0'."""

import inspect
from contextlib import contextmanager

from twisted.web import xmlrpc

from common.states import PROTOCOL_VERSION, BuilderStatus
from slave.binarypackage import BadRequest
from slave.builder import WrongState
from slave.callback import callback_url
from slave.filecache import is_sha1

# Fault codes beside twisted.web.xmlrpc's 8001 (no such method), 8002 (error).
FAULT_BAD_REQUEST = 8004
FAULT_WRONG_STATE = 8003


class SlaveRPC(xmlrpc.XMLRPC):
    """The methods the master calls; thin checks over Builder."""

    def __init__(self, builder, managers, reactor):
        super().__init__(allowNone=True)
        self.builder = builder
        self.managers = managers
        self.reactor = reactor

    def lookupProcedure(self, procedurePath):
        """Answer a call with the wrong number of arguments with a Fault."""
        function = super().lookupProcedure(procedurePath)

        def checked(*args):
            try:
                inspect.signature(function).bind(*args)
            except TypeError as e:
                raise xmlrpc.Fault(FAULT_BAD_REQUEST,
                                   f"{procedurePath}: {e}") from None
            return function(*args)
        return checked

    def xmlrpc_echo(self, *args):
        """Return the arguments, to check the slave is alive."""
        return args

    def xmlrpc_info(self):
        """Return [protocol version, architecture tag, managers]."""
        return [PROTOCOL_VERSION, self.builder.config.architecturetag,
                sorted(self.managers)]

    def xmlrpc_status(self):
        return self.builder.status()

    def xmlrpc_ensurepresent(self, sha1, url, user, password):
        """Return [present, info], fetching ``url`` when not cached."""
        _require_sha1("ensurepresent", sha1)
        for name, value in (("url", url), ("user", user),
                            ("password", password)):
            _require_type("ensurepresent", name, value, (str, type(None)))
        d = self.builder.cache.ensure_present(sha1, url, user, password)
        return d.addCallback(list)

    def xmlrpc_build(self, build_id, manager, chroot_sha1, filemap, args):
        """Start a build; return [BUILDING, build_id] or why not."""
        _require_build_args(build_id, manager, chroot_sha1, filemap, args)
        if manager not in self.managers:
            return [BuilderStatus.UNKNOWNBUILDER,
                    f"{manager} not in {sorted(self.managers)}"]
        missing = [sha1 for sha1 in [chroot_sha1, *filemap.values()]
                   if not self.builder.cache.has(sha1)]
        if missing:
            return [BuilderStatus.UNKNOWNSUM,
                    "not in the file cache: " + ", ".join(missing)]
        manager_class = self.managers[manager]
        with _faults():
            manager_class.check_request(filemap, args)
            callback = _callback_url(args)
            build = manager_class(self.builder, self.reactor)
            self.builder.start(build_id, build, callback)
        build.start(chroot_sha1, filemap, args)
        return [BuilderStatus.BUILDING, build_id]

    def xmlrpc_abort(self):
        with _faults():
            self.builder.abort()
        return BuilderStatus.ABORTING

    def xmlrpc_clean(self):
        with _faults():
            self.builder.clean()
        return BuilderStatus.IDLE


@contextmanager
def _faults():
    """Turn the slave's own refusals into XML-RPC Faults."""
    try:
        yield
    except BadRequest as e:
        raise xmlrpc.Fault(FAULT_BAD_REQUEST, str(e)) from None
    except WrongState as e:
        raise xmlrpc.Fault(FAULT_WRONG_STATE, str(e)) from None


def _require_build_args(build_id, manager, chroot_sha1, filemap, args):
    _require_type("build", "build_id", build_id, str)
    if not build_id:
        raise xmlrpc.Fault(FAULT_BAD_REQUEST, "build: empty build_id")
    _require_type("build", "manager", manager, str)
    _require_sha1("build", chroot_sha1)
    _require_type("build", "filemap", filemap, dict)
    _require_type("build", "args", args, dict)
    for name, sha1 in filemap.items():
        _require_file_name(name)
        _require_sha1("build", sha1)


def _callback_url(args):
    try:
        return callback_url(args)
    except ValueError as e:
        raise BadRequest(str(e)) from None


def _require_file_name(name):
    """A plain file name: no directories, no '.', '..' or hidden files."""
    if (not isinstance(name, str) or not name or "/" in name
            or "\0" in name or name.startswith(".")):
        raise xmlrpc.Fault(FAULT_BAD_REQUEST,
                           f"build: bad file name in filemap: {name!r}")


def _require_sha1(method, value):
    if not is_sha1(value):
        raise xmlrpc.Fault(FAULT_BAD_REQUEST,
                           f"{method}: not a sha1: {value!r}")


def _require_type(method, name, value, kind):
    if not isinstance(value, kind):
        raise xmlrpc.Fault(
            FAULT_BAD_REQUEST,
            f"{method}: {name} has the wrong type {type(value).__name__}")
