"""Failed builds waiting on upstream bugs.

An operator links a FAILEDTOBUILD build to the upstream bug it fails
on (``link_build``): the build gets a bug of ours (one per build) and
the bug a watch on the upstream bug, on a tracker found by its base URL
or registered on the spot.  When checkwatches sees that upstream bug
become fixed, ``retry_fixed_builds`` queues the build again:

    FAILEDTOBUILD --(its upstream bug turns fixed)--> NEEDSBUILD

Only the change to fixed retries a build, once: a bug that stays fixed
while the retried build fails again retries nothing more.
"""

import re
from collections import namedtuple
from urllib.parse import urlsplit

import sqlalchemy as sa

from buildmaster.bugs import externalbugtracker
from buildmaster.model import (
    Bug, BugSet, BugTracker, BugTrackerSet, BugWatch, BuildStatus, utcnow)
from buildmaster.archive.pockets import build_allowed_in_pocket

Link = namedtuple("Link", "bug watch tracker new_tracker new_watch")


class LinkRefused(ValueError):
    """The build or the address cannot be linked; the text says why."""


def link_build(session, build, url, owner=None, now=None):
    """Make ``build`` (FAILEDTOBUILD) wait on the upstream bug at ``url``;
    a Link, reusing the build's bug, the tracker and the watch where they
    exist.  Raises LinkRefused."""
    try:
        kind, baseurl, remotebug = externalbugtracker.parse_bug_url(url)
    except externalbugtracker.UnknownBugURL as error:
        raise LinkRefused(str(error)) from None
    if build.buildstate != BuildStatus.FAILEDTOBUILD:
        raise LinkRefused(f"build {build.id} ({build.title}) is {build.buildstate.name}; "
                          "only FAILEDTOBUILD builds wait on upstream bugs")
    now = now or utcnow()
    tracker = BugTrackerSet(session).getByBaseURL(baseurl)
    new_tracker = tracker is None
    if new_tracker:
        tracker = BugTracker(
            name=_tracker_name(session, baseurl), title=f"{kind.title} at {baseurl}",
            bugtrackertype=kind, baseurl=baseurl, owner=owner, datecreated=now,
            summary=f"Registered when build {build.id} was linked to {url}")
        session.add(tracker)
    elif tracker.bugtrackertype != kind:
        raise LinkRefused(f"{url} is a {kind.title} address, but {tracker.name} at "
                          f"{tracker.baseurl} is a {tracker.bugtrackertype.title} tracker")
    bug = BugSet(session).forBuild(build)
    if bug is None:
        bug = Bug(title=f"{build.title} fails to build", build=build, owner=owner,
                  datecreated=now, datelastupdated=now)
        session.add(bug)
    watch = None if new_tracker else bug.watches.filter(
        BugWatch.bugtracker_id == tracker.id, BugWatch.remotebug == remotebug).first()
    new_watch = watch is None
    if new_watch:
        watch = bug.addWatch(tracker, remotebug, owner)
        watch.datecreated = now
        bug.datelastupdated = now
    session.flush()
    return Link(bug, watch, tracker, new_tracker, new_watch)


def _tracker_name(session, baseurl):
    """'auto-bugs.example.com', with a number added if that is taken."""
    host = urlsplit(baseurl).hostname or "tracker"
    stem = "auto-" + re.sub(r"[^a-z0-9.-]+", "-", host.lower())
    taken = set(session.scalars(
        sa.select(BugTracker.name).where(BugTracker.name.startswith(stem))))
    name, number = stem, 1
    while name in taken:
        number += 1
        name = f"{stem}-{number}"
    return name


def retry_fixed_builds(changes, remote, log, now):
    """Queue again the FAILEDTOBUILD build of every watch in ``changes``
    (WatchChanges from ``remote``, a client) whose upstream bug has just
    become fixed; the builds retried (flushed, not committed)."""
    from buildmaster.queue.scoring import score
    retried = []
    for change in changes:
        if not _became_fixed(remote, change):
            continue
        build = change.watch.bug.build
        if build is None or build.buildstate != BuildStatus.FAILEDTOBUILD:
            continue
        bug_url = remote.bugURL(remote.baseurl, change.watch.remotebug)
        if not build_allowed_in_pocket(build):
            log.warning("%s: stays FAILEDTOBUILD although upstream bug %s is fixed: "
                        "%s is %s, its %s pocket takes no builds", build.label, bug_url,
                        build.distroseries.name, build.distroseries.status.title,
                        build.pocket.name)
            continue
        build.reset_for_retry()
        entry = build.createBuildQueueEntry()
        entry.lastscore = score(entry, now)
        log.info("%s: FAILEDTOBUILD -> NEEDSBUILD, upstream bug %s is fixed (%s); "
                 "score %d", build.label, bug_url, change.new_status, entry.lastscore)
        retried.append(build)
    return retried


def _became_fixed(remote, change):
    if not remote.convertRemoteStatus(change.new_status).is_fixed:
        return False
    return change.old_status is None or \
        not remote.convertRemoteStatus(change.old_status).is_fixed


def add_upstream_bugs(session, objects):
    """Give each build of ``objects`` (the operator's build dicts) its
    "upstream_bugs": what the watches of its bug say, in one query."""
    found = {}
    build_ids = [each["id"] for each in objects]
    if build_ids:
        query = (sa.select(Bug.build_id, BugWatch)
                 .join(BugWatch, BugWatch.bug_id == Bug.id)
                 .where(Bug.build_id.in_(build_ids)).order_by(BugWatch.id))
        for build_id, watch in session.execute(query):
            found.setdefault(build_id, []).append(watch_object(watch))
    for each in objects:
        each["upstream_bugs"] = found.get(each["id"], [])


def watch_object(watch):
    """What the operator's JSON says of a watch."""
    tracker = watch.bugtracker
    cls = externalbugtracker.client_class(tracker.bugtrackertype)
    status = externalbugtracker.remote_status(watch)
    return {
        "url": cls.bugURL(tracker.baseurl, watch.remotebug) if cls else None,
        "tracker": tracker.name,
        "remotebug": watch.remotebug,
        "remotestatus": watch.remotestatus,
        "status": status.name if status is not None else None,
        "lastchecked": watch.lastchecked.isoformat() if watch.lastchecked else None,
        "last_error": watch.last_error_type.name if watch.last_error_type else None,
    }
