"""kill -9 of the master with real slaves doing real builds in the real
buildd chroot (marked chaos and end_to_end): killed while a build runs,
then again once the slave waits with its results and before the master
has collected them; restarted each time.  Every build ends FULLYBUILT
once, with its binaries, and each slave built each job once."""

import re
import signal
import xmlrpc.client

import pytest
import pytest_twisted

from buildmaster import config as configmodule
from buildmaster.model import BuildStatus
from buildmaster.testing.debpackages import make_source_package
from buildmaster.testing.farm import (  # noqa: F401
    STARTED, all_finished, builds_of, chroot, master, master_config_text, native_world,
    slaves, until, upload_dsc)

pytestmark = [pytest.mark.chaos, pytest.mark.end_to_end]

SERIES = "killy"


@pytest.fixture
def world(sample, session, slaves, chroot):
    return native_world(sample, session, slaves, chroot, SERIES)


@pytest.fixture
def master_config(db, farm_config, tmp_path, smtp_server, world):
    path = tmp_path / "master.conf"
    path.write_text(master_config_text(db, farm_config, tmp_path, smtp_server))
    return configmodule.load(str(path))


def slave_state(slave):
    return xmlrpc.client.ServerProxy(slave.url + "rpc").status()["builder_status"]


async def restart(master):
    master.kill()
    offset = len(master.read_log())
    master.start()
    await master.logged(STARTED, after=offset)


@pytest_twisted.ensureDeferred
async def test_a_master_killed_mid_build_and_before_collecting_loses_and_doubles_nothing(
        master, master_config, session, slaves, tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    names = [f"killed-{n}" for n in range(2)]
    for name in names:
        dsc = make_source_package(str(sources), name=name, version="1.0", kind="good")
        done = upload_dsc(master_config.path, dsc, SERIES)
        assert done.returncode == 0, done.stderr
    master.start()
    await master.logged(STARTED)

    def building():
        return any(b.buildstate == BuildStatus.BUILDING
                   for builds in builds_of(session, names).values() for b in builds)
    await until(building, "started building", master, interval=0.05)
    await restart(master)   # kill -9 while a real build runs

    def results_waiting():
        return any(slave_state(slave) == "BuilderStatus.WAITING" for slave in slaves)
    await until(results_waiting, "a slave waiting with its results", master, interval=0.02)
    await restart(master)   # kill -9 before (or while) the master collects them

    found = await until(all_finished(session, names), "finished after the kills", master)
    for name, builds in found.items():
        assert [b.buildstate for b in builds] == [BuildStatus.FULLYBUILT], name
        assert [p.name for p in builds[0].binarypackages] == [name], name
    assert master.stop(signal.SIGTERM) == -signal.SIGTERM
    jobs = []
    for slave in slaves:
        with open(slave.log_path, encoding="utf-8", errors="replace") as f:
            started = re.findall(r"-> BuilderStatus\.BUILDING \(build (\S+)\)", f.read())
        assert len(started) == len(set(started)), (slave.url, started)
        jobs += started
    assert len(jobs) == len(names)
