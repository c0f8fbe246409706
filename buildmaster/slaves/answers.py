"""Checking a slave's answers: what the protocol allows, in one shape.

``normalize_status`` takes status() as protocol '1.0' sends it (a dict)
or as older slaves do (the tuple forms the seeds' mock slaves answer)
and returns the same dict of STATUS_KEYS either way; ``check_pair`` the
two-item answers of ensurepresent() and build().  Anything else is a
SlaveProtocolError quoting the answer, cut to a readable size.
"""

import xmlrpc.client

from buildmaster.errortext import shown
from buildmaster.slaves.errors import SlaveProtocolError
from common.states import BuilderStatus, BuildStatus

STATUS_KEYS = ("builder_status", "build_id", "build_status", "logtail",
               "filemap", "dependencies")
BUILDER_STATES = frozenset({
    BuilderStatus.IDLE, BuilderStatus.BUILDING, BuilderStatus.WAITING,
    BuilderStatus.ABORTING, BuilderStatus.ABORTED})
BUILD_STATES = frozenset(
    value for name, value in vars(BuildStatus).items() if name.isupper())


def normalize_status(raw, url="<slave>"):
    """Return the status dict of STATUS_KEYS for a dict or tuple answer.

    Raise SlaveProtocolError for anything else: an unknown state, a job
    name that is not text, a filemap that is not {name: sha1} text, a
    log tail that is not text or bytes.  Its message quotes the answer
    cut to a readable size (errortext.shown), however big it was.
    """
    if isinstance(raw, dict):
        status = {key: raw.get(key) for key in STATUS_KEYS}
    elif isinstance(raw, (tuple, list)) and raw:
        status = _status_from_tuple(tuple(raw), url)
    else:
        raise SlaveProtocolError(f"{url}: status() answered {shown(raw)}")
    state = status["builder_status"]
    if not isinstance(state, str) or state not in BUILDER_STATES:
        raise SlaveProtocolError(
            f"{url}: status() gave unknown builder_status {shown(state)}"
            f" in {shown(raw)}")
    if state == BuilderStatus.WAITING:
        _check_waiting(status, raw, url)
    if state == BuilderStatus.IDLE and status["build_id"] is None:
        status["build_id"] = ""
    if not isinstance(status["build_id"], str):
        raise SlaveProtocolError(
            f"{url}: status() gave a build_id that is not text in {shown(raw)}")
    status["logtail"] = _as_binary(status["logtail"], raw, url)
    return status


def _status_from_tuple(raw, url):
    """Map the pre-1.0 tuple forms onto the status dict."""
    state = raw[0]
    if not isinstance(state, str):
        raise SlaveProtocolError(
            f"{url}: status() gave unknown builder_status {shown(state)} in {shown(raw)}")
    fields = {
        BuilderStatus.IDLE: ((), ("build_id",)),
        BuilderStatus.BUILDING: (("build_id", "logtail"), ()),
        BuilderStatus.WAITING: (("build_status", "build_id"),
                                ("filemap", "dependencies")),
        BuilderStatus.ABORTING: (("build_id",), ()),
        BuilderStatus.ABORTED: (("build_id",), ()),
    }.get(state)
    if fields is None:
        raise SlaveProtocolError(
            f"{url}: status() gave unknown builder_status {shown(state)}"
            f" in {shown(raw)}")
    required, optional = fields
    values = raw[1:]
    if not len(required) <= len(values) <= len(required) + len(optional):
        raise SlaveProtocolError(
            f"{url}: status() gave a malformed {state} tuple {shown(raw)}")
    status = dict.fromkeys(STATUS_KEYS)
    status["builder_status"] = state
    status.update(zip(required + optional, values))
    return status


def _check_waiting(status, raw, url):
    build_status = status["build_status"]
    if not isinstance(build_status, str) or build_status not in BUILD_STATES:
        raise SlaveProtocolError(
            f"{url}: status() gave WAITING with unknown build_status"
            f" {shown(build_status)} in {shown(raw)}")
    if status["filemap"] is None and build_status == BuildStatus.OK:
        status["filemap"] = {}
    filemap = status["filemap"]
    if not (filemap is None or isinstance(filemap, dict) and all(
            isinstance(name, str) and isinstance(sha1, str)
            for name, sha1 in filemap.items())):
        raise SlaveProtocolError(
            f"{url}: status() gave a filemap that is not {{name: sha1}}: {shown(raw)}")
    if not isinstance(status["dependencies"], (str, type(None))):
        raise SlaveProtocolError(
            f"{url}: status() gave dependencies that are not text: {shown(raw)}")


def _as_binary(logtail, raw, url):
    if logtail is None or isinstance(logtail, xmlrpc.client.Binary):
        return logtail
    if isinstance(logtail, str):
        return xmlrpc.client.Binary(logtail.encode("utf-8"))
    if isinstance(logtail, bytes):
        return xmlrpc.client.Binary(logtail)
    raise SlaveProtocolError(f"{url}: status() gave a bad logtail in {shown(raw)}")


def check_pair(result, method, first_type, url="<slave>"):
    """Check the two-item answer of ``method()`` and return it as a typed
    tuple (``first_type``, str)."""
    if not isinstance(result, (list, tuple)) or len(result) != 2:
        raise SlaveProtocolError(f"{url}: {method}() answered {shown(result)}")
    return first_type(result[0]), str(result[1])
