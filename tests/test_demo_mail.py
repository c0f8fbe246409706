"""make run's mail sink: the farm's mail is delivered at once and kept in
var/demo/mail/, one file a recipient's message, instead of being refused
and retried every 300 s."""

import email
import os
import signal
import smtplib

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from buildmaster.demo import mailsink
from buildmaster.mail.mailer import BuildMailer
from buildmaster.model import Build, BuildStatus
from buildmaster.testing.slaveprocess import free_port


def kept(directory):
    """{file name: parsed message} of the mail kept in ``directory``."""
    found = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as handle:
            found[name] = email.message_from_binary_file(handle)
    return found


@pytest.fixture
def sink_process(tmp_path):
    """Start the sink as make run does; stop it after the test."""
    started = []

    def start(port):
        process = mailsink.start_process(str(tmp_path / "mail"), port,
                                         str(tmp_path / "mail-sink.log"))
        started.append(process)
        return process
    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_sink_process_keeps_each_recipients_copy_and_numbers_on(tmp_path, sink_process):
    port = free_port()
    process = sink_process(port)
    with smtplib.SMTP("127.0.0.1", port) as client:
        refused = client.sendmail("buildmaster@localhost", ["a@example.com", "b@example.com"],
                                  "Subject: build 8 failed\n\nIt failed.\n")
    assert refused == {}
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0
    # A second run numbers on from the mail already kept.
    sink_process(port)
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.sendmail("buildmaster@localhost", ["c@example.com"], "Subject: again\n\nx\n")
    messages = kept(tmp_path / "mail")
    assert [(name, message["Delivered-To"], message["Subject"])
            for name, message in messages.items()] == [
        ("00001.eml", "a@example.com", "build 8 failed"),
        ("00002.eml", "b@example.com", "build 8 failed"),
        ("00003.eml", "c@example.com", "again")]
    assert messages["00001.eml"]["Return-Path"] == "<buildmaster@localhost>"
    assert messages["00001.eml"].get_payload() == "It failed.\n"
    log = (tmp_path / "mail-sink.log").read_text()
    assert f"keeping the mail sent to 127.0.0.1:{port} in {tmp_path / 'mail'}" in log
    assert f"mail to b@example.com kept in {tmp_path / 'mail' / '00002.eml'}" in log


@pytest_twisted.ensureDeferred
async def test_a_failure_notice_is_kept_at_once_and_never_retried(
        session, sample, farm_config, tmp_path):
    directory = str(tmp_path / "kept")
    listening = mailsink.MailSink(directory, say=lambda line: None).listen(0)
    farm_config.mail.smtp_port = listening.getHost().port
    clock = task.Clock()
    mailer = BuildMailer(farm_config, clock=clock)
    try:
        build = session.get(Build, 8)
        build.buildstate, build.builder = BuildStatus.FAILEDTOBUILD, sample.bob
        session.commit()
        mailer.notifyBuildFailure(build)
        await mailer.flush()
        await task.deferLater(reactor, 0, lambda: None)
    finally:
        mailer.stop()
        await listening.stopListening()
    messages = kept(directory)
    assert sorted(message["Delivered-To"] for message in messages.values()) == [
        "celso.providelo@canonical.com", "foo.bar@canonical.com", "mark@example.com"]
    assert {message["X-Launchpad-Build-State"] for message in messages.values()} == {
        "FAILEDTOBUILD"}
    assert clock.getDelayedCalls() == []  # nothing waits to be tried again
