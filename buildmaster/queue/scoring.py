"""How urgent a queued build is: its BuildQueue.lastscore.

The dispatcher hands out the highest score first, ties going to the
older entry (the lower BuildQueue id).  A score is the sum of:

=====================  =================================================
pocket                 BACKPORTS 0, RELEASE 1500, PROPOSED 3000,
                       UPDATES 3000, SECURITY 4500
component              multiverse 0, universe 250, restricted 750,
                       main 1000, partner 1250 (any other component 0)
urgency                LOW 5, MEDIUM 10, HIGH 15, EMERGENCY 20
private archive        +10000
archive                + Archive.relative_build_score (may be negative)
time in the queue      +1 per full 5 minutes waited, at most +100
=====================  =================================================

The component is the build's current component (its newest source
publication in its archive and series, else the upload's).  The age term
lets a waiting job overtake newer jobs of a slightly higher urgency (a
LOW job that waited 25 minutes ties with a fresh MEDIUM one and, being
older, goes first; after 30 minutes it scores higher) but, capped at 100
(reached after 8 hours 20 minutes), never a whole component or pocket
step: those differ by 250 or more.

A manual entry (BuildQueue.manual, set by an operator) keeps its score.
"""

import datetime

import sqlalchemy as sa

from buildmaster.model import (
    Archive, Build, BuildQueue, Component, DistroArchSeries, PackagePublishingPocket,
    SourcePackagePublishingHistory, SourcePackageRelease, SourcePackageUrgency, utcnow)

POCKET_SCORES = {
    PackagePublishingPocket.BACKPORTS: 0,
    PackagePublishingPocket.RELEASE: 1500,
    PackagePublishingPocket.PROPOSED: 3000,
    PackagePublishingPocket.UPDATES: 3000,
    PackagePublishingPocket.SECURITY: 4500,
}
COMPONENT_SCORES = {
    "multiverse": 0,
    "universe": 250,
    "restricted": 750,
    "main": 1000,
    "partner": 1250,
}
URGENCY_SCORES = {
    SourcePackageUrgency.LOW: 5,
    SourcePackageUrgency.MEDIUM: 10,
    SourcePackageUrgency.HIGH: 15,
    SourcePackageUrgency.EMERGENCY: 20,
}
PRIVATE_ARCHIVE_BONUS = 10000
AGE_STEP = datetime.timedelta(minutes=5)
AGE_CAP = 100
# Rows read per round trip by rescore_all.
RESCORE_BATCH = 10000


def age_score(waited):
    """+1 per full AGE_STEP of ``waited`` (a timedelta), at most AGE_CAP."""
    if waited <= datetime.timedelta(0):
        return 0
    return min(AGE_CAP, waited // AGE_STEP)


def score_of(pocket, component_name, urgency, private, relative_build_score, waited):
    """The formula of the module docstring."""
    return (POCKET_SCORES[pocket]
            + COMPONENT_SCORES.get(component_name, 0)
            + URGENCY_SCORES[urgency]
            + (PRIVATE_ARCHIVE_BONUS if private else 0)
            + relative_build_score
            + age_score(waited))


def score(entry, now=None):
    """The score ``entry`` (a BuildQueue) deserves at ``now``; a manual
    entry's own score."""
    if entry.manual:
        return entry.lastscore
    build = entry.build
    return score_of(build.pocket, build.current_component.name,
                    build.sourcepackagerelease.urgency, build.archive.private,
                    build.archive.relative_build_score,
                    (now or utcnow()) - entry.created)


def _current_component_id():
    """The build's newest source publication's component, else the upload's."""
    spph = SourcePackagePublishingHistory
    newest = (sa.select(spph.component_id)
              .where(spph.sourcepackagerelease_id == Build.sourcepackagerelease_id,
                     spph.archive_id == Build.archive_id,
                     spph.distroseries_id == DistroArchSeries.distroseries_id)
              .order_by(spph.id.desc()).limit(1).scalar_subquery())
    return sa.func.coalesce(newest, SourcePackageRelease.component_id)


def _pending_rows(session, after_id):
    """The next batch of pending, non-manual entries with what scores them."""
    return session.execute(
        sa.select(BuildQueue.id, BuildQueue.lastscore, BuildQueue.created, Build.pocket,
                  _current_component_id(), SourcePackageRelease.urgency,
                  Archive.private, Archive.relative_build_score)
        .join(Build, Build.id == BuildQueue.build_id)
        .join(DistroArchSeries, DistroArchSeries.id == Build.distroarchseries_id)
        .join(SourcePackageRelease, SourcePackageRelease.id == Build.sourcepackagerelease_id)
        .join(Archive, Archive.id == Build.archive_id)
        .where(BuildQueue.builder_id.is_(None), sa.not_(BuildQueue.manual),
               BuildQueue.id > after_id)
        .order_by(BuildQueue.id).limit(RESCORE_BATCH)).all()


def rescore_all(session, now=None):
    """Rescore every pending, non-manual entry; returns how many changed.

    Reads the queue in batches of RESCORE_BATCH rows (one query each) and
    writes one UPDATE per distinct new score, so 100,000 entries take a
    few dozen statements.  Does not commit.
    """
    now = now or utcnow()
    components = dict(session.execute(sa.select(Component.id, Component.name)).all())
    changed, after_id = 0, 0
    while True:
        rows = _pending_rows(session, after_id)
        if not rows:
            return changed
        by_score = {}
        for (entry_id, old, created, pocket, component_id, urgency, private,
             relative) in rows:
            new = score_of(pocket, components.get(component_id), urgency, private,
                           relative, now - created)
            if new != old:
                by_score.setdefault(new, []).append(entry_id)
        for new, ids in by_score.items():
            session.execute(sa.update(BuildQueue).where(BuildQueue.id.in_(ids))
                            .values(lastscore=new))
            changed += len(ids)
        after_id = rows[-1][0]
