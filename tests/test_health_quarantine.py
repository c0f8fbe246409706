"""Sick builders quarantined, builders' changes told once, through a
real SMTP server on loopback."""

import email
import email.policy

import pytest
import pytest_twisted
import sqlalchemy as sa

from buildmaster import health
from buildmaster.health.outbox import Outbox
from buildmaster.model import Builder, BuilderHealth, BuildOutcome, BuildStatus
from buildmaster.testing.history import Farm
from tests.clihelpers import cli  # noqa: F401

ADMINS = ["celso.providelo@canonical.com", "foo.bar@canonical.com"]


@pytest.fixture
def farm(sample, session, farm_config, librarian, build_mailer):
    return Farm(session, sample, farm_config, librarian, build_mailer)


async def admin_mail(mailer, smtp_server):
    """[(subject, recipients, body)] of the builder messages received."""
    await mailer.flush()
    found = []
    for _, to, raw in smtp_server.messages:
        message = email.message_from_string(raw, policy=email.policy.default)
        if message["X-Buildmaster-Builder-State"]:
            found.append((message["Subject"], to[0], message.get_content()))
    return sorted(found)


def sweep(farm_context, build_mailer):
    outbox = Outbox(build_mailer)
    result = health.sweep_now(farm_context, outbox)
    outbox.release()
    return result


def built_on_frog_then_failing_fast_on_bob(farm, sample, sources, seconds=10):
    """Each source builds on frog in the primary archive, then fails on
    bob in ~cprov/ppa ``seconds`` after starting; the failed builds."""
    for source in sources:
        farm.build(source, "1.0-1", builder="frog")
    return [farm.build(source, "1.0-1", builder="bob", result="PACKAGEFAIL",
                       seconds=seconds, archive=sample.cprov_ppa) for source in sources]


@pytest_twisted.ensureDeferred
async def test_three_fast_failures_of_sources_built_elsewhere_quarantine_a_builder(
        farm, sample, session, build_mailer, smtp_server):
    failed = built_on_frog_then_failing_fast_on_bob(farm, sample, ["aa", "bb", "cc"])
    session.expire_all()
    bob = session.get(Builder, sample.bob.id)
    assert not bob.builderok
    assert bob.failnotes == (
        "Quarantined: failed 3 builds in a row, each within 120 seconds, that built on "
        f"other builders: build {failed[2].id} (cc 1.0-1 i386), build {failed[1].id} "
        f"(bb 1.0-1 i386), build {failed[0].id} (aa 1.0-1 i386)")
    assert session.get(BuilderHealth, bob.id).state == "QUARANTINED"
    # Its failures are blamed on it, and the builds go back to the queue
    # with no failure counted against them.
    for build in failed:
        session.refresh(build)
        assert build.buildstate == BuildStatus.NEEDSBUILD
        assert build.buildqueue_record is not None and build.failure_count == 0
    assert set(session.scalars(sa.select(BuildOutcome.builder_fault).where(
        BuildOutcome.builder_id == bob.id))) == {True}
    # The buildd admins get one message, naming the builds.
    told = await admin_mail(build_mailer, smtp_server)
    assert [(subject, to) for subject, to, _ in told] == [
        ("Builder bob quarantined", admin) for admin in ADMINS]
    body = told[0][2]
    assert "Builder bob is quarantined: it failed 3 builds in a row" in body
    assert f"build {failed[0].id} (aa 1.0-1 i386): was FAILEDTOBUILD, now NEEDSBUILD" in body
    assert "'buildmaster builder enable bob'" in body


@pytest_twisted.ensureDeferred
async def test_a_quarantined_builders_notes_name_no_private_build(
        farm, sample, session, build_mailer, smtp_server):
    """Its failnotes are on every page, without a token: the private
    builds of its streak are 'a private build' there; the buildd admins'
    message still names them."""
    sample.cprov_ppa.private, sample.cprov_ppa.buildd_secret = True, "s"
    session.commit()
    failed = built_on_frog_then_failing_fast_on_bob(farm, sample, ["aa", "bb", "cc"])
    session.expire_all()
    bob = session.get(Builder, sample.bob.id)
    assert bob.failnotes == (
        "Quarantined: failed 3 builds in a row, each within 120 seconds, that built on "
        "other builders: a private build, a private build, a private build")
    body = (await admin_mail(build_mailer, smtp_server))[0][2]
    assert f"build {failed[0].id} (aa 1.0-1 i386): was FAILEDTOBUILD, now NEEDSBUILD" in body


@pytest_twisted.ensureDeferred
async def test_builder_enable_lifts_the_quarantine_and_the_admins_are_told_once(
        farm, sample, session, build_mailer, smtp_server, farm_context, cli):
    built_on_frog_then_failing_fast_on_bob(farm, sample, ["aa", "bb", "cc"])
    # Scans and sweeps while it is quarantined tell nothing more.
    assert sweep(farm_context, build_mailer) == (0, [])
    assert sweep(farm_context, build_mailer) == (0, [])
    assert cli("builder", "enable", "bob").out == "Builder bob enabled.\n"
    assert sweep(farm_context, build_mailer) == (0, [("bob", "QUARANTINED", "OK")])
    assert sweep(farm_context, build_mailer) == (0, [])
    told = await admin_mail(build_mailer, smtp_server)
    assert [subject for subject, _, _ in told] == [
        "Builder bob back in use", "Builder bob back in use",
        "Builder bob quarantined", "Builder bob quarantined"]
    # Its streak was forgotten: one more fast failure does not quarantine
    # it again.
    farm.build("dd", "1.0-1", builder="frog")
    farm.build("dd", "1.0-1", builder="bob", result="PACKAGEFAIL", seconds=10,
               archive=sample.cprov_ppa)
    session.expire_all()
    assert session.get(Builder, sample.bob.id).builderok


@pytest.mark.parametrize("seconds, elsewhere", [(600, True), (10, False)])
def test_slow_failures_or_sources_failing_everywhere_are_the_sources(
        farm, sample, session, seconds, elsewhere):
    if elsewhere:
        built_on_frog_then_failing_fast_on_bob(farm, sample, ["aa", "bb", "cc"], seconds)
    else:
        for source in ["aa", "bb", "cc"]:
            farm.build(source, "1.0-1", builder="bob", result="PACKAGEFAIL",
                       seconds=seconds)
    session.expire_all()
    bob = session.get(Builder, sample.bob.id)
    assert bob.builderok and session.get(BuilderHealth, bob.id) is None


@pytest_twisted.ensureDeferred
async def test_a_failed_builder_and_its_return_are_told_once_each(
        farm, sample, session, build_mailer, smtp_server, farm_context, cli):
    assert sweep(farm_context, build_mailer) == (0, [])
    cli("builder", "disable", "frog", "--reason", "disk full")
    assert sweep(farm_context, build_mailer) == (0, [("frog", "OK", "FAILED")])
    assert sweep(farm_context, build_mailer) == (0, [])
    cli("builder", "enable", "frog")
    assert sweep(farm_context, build_mailer) == (0, [("frog", "FAILED", "OK")])
    assert sweep(farm_context, build_mailer) == (0, [])
    told = await admin_mail(build_mailer, smtp_server)
    assert [(subject, to) for subject, to, _ in told] == [
        ("Builder frog back in use", ADMINS[0]), ("Builder frog back in use", ADMINS[1]),
        ("Builder frog failed", ADMINS[0]), ("Builder frog failed", ADMINS[1])]
    failed = next(body for subject, _, body in told if subject.endswith("failed"))
    assert " * Notes: disk full" in failed
