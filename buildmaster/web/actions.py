"""What a token may change: retry, rescore and cancel a build; enable
and disable a builder.  ``buildmaster retry`` uses the same ``retry``.

Each action takes a session, does its change, commits, and logs one
line naming the build (or builder) and who asked (``by``: 'token NAME'
from the web, 'the operator' from the CLI).  A request the farm refuses
raises Refused with an HTTP status and one sentence: 404 for what does
not exist, 409 for what its state does not allow, 400 for bad input.

Cancelling is a compare-and-set: a pending job is deleted only while no
builder has it (``WHERE builder_id IS NULL``), so a dispatcher taking
it at the same moment wins and the cancel is refused as too late.  A
building job cannot be cancelled here (its slave would have to be
aborted); a dependency wait can.

A retry and an enabled builder wake the dispatchers of every master on
the same PostgreSQL when they commit (wakeups.notify); the web, which
runs in the daemon, also wakes its own master's at once (``wake``), on
SQLite too, and marks its NOTIFY with that master's ``origin`` so the
master does not hear it twice.
"""

import logging

import sqlalchemy as sa

from buildmaster.operators import lookup
from buildmaster.runtime import wakeups
from buildmaster.model import BuildQueue, BuildStatus, utcnow
from buildmaster.archive.pockets import build_allowed_in_pocket
from buildmaster.web.http import MAX_NUMBER, parse_number
from buildmaster.web.views import RETRYABLE

logger = logging.getLogger("buildmaster.web")

MAX_SCORE = 1_000_000


class Refused(Exception):
    """The farm will not do it; ``code`` is the HTTP status."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code = code


def build_id_of(target):
    """The build id ``target`` names in ASCII digits; Refused (404) for
    anything else, or for a number beyond the database's integers."""
    number = parse_number(target) if isinstance(target, (str, bytes)) else (
        target if isinstance(target, int) and 0 <= target <= MAX_NUMBER else None)
    if number is None:
        raise Refused(404, f"no build with id {target}")
    return number


def _build(session, build_id, see_private=True):
    build_id = build_id_of(build_id)
    try:
        found = lookup.build(session, build_id)
    except lookup.NotFound as error:
        raise Refused(404, str(error)) from None
    if found.archive.private and not see_private:
        raise Refused(404, f"no build with id {build_id}")
    return found


def _builder(session, name):
    """The builder ``name``; Refused (404) if there is none or it was
    removed (``builder remove``), as the pages and lists never show it."""
    try:
        found = lookup.builder(session, name)
    except lookup.NotFound as error:
        raise Refused(404, str(error)) from None
    if not found.active:
        raise Refused(404, f"no builder named {name!r}")
    return found


def retry(session, build_id, by, see_private=True, origin=""):
    """Queue a failed, waiting or cancelled build again; returns (its old
    state, its new queue entry)."""
    from buildmaster.queue.scoring import score
    build = _build(session, build_id, see_private)
    if build.buildstate not in RETRYABLE:
        raise Refused(409, f"build {build.id} ({build.title}) is {build.buildstate.name}; "
                           f"only {', '.join(s.name for s in RETRYABLE)} builds "
                           "can be retried")
    if not build_allowed_in_pocket(build):
        raise Refused(409, f"build {build.id} ({build.title}): {build.distroseries.name} "
                           f"is {build.distroseries.status.title}, its "
                           f"{build.pocket.name} pocket takes no builds")
    was = build.buildstate
    build.reset_for_retry()
    entry = build.createBuildQueueEntry()
    entry.lastscore = score(entry)
    wakeups.notify(session, wakeups.DISPATCH, origin)
    session.commit()
    logger.info(f"{build.label}: {was.name} -> NEEDSBUILD as job {entry.id}, score "
                f"{entry.lastscore} (retried by {by})")
    return was, entry


def rescore(session, build_id, new_score, by, see_private=True):
    """Give a pending job ``new_score`` and keep it (a manual score);
    returns the entry."""
    try:
        new_score = int(new_score)
    except (TypeError, ValueError):
        raise Refused(400, f"score {new_score!r} is not a whole number") from None
    if abs(new_score) > MAX_SCORE:
        raise Refused(400, f"score {new_score} is beyond +/-{MAX_SCORE}")
    build = _build(session, build_id, see_private)
    entry = build.buildqueue_record
    if entry is None or entry.builder_id is not None:
        raise Refused(409, f"build {build.id} ({build.title}) is {build.buildstate.name}, "
                           "not waiting in the queue")
    old, entry.lastscore, entry.manual = entry.lastscore, new_score, True
    session.commit()
    logger.info(f"{build.label}: score {old} -> {new_score} (rescored by {by})")
    return entry


def cancel(session, build_id, by, see_private=True, now=None):
    """End a pending job or a dependency wait as CANCELLED at ``now``,
    kept in its history (Build.note); returns its old state."""
    build = _build(session, build_id, see_private)
    was = build.buildstate
    entry = build.buildqueue_record
    if was == BuildStatus.NEEDSBUILD and entry is not None:
        taken = session.execute(sa.delete(BuildQueue).where(
            BuildQueue.id == entry.id, BuildQueue.builder_id.is_(None))).rowcount
        if not taken:
            session.rollback()
            raise Refused(409, f"build {build.id} ({build.title}) was just dispatched; "
                               "it is no longer pending")
    elif was != BuildStatus.MANUALDEPWAIT:
        where = f" on {entry.builder.name}" if entry is not None and entry.builder \
            else ""
        raise Refused(409, f"build {build.id} ({build.title}) is {was.name}{where}; only "
                           "pending builds and dependency waits can be cancelled")
    now = now or utcnow()
    build.buildstate, build.datebuilt, build.buildduration = BuildStatus.CANCELLED, now, None
    build.note(BuildStatus.CANCELLED, now)
    session.commit()
    if entry is not None:
        session.expunge(entry)
    session.expire(build, ["buildqueue_record"])
    logger.info(f"{build.label}: {was.name} -> CANCELLED (cancelled by {by})")
    return was


def enable_builder(session, name, by, origin=""):
    builder = _builder(session, name)
    builder.enable()
    wakeups.notify(session, wakeups.DISPATCH, origin)
    session.commit()
    logger.info(f"builder {name}: enabled (by {by})")
    return builder


def disable_builder(session, name, reason, by):
    reason = (reason or "").strip() or f"Disabled by {by}."
    if len(reason) > 1000:
        raise Refused(400, "the reason is longer than 1000 characters")
    builder = _builder(session, name)
    builder.failBuilder(reason)
    session.commit()
    logger.info(f"builder {name}: disabled: {reason} (by {by})")
    return builder


# The job an action done from the web wakes in its own master.
WAKES = {"retry": wakeups.DISPATCH, "enable": wakeups.DISPATCH}


def perform(session, action, target, params, by, see_private, origin=""):
    """Do ``action`` on ``target`` (a build id or a builder name) with
    the form's ``params``; returns one sentence saying what was done.
    ``origin``: the master whose web asks (its NOTIFY is its own)."""
    if action == "retry":
        was, entry = retry(session, build_id_of(target), by, see_private, origin)
        return (f"build {target} was {was.name}; now NEEDSBUILD as job {entry.id} "
                f"with score {entry.lastscore}")
    if action == "rescore":
        entry = rescore(session, build_id_of(target), params.get("score"), by, see_private)
        return f"build {target} now has score {entry.lastscore}"
    if action == "cancel":
        was = cancel(session, build_id_of(target), by, see_private)
        return f"build {target} was {was.name}; now CANCELLED"
    if action == "enable":
        enable_builder(session, target, by, origin)
        return f"builder {target} enabled"
    if action == "disable":
        builder = disable_builder(session, target, params.get("reason"), by)
        return f"builder {target} disabled: {builder.failnotes}"
    raise Refused(404, f"no action {action!r}")


def wake(context, action):
    """Wake the job ``action``, done and committed, makes work for in
    ``context``'s master (from a web thread)."""
    if action in WAKES:
        context.wakeups.wake_from_thread(WAKES[action])
