"""Build failure mail: who is told, what they read, and delivery through
a real SMTP server on loopback, including when it is down."""

import datetime
import email
import email.policy
import gzip
import json
import logging
import os
from operator import itemgetter

import pytest
import pytest_twisted
from sqlalchemy import event
from twisted.internet import task

from buildmaster.librarian.urls import http_url
from buildmaster.mail.mailer import (
    BuildMailer, FailureNotice, component_name, describe_duration, recipients)
from buildmaster.model import Build, BuildStatus

UPLOAD_LOG = ("INFO    creating lockfile\n"
              "DEBUG   Initialising connection.\n"
              "ERROR   Upload 8-1 failed: foobar_1.0_i386.deb is not a Debian binary\n"
              "DEBUG   Removing lock file: /var/lock/process-upload-buildd.lock\n")
ADMINS = ["foo.bar@canonical.com", "celso.providelo@canonical.com"]


@pytest.fixture
def failed_build(sample, session):
    """Build 8, mozilla-firefox 0.9 in the primary archive, failed to upload on bob."""
    build = session.get(Build, 8)
    build.buildstate = BuildStatus.FAILEDTOUPLOAD
    build.builder = sample.bob
    build.buildduration = datetime.timedelta(hours=1, minutes=5)
    session.flush()
    return build


@pytest.fixture
def clock():
    return task.Clock()


@pytest.fixture
def mailer(farm_config, clock):
    mailer = BuildMailer(farm_config, clock=clock)
    yield mailer
    mailer.stop()


def spooled(farm_config, *parts):
    directory = os.path.join(farm_config.builddmaster.root, "mail-spool", *parts)
    return sorted(name for name in os.listdir(directory) if name.endswith(".json"))


def parse(raw):
    return email.message_from_string(raw, policy=email.policy.default)


def compose(build, config, recipient, reason, upload_log=None):
    """The message to ``recipient``, parsed back as an EmailMessage."""
    return parse(FailureNotice(build, config, upload_log).message(recipient, reason))


def spool_file(farm_config, name, *parts):
    path = os.path.join(farm_config.builddmaster.root, "mail-spool", *parts, name)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def test_primary_build_tells_creator_and_buildd_admins(failed_build, farm_config):
    assert [address for address, _ in recipients(failed_build, farm_config)] == [
        "mark@example.com", "foo.bar@canonical.com", "celso.providelo@canonical.com"]


def test_ppa_build_tells_the_owner_once(sample, session, farm_config):
    build = session.get(Build, 4)  # evolution in ~cprov/ppa, created by mark
    build.buildstate = BuildStatus.FAILEDTOBUILD
    assert recipients(build, farm_config) == [
        ("mark@example.com", "you created this version of the source package"),
        ("celso.providelo@canonical.com", "you own the archive ~cprov/ppa"),
        ("foo.bar@canonical.com", "you are a build administrator"),
    ]


def test_message_headers(failed_build, farm_config):
    message = compose(failed_build, farm_config, "mark@example.com", "you made it")
    assert message["From"] == "buildmaster@localhost"
    assert message["To"] == "mark@example.com"
    assert message["Subject"] == (
        "[Build #8] i386 build of mozilla-firefox 0.9 in ubuntu hoary RELEASE")
    assert message["X-Launchpad-Build-State"] == "FAILEDTOUPLOAD"
    assert message["X-Launchpad-Build-Component"] == "main"
    assert message["X-Launchpad-Build-Arch"] == "i386"
    assert message.as_string().startswith('Content-Type: text/plain; charset="utf-8"\n')


def test_message_body_names_the_build_and_its_log(failed_build, farm_config, librarian,
                                                 session):
    failed_build.buildlog = librarian.add_bytes(
        session, "buildlog_ubuntu-hoary-i386.mozilla-firefox_0.9_BUILDING.txt.gz",
        gzip.compress(b"log\n"), mimetype="text/plain")
    body = compose(failed_build, farm_config, "mark@example.com",
                   "you created this version of the source package").get_content()
    assert body.splitlines()[:10] == [
        " * Source Package: mozilla-firefox",
        " * Version: 0.9",
        " * Series: ubuntu hoary",
        " * Architecture: i386",
        " * Archive: primary (Primary Archive for Ubuntu)",
        " * Component: main",
        " * State: Failed to upload",
        " * Duration: 1 hour, 5 minutes",
        f" * Build Log: {http_url(farm_config, failed_build.buildlog)}",
        " * Builder: bob",
    ]
    assert ("You are receiving this email because you created this version of the "
            "source package.\n") in body
    assert "Upload log:" not in body


def test_upload_log_is_included(failed_build, farm_config):
    message = compose(failed_build, farm_config, "mark@example.com", "why", UPLOAD_LOG)
    assert message.get_content().endswith("\nUpload log:\n" + UPLOAD_LOG)
    assert "Upload log:\nINFO    creating lockfile\n" in message.as_string()


def test_private_build_log_is_not_linked(failed_build, farm_config, librarian, session):
    failed_build.buildlog = librarian.add_bytes(
        session, "buildlog.txt.gz", b"x", mimetype="text/plain", restricted=True)
    body = compose(failed_build, farm_config, "mark@example.com", "why").get_content()
    assert (" * Build Log: not public (private archive): ask a build administrator"
            in body.splitlines())


def test_non_ascii_logs_are_quoted_printable(failed_build, farm_config):
    message = compose(failed_build, farm_config, "mark@example.com", "why",
                      "ERROR   paquet refusé\n")
    assert message["Content-Transfer-Encoding"] == "quoted-printable"
    assert parse(message.as_string()).get_content().endswith("paquet refusé\n")


def test_component_is_asked_once_per_transaction(failed_build, farm_config, session,
                                                  transaction):
    """Every message of a build, and every build of the same source
    publication, share one lookup until the transaction ends."""
    lookups = []

    def count(conn, cursor, statement, *args):
        if "FROM sourcepackagepublishinghistory" in statement:
            lookups.append(statement)
    event.listen(session.get_bind(), "before_cursor_execute", count)
    try:
        notice = FailureNotice(failed_build, farm_config)
        for address in ("mark@example.com", *ADMINS):
            assert parse(notice.message(address, "why"))["X-Launchpad-Build-Component"] == (
                "main")
        assert component_name(failed_build) == "main"
        assert len(lookups) == 1
        transaction.commit()
        assert component_name(failed_build) == "main"
        assert len(lookups) == 2
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", count)


@pytest.mark.parametrize("delta, text", [
    (None, "not available"),
    (datetime.timedelta(seconds=1), "1 second"),
    (datetime.timedelta(seconds=59), "59 seconds"),
    (datetime.timedelta(minutes=10), "10 minutes"),
    (datetime.timedelta(hours=2, seconds=30), "2 hours"),
    (datetime.timedelta(hours=1, minutes=1), "1 hour, 1 minute"),
])
def test_durations(delta, text):
    assert describe_duration(delta) == text


def test_only_failures_are_mailed(failed_build, mailer):
    failed_build.buildstate = BuildStatus.MANUALDEPWAIT
    with pytest.raises(ValueError, match="^build 8 is MANUALDEPWAIT: failure mail is for "):
        mailer.notifyBuildFailure(failed_build)


def test_nobody_to_tell(failed_build, farm_config, mailer, caplog):
    caplog.set_level(logging.INFO)
    failed_build.sourcepackagerelease.creator.preferred_email = None
    farm_config.mail.buildd_admins = []
    mailer.notifyBuildFailure(failed_build)
    assert spooled(farm_config) == []
    assert "Mail about build 8 (mozilla-firefox 0.9 i386) on bob FAILEDTOUPLOAD: " \
           "nobody to tell" in caplog.text


@pytest.fixture
def twisted_log():
    """The texts Twisted logs meanwhile."""
    from twisted.logger import formatEvent, globalLogPublisher
    texts = []

    def observe(event):
        texts.append(formatEvent(event))
    globalLogPublisher.addObserver(observe)
    yield texts
    globalLogPublisher.removeObserver(observe)


@pytest_twisted.inlineCallbacks
def test_failure_mail_reaches_the_smtp_server(failed_build, farm_config, mailer,
                                             smtp_server, caplog, twisted_log):
    caplog.set_level(logging.INFO)
    mailer.notifyBuildFailure(failed_build, upload_log=UPLOAD_LOG)
    name, = spooled(farm_config)
    batch = spool_file(farm_config, name)
    assert batch["about"] == "build 8 (mozilla-firefox 0.9 i386) on bob FAILEDTOUPLOAD"
    assert batch["sender"] == "buildmaster@localhost"
    assert [(m["recipient"], m["attempts"]) for m in batch["messages"]] == [
        ("mark@example.com", 0), ("foo.bar@canonical.com", 0),
        ("celso.providelo@canonical.com", 0)]
    assert parse(batch["messages"][0]["message"])["To"] == "mark@example.com"
    yield mailer.flush()
    received = sorted(smtp_server.messages, key=itemgetter(1), reverse=True)
    assert [to for _, to, _ in received] == [
        ["mark@example.com"], ["foo.bar@canonical.com"], ["celso.providelo@canonical.com"]]
    from_addr, to_addrs, raw = received[0]
    assert from_addr == "buildmaster@localhost"
    message = parse(raw)
    assert message["X-Launchpad-Build-State"] == "FAILEDTOUPLOAD"
    assert message["To"] == "mark@example.com"
    assert "Upload log:\nINFO    creating lockfile\n" in message.get_content()
    assert spooled(farm_config) == []
    assert ("Mail about build 8 (mozilla-firefox 0.9 i386) on bob FAILEDTOUPLOAD "
            "delivered to mark@example.com") in caplog.text
    # (the test's SMTP server may log its own factory)
    assert [text for text in twisted_log if "factory" in text.lower()
            and "testing.smtp" not in text] == []


@pytest_twisted.inlineCallbacks
def test_smtp_down_mail_is_kept_and_sent_when_it_returns(
        failed_build, farm_config, mailer, smtp_server, clock, caplog):
    yield smtp_server.stop()
    mailer.notifyBuildFailure(failed_build)
    yield mailer.flush()
    assert smtp_server.messages == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    mark_warning, = (w for w in warnings if " to mark@example.com " in w)
    assert mark_warning.startswith(
        "Mail about build 8 (mozilla-firefox 0.9 i386) on bob FAILEDTOUPLOAD to "
        "mark@example.com not sent (attempt 1 of 12): Unable to connect to SMTP server")
    assert mark_warning.endswith("; retrying in 300 seconds")
    name, = spooled(farm_config)
    assert [m["attempts"] for m in spool_file(farm_config, name)["messages"]] == [1, 1, 1]

    smtp_server.start()
    clock.advance(299)
    yield mailer.flush()
    assert smtp_server.messages == []
    clock.advance(1)
    yield mailer.flush()
    assert sorted(to[0] for _, to, _ in smtp_server.messages) == sorted(
        ["mark@example.com"] + ADMINS)
    assert spooled(farm_config) == []


@pytest_twisted.inlineCallbacks
def test_refused_recipients_are_retried(failed_build, farm_config, mailer, smtp_server,
                                        clock, caplog):
    smtp_server.refusing = True
    mailer.notifyBuildFailure(failed_build)
    yield mailer.flush()
    assert "mark@example.com not sent (attempt 1 of 12): " in caplog.text
    assert "550" in caplog.text
    smtp_server.refusing = False
    clock.advance(farm_config.mail.retry_delay)
    yield mailer.flush()
    assert len(smtp_server.messages) == 3


@pytest_twisted.inlineCallbacks
def test_spool_survives_a_new_mailer(failed_build, farm_config, mailer, smtp_server):
    yield smtp_server.stop()
    mailer.notifyBuildFailure(failed_build, upload_log=UPLOAD_LOG)
    yield mailer.flush()
    mailer.stop()  # the master goes away with its mail unsent

    smtp_server.start()
    later = task.Clock()
    later.advance(farm_config.mail.retry_delay)
    restarted = BuildMailer(farm_config, clock=later)
    yield restarted.flush()
    assert len(smtp_server.messages) == 3
    assert all(UPLOAD_LOG in parse(raw).get_content() for _, _, raw in smtp_server.messages)
    assert spooled(farm_config) == []


@pytest_twisted.inlineCallbacks
def test_each_delivered_message_leaves_the_spool_at_once(
        failed_build, farm_config, mailer, smtp_server, monkeypatch):
    """A master killed in the middle of a round sends none of the
    messages already delivered again."""
    farm_config.mail.max_connections = 1
    written = []
    save = mailer.spool._write
    monkeypatch.setattr(mailer.spool, "_write", lambda directory, batch, durable=True: (
        written.append(([m.recipient for m in batch.messages], durable))
        or save(directory, batch, durable)))
    mailer.notifyBuildFailure(failed_build)
    yield mailer.flush()
    everyone = ["mark@example.com"] + ADMINS
    # held (fsynced: that write is the mail), claimed for its first round,
    # then one delivery at a time (not fsynced: they only save a repeat)
    assert written == [(everyone, True), (everyone, False), (ADMINS, False),
                       (ADMINS[1:], False)]
    assert spooled(farm_config) == []


@pytest_twisted.inlineCallbacks
def test_a_failure_held_twice_for_the_same_job_is_told_once(
        failed_build, farm_config, mailer, smtp_server, clock):
    """A master killed between holding a failure's mail and committing the
    failure leaves the mail in the spool; the next one collects the same
    job, holds the same mail again, and it goes out once."""
    first = mailer.holdBuildFailure(failed_build, job=41)
    assert mailer.holdBuildFailure(failed_build, job=41).name == first.name
    mailer.release(first)
    yield mailer.flush()
    assert len(smtp_server.messages) == 3
    assert mailer.holdBuildFailure(failed_build, job=41) is None
    restarted = BuildMailer(farm_config, clock=clock)
    assert restarted.holdBuildFailure(failed_build, job=41) is None
    yield restarted.flush()
    assert len(smtp_server.messages) == 3
    ids = {parse(raw)["Message-ID"] for _, _, raw in smtp_server.messages}
    assert len(ids) == 3 and all(i.startswith("<build8-job41-FAILEDTOUPLOAD-") for i in ids)
    # Another job of the same build is another failure, told again.
    assert mailer.holdBuildFailure(failed_build, job=42) is not None


@pytest_twisted.inlineCallbacks
def test_a_batch_claimed_again_while_its_round_is_in_flight_goes_out_once(
        failed_build, farm_config, mailer, smtp_server, clock):
    """The next master sends what the killed one held while its own scan
    collects the same job again, holds the same mail and releases it: the
    claim may find it due (its delay passed), but one round is in flight,
    and two would send every message twice."""
    held = mailer.holdBuildFailure(failed_build, job=43)
    mailer.release(held)                       # the first round starts
    clock.advance(farm_config.mail.retry_delay + 1)
    again = mailer.holdBuildFailure(failed_build, job=43)
    assert again is not None and again.name == held.name
    mailer.release(again)                      # due, but in flight here
    yield mailer.flush()
    ids = [parse(raw)["Message-ID"] for _, _, raw in smtp_server.messages]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert spooled(farm_config) == []


@pytest_twisted.inlineCallbacks
def test_whoever_holds_the_spool_waits_for_the_retry_delay(
        failed_build, farm_config, mailer, smtp_server, clock):
    """A one-shot 'buildmaster scan' beside the daemon opens the spool too:
    it must not use up an attempt before the message's delay has passed,
    nor try it while another holder does."""
    yield smtp_server.stop()
    mailer.notifyBuildFailure(failed_build)
    yield mailer.flush()
    name, = spooled(farm_config)
    attempts = lambda: [m["attempts"] for m in spool_file(farm_config, name)["messages"]]
    assert attempts() == [1, 1, 1]
    smtp_server.start()
    other_clock = task.Clock()
    other_clock.advance(5)
    other = BuildMailer(farm_config, clock=other_clock)
    yield other.flush()
    assert (attempts(), smtp_server.messages) == ([1, 1, 1], [])
    other_clock.advance(farm_config.mail.retry_delay - 5)
    yield other.flush()
    other.stop()
    assert len(smtp_server.messages) == 3 and spooled(farm_config) == []
    clock.advance(farm_config.mail.retry_delay)
    yield mailer.flush()
    assert len(smtp_server.messages) == 3, "each message was delivered once"


@pytest_twisted.inlineCallbacks
def test_retries_are_capped(failed_build, farm_config, smtp_server, clock, caplog):
    mailer = BuildMailer(farm_config, clock=clock, max_attempts=2)
    yield smtp_server.stop()
    mailer.notifyBuildFailure(failed_build)
    yield mailer.flush()
    clock.advance(farm_config.mail.retry_delay)
    yield mailer.flush()
    assert clock.getDelayedCalls() == []
    assert spooled(farm_config) == []
    name, = spooled(farm_config, "failed")
    assert [m["attempts"] for m in spool_file(farm_config, name, "failed")["messages"]] == [
        2, 2, 2]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 3
    mark_error, = (e for e in errors if " to mark@example.com " in e)
    assert "mark@example.com not sent after 2 attempts (Unable to connect" in mark_error
    assert "; given up, kept in " in mark_error


@pytest_twisted.inlineCallbacks
def test_unreadable_spool_files_are_set_aside(farm_config, smtp_server, caplog):
    spool = os.path.join(farm_config.builddmaster.root, "mail-spool")
    os.makedirs(spool, exist_ok=True)
    with open(os.path.join(spool, "20240101T000000000000-broken.json"), "w") as handle:
        handle.write("{not json")
    mailer = BuildMailer(farm_config, clock=task.Clock())
    yield mailer.flush()
    assert spooled(farm_config, "failed") == ["20240101T000000000000-broken.json"]
    assert "Unreadable mail spool file 20240101T000000000000-broken.json: " in caplog.text
    assert smtp_server.messages == []


@pytest_twisted.inlineCallbacks
def test_few_sessions_send_a_whole_cycle(failed_build, farm_config, mailer, smtp_server):
    """Ten builds' thirty messages go through at most max_connections
    sessions at once, each sending messages until the queue is empty."""
    farm_config.mail.max_connections = 2
    for _ in range(10):
        mailer.notifyBuildFailure(failed_build)
    assert len(spooled(farm_config)) == 10
    yield mailer.flush()
    assert len(smtp_server.messages) == 30
    assert smtp_server.most_connections == 2
    assert smtp_server.sessions == 2
    assert spooled(farm_config) == []


@pytest_twisted.inlineCallbacks
def test_a_hanging_server_is_timed_out_and_retried(failed_build, farm_config, mailer,
                                                   smtp_server, clock, caplog):
    from twisted.internet import reactor
    farm_config.mail.max_connections = 1
    smtp_server.hanging = True
    mailer.notifyBuildFailure(failed_build)
    while not smtp_server.connections:
        yield task.deferLater(reactor, 0.01, lambda: None)
    clock.advance(farm_config.mail.send_timeout)
    yield mailer.flush()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert all("(attempt 1 of 12): the SMTP server did not answer within 60 seconds; "
               "retrying in 300 seconds" in warning for warning in warnings)
    assert smtp_server.messages == []

    smtp_server.hanging = False
    clock.advance(farm_config.mail.retry_delay)
    yield mailer.flush()
    assert len(smtp_server.messages) == 3
    assert spooled(farm_config) == []


def test_spool_file_written_whole_or_not_at_all(failed_build, farm_config, mailer,
                                                monkeypatch):
    """A crash while writing a build's messages leaves no spool file."""
    def crash(descriptor):
        raise OSError("disk on fire")
    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk on fire"):
        mailer.notifyBuildFailure(failed_build)
    assert sorted(os.listdir(os.path.join(farm_config.builddmaster.root, "mail-spool"))) \
        == ["failed", "sent"]
