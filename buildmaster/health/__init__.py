"""Build health: colours, the status list, flaky builds, sick builders,
the farm report.

::

    a build ends (scanner, dispatcher)
      └─ record(): a BuildOutcome in the same transaction   record.py, colours.py
    after its commit, tell():
      ├─ quarantine.check(): sick builders out of dispatch  quarantine.py
      └─ notify.judge_pending(): flaky? what changed?       notify.py, flaky.py,
         one message to [status] mailing_list per            transitions.py, messages.py
         transition, claimed by compare-and-set
    the build_health job, sweep():
      ├─ outcomes nobody judged (a master killed between)   notify.py
      └─ builders gone failed or back: buildd admins told   builders.py
    the farm_report job and ``buildmaster report``           report.py, farmdata.py

Decisions are pure functions (colours.colour, transitions.change and
wants_mail, flaky.is_flaky, quarantine.is_sick, builders.observed_state,
report.figures); the rest reads and writes rows and holds mail in the
spool until the claim that says it was sent commits (outbox.py).
"""

import logging

from twisted.internet import threads

from buildmaster.errortext import one_line
from buildmaster.health import builders, notify, quarantine
from buildmaster.health.outbox import Outbox
from buildmaster.health.record import Finished, record_outcomes
from buildmaster.model import utcnow
from buildmaster.db.outage import is_outage

LOG = logging.getLogger("buildmaster.health")

__all__ = ["Finished", "record", "sweep", "sweep_now", "tell"]


def record(session, config, attempts):
    """Record how the Finished ``attempts`` ended, in the caller's
    transaction (it commits); the BuildOutcomes, for ``tell``."""
    return record_outcomes(session, config, attempts)


def tell(session, config, mailer, outcomes, now=None):
    """Once the outcomes' transaction has committed: quarantine the
    builders they show sick, judge every outcome not yet judged and send
    what that says.  Never raises: a failure is logged, and the
    build_health job judges what is left."""
    outbox = Outbox(mailer)
    try:
        now = now or utcnow()
        quarantine.check(session, config, outbox, outcomes, now)
        notify.judge_pending(session, config, outbox, now)
    except Exception as error:
        session.rollback()
        if is_outage(error):
            # The outage is told by the jobs (buildmaster.db.outage): one line here.
            LOG.warning(f"Telling of finished builds waits for the database "
                        f"({one_line(str(getattr(error, 'orig', None) or error))}); "
                        "the build_health job will tell them")
        else:
            LOG.exception("Telling of finished builds failed; the build_health job "
                          "will try again")
    finally:
        outbox.release()


def sweep_now(context, outbox, now=None):
    """One build_health run in the calling thread: judge what nobody
    judged, tell the builders' changes; mail held in ``outbox``.
    Returns (outcomes judged, builder changes told)."""
    now = now or utcnow()
    session = context.sessions()
    try:
        judged = notify.judge_pending(session, context.config, outbox, now)
        changes = builders.observe(session, context.config, outbox, now)
        return len(judged), changes
    finally:
        session.close()


def sweep(context, now=None):
    """The build_health job: ``sweep_now`` in a thread, its mail released
    in the reactor's; a Deferred firing with its result."""
    outbox = Outbox(context.mailer)

    def release(result):
        outbox.release()
        return result
    return threads.deferToThread(sweep_now, context, outbox, now).addBoth(release)
