"""Processing the upload queue: the ``process_uploads`` job.

Each run times out what never arrived whole, claims every upload whose
.changes and files are all in (inbox.py), and processes the claimed ones
one after another, each in one database transaction in a thread:

* judged (changes.py): signature, files, target, rights, version;
* accepted: its source registered as ``buildmaster upload`` registers
  one (sources.py, the .dsc's own signature checked too) and its builds
  created at once, which wakes the dispatcher; an "Accepted" mail to the
  signer lists the files, the archive and the builds;
* rejected: one mail to the signer with every reason; an upload no known
  key signed gets no mail (nobody to trust with it), only a log line.

Every outcome is an Upload row keyed by the queue directory's name,
committed with what the upload changed and its mail held back in the
spool (``MailSpool.hold_back``: under a name the mailer leaves alone);
only then is the mail released and the directory moved out of the
queue.  A master killed in between finds the row at its next run
and only releases the mail still held and moves the directory, so
nothing is processed or mailed twice and nothing is lost.
"""

import dataclasses
import logging
import os
import tempfile

import sqlalchemy as sa
from twisted.internet import defer, threads

from buildmaster.mail.mailer import ThreadMailer
from buildmaster.mail.spool import SpooledMessage
from buildmaster.model import Upload
from buildmaster.model.upload import ACCEPTED, FAILED, REJECTED
from buildmaster.queue import queuebuilder
from buildmaster.runtime.wakeups import DISPATCH
from buildmaster.uploads import changes, inbox, signatures, uploadmail
from buildmaster.uploads.sources import SourceUploadError, register_source

LOG = logging.getLogger("buildmaster.uploads")
FINAL = {ACCEPTED: "accepted", REJECTED: "rejected", FAILED: "failed"}


@dataclasses.dataclass
class Receiver:
    """What the HTTP and SFTP sides need to take files: the ``[upload]``
    limits, the queue, and the wake-up of the ``process_uploads`` job."""

    settings: object
    queue: inbox.Inbox
    wake: object


def receiver(context):
    return Receiver(context.config.upload, inbox.Inbox(upload_root(context.config)),
                    context.wakeups.wake)


def upload_root(config):
    return os.path.join(config.builddmaster.root, "uploads")


async def process_uploads(context):
    """One run over the queue; the number of uploads processed.  Each
    target's uploads go one after another, oldest first (the version rule
    compares an upload with the one before it); different targets' go at
    once, as far as the database's threads allow."""
    queue = inbox.Inbox(upload_root(context.config))
    mailer = ThreadMailer(context.mailer, context.reactor)
    timeout = context.config.upload.incomplete_timeout
    expired = await threads.deferToThread(queue.expire, timeout)
    for target, names in expired:
        LOG.warning(f"upload to {target} rejected: incomplete after {timeout} s "
                    f"({', '.join(names) or 'parts only'})")
    await threads.deferToThread(queue.claim_complete)
    by_target = {}
    for queue_id in queue.queued():
        by_target.setdefault(queue.target_of(queue_id), []).append(queue_id)
    if not by_target:
        return 0
    with tempfile.TemporaryDirectory(prefix="buildmaster-keyring-") as home:
        keyring = await context.db.run_in_thread(_farm_keyring, home)
        ahead = _check_ahead(queue, by_target, keyring)
        runs = [defer.ensureDeferred(_process_target(context, mailer, queue, ids, keyring,
                                                     ahead))
                for ids in by_target.values()]
        outcomes = await defer.DeferredList(runs, consumeErrors=True)
        await defer.DeferredList(list(ahead.values()))   # before the keyring goes
    for ok, result in outcomes:
        if not ok:
            result.raiseException()
    return sum(result for _, result in outcomes)


def _farm_keyring(session, home):
    """The farm's keyring, made ready for gpgv once for the whole run; None
    when the farm knows no key.  One the checks cannot use is handed on as
    its path, so each upload is refused with the reason."""
    path = changes.farm_keyring(session, os.path.join(home, "farm.asc"))
    if path is None:
        return None
    try:
        return signatures.Keyring(path, home)
    except signatures.KeyringUnusable as error:
        LOG.error(f"the farm's keyring cannot check uploads: {error}")
        return path


def _check_ahead(queue, by_target, keyring):
    """{queue id: Deferred} of the signature checks of each upload's .changes
    and .dsc, begun now, as many at once as there are processors (gpgv is
    most of an upload's time): an upload's checks are done by the time the
    one before it is processed."""
    if not isinstance(keyring, signatures.Keyring):
        return {}
    limit = defer.DeferredSemaphore(os.cpu_count() or 1)
    ahead = {}
    for queue_id in (queue_id for ids in by_target.values() for queue_id in ids):
        directory = queue.path(queue_id)
        checks = [limit.run(threads.deferToThread, _checked, keyring,
                            os.path.join(directory, name))
                  for name in sorted(os.listdir(directory)) if name.endswith(SIGNED)]
        ahead[queue_id] = defer.DeferredList(checks, consumeErrors=True)
    return ahead


SIGNED = (".changes", ".dsc")


def _checked(keyring, path):
    """Check ``path`` now; its answer is kept in ``keyring`` for processing."""
    try:
        keyring.check(path)
    except (signatures.SignatureError, OSError):
        pass


async def _process_target(context, mailer, queue, queue_ids, keyring, ahead):
    for queue_id in queue_ids:
        if queue_id in ahead:
            await ahead[queue_id]
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                state, builds = await context.db.run_in_thread(
                    process_one, context.config, context.librarian, mailer, queue,
                    queue_id, keyring, last_attempt=attempt == CONFLICT_ATTEMPTS)
                break
            except sa.exc.IntegrityError as error:
                LOG.info(f"upload {queue_id}: another upload made the same rows at once "
                         f"({str(error.orig).strip().splitlines()[0]}); processing it again")
        queue.finish(queue_id, FINAL[state])
        if builds:
            context.wakeups.wake(DISPATCH)
    return len(queue_ids)


# Uploads to different targets are processed at once, so two of them may
# make the same new row (a source name, a maintainer) in two transactions:
# the one committed second fails on the unique index, and is processed
# again, finding the row.  Only the last attempt's failure is final.
CONFLICT_ATTEMPTS = 3


def process_one(session, config, librarian, mailer, queue, queue_id, keyring,
                last_attempt=True):
    """(state, build ids) of the upload ``queue_id``, processed and committed."""
    recorded = session.scalars(sa.select(Upload).filter_by(queue_id=queue_id)).first()
    if recorded is not None:
        # Processed before a restart: its mail may be left to release, its move is.
        held = _held(mailer, queue_id)
        if held is not None:
            mailer.release(_to_send(mailer, held))
        return recorded.state, []
    stale = _held(mailer, queue_id)
    if stale is not None:
        mailer.drop(stale)   # held by a master killed before its commit: never true
    target = queue.target_of(queue_id)
    directory = queue.path(queue_id)
    try:
        verdict = changes.judge(session, directory, target, keyring)
        builds = _register(session, librarian, directory, verdict, keyring)
    except Exception as error:
        session.rollback()
        if isinstance(error, sa.exc.IntegrityError) and not last_attempt:
            raise
        LOG.exception(f"upload {queue_id} to {target} failed")
        return _failed(session, queue_id, target)
    state = ACCEPTED if verdict.accepted else REJECTED
    upload = Upload(queue_id=queue_id, target=target, changes_name=verdict.changes_name,
                    signer=verdict.signer, fingerprint=verdict.fingerprint,
                    source=verdict.source, version=verdict.version, archive=verdict.archive,
                    state=state, reasons=verdict.reasons, builds=builds)
    session.add(upload)
    session.flush()
    held = None
    if verdict.signer is not None and verdict.signer.preferred_email:
        held = _hold(mailer, queue_id, *uploadmail.compose(config, upload, directory, session))
    try:
        session.commit()
    except Exception:
        if held is not None:
            mailer.drop(held)
        raise
    _log(queue_id, upload, verdict)
    if held is not None:
        mailer.release(_to_send(mailer, held))
    return state, builds


def _failed(session, queue_id, target):
    session.add(Upload(queue_id=queue_id, target=target, state=FAILED,
                       reasons=["the master failed processing it; its log says why"]))
    session.commit()
    return FAILED, []


# The mail about an upload is held back in the spool (MailSpool.hold_back:
# under a name the mailer neither loads nor sends) until the Upload row it
# tells of is committed; then it is unheld and released.  A master killed
# before the commit leaves a held batch that the next processing of the
# upload drops (the mail it holds names builds that were never committed);
# killed after it, the row is found and the held batch is released then.
# Each upload is mailed once: never about a row rolled back, never again by
# the next master.

def _batch_key(queue_id):
    return f"upload-{queue_id}"


def _hold(mailer, queue_id, sender, about, messages):
    return mailer.mailer.spool.hold_back(
        _batch_key(queue_id), sender, about,
        [SpooledMessage(recipient, text) for recipient, text in messages])


def _held(mailer, queue_id):
    return mailer.mailer.spool.held_back(_batch_key(queue_id))


def _to_send(mailer, batch):
    return mailer.mailer.spool.unhold(batch)


def _register(session, librarian, directory, verdict, keyring):
    """Register an accepted upload's source and create its builds; their ids.
    A refusal of the .dsc itself becomes a reason and nothing is kept."""
    if not verdict.accepted:
        return []
    series = verdict.series
    try:
        publication = register_source(
            session, librarian, os.path.join(directory, verdict.dsc_name),
            series.distribution.name, series.name, pocket=verdict.pocket.name,
            archive_ref=verdict.archive.reference, component=verdict.component,
            changes_path=os.path.join(directory, verdict.changes_name), keyring=keyring)
    except SourceUploadError as error:
        session.rollback()
        verdict.reasons.append(str(error))
        return []
    return sorted(queuebuilder.queue_publication(session, publication))


def _log(queue_id, upload, verdict):
    who = upload.signer.name if upload.signer else f"key {verdict.fingerprint or 'none'}"
    what = f"{upload.source or '?'} {upload.version or '?'}"
    if upload.state == ACCEPTED:
        LOG.info(f"upload {queue_id} ({what}) by {who} to {upload.target}: ACCEPTED, "
                 f"builds {', '.join(map(str, upload.builds)) or 'none'}")
    elif upload.signer is None:
        LOG.warning(f"upload {queue_id} ({what}) to {upload.target}: REJECTED, no mail: "
                    f"signed by no known key ({'; '.join(upload.reasons) or 'unknown key'})")
    else:
        LOG.info(f"upload {queue_id} ({what}) by {who} to {upload.target}: REJECTED: "
                 f"{'; '.join(upload.reasons)}")
