"""How the scan pass ends the builds slaves finished, and how loud it says
so: a dependency wait is a step the farm expects, a chroot problem the
admins' to mend."""

import logging

import pytest
import pytest_twisted

import buildmaster.seeds.builder  # noqa: F401  (the seeds' Builder API)
from buildmaster.model import Build, Builder, BuildStatus
from buildmaster.scan import scanpass
from buildmaster.testing.mockslaves import WaitingSlave


@pytest.fixture
def context(mailing_context):
    return mailing_context


@pytest.fixture
def bob(context, session):
    """bob, running job 8-1 of the sample world."""
    return session.get(Builder, 1)


def fresh_build(session):
    session.expire_all()
    return session.get(Build, 8)


@pytest.mark.parametrize("slave_status, state, level", [
    ("BuildStatus.DEPFAIL", BuildStatus.MANUALDEPWAIT, logging.INFO),
    ("BuildStatus.CHROOTFAIL", BuildStatus.CHROOTWAIT, logging.WARNING),
])
@pytest_twisted.ensureDeferred
async def test_a_dependency_wait_is_no_alarm_and_a_chroot_problem_a_warning(
        context, session, bob, caplog, slave_status, state, level):
    bob.setSlaveForTesting(WaitingSlave(slave_status, "baz (>= 1.0.1)", build_id="8-1"))
    with caplog.at_level(logging.INFO, logger="buildmaster.scanner"):
        await scanpass.scan(context)
    assert fresh_build(session).buildstate == state
    shouted = [(record.levelno, record.getMessage()) for record in caplog.records
               if record.getMessage().startswith("*****")]
    assert shouted == [(level, f"***** bob is {state.name} *****")]
