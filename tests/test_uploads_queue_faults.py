"""The upload queue where a master dies, or its servers and its job meet
(buildmaster/uploads/inbox.py and intake.py), in one process, each case
made on purpose; tests/test_uploads_daemon.py finds them in the real
daemon by killing it.

* the part file of an HTTP request whose master was killed mid-transfer
  waits in incoming/ itself: claims and time-outs go on past it (they
  took it for a target's directory and failed, every run, for good),
  and it is dropped once timed out;
* a file claimed or completed while the server or the job lists the
  directory is skipped, not an error (a PUT arriving while a claim
  moved files away was dropped without an answer);
* a claim half made by a killed master is given back and claimed whole
  (its files sat in queue/.<id>/ for ever);
* the mail held for an upload before its row is committed is left alone
  by the next master's mailer until the row is there (it was sent, and
  the upload processed again mailed a second, different message).
"""

import os
import time

from twisted.internet import reactor

from buildmaster.mail.mailer import BuildMailer, ThreadMailer
from buildmaster.uploads import inbox, intake

CHANGES = """\
Format: 1.8
Source: tiny
Version: 1.0
Distribution: rocket
Architecture: source
Files:
 0123456789abcdef0123456789abcdef 5 misc optional tiny_1.0.dsc
"""


def arrived(queue, target="acme"):
    """A whole upload in ``target``'s incoming directory: its .dsc and .changes."""
    directory = queue.incoming(target)
    with open(os.path.join(directory, "tiny_1.0.dsc"), "w") as handle:
        handle.write("12345")
    with open(os.path.join(directory, "tiny_1.0_source.changes"), "w") as handle:
        handle.write(CHANGES)
    return directory


def test_a_dead_requests_part_file_neither_stops_the_queue_nor_stays(tmp_path):
    queue = inbox.Inbox(str(tmp_path))
    part = tmp_path / "incoming" / f"{inbox.PART_PREFIX}140007183640976-13893"
    part.write_bytes(b"half a tarball")
    arrived(queue)
    assert queue.expire(3600) == []
    [claimed] = queue.claim_complete()
    assert sorted(os.listdir(queue.path(claimed))) == [
        "TARGET", "tiny_1.0.dsc", "tiny_1.0_source.changes"]
    assert part.exists()
    assert queue.expire(3600, now=time.time() + 3601) == []
    assert not part.exists()


def test_a_file_gone_while_the_directory_is_listed_is_skipped(tmp_path, monkeypatch):
    queue = inbox.Inbox(str(tmp_path))
    directory = arrived(queue)
    listing = os.scandir

    def claimed_meanwhile(path):
        entries = list(listing(path))
        for entry in entries:
            if entry.name.endswith(".changes"):
                os.unlink(entry.path)
        return iter(entries)
    monkeypatch.setattr(inbox.os, "scandir", claimed_meanwhile)
    assert queue.size_of("acme") == 5
    os.utime(os.path.join(directory, "tiny_1.0.dsc"), (0, 0))
    with open(os.path.join(directory, "tiny_1.0_source.changes"), "w") as handle:
        handle.write(CHANGES)
    assert queue.expire(3600) == [("acme", ["tiny_1.0.dsc"])]


def test_a_claim_half_made_is_given_back_and_claimed_whole(tmp_path):
    queue = inbox.Inbox(str(tmp_path))
    directory = arrived(queue, "~alice/tools/acme")
    # Killed after the claim moved the .dsc, before it moved the .changes.
    staging = tmp_path / "queue" / ".20261207-221153-d0502b40"
    staging.mkdir()
    (staging / inbox.TARGET_FILE).write_text("~alice/tools/acme\n")
    os.replace(os.path.join(directory, "tiny_1.0.dsc"), staging / "tiny_1.0.dsc")
    # Killed before it moved anything, and as it began.
    (tmp_path / "queue" / ".20261207-221154-00000000").mkdir()
    (tmp_path / "queue" / ".20261207-221155-00000000").mkdir()
    (tmp_path / "queue" / ".20261207-221155-00000000" / inbox.TARGET_FILE).write_text("")
    [claimed] = queue.claim_complete()
    assert queue.target_of(claimed) == "~alice/tools/acme"
    assert sorted(os.listdir(queue.path(claimed))) == [
        "TARGET", "tiny_1.0.dsc", "tiny_1.0_source.changes"]
    assert os.listdir(tmp_path / "queue") == [claimed]
    assert os.listdir(directory) == []


def test_mail_held_before_the_commit_waits_for_the_row(farm_config):
    mailer = BuildMailer(farm_config)
    held = intake._hold(ThreadMailer(mailer, reactor), "q1", "buildmaster@localhost",
                        "upload q1 ACCEPTED", [("alice@example.org", "Subject: x\n\nx\n")])
    # The master is killed before its COMMIT: the next one neither loads
    # nor sends the mail, which names builds that were rolled back.
    after = ThreadMailer(BuildMailer(farm_config), reactor)
    assert after.mailer.spool.names() == [] and not after.mailer._queue
    assert intake._held(after, "q1").messages == held.messages
    # Processed again, the upload holds its mail under the same name; once
    # its row is committed, the mail becomes sendable under its own.
    again = intake._hold(after, "q1", "buildmaster@localhost", "upload q1 ACCEPTED",
                         [("alice@example.org", "Subject: y\n\ny\n")])
    assert intake._held(after, "q1").messages == again.messages
    sendable = intake._to_send(after, again)
    assert after.mailer.spool.names() == [sendable.name] == ["upload-q1.json"]
    assert intake._held(after, "q1") is None
    mailer.stop()
    after.mailer.stop()
