"""Build failure mail: composed from the build, spooled, sent over SMTP.

When a build ends FAILEDTOBUILD, CHROOTWAIT or FAILEDTOUPLOAD, the
source's creator, the archive's owner (for a PPA) and every buildd admin
each get one message saying what failed, where, and where the log is.

Sending never holds up the caller and never raises into it: a build's
messages are composed together (FailureNotice), written to the spool in
one file (mailspool.py), then handed to a few SMTP sessions
(mailsession.py) that send queued messages one after another.  A failed
attempt is logged with the recipient and the error and tried again
``[mail] retry_delay`` seconds after it failed; after
``max_attempts`` the message is moved aside to ``mail-spool/failed/`` and
logged as lost to the retry loop, since a retry without a cap loops
forever.  Each round is claimed in the spool file first (mailspool.py),
so a one-shot ``buildmaster scan`` beside the daemon neither tries a
message before its delay has passed nor at the same time.  A process
makes one BuildMailer per spool and keeps it.
"""

import collections
import email.policy
import email.utils
import logging
import quopri

import jinja2
from sqlalchemy.orm import object_session
from twisted.internet import defer
from twisted.python import failure

from buildmaster.librarian.urls import http_url
from buildmaster.mail.session import run_session
from buildmaster.mail.spool import MailSpool, SpooledBatch, SpooledMessage, SpoolError
from buildmaster.model import BuildStatus

logger = logging.getLogger("buildmaster.mail")

NOTIFIED_STATES = (BuildStatus.FAILEDTOBUILD, BuildStatus.CHROOTWAIT,
                   BuildStatus.FAILEDTOUPLOAD)
MAX_ATTEMPTS = 12
_COMPONENTS = "buildmaster.mail.mailer.components"  # component_name's key in session.info
_REASON = "\0reason\0"  # where a recipient's reason goes in the rendered body

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("buildmaster", "templates"),
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
    autoescape=False)


def recipients(build, config):
    """[(address, why they are told)], each address once, in that order."""
    candidates = [(build.sourcepackagerelease.creator.preferred_email,
                   "you created this version of the source package")]
    if build.archive.is_ppa and build.archive.owner is not None:
        candidates.append((build.archive.owner.preferred_email,
                           f"you own the archive {build.archive.reference}"))
    candidates += [(address, "you are a build administrator")
                   for address in config.mail.buildd_admins]
    chosen = {}
    for address, reason in candidates:
        if address and address.lower() not in chosen:
            chosen[address.lower()] = (address, reason)
    return list(chosen.values())


def describe_duration(duration):
    """'1 hour, 5 minutes'; 'not available' when unknown."""
    if duration is None:
        return "not available"
    seconds = int(duration.total_seconds())
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    hours, minutes = divmod(seconds // 60, 60)
    parts = [(hours, "hour"), (minutes, "minute")]
    return ", ".join(f"{count} {unit}{'s' if count != 1 else ''}"
                     for count, unit in parts if count)


def _buildlog_location(build, config):
    if build.buildlog is None:
        return "not available"
    if build.buildlog.restricted:
        return "not public (private archive): ask a build administrator"
    return http_url(config, build.buildlog)


def component_name(build):
    """The name of ``build.current_component``, asked of the database once
    per transaction for each (source release, archive, series) it depends
    on: a cycle that fails a source on several architectures asks once."""
    session = object_session(build)
    key = (build.sourcepackagerelease_id, build.archive_id,
           build.distroarchseries.distroseries_id)
    transaction, names = session.info.get(_COMPONENTS, (None, {}))
    if transaction is None or transaction is not session.get_transaction():
        names = {}
    if key not in names:
        names[key] = build.current_component.name
        session.info[_COMPONENTS] = (session.get_transaction(), names)
    return names[key]


def _header(name, value):
    """One header line; folded by the email package only when it must be."""
    line = f"{name}: {value}\n"
    if value.isascii() and len(line) <= 79 and "\n" not in value and "\r" not in value:
        return line
    return email.policy.default.fold(name, value)


def _readable(body):
    return body.isascii() and all(len(line) <= 998 for line in body.splitlines())


class FailureNotice:
    """What a build's failure messages say, worked out once per build.

    The template is rendered once with a marker where the recipient's
    reason goes, and the headers common to every recipient are formatted
    once, so each recipient's message is a few string joins.  Every
    value comes from what the build already has loaded, except its
    current component (see component_name).
    """

    def __init__(self, build, config, upload_log=None, problem=None):
        spr = build.sourcepackagerelease
        arch = build.distroarchseries.architecturetag
        component = component_name(build)
        builder = build.builder.name if build.builder else None
        self.sender = config.mail.from_address
        self.about = f"{build.describe(builder or 'no builder')} {build.buildstate.name}"
        body = _templates.get_template("build-failure.txt").render(
            source=spr.name, version=spr.version,
            series=f"{build.distribution.name} {build.distroseries.name}",
            arch=arch, archive=f"{build.archive.reference} ({build.archive.displayname})",
            component=component, state=build.buildstate.title,
            duration=describe_duration(build.buildduration),
            buildlog=_buildlog_location(build, config),
            builder=builder or "not available", problem=problem,
            title=build.title, reason=_REASON,
            upload_log=upload_log.rstrip("\n") if upload_log else None)
        self._body_head, _, self._body_tail = body.partition(_REASON)
        self._from = _header("From", self.sender)
        self._subject = _header("Subject", f"[Build #{build.id}] {build.title}")
        self._trailer = (_header("X-Launchpad-Build-State", build.buildstate.name)
                         + _header("X-Launchpad-Build-Component", component)
                         + _header("X-Launchpad-Build-Arch", arch))
        self._date = _header("Date", email.utils.formatdate(usegmt=True))
        self._domain = self.sender.rpartition("@")[2] or None

    def message(self, recipient, reason, message_id=None):
        """The raw text of the message telling ``recipient`` why they get it
        (with ``message_id``, else a new one)."""
        body = f"{self._body_head}{reason}{self._body_tail}"
        if _readable(body):
            encoding = "7bit"
        else:
            encoding = "quoted-printable"
            body = quopri.encodestring(body.encode("utf-8")).decode("ascii")
        message_id = message_id or email.utils.make_msgid("build", domain=self._domain)
        return ('Content-Type: text/plain; charset="utf-8"\n'
                f"Content-Transfer-Encoding: {encoding}\nMIME-Version: 1.0\n"
                f"{self._from}{_header('To', recipient)}{self._subject}{self._date}"
                f"{_header('Message-ID', message_id)}{self._trailer}\n{body}")


class _Outgoing:
    """A spooled message as a session sends it."""

    __slots__ = ("batch", "message", "sender", "recipient", "data")

    def __init__(self, batch, message):
        self.batch, self.message = batch, message
        self.sender, self.recipient = batch.sender, message.recipient
        self.data = message.message.encode("utf-8")


class ThreadMailer:
    """A BuildMailer as a database thread uses it: messages are composed
    and spooled in the thread, and handed to the mailer in the reactor's
    thread (``reactor.callFromThread``), where its SMTP sessions live."""

    def __init__(self, mailer, reactor):
        self.mailer = mailer
        self.reactor = reactor
        self.config = mailer.config

    def notifyBuildFailure(self, build, upload_log=None):
        batch = self.mailer.holdBuildFailure(build, upload_log)
        if batch is not None:
            self.release(batch)

    def holdBuildFailure(self, build, upload_log=None, job=None, problem=None):
        return self.mailer.holdBuildFailure(build, upload_log, job, problem)

    def hold(self, sender, about, messages):
        return self.mailer.hold(sender, about, messages)

    def release(self, batch):
        """Claim ``batch`` in this thread (the spool's file work: a cycle
        that fails hundreds of builds would otherwise hold up the reactor
        with it) and start sending it in the reactor's."""
        claimed = self.mailer.claim_in_spool(batch.name)
        self.reactor.callFromThread(self.mailer.released, batch, claimed)

    def drop(self, batch):
        self.mailer.drop(batch)


class BuildMailer:
    """Queues failure mail and delivers it to ``[mail] smtp_host:smtp_port``.

    At most ``[mail] max_connections`` SMTP sessions run at once, each
    sending queued messages one after another until none is left, so a
    cycle that fails hundreds of builds opens a handful of connections.
    A session that cannot reach the server fails every queued message
    (the others would fare no better), to be retried later.  ``reactor``
    makes the SMTP connections; ``clock`` (default: the reactor) times
    the server's answers and schedules retries, so a test can drive them
    with a ``twisted.internet.task.Clock``.  Creating a mailer loads the
    spool and starts sending what an earlier master left there.
    """

    def __init__(self, config, reactor=None, clock=None, max_attempts=MAX_ATTEMPTS):
        if reactor is None:
            from twisted.internet import reactor
        self.config = config
        self.reactor = reactor
        self.clock = clock or reactor
        self.max_attempts = max_attempts
        self.spool = MailSpool(config.builddmaster.root)
        self._queue = collections.deque()  # _Outgoing messages no session has taken
        self._sessions = 0
        self._rounds = {}  # batch name -> (its messages still being tried, [(message, error)])
        self._retries = {}
        self._waiting = []
        self._load_spool()

    def notifyBuildFailure(self, build, upload_log=None):
        """Queue one message per recipient about ``build``'s failure."""
        batch = self.holdBuildFailure(build, upload_log)
        if batch is not None:
            self.release(batch)

    def holdBuildFailure(self, build, upload_log=None, job=None, problem=None):
        """Write the messages about ``build``'s failure (``problem``: what
        the slave said of a chroot problem) to the spool, not yet sent: the
        batch to ``release``, or None when nobody is to be told (which is
        logged) or it was told already.  Safe in a database thread.

        Given ``job`` (the queue entry's id), the batch and its
        Message-IDs are named after the build, the job and the state, so
        a caller may hold it before committing the failure: a master
        killed in between leaves the batch in the spool, and the next
        one, collecting the same job again, finds it there (or finds it
        sent) instead of telling twice."""
        if build.buildstate not in NOTIFIED_STATES:
            raise ValueError(f"build {build.id} is {build.buildstate.name}: failure mail "
                             "is for FAILEDTOBUILD, CHROOTWAIT or FAILEDTOUPLOAD builds")
        told = recipients(build, self.config)
        if not told:
            builder_name = build.builder.name if build.builder else "no builder"
            logger.info(f"Mail about {build.describe(builder_name)} "
                        f"{build.buildstate.name}: nobody to tell")
            return None
        notice = FailureNotice(build, self.config, upload_log, problem)
        if job is None:
            batch = SpooledBatch.new(notice.sender, notice.about, [
                SpooledMessage(address, notice.message(address, reason))
                for address, reason in told])
            self.spool.save(batch)
            return batch
        key = f"build{build.id}-job{job}-{build.buildstate.name}"
        domain = notice.sender.rpartition("@")[2] or "localhost"
        batch = SpooledBatch.new(notice.sender, notice.about, [
            SpooledMessage(address, notice.message(address, reason,
                                                   f"<{key}-{number}@{domain}>"))
            for number, (address, reason) in enumerate(told)], key=key)
        held = self.spool.hold_once(batch)
        if held is None:
            logger.info(f"Mail about {notice.about} was sent already")
        return held

    def hold(self, sender, about, messages):
        """Write ``messages`` [(recipient, raw text)] to the spool as one
        batch, not yet sent: the SpooledBatch, for ``release`` once the
        caller has committed what the mail is about, or ``drop``.  Safe
        in a thread; a master stopped in between sends it on restart."""
        batch = SpooledBatch.new(sender, about, [
            SpooledMessage(recipient, text) for recipient, text in messages])
        self.spool.save(batch)
        return batch

    def release(self, batch):
        """Start sending a held batch (in the reactor's thread), unless
        another holder of the spool claimed it meanwhile."""
        self.released(batch, self.claim_in_spool(batch.name))

    def released(self, batch, claimed):
        """Start sending a held batch whose ``claim_in_spool`` is ``claimed``
        (in the reactor's thread)."""
        self._act_on_claim(batch.name, *claimed)
        logger.info(f"Mail about {batch.about} queued for "
                    f"{', '.join(message.recipient for message in batch.messages)}")

    def drop(self, batch):
        """Take a held batch out of the spool unsent."""
        self.spool.remove(batch)

    def flush(self):
        """A Deferred firing once every message queued so far has been
        tried: delivered, or failed and waiting for its retry."""
        if not self._queue and not self._sessions:
            return defer.succeed(None)
        waiting = defer.Deferred()
        self._waiting.append(waiting)
        return waiting

    def stop(self):
        """Cancel pending retries; their messages stay in the spool."""
        for call in self._retries.values():
            call.cancel()
        self._retries.clear()

    def _load_spool(self):
        for name in self.spool.names():
            self._claim(name)

    def _claim(self, name):
        """Try the batch in spool file ``name`` now if it is due, else
        when it will be; nothing if it is gone."""
        self._act_on_claim(name, *self.claim_in_spool(name))

    def claim_in_spool(self, name):
        """(now, batch, when due or None) of the spool's claim of batch
        ``name`` (MailSpool.claim); (now, None, None) for a file gone, or
        unreadable and moved to failed/.  Only the spool's files and lock:
        safe in any thread."""
        now = self.clock.seconds()
        try:
            return (now, *self.spool.claim(name, now, self.config.mail.retry_delay))
        except SpoolError as error:
            logger.error(f"Unreadable mail spool file {error}; moved to "
                         f"{self.spool.fail(name)}")
            return now, None, None

    def _act_on_claim(self, name, now, batch, due):
        """Send a claimed batch now, or try again when it is due; nothing
        while a round of it is in flight here (that round's end decides:
        two rounds would send its messages twice)."""
        self._retries.pop(name, None)
        if batch is None or name in self._rounds:
            return
        if due is not None:
            self._retries[name] = self.clock.callLater(due - now, self._claim, name)
            return
        self._start_round(batch)

    def _start_round(self, batch):
        """Queue every unsent message of ``batch`` for one more try."""
        self._retries.pop(batch.name, None)
        self._rounds[batch.name] = (len(batch.messages), [])
        self._queue.extend(_Outgoing(batch, message) for message in batch.messages)
        self._open_sessions()

    def _open_sessions(self):
        mail_config = self.config.mail
        while self._queue and self._sessions < mail_config.max_connections:
            self._sessions += 1
            session = run_session(self.reactor, mail_config.smtp_host, mail_config.smtp_port,
                                  mail_config.send_timeout, self._take, self._settle,
                                  clock=self.clock)
            session.addCallback(self._session_ended)
            session.addErrback(self._trouble)

    def _take(self):
        return self._queue.popleft() if self._queue else None

    def _session_ended(self, outcome):
        taken, error = outcome
        self._sessions -= 1
        if error is not None and not taken:
            # The server could not be reached: the queue would fare no better now.
            while self._queue:
                self._settle(self._queue.popleft(), error)
        self._open_sessions()
        if not self._queue and not self._sessions:
            waiting, self._waiting = self._waiting, []
            for deferred in waiting:
                deferred.callback(None)

    def _settle(self, outgoing, error):
        """Record one message's outcome.  A delivered message leaves the
        batch's file at once, so a master killed later in the round does
        not send it again; failures are written once every message of
        the round has an outcome."""
        batch, message = outgoing.batch, outgoing.message
        pending, failures = self._rounds[batch.name]
        if error is None:
            batch.messages.remove(message)
            self._write_or_remove(batch)
            logger.info(f"Mail about {batch.about} delivered to {message.recipient}")
        else:
            message.attempts += 1
            failures.append((message, error.strip().rstrip(".")))
        if pending > 1:
            self._rounds[batch.name] = (pending - 1, failures)
            return
        del self._rounds[batch.name]
        try:
            self._round_ended(batch, failures)
        except Exception:
            self._trouble(failure.Failure())

    def _round_ended(self, batch, failures):
        given_up = [message for message, _ in failures
                    if message.attempts >= self.max_attempts]
        batch.messages = [m for m in batch.messages if m not in given_up]
        kept = self.spool.give_up(batch, given_up) if given_up else None
        delay = self.config.mail.retry_delay
        batch.next_attempt = self.clock.seconds() + delay
        for message, error in failures:
            if message in given_up:
                logger.error(f"Mail about {batch.about} to {message.recipient} not sent "
                             f"after {message.attempts} attempts ({error}); given up, "
                             f"kept in {kept}")
            else:
                logger.warning(f"Mail about {batch.about} to {message.recipient} not sent "
                               f"(attempt {message.attempts} of {self.max_attempts}): "
                               f"{error}; retrying in {delay} seconds")
        if not failures and not given_up:
            return  # every delivery already written
        self._write_or_remove(batch)
        if not batch.messages:
            return
        self._retries[batch.name] = self.clock.callLater(delay, self._claim, batch.name)

    def _write_or_remove(self, batch):
        """The batch's file as it now is, or gone when nothing is left."""
        if batch.messages:
            self.spool.rewrite(batch)
        else:
            self.spool.delivered(batch)

    @staticmethod
    def _trouble(reason):
        logger.error(f"Mail spool trouble: {reason.getErrorMessage()}",
                     exc_info=(reason.type, reason.value, reason.getTracebackObject()))
