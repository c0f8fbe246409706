"""Build failure mail: composed from the build, spooled, sent over SMTP.

When a build ends FAILEDTOBUILD, CHROOTWAIT or FAILEDTOUPLOAD, the
source's creator, the archive's owner (for a PPA) and every buildd admin
each get one message saying what failed, where, and where the log is.

Sending never holds up the caller and never raises into it: each message
goes to the spool (mailspool.py) first, then to the SMTP server with
twisted.mail's ``sendmail``.  A failed attempt is logged with the
recipient and the error and tried again ``[mail] retry_delay`` seconds
later; after ``max_attempts`` the message is moved aside to
``mail-spool/failed/`` and logged as lost to the retry loop, since a
retry without a cap loops forever.  One BuildMailer owns a spool
directory: the master makes one and keeps it.
"""

import email.policy
import email.utils
import logging
from email.message import EmailMessage

import jinja2
from twisted.internet import defer
from twisted.mail import smtp
from twisted.python import failure

from buildmaster.librarian.urls import http_url
from buildmaster.mailspool import MailSpool, SpooledMail, SpoolError
from buildmaster.model import BuildStatus
from buildmaster.scanner import describe

logger = logging.getLogger("buildmaster.mail")

NOTIFIED_STATES = (BuildStatus.FAILEDTOBUILD, BuildStatus.CHROOTWAIT,
                   BuildStatus.FAILEDTOUPLOAD)
MAX_ATTEMPTS = 12
SEND_TIMEOUT = 300  # seconds one SMTP delivery may take

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


def render_body(build, config, reason, upload_log=None):
    spr = build.sourcepackagerelease
    return _templates.get_template("build-failure.txt").render(
        source=spr.name, version=spr.version,
        series=f"{build.distribution.name} {build.distroseries.name}",
        arch=build.distroarchseries.architecturetag,
        archive=f"{build.archive.reference} ({build.archive.displayname})",
        component=build.current_component.name, state=build.buildstate.title,
        duration=describe_duration(build.buildduration),
        buildlog=_buildlog_location(build, config),
        builder=build.builder.name if build.builder else "not available",
        title=build.title, reason=reason,
        upload_log=upload_log.rstrip("\n") if upload_log else None)


def compose(build, config, recipient, reason, upload_log=None):
    """The failure message for ``build`` to ``recipient``, an EmailMessage."""
    body = render_body(build, config, reason, upload_log)
    readable = body.isascii() and all(len(line) <= 998 for line in body.splitlines())
    message = EmailMessage(policy=email.policy.default)
    message.set_content(body, cte="7bit" if readable else "quoted-printable")
    message["From"] = config.mail.from_address
    message["To"] = recipient
    message["Subject"] = f"[Build #{build.id}] {build.title}"
    message["Date"] = email.utils.formatdate(usegmt=True)
    message["Message-ID"] = email.utils.make_msgid(
        "build", domain=config.mail.from_address.rpartition("@")[2] or None)
    message["X-Launchpad-Build-State"] = build.buildstate.name
    message["X-Launchpad-Build-Component"] = build.current_component.name
    message["X-Launchpad-Build-Arch"] = build.distroarchseries.architecturetag
    return message


class BuildMailer:
    """Queues failure mail and delivers it to ``[mail] smtp_host:smtp_port``.

    ``reactor`` makes the SMTP connections; ``clock`` (default: the
    reactor) schedules retries, so a test can drive them with a
    ``twisted.internet.task.Clock``.  Creating a mailer loads the spool
    and starts sending what an earlier master left there.
    """

    def __init__(self, config, reactor=None, clock=None, max_attempts=MAX_ATTEMPTS):
        if reactor is None:
            from twisted.internet import reactor
        self.config = config
        self.reactor = reactor
        self.clock = clock or reactor
        self.max_attempts = max_attempts
        self.spool = MailSpool(config.builddmaster.root)
        self._in_flight = set()
        self._retries = {}
        self._load_spool()

    def notifyBuildFailure(self, build, upload_log=None):
        """Queue one message per recipient about ``build``'s failure."""
        if build.buildstate not in NOTIFIED_STATES:
            raise ValueError(f"build {build.id} is {build.buildstate.name}: failure mail "
                             "is for FAILEDTOBUILD, CHROOTWAIT or FAILEDTOUPLOAD builds")
        builder_name = build.builder.name if build.builder else "no builder"
        about = f"{describe(build, builder_name)} {build.buildstate.name}"
        told = recipients(build, self.config)
        if not told:
            logger.info(f"Mail about {about}: nobody to tell")
            return
        sender = self.config.mail.from_address
        for address, reason in told:
            message = compose(build, self.config, address, reason, upload_log)
            mail = SpooledMail.new(sender, address, about, message.as_string())
            self.spool.save(mail)
            self._attempt(mail)
        logger.info(f"Mail about {about} queued for "
                    f"{', '.join(address for address, _ in told)}")

    def flush(self):
        """A Deferred firing once every message queued so far has been
        tried: delivered, or failed and waiting for its retry."""
        return defer.DeferredList(list(self._in_flight)).addCallback(lambda _: None)

    def stop(self):
        """Cancel pending retries; their messages stay in the spool."""
        for call in self._retries.values():
            call.cancel()
        self._retries.clear()

    def _load_spool(self):
        for name in self.spool.names():
            try:
                mail = self.spool.load(name)
            except SpoolError as error:
                logger.error(f"Unreadable mail spool file {error}; moved to "
                             f"{self.spool.fail(name)}")
                continue
            self._attempt(mail)

    def _attempt(self, mail):
        self._retries.pop(mail.name, None)
        mail_config = self.config.mail
        sending = smtp.sendmail(
            mail_config.smtp_host, mail.sender, [mail.recipient],
            mail.message.encode("utf-8"), port=mail_config.smtp_port, reactor=self.reactor)
        sending.addTimeout(SEND_TIMEOUT, self.reactor)
        sending.addCallbacks(self._delivered, self._not_delivered,
                             callbackArgs=(mail,), errbackArgs=(mail,))
        self._in_flight.add(sending)
        sending.addBoth(self._settled, sending)

    def _settled(self, result, sending):
        self._in_flight.discard(sending)
        if isinstance(result, failure.Failure):
            logger.error(f"Mail spool trouble: {result.getErrorMessage()}",
                         exc_info=(result.type, result.value, result.getTracebackObject()))

    def _delivered(self, _result, mail):
        self.spool.remove(mail)
        logger.info(f"Mail about {mail.about} delivered to {mail.recipient}")

    def _not_delivered(self, reason, mail):
        mail.attempts += 1
        error = reason.getErrorMessage().strip().rstrip(".")
        self.spool.save(mail)
        if mail.attempts >= self.max_attempts:
            logger.error(f"Mail about {mail.about} to {mail.recipient} not sent after "
                         f"{mail.attempts} attempts ({error}); given up, kept in "
                         f"{self.spool.fail(mail.name)}")
            return
        delay = self.config.mail.retry_delay
        logger.warning(f"Mail about {mail.about} to {mail.recipient} not sent "
                       f"(attempt {mail.attempts} of {self.max_attempts}): {error}; "
                       f"retrying in {delay} seconds")
        self._retries[mail.name] = self.clock.callLater(delay, self._attempt, mail)
