"""The 2005 seed's BuilddMaster over today's dispatcher and scanner."""

import logging

import pytest
import sqlalchemy as sa

import buildmaster.seeds.builder  # noqa: F401  (the seeds' Builder API)
from buildmaster.seeds.builddmaster import BuilddMaster
from buildmaster.model import Builder, BuildQueue, BuildStatus, DistroArchSeries
from buildmaster.testing.deferreds import wait
from buildmaster.testing.mockslaves import BuildingSlave, OkSlave
from scannerhelpers import RecordingMailer


@pytest.fixture
def bm(sample, transaction, farm_config, librarian):
    return BuilddMaster(logging.getLogger("test.builddmaster"), transaction,
                        config=farm_config, librarian=librarian, mailer=RecordingMailer())


def setup_all(bm, session):
    unable = []
    for das in session.scalars(sa.select(DistroArchSeries).order_by(DistroArchSeries.id)):
        bm.addDistroArchRelease(das)
        try:
            bm.setupBuilders(das)
        except KeyError:
            series = das.distroseries
            unable.append(f"Unable to setup builder for {series.distribution.name}/"
                          f"{series.name}/{das.architecturetag}.")
    return unable


def test_without_chroots_no_builder_is_set_up(bm, session, sample):
    for das in session.scalars(sa.select(DistroArchSeries)):
        das.chroot = None
    assert setup_all(bm, session) == [
        "Unable to setup builder for ubuntu/warty/i386.",
        "Unable to setup builder for ubuntu/hoary/i386."]
    assert bm._archreleases == {}


def test_without_usable_builders_no_builder_is_set_up(bm, session, sample):
    for builder in session.scalars(sa.select(Builder)):
        builder.builderok = False
    assert len(setup_all(bm, session)) == 2
    assert set(bm._archreleases) == {sample.warty["i386"], sample.hoary["i386"]}


def test_with_chroots_the_i386_builders_are_set_up(bm, session, sample):
    assert setup_all(bm, session) == []
    group = bm.setupBuilders(sample.hoary["i386"])
    assert [builder.name for builder in group.builders] == ["bob", "frog"]
    assert bm.setupBuilders(sample.hoary["i386"]) is group


def test_split_by_processor_and_dispatch_to_idle_builders(bm, session, sample):
    frog = session.get(Builder, 2)
    frog.setSlaveForTesting(OkSlave())
    session.get(Builder, 1).setSlaveForTesting(BuildingSlave("8-1"))
    byproc = bm.sortAndSplitByProcessor()
    assert {proc.name: [entry.id for entry in entries]
            for proc, entries in byproc.items()} == {"386": [2]}
    started = [wait(bm.dispatchByProcessor(proc, entries))
               for proc, entries in byproc.items()]
    assert started == [1]
    session.expire_all()
    entry = session.get(BuildQueue, 2)
    assert (entry.builder.name, entry.build.buildstate) == ("frog", BuildStatus.BUILDING)


def test_scan_active_builders_delegates_to_the_scanner(bm, session, sample):
    bob = session.get(Builder, 1)
    bob.setSlaveForTesting(BuildingSlave("8-1"))
    session.get(Builder, 2).setSlaveForTesting(OkSlave())
    assert wait(bm.scanActiveBuilders()) == 0
    session.expire_all()
    assert session.get(BuildQueue, 1).logtail == "This is a build log"
