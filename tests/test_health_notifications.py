"""The status list: one message per colour transition, in every mode,
through a real SMTP server on loopback, once only across masters and
restarts."""

import email
import email.policy
import logging

import pytest
import pytest_twisted
import sqlalchemy as sa

import buildmaster.seeds.builder  # noqa: F401  (the seeds' Builder API)
from buildmaster import config as configmodule
from buildmaster import health
from buildmaster.context import FarmContext
from buildmaster.dispatch.dispatcher import DispatchFailed, dispatch_candidate
from buildmaster.health.outbox import Outbox
from buildmaster.model import Build, BuildOutcome, BuildStatus, utcnow
from buildmaster.testing.deferreds import wait
from buildmaster.testing.history import WARNING_LOG, Farm
from buildmaster.testing.mockslaves import OkSlave

LIST = "buildbot-status@example.com"


@pytest.fixture
def farm(sample, session, farm_config, librarian, build_mailer):
    farm_config.status.mailing_list = [LIST]
    return Farm(session, sample, farm_config, librarian, build_mailer)


async def list_mail(mailer, smtp_server):
    """[(subject, change header, parsed message)] the list received, in
    the order of the outcomes they tell (several SMTP sessions may
    deliver them in any order)."""
    await mailer.flush()
    received = [email.message_from_string(raw, policy=email.policy.default)
                for _, to, raw in smtp_server.messages if to == [LIST]]
    received.sort(key=lambda message: int(message["Message-ID"].split("-")[2].split("@")[0]))
    return [(message["Subject"].strip(), message["X-Buildmaster-Change"], message)
            for message in received]


def warned(source):
    return WARNING_LOG.format(source=source)


def story(farm):
    """hello: green, orange, red, red, green."""
    farm.build("hello", "2.3-1")
    farm.build("hello", "2.4-1", log=warned("hello"))
    farm.build("hello", "2.5-1", result="PACKAGEFAIL")
    farm.build("hello", "2.6-1", result="PACKAGEFAIL")
    farm.build("hello", "2.7-1")


@pytest_twisted.ensureDeferred
async def test_problem_mode_tells_the_list_once_when_a_line_starts_failing(
        farm, build_mailer, smtp_server, session):
    story(farm)
    (subject, what, message), = await list_mail(build_mailer, smtp_server)
    assert subject == ("hello: FAILEDTOBUILD on i386 in primary hoary, was FULLYBUILT "
                       "with 2 warnings in 2.4-1")
    assert what == "regression" and message["X-Buildmaster-Colour"] == "red"
    body = message.get_content()
    assert "Now:    2.5-1, build " in body and "Before: 2.4-1, build " in body
    assert "on bob" in body and body.count("Build log: http://localhost:58000/") == 2
    assert "hello.c:7:1: error: expected ';' before '}' token" in body
    # The build's colour and warnings are kept with it.
    colours = [(b.sourcepackagerelease.version, b.warnings) for b in session.scalars(
        sa.select(Build).where(Build.id > 9).order_by(Build.id))]
    assert colours == [("2.3-1", 0), ("2.4-1", 2), ("2.5-1", 0), ("2.6-1", 0),
                       ("2.7-1", 0)]


@pytest_twisted.ensureDeferred
async def test_the_uploaders_failure_mail_stays_as_it_is(farm, build_mailer, smtp_server):
    farm.build("hello", "2.3-1")
    farm.build("hello", "2.5-1", result="PACKAGEFAIL")
    await build_mailer.flush()
    assert sorted(to[0] for _, to, _ in smtp_server.messages) == sorted([
        LIST, "mark@example.com", "foo.bar@canonical.com", "celso.providelo@canonical.com"])


@pytest_twisted.ensureDeferred
async def test_change_mode_tells_every_colour_change(farm, build_mailer, smtp_server):
    farm.config.status.mode = ("change",)
    story(farm)
    told = [(subject.split(",")[0], what)
            for subject, what, _ in await list_mail(build_mailer, smtp_server)]
    assert told == [
        ("hello: FULLYBUILT with 2 warnings on i386 in primary hoary", "new-warnings"),
        ("hello: FAILEDTOBUILD on i386 in primary hoary", "regression"),
        ("hello: FULLYBUILT on i386 in primary hoary", "fixed"),
    ]


@pytest_twisted.ensureDeferred
async def test_failing_mode_tells_every_red_build(farm, build_mailer, smtp_server):
    farm.config.status.mode = ("failing",)
    farm.build("bye", "1.0-1", result="CHROOTFAIL")  # a line's first build
    story(farm)
    told = [(subject.split(" on ")[0], what)
            for subject, what, _ in await list_mail(build_mailer, smtp_server)]
    assert told == [("bye: CHROOTWAIT", "first"), ("hello: FAILEDTOBUILD", "regression"),
                    ("hello: FAILEDTOBUILD", "still-failing")]


@pytest_twisted.ensureDeferred
async def test_warnings_mode_tells_every_orange_or_red_build(
        farm, build_mailer, smtp_server):
    farm.config.status.mode = ("warnings",)
    story(farm)
    farm.build("hello", "2.8-1", log=warned("hello"))
    told = [what for _, what, _ in await list_mail(build_mailer, smtp_server)]
    assert told == ["new-warnings", "regression", "still-failing", "new-warnings"]


@pytest_twisted.ensureDeferred
async def test_lines_are_kept_apart_by_source_and_archive(farm, build_mailer, smtp_server,
                                                          sample):
    farm.build("hello", "2.3-1")
    farm.build("other", "1.0-1", result="PACKAGEFAIL")  # its own line: first, not told
    farm.build("hello", "2.4-1", result="PACKAGEFAIL", archive=sample.cprov_ppa)
    assert await list_mail(build_mailer, smtp_server) == []


@pytest_twisted.ensureDeferred
async def test_a_manual_dependency_wait_leaves_the_line_as_it_was(
        farm, build_mailer, smtp_server, session):
    farm.build("hello", "2.3-1")
    waited = farm.build("hello", "2.4-1", result="DEPFAIL")
    farm.build("hello", "2.5-1", result="PACKAGEFAIL")
    (subject, _, _), = await list_mail(build_mailer, smtp_server)
    assert subject.endswith("was FULLYBUILT in 2.3-1")
    outcome = session.scalars(sa.select(BuildOutcome).filter_by(build_id=waited.id)).one()
    assert (outcome.colour, outcome.change, outcome.judged_at is not None) == (
        "none", None, True)


@pytest_twisted.ensureDeferred
async def test_nothing_is_told_without_a_list(farm, build_mailer, smtp_server, session):
    farm.config.status.mailing_list = []
    story(farm)
    assert await list_mail(build_mailer, smtp_server) == []
    assert session.scalar(sa.select(sa.func.count()).where(
        BuildOutcome.judged_at.is_(None))) == 0


@pytest.fixture
def record_only(farm, monkeypatch):
    """Finish a build as a master killed between the build's commit and
    the telling."""
    def finish(source, version, result):
        with monkeypatch.context() as patched:
            patched.setattr(health, "tell", lambda *args, **kwargs: None)
            return farm.build(source, version, result=result)
    return finish


def restarted(farm_config, db):
    """The next master on the same database and spool."""
    return FarmContext(farm_config, engine=db.engine)


def another_master(farm_config, db, root):
    """A second master on the same database, with its own root (and mail
    spool), as on another machine."""
    config = configmodule.load(farm_config.path)
    config.status = farm_config.status
    config.builddmaster.root = str(root)
    return FarmContext(config, engine=db.engine)


def sweep(context):
    outbox = Outbox(context.mailer)
    result = health.sweep_now(context, outbox)
    outbox.release()
    return result


@pytest_twisted.ensureDeferred
async def test_a_transition_is_told_once_across_a_master_restart(
        farm, build_mailer, smtp_server, farm_config, db, record_only):
    farm.build("hello", "2.3-1")
    record_only("hello", "2.4-1", "PACKAGEFAIL")
    assert await list_mail(build_mailer, smtp_server) == []
    # The next master's build_health run tells it; the one after finds
    # nothing left to tell, nor does the first master again.
    second = restarted(farm_config, db)
    assert sweep(second) == (1, [])
    await second.mailer.flush()
    second.close()
    third = restarted(farm_config, db)
    assert sweep(third) == (0, [])
    health.tell(farm.session, farm_config, build_mailer, [])
    await third.mailer.flush()
    third.close()
    told = await list_mail(build_mailer, smtp_server)
    assert [what for _, what, _ in told] == ["regression"]


@pytest_twisted.ensureDeferred
async def test_two_masters_judging_together_tell_once(
        farm, build_mailer, smtp_server, farm_config, db, record_only, tmp_path):
    farm.build("hello", "2.3-1")
    record_only("hello", "2.4-1", "PACKAGEFAIL")
    record_only("hello", "2.5-1", "OK")
    await build_mailer.flush()
    masters = [another_master(farm_config, db, tmp_path / name) for name in ("m1", "m2")]
    outboxes = [Outbox(master.mailer) for master in masters]
    # Each finds both outcomes unjudged; the claims decide who tells which.
    sessions = [master.sessions() for master in masters]
    pending = [health.notify.unjudged(session) for session in sessions]
    assert [len(each) for each in pending] == [2, 2]
    now = utcnow()
    won = [health.notify.judge(sessions[0], farm_config, outboxes[0], [pending[0][0]], now),
           health.notify.judge(sessions[1], farm_config, outboxes[1], pending[1], now),
           health.notify.judge(sessions[0], farm_config, outboxes[0], [pending[0][1]], now)]
    assert [[outcome.id for outcome in each] for each in won] == [
        [pending[0][0].id], [pending[1][1].id], []]
    for master, outbox, session in zip(masters, outboxes, sessions):
        outbox.release()
        await master.mailer.flush()
        session.close()
        master.close()
    told = [what for _, what, _ in await list_mail(build_mailer, smtp_server)]
    assert told == ["regression"]


@pytest_twisted.ensureDeferred
async def test_a_message_spooled_before_a_crash_is_sent_by_the_next_master(
        farm, build_mailer, smtp_server, farm_config, db, record_only):
    farm.build("hello", "2.3-1")
    record_only("hello", "2.4-1", "PACKAGEFAIL")
    await build_mailer.flush()
    await smtp_server.stop()
    first = restarted(farm_config, db)
    outbox = Outbox(first.mailer)
    health.sweep_now(first, outbox)  # claimed and held in the spool ...
    first.close()  # ... and the master stops before sending it
    smtp_server.start()
    second = restarted(farm_config, db)  # its mailer loads the spool
    await second.mailer.flush()
    assert [what for _, what, _ in await list_mail(build_mailer, smtp_server)] == [
        "regression"]
    assert sweep(second) == (0, [])
    second.close()


@pytest_twisted.ensureDeferred
async def test_a_job_failed_at_dispatch_is_red_too(
        farm, build_mailer, smtp_server, session, sample, librarian):
    class Refusing(OkSlave):
        def ensurepresent(self, *args):
            return [False, "no space left"]

    farm.build("hello", "2.3-1")
    build = farm.release("hello", "2.4-1")
    farm.config.builddmaster.job_failure_threshold = 2
    build.failure_count = 1  # failed once elsewhere: this failure is the job's
    sample.frog.setSlaveForTesting(Refusing())
    entry = build.createBuildQueueEntry()
    session.commit()
    with pytest.raises(DispatchFailed):
        wait(dispatch_candidate(sample.frog, entry, farm.config, librarian=librarian,
                                mailer=build_mailer))
    assert build.buildstate == BuildStatus.FAILEDTOBUILD
    (subject, what, message), = await list_mail(build_mailer, smtp_server)
    assert subject.startswith("hello: FAILEDTOBUILD on i386 in primary hoary, was ")
    assert "dispatching it failed 2 times, last on frog" in message.get_content()


def test_a_second_master_cannot_record_the_same_attempt(farm, session, farm_config):
    build = farm.build("hello", "2.3-1")
    outcome = session.scalars(sa.select(BuildOutcome).filter_by(build_id=build.id)).one()
    session.add(BuildOutcome(
        build_id=build.id, buildqueue_id=outcome.buildqueue_id,
        sourcepackagename_id=outcome.sourcepackagename_id,
        sourcepackagerelease_id=outcome.sourcepackagerelease_id,
        archive_id=outcome.archive_id, distroarchseries_id=outcome.distroarchseries_id,
        state="FULLYBUILT", colour="green", finished_at=outcome.finished_at))
    with pytest.raises(sa.exc.IntegrityError):
        session.commit()
    session.rollback()



def judging_queries(context):
    """(outcomes judged, statements sent) of judging every pending outcome."""
    statements = []

    def count(*args):
        statements.append(args[2])
    sa.event.listen(context.engine, "before_cursor_execute", count)
    try:
        with context.sessions() as session:
            judged = health.notify.judge_pending(session, context.config,
                                                 Outbox(context.mailer), utcnow())
    finally:
        sa.event.remove(context.engine, "before_cursor_execute", count)
    return len(judged), len(statements)


def test_judging_many_outcomes_costs_no_more_queries_than_judging_one(
        farm, farm_config, db, record_only):
    context = restarted(farm_config, db)
    for source in ("hello", "world", "there"):
        record_only(source, "2.3-1", "OK")
    judging_queries(context)
    record_only("hello", "2.4-1", "PACKAGEFAIL")     # a regression, told
    one = judging_queries(context)
    for version, result in (("2.5-1", "OK"), ("2.6-1", "PACKAGEFAIL")):
        for source in ("hello", "world", "there"):
            record_only(source, version, result)  # fixed, regressions: told
    many = judging_queries(context)
    context.close()
    assert (one[0], many[0]) == (1, 6)
    assert many[1] == one[1]


def test_telling_during_a_database_outage_is_one_line(
        farm, farm_config, build_mailer, monkeypatch, caplog):
    def cut_off(*args):
        raise sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection"))
    monkeypatch.setattr(health.notify, "judge_pending", cut_off)
    with caplog.at_level(logging.WARNING, logger="buildmaster.health"):
        health.tell(farm.session, farm_config, build_mailer, [])
    assert [(r.levelname, r.exc_info) for r in caplog.records] == [("WARNING", None)]
    assert "waits for the database (server closed the connection)" in caplog.messages[0]
