"""PostgreSQL cutting the running master off (pg_terminate_backend of all
its connections, three times while its slaves build): the master logs
the outage once, its slaves' builds go on and are collected, and it
recovers without a restart, the farm's invariants intact."""

import collections
import os
import time

import pytest

from buildmaster.model import BuildStatus
from buildmaster.testing import invariants
from buildmaster.testing.database import ENV_VAR
from buildmaster.testing.fastfarm import FastFarm, source_names

pytestmark = pytest.mark.chaos


@pytest.fixture
def farm(tmp_path):
    if not (os.environ.get(ENV_VAR) or "").startswith("postgresql"):
        pytest.skip("needs PostgreSQL: its backends are what is terminated")
    made = FastFarm(tmp_path, builders=3, build_seconds=3.0)
    yield made
    made.close()


def test_a_master_cut_off_from_postgresql_keeps_its_builds_and_recovers(farm):
    farm.upload(source_names(0, 9))
    farm.start()
    pid = farm.master.popen.pid
    running = farm.wait_until(
        lambda: [row.id for row in farm.builds() if row.buildstate == BuildStatus.BUILDING],
        "a build running")
    offset = len(farm.master.read_log())
    cut = []
    for _ in range(3):
        cut.append(farm.terminate_backends())
        time.sleep(1.5)
    assert all(count > 0 for count in cut)
    farm.wait_until(lambda: not invariants.unsettled(farm.builds()), "settled", timeout=300)
    farm.wait_until(lambda: not invariants._unmailed(farm, farm.builds()), "mailed")

    assert farm.master.popen.poll() is None and farm.master.popen.pid == pid
    log = farm.master.read_log()[offset:]
    assert log.count("database unreachable (") >= 1
    assert "database reachable again" in log
    trouble = max(log.find("Unhandled Error"), log.find("Traceback"))
    assert trouble < 0, log[max(0, trouble - 3000):trouble + 4000]
    # The builds running when the master was cut off were never started again.
    starts = collections.Counter(entry["job"].split("-")[0]
                                 for entry in farm.slaves.journal() if entry["call"] == "build")
    assert all(starts[str(build_id)] == 1 for build_id in running)
    tally = invariants.Tally()
    invariants.check_settled(farm, tally)
    assert tally.violations == []
