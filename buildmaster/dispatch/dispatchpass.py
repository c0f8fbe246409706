"""One dispatch pass: jobs chosen and claimed in a thread, sent from the reactor.

::

    plan (thread): the idle builders (all, or the ones a scan just freed),
        candidates once per (processor, virtualized) group, each request
        prepared, each claim committed (dispatch.claim)
    ──► send (reactor): ensurepresent, build; at most max_concurrent_calls
        slaves at once
    ──► refusals (thread, one transaction each): failures counted, the
        claim undone or the job failed (dispatch.Dispatch.count_refusal)
    ──► every builder that started a job is polled 0.2 s later (polling.py),
        or as soon as its slave calls back (callbacks.py)

The reactor holds plain Plans, never a database object.  A claim is
committed before its slave is asked, as in dispatch.py; a master killed
in between leaves a BUILDING build with an idle slave, which the scanner
puts back in the queue after its streak of failed scans.
"""

import dataclasses
from typing import Optional

from twisted.internet import defer
from twisted.python.failure import Failure

from buildmaster.slaves.callbacks import add_to_args
from buildmaster.queue.candidates import LOG
from buildmaster.queue.fairshare import scheduling_of
from buildmaster.dispatch.dispatcher import (
    SLAVE_FAILURES, Dispatch, build_request, check_dispatchable, claim, idle_builders,
    job_id, log_started, pair_builders, send_job)
from buildmaster.errortext import failure_text
from buildmaster.mail.mailer import ThreadMailer
from buildmaster.model import Builder, BuildQueue
from buildmaster.db.outage import is_outage
from buildmaster.slaves.patience import patiently
from buildmaster.runtime.wakeups import SCAN


@dataclasses.dataclass
class Plan:
    """One claimed job on its way to a builder's slave."""

    builder_id: int
    builder_name: str
    url: str
    entry_id: int
    build_id: int
    job: str
    label: str
    fetches: list
    build_args: tuple
    old_state: object
    holder_id: Optional[int]
    slave: object = None

    @property
    def id(self):  # what SlaveRegistry.slave_for reads
        return self.builder_id


def plan(session, config, logger, builder_ids=None):
    """Claim the best job for every idle builder (of ``builder_ids``); the
    Plans of the claims won.  One commit per claim."""
    plans = []
    for builder, entry in pair_builders(session, idle_builders(session, builder_ids),
                                        logger, scheduling_of(config)):
        build = entry.build
        try:
            check_dispatchable(build)
            fetches, build_args = build_request(config, entry)
        except Exception as error:
            if is_outage(error):
                raise  # the pass fails, and the outage is told once (outage.py)
            logger.error(f"Dispatching to {builder.name} failed: {error}", exc_info=True)
            continue
        old_state, holder_id = build.buildstate, build.builder_id
        if not claim(session, builder, entry):
            logger.info(f"{build.label}: taken by another builder, "
                        f"or {builder.name} is busy")
            continue
        plans.append(Plan(builder.id, builder.name, builder.url, entry.id, entry.build_id,
                          job_id(entry), build.label, fetches, build_args, old_state,
                          holder_id))
    return plans


def refuse(session, config, librarian, mailer, logger, refusals):
    """Count every refusal [(plan, Failure)]: failures, verdicts, claims
    undone or jobs failed."""
    for each, failure in refusals:
        builder = session.get(Builder, each.builder_id)
        entry = session.get(BuildQueue, each.entry_id)
        if builder is None or entry is None or entry.builder_id != builder.id:
            continue
        holder = session.get(Builder, each.holder_id) if each.holder_id else None
        Dispatch(builder, entry, config, logger, librarian, mailer).count_refusal(
            (each.old_state, holder), failure)


def dispatch_idle_builders(context, logger=None, builder_ids=None):
    """Fill every idle builder (of ``builder_ids``) once; a Deferred firing
    with the number of jobs started."""
    return defer.ensureDeferred(_dispatch(context, logger, builder_ids))


async def _dispatch(context, logger, builder_ids):
    logger = logger or LOG
    config = context.config
    context.slaves.configure(config)
    plans = await context.db.run_in_thread(plan, config, logger, builder_ids)
    if not plans:
        return 0
    semaphore = defer.DeferredSemaphore(max(1, config.builddmaster.max_concurrent_calls))
    for each in plans:
        each.slave = context.slaves.slave_for(each)
    outcomes = {}

    def ended(result, each):
        outcomes[each.entry_id] = result
        return None
    sends = [semaphore.run(send_job, each.slave, each.job, each.fetches,
                           _with_callback(context, each),
                           config.builddmaster.download_timeout).addBoth(ended, each)
             for each in plans]
    # A slave that hangs holds up neither the others nor the next job: its
    # outcome is settled on its own when it comes.
    await patiently(sends, context.reactor)
    for each, send in zip(plans, sends):
        if each.entry_id not in outcomes:
            logger.info(f"{each.builder_name} has not answered the dispatch of "
                        f"{each.label} yet; the pass goes on without it")
            send.addCallback(_settle_late, context, logger, each, outcomes)
    return await _settle(context, logger, [(each, outcomes.pop(each.entry_id))
                                           for each in plans if each.entry_id in outcomes])


def _with_callback(context, each):
    """The build arguments, with a call-back URL for slaves that use one
    (callbacks.py)."""
    if context.callbacks is None:
        return each.build_args
    return add_to_args(each.build_args,
                       context.callbacks.url_for(each.builder_id, each.url))


def _settle_late(_, context, logger, each, outcomes):
    d = defer.ensureDeferred(_settle(context, logger, [(each, outcomes.pop(each.entry_id))]))
    return d.addErrback(lambda failure: logger.error(
        f"Dispatching to {each.builder_name} failed: {failure_text(failure)}",
        exc_info=(failure.type, failure.value, failure.getTracebackObject())))


async def _settle(context, logger, outcomes):
    """Log the jobs started, count the refusals [(plan, result or
    Failure)]; the number started."""
    config = context.config
    started, refusals = 0, []
    for each, result in outcomes:
        ok = not isinstance(result, Failure)
        if ok:
            started += 1
            log_started(logger, each.label, each.old_state, each.builder_name, each.job)
            context.polls.dispatched(each.builder_id)
        elif result.check(*SLAVE_FAILURES):
            refusals.append((each, result))
        else:
            logger.error(f"Dispatching to {each.builder_name} failed: "
                         f"{failure_text(result)}",
                         exc_info=(result.type, result.value, result.getTracebackObject()))
    if refusals:
        await context.db.run_in_thread(refuse, config, context.librarian,
                             ThreadMailer(context.mailer, context.reactor), logger, refusals)
    if started:
        context.wakeups.wake(SCAN, context.polls.next_in())
    return started

