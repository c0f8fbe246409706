"""Uploads from anywhere: Debian's real dput over HTTP PUT and SFTP (with
OpenSSH's scp), the upload queue, its processing and the mails.

The upload servers run in this process on loopback, as the daemon runs
them; dput and scp are real processes.  Each upload is processed by the
``process_uploads`` job's own function, and mail goes to a real SMTP
server on loopback (the farm, its servers and those steps:
tests/uploadhelpers.py).
"""

import logging
import os
import shutil
import time

import pytest
import pytest_twisted
import sqlalchemy as sa
import treq
from twisted.internet import reactor, utils
from twisted.internet.task import deferLater

from buildmaster.model import Build, SourcePackageName
from buildmaster.model import rows
from buildmaster.testing.dput import dput_cf, dput_command
from buildmaster.uploads import inbox, intake
from tests.uploadhelpers import (  # noqa: F401
    farm, http_port, people, process, readable, sftp_port, source, throwaway_keys, uploads)


async def dput(tmp_path, people, changes, method, port, incoming, login=None):
    config = dput_cf(tmp_path / f"dput-{method}.cf", method, "127.0.0.1", port, incoming,
                     login=login, identity=people["identity"])
    readable(changes)
    argv = dput_command(config, changes)
    out, err, status = await utils.getProcessOutputAndValue(
        argv[0], argv[1:], env=dict(os.environ, GNUPGHOME=people["keys"].home))
    return status, (out + err).decode("utf-8", "replace")


@pytest_twisted.ensureDeferred
async def test_a_signed_source_put_with_dput_is_accepted_built_and_mailed(
        farm, http_port, people, tmp_path, session, smtp_server):
    changes = source(tmp_path, people)
    status, output = await dput(tmp_path, people, changes, "http", http_port,
                                "/upload/~alice/tools/acme")
    assert status == 0, output
    assert await process(farm, smtp_server) == 1
    [upload] = uploads(session)
    assert (upload.state, upload.source, upload.version, upload.signer.name) == \
        ("ACCEPTED", "hello-bm", "1.0", "alice")
    [build] = session.scalars(sa.select(Build)).all()
    assert upload.builds == [build.id] and build.archive.reference == "~alice/tools"
    [(_, recipients, text)] = smtp_server.messages
    assert recipients == ["alice@example.org"]
    assert "Subject: Accepted: hello-bm 1.0 into ~alice/tools/acme" in text
    assert "hello-bm_1.0.dsc" in text and f"build {build.id}:" in text
    root = intake.upload_root(farm.config)
    assert os.listdir(os.path.join(root, "accepted")) == [upload.queue_id]
    assert os.listdir(os.path.join(root, "queue")) == []


@pytest_twisted.ensureDeferred
async def test_scp_over_sftp_with_a_farm_ssh_key_is_accepted(
        farm, sftp_port, people, tmp_path, session, smtp_server):
    changes = source(tmp_path, people, version="2.0")
    status, output = await dput(tmp_path, people, changes, "scp", sftp_port,
                                "/~alice/tools/acme/", login="alice")
    assert status == 0, output
    assert await process(farm, smtp_server) == 1
    assert [(u.state, u.version) for u in uploads(session)] == [("ACCEPTED", "2.0")]


@pytest_twisted.ensureDeferred
async def test_an_ssh_key_nobody_in_the_farm_has_cannot_log_in(
        farm, sftp_port, people, tmp_path, session):
    changes = source(tmp_path, people)
    status, output = await dput(tmp_path, people, changes, "scp", sftp_port,
                                "/~alice/tools/acme/", login="mallory")
    assert status != 0
    assert "Permission denied" in output
    assert uploads(session) == []


REFUSALS = {
    "no right": (dict(signer="mallory"), "mallory may not upload to ~alice/tools in acme"),
    "unknown series": (dict(distribution="jetpack"), "acme has no open series 'jetpack'"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
@pytest_twisted.ensureDeferred
async def test_a_refused_upload_mails_its_signer_every_reason(
        farm, http_port, people, tmp_path, session, smtp_server, case):
    options, reason = REFUSALS[case]
    changes = source(tmp_path, people, **options)
    status, output = await dput(tmp_path, people, changes, "http", http_port,
                                "/upload/~alice/tools/acme")
    assert status == 0, output
    await process(farm, smtp_server)
    [upload] = uploads(session)
    assert upload.state == "REJECTED" and reason in upload.reasons
    assert session.scalars(sa.select(Build)).all() == []
    [(_, recipients, text)] = smtp_server.messages
    assert recipients == [f"{options.get('signer', 'alice')}@example.org"]
    assert "Subject: Rejected: hello-bm 1.0 for ~alice/tools/acme" in text
    assert reason in text


@pytest_twisted.ensureDeferred
async def test_an_older_or_equal_version_is_refused(
        farm, http_port, people, tmp_path, session, smtp_server):
    for _ in range(2):
        changes = source(tmp_path, people, version="3.0")
        await dput(tmp_path, people, changes, "http", http_port, "/upload/~alice/tools/acme")
        await process(farm, smtp_server)
    first, second = uploads(session)
    assert first.state == "ACCEPTED"
    assert second.state == "REJECTED"
    assert "hello-bm 3.0 is not newer than 3.0, which ~alice/tools has in rocket" \
        in second.reasons


@pytest.mark.parametrize("signing", ["unsigned", "outsider", "tampered"])
@pytest_twisted.ensureDeferred
async def test_an_upload_no_known_key_signed_gets_a_log_line_and_no_mail(
        farm, http_port, people, tmp_path, session, smtp_server, caplog, signing):
    if signing == "unsigned":
        changes = source(tmp_path, people, sign=False)
    else:
        changes = source(tmp_path, people, signer="outsider" if signing == "outsider"
                         else "alice")
    if signing == "tampered":
        text = open(changes).read().replace("Test upload.", "Test upload!")
        open(changes, "w").write(text)
    await dput(tmp_path, people, changes, "http", http_port, "/upload/~alice/tools/acme")
    await process(farm, smtp_server)
    [upload] = uploads(session)
    assert upload.state == "REJECTED" and upload.signer is None
    assert smtp_server.messages == []
    assert "REJECTED, no mail: signed by no known key" in caplog.text


@pytest_twisted.ensureDeferred
async def test_a_file_over_the_limit_is_refused_while_it_is_sent(
        farm, http_port, people, tmp_path, session):
    farm.config.upload.max_file_size = 100
    changes = source(tmp_path, people)
    status, output = await dput(tmp_path, people, changes, "http", http_port,
                                "/upload/~alice/tools/acme")
    assert status != 0
    assert "413" in output
    incoming = inbox.Inbox(intake.upload_root(farm.config)).incoming("~alice/tools/acme")
    assert os.listdir(incoming) == []


@pytest_twisted.ensureDeferred
async def test_a_declared_length_over_the_limit_is_refused_before_the_body(farm, http_port):
    """Nothing of a body the headers say is too long is read: the answer
    comes with the connection still sending."""
    from twisted.internet import protocol
    farm.config.upload.max_file_size = 1000
    answered = []

    class Client(protocol.Protocol):
        def connectionMade(self):
            self.transport.write(b"PUT /upload/acme/big.tar.xz HTTP/1.1\r\nHost: x\r\n"
                                 b"Content-Length: 50000000\r\n\r\n" + b"x" * 4096)

        def dataReceived(self, data):
            answered.append(data)

    endpoint = protocol.ClientCreator(reactor, Client)
    client = await endpoint.connectTCP("127.0.0.1", http_port)
    for _ in range(50):
        if answered:
            break
        await deferLater(reactor, 0.05)
    client.transport.loseConnection()
    assert answered and answered[0].startswith(b"HTTP/1.1 413 ")


@pytest_twisted.ensureDeferred
async def test_a_path_in_a_file_name_is_refused(farm, http_port):
    answer = await treq.put(f"http://127.0.0.1:{http_port}/upload/acme/.hidden", b"x")
    assert answer.code == 400
    assert "no plain file name" in (await answer.text())


@pytest_twisted.ensureDeferred
async def test_a_half_upload_is_rejected_once_it_timed_out(
        farm, http_port, people, tmp_path, session, smtp_server):
    changes = source(tmp_path, people)
    dsc = changes.replace("_source.changes", ".dsc")
    os.unlink(dsc)   # dput refuses to send what is missing: send the rest by hand
    for name in sorted(os.listdir(os.path.dirname(changes))):
        path = os.path.join(os.path.dirname(changes), name)
        if os.path.isfile(path) and not name.endswith((".buildinfo", ".build")):
            with open(path, "rb") as handle:
                await treq.put(f"http://127.0.0.1:{http_port}/upload/~alice/tools/acme/"
                               f"{name}", handle.read())
    assert await process(farm, smtp_server) == 0
    farm.config.upload.incomplete_timeout = 0
    time.sleep(1.1)
    assert await process(farm, smtp_server) == 0
    root = intake.upload_root(farm.config)
    [rejected] = os.listdir(os.path.join(root, "rejected"))
    assert rejected.startswith("incomplete-")
    assert any(name.endswith("_source.changes")
               for name in os.listdir(os.path.join(root, "rejected", rejected)))


@pytest_twisted.ensureDeferred
async def test_a_file_whose_checksum_is_not_the_changes_one_is_refused(
        farm, http_port, people, tmp_path, session, smtp_server):
    changes = source(tmp_path, people)
    tarball = changes.replace("_source.changes", ".tar.xz")
    data = bytearray(open(tarball, "rb").read())
    data[-1] ^= 0xFF     # same size, other bytes
    open(tarball, "wb").write(bytes(data))
    # dput checks the sums itself and sends nothing: send as a client that does not.
    directory = os.path.dirname(changes)
    sent = [os.path.join(directory, name) for name in sorted(os.listdir(directory))
            if name.startswith("hello-bm_") and not name.endswith((".changes", ".build"))]
    for path in [*sent, changes]:
        with open(path, "rb") as handle:
            answer = await treq.put(f"http://127.0.0.1:{http_port}/upload/~alice/tools/acme/"
                                    f"{os.path.basename(path)}", handle.read())
        assert answer.code == 201
    await process(farm, smtp_server)
    [upload] = uploads(session)
    assert upload.state == "REJECTED"
    assert "hello-bm_1.0.tar.xz: its md5 is not the one the .changes gives" in upload.reasons
    [(_, _, text)] = smtp_server.messages
    assert "its md5 is not the one the .changes gives" in text


@pytest_twisted.ensureDeferred
async def test_a_binary_upload_is_refused(farm, http_port, people, tmp_path, session,
                                          smtp_server):
    from buildmaster.testing.uploads import binary_upload
    directory = tmp_path / "binary"
    directory.mkdir()
    changes = None
    for name, data in binary_upload("hello-bm", "1.0", "amd64").items():
        if name.endswith(".changes"):
            data = data.replace(b"Distribution: unstable", b"Distribution: rocket")
        (directory / name).write_bytes(data)
        if name.endswith(".changes"):
            changes = people["keys"].clearsign(directory / name, people["alice"])
    status, output = await dput(tmp_path, people, changes, "http", http_port,
                                "/upload/~alice/tools/acme")
    assert status == 0, output
    await process(farm, smtp_server)
    [upload] = uploads(session)
    assert upload.state == "REJECTED"
    assert any(reason.startswith("binary uploads are refused: this farm builds from source")
               for reason in upload.reasons)
    assert "hello-bm_1.0_amd64.deb: binary packages are refused" in upload.reasons


@pytest_twisted.ensureDeferred
async def test_each_targets_uploads_go_in_order_and_targets_at_once(
        farm, http_port, people, tmp_path, session, smtp_server):
    """One run takes every target's queue: the same new source to two PPAs,
    and a newer version after the first, all accepted, each once."""
    first = source(tmp_path, people, name="shared")
    again = shutil.copytree(os.path.dirname(first), tmp_path / "again")
    newer = source(tmp_path, people, name="shared", version="1.1")
    for changes, target in ((first, "~alice/tools/acme"), (again / os.path.basename(first),
                            "~alice/more/acme"), (newer, "~alice/tools/acme")):
        status, output = await dput(tmp_path, people, changes, "http", http_port,
                                    f"/upload/{target}")
        assert status == 0, output
    assert await process(farm, smtp_server) == 3
    done = uploads(session)
    assert sorted((upload.target, upload.version, upload.state) for upload in done) == [
        ("~alice/more/acme", "1.0", "ACCEPTED"), ("~alice/tools/acme", "1.0", "ACCEPTED"),
        ("~alice/tools/acme", "1.1", "ACCEPTED")]
    assert len(session.scalars(sa.select(Build)).all()) == 3
    assert len(smtp_server.messages) == 3


@pytest_twisted.ensureDeferred
async def test_an_upload_that_met_another_making_the_same_row_is_processed_again(
        farm, http_port, people, tmp_path, session, smtp_server, monkeypatch, caplog):
    """Two targets' uploads make the same new source name in two transactions
    at once: the one committed second is processed again, not failed."""
    caplog.set_level(logging.INFO, logger="buildmaster.uploads")
    made = rows.get_or_create

    def raced(row_session, model, **keys):
        if model is SourcePackageName and not raced.done:
            raced.done = True
            # As if another transaction had made it since this one looked.
            row_session.execute(sa.insert(SourcePackageName).values(**keys))
            row = model(**keys)
            row_session.add(row)
            row_session.flush()
        return made(row_session, model, **keys)
    raced.done = False
    monkeypatch.setattr(rows, "get_or_create", raced)
    changes = source(tmp_path, people, name="raced")
    status, output = await dput(tmp_path, people, changes, "http", http_port,
                                "/upload/~alice/tools/acme")
    assert status == 0, output
    assert await process(farm, smtp_server) == 1
    [upload] = uploads(session)
    assert (upload.state, upload.source) == ("ACCEPTED", "raced")
    assert len(session.scalars(sa.select(SourcePackageName).filter_by(name="raced")).all()) == 1
    assert "another upload made the same rows at once" in caplog.text
    assert len(smtp_server.messages) == 1


@pytest_twisted.ensureDeferred
async def test_each_signature_is_checked_once_though_checked_ahead(
        farm, http_port, people, tmp_path, session, smtp_server, monkeypatch):
    """The job checks the waiting uploads' signatures ahead, in parallel,
    and processing uses those answers: gpgv runs once per signed file."""
    from buildmaster.uploads import signatures
    runs, run = [], signatures.subprocess.run

    def counted(argv, **kwargs):
        if argv[0] == signatures.GPGV:
            runs.append(os.path.basename(argv[-1]))
        return run(argv, **kwargs)
    monkeypatch.setattr(signatures.subprocess, "run", counted)
    for index in range(3):
        changes = source(tmp_path, people, name=f"ahead{index}")
        status, output = await dput(tmp_path, people, changes, "http", http_port,
                                    "/upload/~alice/tools/acme")
        assert status == 0, output
    assert await process(farm, smtp_server) == 3
    assert [upload.state for upload in uploads(session)] == ["ACCEPTED"] * 3
    assert sorted(runs) == sorted(f"ahead{index}_1.0{suffix}" for index in range(3)
                                  for suffix in (".dsc", "_source.changes"))
