"""The scoring formula, row by row, and rescore_all on the database."""

import datetime

import pytest
import sqlalchemy as sa

from buildmaster.model import rows
from buildmaster.queue import scoring
from buildmaster.model import (
    Build, BuildQueue, PackagePublishingPocket, SourcePackageUrgency, UTC)
from buildmaster.queue.scoring import age_score, score, score_of

Pocket = PackagePublishingPocket
Urgency = SourcePackageUrgency
MINUTE = datetime.timedelta(minutes=1)
NOW = datetime.datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

# The baseline every row below varies one term of: 1500 + 1000 + 5.
BASE = dict(pocket=Pocket.RELEASE, component_name="main", urgency=Urgency.LOW,
            private=False, relative_build_score=0, waited=datetime.timedelta(0))


def score_with(**change):
    return score_of(**dict(BASE, **change))


@pytest.mark.parametrize("pocket, points", [
    (Pocket.BACKPORTS, 0), (Pocket.RELEASE, 1500), (Pocket.PROPOSED, 3000),
    (Pocket.UPDATES, 3000), (Pocket.SECURITY, 4500)])
def test_pocket_term(pocket, points):
    assert score_with(pocket=pocket) == points + 1000 + 5


@pytest.mark.parametrize("component, points", [
    ("multiverse", 0), ("universe", 250), ("restricted", 750), ("main", 1000),
    ("partner", 1250), ("contrib", 0)])
def test_component_term(component, points):
    assert score_with(component_name=component) == 1500 + points + 5


@pytest.mark.parametrize("urgency, points", [
    (Urgency.LOW, 5), (Urgency.MEDIUM, 10), (Urgency.HIGH, 15), (Urgency.EMERGENCY, 20)])
def test_urgency_term(urgency, points):
    assert score_with(urgency=urgency) == 1500 + 1000 + points


def test_private_archive_bonus():
    assert score_with(private=True) == 2505 + 10000


@pytest.mark.parametrize("relative", [-2000, 0, 150])
def test_archive_relative_build_score(relative):
    assert score_with(relative_build_score=relative) == 2505 + relative


@pytest.mark.parametrize("waited, points", [
    (-5 * MINUTE, 0), (0 * MINUTE, 0), (4 * MINUTE, 0), (5 * MINUTE, 1),
    (9 * MINUTE, 1), (10 * MINUTE, 2), (499 * MINUTE, 99), (500 * MINUTE, 100),
    (3 * 24 * 60 * MINUTE, 100)])
def test_age_term_one_point_per_five_minutes_capped(waited, points):
    assert age_score(waited) == points
    assert score_with(waited=waited) == 2505 + points


def test_all_terms_add_up():
    assert score_of(Pocket.SECURITY, "partner", Urgency.EMERGENCY, True, 7,
                    30 * MINUTE) == 4500 + 1250 + 20 + 10000 + 7 + 6


def test_age_never_bridges_a_component_step():
    old_universe = score_with(component_name="universe", waited=10 ** 4 * MINUTE)
    assert old_universe < score_with(component_name="main")


def test_waiting_low_job_overtakes_fresh_medium_one():
    assert score_with(waited=25 * MINUTE) == score_with(urgency=Urgency.MEDIUM)
    assert score_with(waited=30 * MINUTE) > score_with(urgency=Urgency.MEDIUM)


# -- On queue entries ---------------------------------------------------------

def test_score_of_a_sample_entry_uses_its_current_component(sample, session):
    entry = session.get(BuildQueue, 2)  # foobar 1.0, hoary RELEASE, main, LOW
    entry.created = NOW - 12 * MINUTE
    assert score(entry, NOW) == 1500 + 1000 + 5 + 2
    publication = entry.build.current_source_publication
    publication.component = rows.component(session, "universe")
    session.flush()
    assert score(entry, NOW) == 1500 + 250 + 5 + 2


def test_manual_entry_keeps_its_score(sample, session):
    entry = session.get(BuildQueue, 2)
    entry.manual, entry.lastscore = True, 42
    assert score(entry, NOW) == 42
    scoring.rescore_all(session, NOW)
    assert session.get(BuildQueue, 2).lastscore == 42


def test_rescore_all_agrees_with_score_and_skips_running_jobs(sample, session):
    build = session.get(Build, 8)
    private_build = rows.build_for(build.sourcepackagerelease, build.distroarchseries,
                                   sample.cprov_ppa, pocket=Pocket.UPDATES)
    sample.cprov_ppa.private, sample.cprov_ppa.relative_build_score = True, 30
    pending = [session.get(BuildQueue, 2), private_build.createBuildQueueEntry()]
    pending[1].created = NOW - 61 * MINUTE
    session.flush()
    running_before = session.get(BuildQueue, 1).lastscore

    changed = scoring.rescore_all(session, NOW)

    session.expire_all()
    assert changed == 2
    for entry in pending:
        entry = session.get(BuildQueue, entry.id)
        assert entry.lastscore == score(entry, NOW)
    assert session.get(BuildQueue, pending[1].id).lastscore == \
        3000 + 1000 + 5 + 10000 + 30 + 12
    assert session.get(BuildQueue, 1).lastscore == running_before
    assert scoring.rescore_all(session, NOW) == 0


def test_rescore_all_reads_in_batches(sample, session, monkeypatch):
    monkeypatch.setattr(scoring, "RESCORE_BATCH", 1)
    build = session.get(Build, 8)
    build.buildqueue_record.builder = None
    session.flush()
    assert scoring.rescore_all(session, NOW) == 2
    scores = session.scalars(sa.select(BuildQueue.lastscore).order_by(BuildQueue.id)).all()
    assert scores == [score(session.get(BuildQueue, 1), NOW),
                      score(session.get(BuildQueue, 2), NOW)]
