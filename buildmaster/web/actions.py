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
running build ends CANCELLED only while its job is still on the builder
it was read on, so one that finished meanwhile is refused likewise; its
job stays on the builder until the scanner, woken by the cancel, has
aborted the slave and cleaned it, so no other job goes to a slave still
busy.  ``buildmaster cancel`` is this same cancel, and also asks the
slave to abort at once.  A dependency wait just ends.

A retry and an enabled builder wake the dispatchers of every master on
the same PostgreSQL when they commit (wakeups.notify), a cancel of a
running build their scanners; the web, which runs in the daemon, also
wakes its own master's at once (``wake``), on SQLite too, and marks its
NOTIFY with that master's ``origin`` so the master does not hear it
twice.
"""

import logging

import sqlalchemy as sa

from buildmaster.operators import lookup
from buildmaster.runtime import wakeups
from buildmaster.model import Build, BuildQueue, BuildStatus, utcnow
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


def cancel(session, build_id, by, see_private=True, now=None, origin=""):
    """End a pending job, a dependency wait or a running build as
    CANCELLED at ``now``, kept in its history (Build.note); returns (its
    old state, the Builder it was running on or None)."""
    build = _build(session, build_id, see_private)
    was, entry = build.buildstate, build.buildqueue_record
    builder = entry.builder if entry is not None else None
    now = now or utcnow()
    if was == BuildStatus.BUILDING and builder is not None:
        _cancel_running(session, build, entry, builder, now, origin)
    else:
        _cancel_waiting(session, build, entry, now)
    if entry is not None and builder is None:
        session.expunge(entry)
    session.expire(build)
    where = f" on {builder.name}" if builder is not None else ""
    logger.info(f"{build.label}: {was.name} -> CANCELLED{where} (cancelled by {by})")
    return was, builder


def _cancel_waiting(session, build, entry, now):
    """A pending job leaves the queue (unless a dispatcher took it just
    now), a dependency wait ends; commits."""
    was = build.buildstate
    if was == BuildStatus.NEEDSBUILD and entry is not None:
        taken = session.execute(sa.delete(BuildQueue).where(
            BuildQueue.id == entry.id, BuildQueue.builder_id.is_(None))).rowcount
        if not taken:
            session.rollback()
            raise Refused(409, f"build {build.id} ({build.title}) was just dispatched; "
                               "it is no longer pending")
    elif was != BuildStatus.MANUALDEPWAIT:
        raise Refused(409, f"build {build.id} ({build.title}) is {was.name}; only "
                           "pending, waiting and running builds can be cancelled")
    build.buildstate, build.datebuilt, build.buildduration = BuildStatus.CANCELLED, now, None
    build.note(BuildStatus.CANCELLED, now)
    session.commit()


def _cancel_running(session, build, entry, builder, now, origin):
    """The running ``build`` ends CANCELLED, its job left on ``builder``
    for the scanner to abort and clean up, which the commit wakes;
    Refused (409) if the job left that builder meanwhile.  Commits."""
    queue, table = BuildQueue.__table__, Build.__table__
    started = entry.date_started
    still_there = sa.exists().where(queue.c.id == entry.id,
                                    queue.c.builder_id == builder.id)
    won = session.execute(sa.update(table).where(
        table.c.id == build.id, table.c.buildstate == BuildStatus.BUILDING, still_there)
        .values(buildstate=BuildStatus.CANCELLED, datebuilt=now,
                buildduration=now - started if started else None)).rowcount
    if not won:
        session.rollback()
        raise Refused(409, f"build {build.id} ({build.title}) has just left "
                           f"{builder.name}: look at it again")
    if started is not None:
        build.note(BuildStatus.BUILDING, started, builder)
    build.note(BuildStatus.CANCELLED, now, builder)
    wakeups.notify(session, wakeups.SCAN, origin)
    session.commit()


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


# The job an action done from the web wakes in its own master (a cancel:
# the scanner, which aborts a cancelled running build on its slave).
WAKES = {"retry": wakeups.DISPATCH, "enable": wakeups.DISPATCH, "cancel": wakeups.SCAN}


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
        was, builder = cancel(session, build_id_of(target), by, see_private, origin=origin)
        if builder is None:
            return f"build {target} was {was.name}; now CANCELLED"
        return (f"build {target} was {was.name} on {builder.name}; now CANCELLED, "
                "the scanner aborts it on its slave")
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
