"""How the scan pass ends the builds slaves finished, and how loud it says
so: a dependency wait is a step the farm expects, a chroot problem the
admins' to mend."""

import io
import logging

import pytest
import pytest_twisted

import buildmaster.seeds.builder  # noqa: F401  (the seeds' Builder API)
from buildmaster.model import Build, Builder, BuildStatus
from buildmaster.scan import scanpass
from buildmaster.testing.mockslaves import WaitingSlave
from scannerhelpers import delivered


@pytest.fixture
def mailer(build_mailer):
    return build_mailer


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


NOTE = ("fakeroot, which the slave needs to build any package, cannot be installed: "
        "neither the chroot nor this build's archives have it")
CHROOT_LOG = (b"[slave] running: apt-get satisfy fakeroot\n"
              b"satisfy:command-line : Depends: fakeroot but it is not installable\n"
              b"E: Unable to correct problems, you have held broken packages.\n"
              b"[slave] apt-get exited with 100\n"
              + f"[slave] {NOTE}\n".encode())


class ChrootProblemSlave(WaitingSlave):
    """Ended job 8-1 on a chroot problem, its log saying which."""

    def __init__(self):
        super().__init__("BuildStatus.CHROOTFAIL", build_id="8-1")

    def getFile(self, name):
        return io.BytesIO(CHROOT_LOG) if name == "buildlog" else super().getFile(name)


@pytest_twisted.ensureDeferred
async def test_a_chroot_problem_is_named_in_the_masters_log_and_the_mail(
        context, session, bob, caplog, mailer, smtp_server):
    bob.setSlaveForTesting(ChrootProblemSlave())
    with caplog.at_level(logging.INFO, logger="buildmaster.scanner"):
        await scanpass.scan(context)
    build = fresh_build(session)
    assert build.buildstate == BuildStatus.CHROOTWAIT
    assert (f"build 8 (mozilla-firefox 0.9 i386) on bob: BUILDING -> CHROOTWAIT ({NOTE})"
            in caplog.messages)
    told = {tuple(to): message for to, message in await delivered(mailer, smtp_server)}
    assert set(told) == {("mark@example.com",), ("foo.bar@canonical.com",),
                         ("celso.providelo@canonical.com",)}
    for message in told.values():
        body = message.get_content()
        assert " * State: Chroot problem\n" in body
        assert f" * Chroot problem: {NOTE}\n" in body


@pytest_twisted.ensureDeferred
async def test_a_failed_build_has_no_chroot_problem_line(
        context, session, bob, mailer, smtp_server):
    bob.setSlaveForTesting(WaitingSlave("BuildStatus.PACKAGEFAIL", build_id="8-1"))
    await scanpass.scan(context)
    assert fresh_build(session).buildstate == BuildStatus.FAILEDTOBUILD
    for _, message in await delivered(mailer, smtp_server):
        assert "Chroot problem" not in message.get_content()
