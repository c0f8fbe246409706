"""The farm report, read from the database and mailed every
``[status] report_every`` days to ``[status] report_to``.

Periods are numbered from a Monday (``slot``: whole periods of
``report_every`` days since Monday 1970-01-05, so weekly reports run
Monday to Monday, UTC): the farm_report job runs often
(hourly by default) and mails the report of the period that just ended
when no master has mailed that slot yet.  The claim is the insert of the
slot's StatusReport row, unique, committed with the message held in the
spool (buildmaster.health.outbox): two masters, or a restart, never
mail one period twice, and a master stopped in between leaves the
message in the spool for the next one.
"""

import datetime
import logging

from sqlalchemy.exc import IntegrityError
from twisted.internet import threads

from buildmaster.health import farmdata, report
from buildmaster.health.messages import message_id, raw_messages
from buildmaster.health.outbox import Outbox
from buildmaster.model import UTC, StatusReport, utcnow

LOG = logging.getLogger("buildmaster.health")
EPOCH = datetime.datetime(1970, 1, 5, tzinfo=UTC)  # a Monday


def figures(session, since, until, now):
    """The report's figures for [since, until) as the farm is at ``now``."""
    rows = farmdata.outcomes(session, since, until)
    flaky = farmdata.shown_flaky(session, [row["id"] for row in rows
                                           if row["colour"] == "red"])
    return report.figures(rows, flaky, farmdata.builders_out_of_use(session),
                          since, until, now)


def period(every_days, now):
    """(slot, since, until) of the last whole period before ``now``."""
    length = datetime.timedelta(days=every_days)
    slot = int((now - EPOCH) / length)
    until = EPOCH + slot * length
    return slot, until - length, until


def mail_report_now(context, outbox, now=None):
    """Mail the last period's report unless a master did; in the calling
    thread, the mail held in ``outbox``.  Returns the slot mailed, or
    None."""
    status = context.config.status
    if not status.report_to:
        return None
    now = now or utcnow()
    slot, since, until = period(status.report_every, now)
    session = context.sessions()
    try:
        try:
            session.add(StatusReport(slot=slot, since=since, until=until, sent_at=now))
            session.flush()
        except IntegrityError:
            session.rollback()
            return None
        body = report.text(figures(session, since, until, now))
        batch = outbox.hold(
            f"farm report {since:%Y-%m-%d} to {until:%Y-%m-%d}",
            raw_messages(context.config, status.report_to,
                         f"Build farm report, {since:%Y-%m-%d} to {until:%Y-%m-%d}", body,
                         message_id(context.config, f"farm-report-{slot}"), now))
        outbox.commit(session, batch)
    finally:
        session.close()
    LOG.info(f"Farm report {since:%Y-%m-%d} to {until:%Y-%m-%d} mailed to "
             f"{', '.join(status.report_to)}")
    return slot


def mail_report(context, now=None):
    """The farm_report job: ``mail_report_now`` in a thread, the mail
    released in the reactor's; a Deferred."""
    outbox = Outbox(context.mailer)

    def release(result):
        outbox.release()
        return result
    return threads.deferToThread(mail_report_now, context, outbox, now).addBoth(release)
