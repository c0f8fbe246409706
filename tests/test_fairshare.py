"""Fair share: usage decays with its half-life, a lighter owner goes first
within a score band, the cap holds, and the queue's reasons say so."""

import datetime
import types

from sqlalchemy import event

import buildmaster.seeds.builder  # noqa: F401  (the seeds' Builder API)
from buildmaster.model import (
    Archive, ArchiveUsage, Builder, BuildQueue, BuildStatus, PackagePublishingPocket,
    PackagePublishingStatus, rows)
from buildmaster.model.enums import ArchivePurpose, DistroSeriesStatus
from buildmaster.queue import fairshare
from buildmaster.queue.candidates import find_build_candidate
from buildmaster.queue.fairshare import Scheduling, Share, charge, decayed, pick
from buildmaster.scan.collection import charge_usage
from buildmaster.web import reasons

HOUR = 3600.0
T0 = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)


def at(hours):
    return T0 + datetime.timedelta(hours=hours)


# -- Decay ------------------------------------------------------------------------

def test_usage_halves_every_half_life():
    assert decayed(8 * HOUR, at(0), at(0), 4 * HOUR) == 8 * HOUR
    assert decayed(8 * HOUR, at(0), at(4), 4 * HOUR) == 4 * HOUR
    assert decayed(8 * HOUR, at(0), at(8), 4 * HOUR) == 2 * HOUR
    assert abs(decayed(8 * HOUR, at(0), at(2), 4 * HOUR) - 8 * HOUR / 2 ** 0.5) < 1e-6


def test_usage_from_the_future_does_not_grow():
    assert decayed(100.0, at(1), at(0), 4 * HOUR) == 100.0


def test_a_charge_adds_to_the_usage_decayed_to_its_end(session, sample):
    archive = sample.cprov_ppa
    charge(session, [(archive.id, archive.owner_id, 4 * HOUR)], at(0), 4 * HOUR)
    charge(session, [(archive.id, archive.owner_id, HOUR)], at(4), 4 * HOUR)
    row = session.get(ArchiveUsage, archive.id)
    assert (row.seconds, row.stamp) == (3 * HOUR, at(4))
    share = fairshare.load(session, Scheduling(half_life=4 * HOUR), at(8))
    assert share.archives == {archive.id: 1.5 * HOUR}
    assert share.owners == {archive.owner_id: 1.5 * HOUR}


def test_an_owner_uses_the_sum_of_their_archives(session, sample):
    other = Archive(distribution=sample.ubuntu, purpose=ArchivePurpose.PPA,
                    name="other", owner=sample.cprov_ppa.owner)
    session.add(other)
    session.flush()
    charge(session, [(sample.cprov_ppa.id, other.owner_id, HOUR),
                     (other.id, other.owner_id, 2 * HOUR),
                     (sample.mark_ppa.id, sample.mark_ppa.owner_id, HOUR)], at(0), 4 * HOUR)
    share = fairshare.load(session, Scheduling(), at(0))
    assert share.owners == {other.owner_id: 3 * HOUR, sample.mark_ppa.owner_id: HOUR}


def test_a_build_ending_charges_its_duration(session, sample, farm_config):
    build = session.get(BuildQueue, 1).build
    build.buildduration = datetime.timedelta(minutes=30)
    charge_usage(session, farm_config, [build], at(0))
    assert session.get(ArchiveUsage, build.archive_id).seconds == 1800.0


# -- Picking: the band, the cap -----------------------------------------------------

def row(id, score, owner, archive=None):
    return types.SimpleNamespace(id=id, lastscore=score, owner=owner,
                                 archive_id=archive or owner)


def share(owners=None, archives=None, held=None, **scheduling):
    return Share(Scheduling(**scheduling), owners or {}, archives or {}, held or {})


QUEUE = [row(1, 100, "a"), row(2, 100, "a"), row(3, 99, "b"), row(4, 90, "b")]


def test_without_usage_the_queue_goes_by_score():
    assert pick(QUEUE, share(), 4) == [1, 3, 2, 4]  # one each, then the next round


def test_the_lighter_owner_goes_first_within_the_band():
    assert pick(QUEUE, share({"a": 10 * HOUR}), 1) == [3]
    assert pick(QUEUE, share({"a": 10 * HOUR, "b": 11 * HOUR}), 1) == [1]


def test_a_job_outside_the_band_waits_for_its_score():
    """The band (4) is under an urgency step: b's job 4 is 10 below."""
    queue = [row(1, 100, "a"), row(2, 100, "a"), row(4, 90, "b")]
    assert pick(queue, share({"a": 10 * HOUR}), 2) == [1, 2]
    assert pick(queue, share({"a": 10 * HOUR}, band=10), 1) == [4]


def test_a_pass_gives_owners_a_builder_in_turn():
    queue = [row(n, 100, "a") for n in range(1, 5)] + [row(n, 100, "b") for n in (5, 6)]
    assert pick(queue, share({"a": HOUR, "b": 2 * HOUR}), 4) == [1, 5, 2, 6]


def test_between_two_archives_of_owners_alike_the_lighter_archive_goes_first():
    queue = [row(1, 100, "a", archive=1), row(2, 100, "a", archive=2)]
    assert pick(queue, share({"a": HOUR}, {1: HOUR, 2: 0.5 * HOUR}), 1) == [2]


def test_the_cap_keeps_an_owner_to_its_builders():
    capped = share(held={"a": 1}, owner_cap=2)
    assert pick(QUEUE, capped, 4) == [1, 3, 4]
    assert pick(QUEUE, share(held={"a": 2}, owner_cap=2), 4) == [3, 4]


def test_fair_share_off_keeps_the_score_order():
    assert pick(QUEUE, share({"a": 10 * HOUR}, fair_share=False), 2) == [1, 2]


# -- Candidates from the database -----------------------------------------------------

def queue_build(session, sample, name, archive, score=1000):
    release = rows.source_release(session, name, "1.0", archive.owner)
    rows.publish_source(session, release, archive, sample.hoary,
                        status=PackagePublishingStatus.PUBLISHED)
    build = rows.build_for(release, sample.hoary["i386"], archive)
    return build.createBuildQueueEntry(lastscore=score)


def two_owners(session, sample, a_jobs=20):
    """bob idle; cprov's PPA has ``a_jobs`` queued jobs, then mark's one
    (same score, newer), both PPAs building on bob."""
    bob = session.get(Builder, 1)
    running = bob.currentjob
    running.builder, running.date_started = None, None
    running.build.buildstate = BuildStatus.NEEDSBUILD
    for archive in (sample.cprov_ppa, sample.mark_ppa):
        archive.require_virtualized = False
    a = [queue_build(session, sample, f"a{n}", sample.cprov_ppa, 20000) for n in range(a_jobs)]
    b = queue_build(session, sample, "b0", sample.mark_ppa, 20000)
    session.commit()
    return bob, a, b


def test_a_light_owner_waits_behind_no_heavy_one(session, sample):
    bob, a, b = two_owners(session, sample)
    assert bob.findBuildCandidate().id == a[0].id
    charge(session, [(sample.cprov_ppa.id, sample.cprov_ppa.owner_id, HOUR)],
           fairshare.utcnow(), 4 * HOUR)
    assert bob.findBuildCandidate().id == b.id


def test_score_rules_come_before_fair_share(session, sample):
    """An urgency step (5) over the band: the heavy owner's job goes first."""
    bob, a, b = two_owners(session, sample)
    a[-1].lastscore = 20005
    charge(session, [(sample.cprov_ppa.id, sample.cprov_ppa.owner_id, HOUR)],
           fairshare.utcnow(), 4 * HOUR)
    assert bob.findBuildCandidate().id == a[-1].id


def test_an_owner_at_the_cap_gets_no_builder(session, sample):
    bob, a, b = two_owners(session, sample)
    frog = session.get(Builder, 2)
    a[0].markAsBuilding(frog)
    session.commit()
    assert find_build_candidate(bob, scheduling=Scheduling(owner_cap=1)).id == b.id
    b.destroySelf()
    other = find_build_candidate(bob, scheduling=Scheduling(owner_cap=1))
    assert other.build.archive == sample.primary  # the sample's own jobs; none of cprov's


def candidate_statements(db, bob):
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        found = find_build_candidate(bob, scheduling=Scheduling(owner_cap=5))
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return found, len(statements)


def test_the_candidate_query_count_does_not_grow_with_the_queue(session, sample, db):
    bob, a, b = two_owners(session, sample, a_jobs=5)
    charge(session, [(sample.cprov_ppa.id, sample.cprov_ppa.owner_id, HOUR)],
           fairshare.utcnow(), 4 * HOUR)
    session.commit()
    found, few = candidate_statements(db, bob)
    assert found.id == b.id
    for n in range(40):
        queue_build(session, sample, f"more{n}", sample.cprov_ppa, 20000)
    session.commit()
    found, many = candidate_statements(db, bob)
    assert found.id == b.id
    # usage, held builders, the head batch, the lighter owners, the chosen entry
    assert few == many <= 5


# -- Why it waits -----------------------------------------------------------------------

def waiting_job(owner_id, owner):
    return reasons.Job(types.SimpleNamespace(
        archive_enabled=True, live=PackagePublishingStatus.PUBLISHED,
        pocket=PackagePublishingPocket.RELEASE, private=False, purpose=ArchivePurpose.PPA,
        series_status=DistroSeriesStatus.DEVELOPMENT, processor_id=1, virtualized=False,
        owner_id=owner_id, owner=owner), f"~{owner}/ppa")


def busy_farm(shares, waiting, typical=600):
    builders = [reasons.BuilderView(f"b{n}", 1, False, False, reasons.BUILDING,
                                    frees_in=60) for n in range(2)]
    return reasons.Farm(builders, {1: "386"}, shares, {(1, False): waiting},
                        4 * HOUR, typical)


def test_the_reason_names_the_owners_usage_and_the_estimate_counts_it():
    farm = busy_farm({7: 3.2 * HOUR, 8: 0.1 * HOUR}, {7: 100, 8: 4})
    reason = reasons.why(waiting_job(7, "alice"), farm)
    assert reason.code == "builders_busy"
    assert reason.text.endswith("; fair share: ~alice used 3.2 builder-hours in the last 4 h")
    assert reason.estimate == 60 + 2 * 600  # 4 lighter jobs: two rounds of 2 builders


def test_the_lightest_owner_hears_nothing_of_fair_share():
    farm = busy_farm({7: 3.2 * HOUR, 8: 0.1 * HOUR}, {7: 100, 8: 4})
    reason = reasons.why(waiting_job(8, "bob"), farm)
    assert "fair share" not in reason.text and reason.estimate == 60
