"""What a slave's status means for the job it runs: one table, two scanners.

The scan pass (scanpass.py) and the seeds' BuilderGroup (scanner.py) read
a slave's answer the same way, from the names here: which builder states
carry a job, the WAITING table of what each build status makes of the
job, why a job a slave runs is not the farm's, and how such a slave is
rescued.
"""

import logging
import xmlrpc.client

from twisted.internet import defer

from buildmaster.model import BuildStatus
from buildmaster.slaves.errors import SlaveError
from common.states import BuilderStatus
from common.states import BuildStatus as SlaveBuildStatus

ABORTING_TAIL = "Waiting for slave process to be terminated"
BUILDERFAIL_NOTES = "Builder returned BUILDERFAIL when asked for its status"
JOB_STATES = frozenset({BuilderStatus.BUILDING, BuilderStatus.WAITING,
                        BuilderStatus.ABORTING, BuilderStatus.ABORTED})
# What counts as a builder failing a scan (judged by failures.py); any
# other exception is a fault of the master, logged and not held against
# anyone.
SCAN_FAILURES = (SlaveError, xmlrpc.client.Fault)

GIVEN_BACK = "given back"
BUILDER_FAILED = "builder failed"
# What a WAITING slave's build status makes of its job: the state its
# build ends in (None for a good build, whose upload decides), or
# GIVEN_BACK and BUILDER_FAILED, which put the job back in the queue.
# A WAITING slave whose build status is ABORTED is an aborted job, as
# when the builder state itself is ABORTED.
WAITING = {
    SlaveBuildStatus.OK: None,
    SlaveBuildStatus.PACKAGEFAIL: BuildStatus.FAILEDTOBUILD,
    SlaveBuildStatus.DEPFAIL: BuildStatus.MANUALDEPWAIT,
    SlaveBuildStatus.CHROOTFAIL: BuildStatus.CHROOTWAIT,
    SlaveBuildStatus.GIVENBACK: GIVEN_BACK,
    SlaveBuildStatus.BUILDERFAIL: BUILDER_FAILED,
}
# The ends the log shouts about, and how loud: a build waiting for a
# dependency is a step the farm expects (the publisher retries it), a
# broken chroot the admins' to mend.  The seeds' BuilderGroup shouts both
# at CRITICAL, as the seeds' doctest prints them.
SHOUTED = {BuildStatus.MANUALDEPWAIT: logging.INFO, BuildStatus.CHROOTWAIT: logging.WARNING}


class JobVanished(SlaveError):
    """The slave is idle although the farm has a job running on it."""


def is_aborted(status):
    """Whether the slave's job was aborted (ABORTED, or WAITING ABORTED)."""
    state = status["builder_status"]
    return state == BuilderStatus.ABORTED or (
        state == BuilderStatus.WAITING and status["build_status"] == SlaveBuildStatus.ABORTED)


def shout(logger, builder_name, state, level=None):
    """The seeds' '***** bob is MANUALDEPWAIT *****' line, for the ends that
    get one: at ``level``, by default the end's own (SHOUTED)."""
    if state in SHOUTED:
        logger.log(level or SHOUTED[state], f"***** {builder_name} is {state.name} *****")


def dependencies_of(state, status):
    """The dependencies a MANUALDEPWAIT build waits for, else None."""
    return status.get("dependencies") if state == BuildStatus.MANUALDEPWAIT else None


def logtail_text(status):
    """The slave's log tail as text the database can hold."""
    binary = status.get("logtail")
    if binary is None:
        return None
    return binary.data.decode("utf-8", "replace").replace("\x00", "")


def parse_job_id(ident):
    """(build id, queue id) of a job named '<Build.id>-<BuildQueue.id>',
    or None when the name is not of that form."""
    build_id, _, queue_id = (ident or "").partition("-")
    if not (build_id.isdigit() and queue_id.isdigit()):
        return None
    return int(build_id), int(queue_id)


def lost_reason(ident, build_found, queue, builder_id=None):
    """Why the job ``ident`` a slave runs is not the farm's, or None.

    ``build_found`` says whether its build exists, ``queue`` is its queue
    entry's (build_id, builder_id) or None, ``builder_id`` the id of the
    builder asked (None for the seeds' mock builders)."""
    if not build_found or queue is None:
        return f"{ident}: 'Object not found'"
    queue_build_id, queue_builder_id = queue
    if queue_build_id != parse_job_id(ident)[0]:
        return f"{ident}: Job build entry mismatch"
    if builder_id is not None and queue_builder_id != builder_id:
        return f"{ident}: Job not assigned to this builder"
    return None


def rescue_slave(call, name, slave, status, reason, logger):
    """Reset a slave running a job the farm does not know: a building one
    is aborted (it is cleaned once it has stopped), a waiting or aborted
    one cleaned; an aborting one is left to stop.  A Deferred firing
    with ``reason``; ``call(slave, method)`` makes the slave call."""
    if status["builder_status"] == BuilderStatus.ABORTING:
        return defer.succeed(reason)
    method = "abort" if status["builder_status"] == BuilderStatus.BUILDING else "clean"

    def rescued(_):
        logger.warning(f"Builder '{name}' rescued from '{reason}'")
        return reason
    return call(slave, method).addCallback(rescued)


def refusal_text(title, build_id, pocket_name):
    """Why a build its series' pocket no longer accepts is not uploaded."""
    return f"{title} ({build_id}) can not be built for pocket {pocket_name}: illegal status"


def refusal(build):
    return refusal_text(build.title, build.id, build.pocket.name)
