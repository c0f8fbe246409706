"""Fair share: an owner who used many builders lately waits behind one
who did not, among jobs of the same score band; and an optional cap.

Usage is counted in builder-seconds per archive (ArchiveUsage) and per
archive owner (the sum over the owner's archives), charged when a build
ends on a builder (its ``buildduration``, in the transaction that ends
it: buildmaster.scan.collection).  It decays exponentially: what was
U at t0 is, at t, ::

    U(t) = U(t0) * 2 ** (-(t - t0) / half_life)

and a build of d seconds ending at t makes it U(t) + d.  The half-life
is ``[scheduling] half_life`` (4 hours, as Open Build Service's
scheduler): 8 builder-hours used 4 hours ago count as 4 now.  Decay is
a common factor, so the sum over an owner's archives decays the same
way, and comparing two owners at one instant needs no rewrite of the
rows.

The score still decides first.  A job's *band* is every dispatchable
job of its (processor, virtualized) group whose score is at most
``[scheduling] band`` (default 4) below the best one's: the default is
under the smallest step of the scoring (an urgency step, 5), so fair
share never lets a job overtake one the pocket, component, urgency,
privacy or archive rules put ahead of it; it reorders jobs that tie, or
differ by less than 25 minutes of waiting.  Within the band a pass
takes, for each idle builder, the job whose owner has had the fewest
builders this pass, then the least usage, then whose archive has the
least usage, then the highest score, then the oldest (``pick``).  A job
of another band waits, in score order, until its band is the best.

The cap (``[scheduling] owner_cap``, 0 for none; Copr caps each owner
at 20) is a filter: an owner holding that many builders gets no more,
counting the builders this pass gives them.  With a cap, builders may
stay idle while a capped owner's jobs wait: that is what a cap means.

Primary and other archives without an owner count as one owner (0).
"""

import dataclasses

import sqlalchemy as sa

from buildmaster.model import Archive, ArchiveUsage, Build, BuildQueue, utcnow

NO_OWNER = 0


@dataclasses.dataclass(frozen=True)
class Scheduling:
    """The ``[scheduling]`` section: half-life in seconds, band width in
    score points, cap in builders (0: none); ``fair_share`` False orders
    by score alone (the cap still holds)."""

    half_life: float = 4 * 3600.0
    band: int = 4
    owner_cap: int = 0
    fair_share: bool = True


def scheduling_of(config):
    """The Scheduling of ``config`` (a Config, or None for the defaults)."""
    section = getattr(config, "scheduling", None)
    if section is None:
        return Scheduling()
    return Scheduling(section.half_life, section.band, section.owner_cap,
                      section.fair_share)


def decayed(seconds, stamp, now, half_life):
    """``seconds`` of usage counted at ``stamp``, as they count at ``now``."""
    elapsed = max(0.0, (now - stamp).total_seconds())
    return seconds * 2.0 ** (-elapsed / half_life)


def charge(session, ended, now, half_life):
    """Add each (archive_id, owner_id, seconds) of ``ended`` to its
    archive's usage at ``now``: one query for the rows, one flush.  Does
    not commit."""
    if not ended:
        return
    rows = {row.archive_id: row for row in session.scalars(
        sa.select(ArchiveUsage).where(
            ArchiveUsage.archive_id.in_(sorted({archive for archive, _, _ in ended}))))}
    for archive_id, owner_id, seconds in ended:
        row = rows.get(archive_id)
        if row is None:
            row = rows[archive_id] = ArchiveUsage(archive_id=archive_id, owner_id=owner_id,
                                                  seconds=0.0, stamp=now)
            session.add(row)
        row.seconds = decayed(row.seconds, row.stamp, now, half_life) + max(0.0, seconds)
        row.stamp, row.owner_id = max(now, row.stamp), owner_id
    session.flush()


@dataclasses.dataclass
class Share:
    """What a dispatch pass knows of fair share: usage at ``now`` per
    owner and per archive (seconds; absent is 0) and, with a cap, the
    builders each owner holds."""

    scheduling: Scheduling
    owners: dict
    archives: dict
    held: dict = dataclasses.field(default_factory=dict)
    archive_owners: dict = dataclasses.field(default_factory=dict)  # enabled archives

    def owner_usage(self, owner):
        """Seconds ``owner`` used, as fair share counts them (0 when off)."""
        return self.owners.get(owner, 0.0) if self.scheduling.fair_share else 0.0

    def capped(self):
        """The owners at their cap: they get no builder."""
        cap = self.scheduling.owner_cap
        return sorted(owner for owner, held in self.held.items() if cap and held >= cap)

    def lighter_archives(self, owner):
        """The enabled archives of the owners who used less than ``owner``
        and are not at their cap."""
        mine, capped = self.owner_usage(owner), set(self.capped())
        return sorted(archive for archive, other in self.archive_owners.items()
                      if other != owner and other not in capped
                      and self.owner_usage(other) < mine)


def load(session, scheduling, now=None):
    """The Share at ``now``: one query (every archive, its owner and its
    usage), and one more with a cap."""
    now = now or utcnow()
    owners, archives, archive_owners = {}, {}, {}
    for archive_id, owner, enabled, seconds, stamp in session.execute(
            sa.select(Archive.id, sa.func.coalesce(Archive.owner_id, NO_OWNER),
                      Archive.enabled, ArchiveUsage.seconds, ArchiveUsage.stamp)
            .outerjoin(ArchiveUsage, ArchiveUsage.archive_id == Archive.id)).all():
        if enabled:
            archive_owners[archive_id] = owner
        if seconds is not None:
            used = decayed(seconds, stamp, now, scheduling.half_life)
            archives[archive_id] = used
            owners[owner] = owners.get(owner, 0.0) + used
    held = held_builders(session) if scheduling.owner_cap else {}
    return Share(scheduling, owners, archives, held, archive_owners)


def held_builders(session):
    """{owner: builders their archives' jobs hold now}, in one query."""
    owner = sa.func.coalesce(Archive.owner_id, NO_OWNER)
    return dict(session.execute(
        sa.select(owner, sa.func.count())
        .select_from(BuildQueue).join(Build, Build.id == BuildQueue.build_id)
        .join(Archive, Archive.id == Build.archive_id)
        .where(BuildQueue.builder_id.is_not(None)).group_by(owner)).all())


def pick(rows, share, count):
    """The ids of up to ``count`` of ``rows`` (dispatchable vetting rows
    with ``id``, ``lastscore``, ``owner``, ``archive_id``, in score
    order) in the order the builders of one pass take them; see the
    module docstring."""
    scheduling = share.scheduling
    given = {}
    left = list(rows)
    chosen = []
    while left and len(chosen) < count:
        cap = scheduling.owner_cap
        left = [row for row in left
                if not cap or share.held.get(row.owner, 0) + given.get(row.owner, 0) < cap]
        if not left:
            break
        floor = left[0].lastscore - scheduling.band
        band = [row for row in left if row.lastscore >= floor]
        if not scheduling.fair_share:
            band = band[:1]
        best = min(band, key=lambda row: (
            given.get(row.owner, 0), share.owner_usage(row.owner),
            share.archives.get(row.archive_id, 0.0), -row.lastscore, row.id))
        chosen.append(best.id)
        given[best.owner] = given.get(best.owner, 0) + 1
        left.remove(best)
    return chosen


def hours_text(seconds):
    """'3.2 builder-hours' of ``seconds``."""
    return f"{seconds / 3600:.1f} builder-hours"
