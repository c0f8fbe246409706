"""``/metrics`` in Prometheus' text format, and ``/healthz``.

Kept in the master (prometheus_client's own registry per FarmMetrics):

* ``buildmaster_scan_cycle_seconds`` and
  ``buildmaster_dispatch_pass_seconds``: histograms of every completed
  scan cycle and dispatch pass (FarmContext.activity tells each);
* ``buildmaster_reactor_lag_seconds``: how late the reactor last ran a
  call due every LAG_INTERVAL seconds (a busy or blocked reactor shows
  here first).

Read from the database and the disk at each scrape (in a thread, as
every web request):

* ``buildmaster_queue_depth{processor}``: pending jobs of public
  archives (anyone may read /metrics: a private archive's are left out);
* ``buildmaster_builds_finished_total{state}``: finished attempts
  (one BuildOutcome each, so the count never goes down);
* ``buildmaster_builders{state}``: builders idle, building, failed,
  quarantined, disabled;
* ``buildmaster_mail_spool_depth``: messages' files waiting in the mail
  spool (``buildmaster_mail_spool_failed`` those given up on).

``/healthz`` answers 200 when the database answers ``SELECT 1`` and a
scan cycle has completed within HEALTHY_INTERVALS scan intervals (the
``slave_scanner`` job's mindelay plus the last cycle's length, counted
from the daemon's start before the first cycle); 503 otherwise, naming
what failed.  A configuration without a scanner job skips that check.
"""

import json
import os
import threading

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from twisted.application import service

from buildmaster.runtime.activity import DISPATCH, SCAN
from buildmaster.mail.spool import FAILED_DIRECTORY, SPOOL_DIRECTORY, SUFFIX
from buildmaster.model import (
    Archive, Build, BuildOutcome, BuildQueue, Processor, utcnow)
from buildmaster.runtime.wakeups import SCAN as SCANNER_CALLABLE
from buildmaster.queue.fairshare import scheduling_of
from buildmaster.web import reasons
from buildmaster.web.http import Answer

LAG_INTERVAL = 1.0
HEALTHY_INTERVALS = 3
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class FarmCollector:
    """The figures read at each scrape (see the module docstring)."""

    def __init__(self, context):
        self.context = context

    def describe(self):
        return []

    def collect(self):
        depth = GaugeMetricFamily("buildmaster_queue_depth",
                                  "Pending jobs by processor", labels=["processor"])
        finished = CounterMetricFamily("buildmaster_builds_finished",
                                       "Finished build attempts by state",
                                       labels=["state"])
        builders = GaugeMetricFamily("buildmaster_builders", "Builders by state",
                                     labels=["state"])
        # /metrics asks for no token: a private archive's jobs are left
        # out, as every page leaves them out for a viewer without the
        # private right.
        pending = (sa.select(BuildQueue.id, BuildQueue.processor_id)
                   .join(Build, Build.id == BuildQueue.build_id)
                   .join(Archive, Archive.id == Build.archive_id)
                   .where(BuildQueue.builder_id.is_(None), sa.not_(Archive.private))
                   .subquery())
        with self.context.sessions() as session:
            for name, number in session.execute(
                    sa.select(Processor.name, sa.func.count(pending.c.id))
                    .outerjoin(pending, pending.c.processor_id == Processor.id)
                    .group_by(Processor.name).order_by(Processor.name)):
                depth.add_metric([name], number)
            for state, number in session.execute(
                    sa.select(BuildOutcome.state, sa.func.count())
                    .group_by(BuildOutcome.state).order_by(BuildOutcome.state)):
                finished.add_metric([state], number)
            farm = reasons.load_farm(
                session, utcnow(), self.context.config.builddmaster.builder_failure_threshold,
                scheduling_of(self.context.config))
        counts = {state: 0 for state in (reasons.IDLE, reasons.BUILDING, reasons.FAILED,
                                         reasons.QUARANTINED, reasons.DISABLED)}
        for view in farm.builders:
            counts[view.state] += 1
        for state, number in counts.items():
            builders.add_metric([state], number)
        spool = os.path.join(self.context.config.builddmaster.root, SPOOL_DIRECTORY)
        yield depth
        yield finished
        yield builders
        yield GaugeMetricFamily("buildmaster_mail_spool_depth",
                                "Mail spool files waiting to be sent",
                                value=_count_files(spool))
        yield GaugeMetricFamily("buildmaster_mail_spool_failed",
                                "Mail spool files given up on",
                                value=_count_files(os.path.join(spool, FAILED_DIRECTORY)))


def _count_files(directory):
    try:
        return sum(1 for name in os.listdir(directory)
                   if name.endswith(SUFFIX) and not name.startswith("."))
    except FileNotFoundError:
        return 0


class FarmMetrics:
    """The web's /metrics and /healthz; ``exposition`` and ``health``
    run in a thread and return an Answer."""

    def __init__(self, context):
        self.context = context
        self.registry = CollectorRegistry(auto_describe=False)
        self.durations = {
            SCAN: Histogram("buildmaster_scan_cycle_seconds", "Scan cycle durations",
                            buckets=BUCKETS, registry=self.registry),
            DISPATCH: Histogram("buildmaster_dispatch_pass_seconds",
                                "Dispatch pass durations", buckets=BUCKETS,
                                registry=self.registry),
        }
        self.lag = Gauge("buildmaster_reactor_lag_seconds",
                         "How late the reactor last ran a timed call",
                         registry=self.registry)
        self.registry.register(FarmCollector(context))
        self._lock = threading.Lock()
        context.activity.listeners.append(self.observe)

    def observe(self, kind, seconds):
        if kind in self.durations:
            self.durations[kind].observe(seconds)

    def exposition(self):
        with self._lock:
            body = generate_latest(self.registry)
        return Answer(200, CONTENT_TYPE_LATEST, body)

    def health(self):
        problems, facts = [], {}
        try:
            with self.context.sessions() as session:
                session.execute(sa.text("SELECT 1"))
            facts["database"] = "ok"
        except sa.exc.SQLAlchemyError as error:
            detail = str(getattr(error, "orig", None) or error).strip().splitlines()
            problems.append(f"database unreachable: {detail[0] if detail else error}")
            facts["database"] = "unreachable"
        problems += self._scan_problems(facts)
        facts["status"] = "ok" if not problems else "failing"
        facts["problems"] = problems
        body = (json.dumps(facts, indent=1, sort_keys=True) + "\n").encode()
        return Answer(200 if not problems else 503, "application/json", body)

    def _scan_problems(self, facts):
        interval = scan_interval(self.context.config)
        if interval is None:
            facts["scan"] = "no scanner job configured"
            return []
        activity = self.context.activity
        last = activity.last_completed(SCAN)
        since = activity.seconds() - (last if last is not None else activity.started_at)
        allowed = HEALTHY_INTERVALS * (interval + (activity.last_duration(SCAN) or 0))
        facts["seconds_since_scan"] = round(since, 3) if last is not None else None
        facts["scan_allowed_seconds"] = round(allowed, 3)
        if since <= allowed:
            return []
        if last is None:
            return [f"no scan cycle has completed in {since:.0f} seconds since the start"]
        return [f"the last scan cycle completed {since:.0f} seconds ago, more than "
                f"{HEALTHY_INTERVALS} intervals ({allowed:.0f} seconds)"]


def scan_interval(config):
    """The scanner job's mindelay in seconds, or None without one."""
    for job in config.jobs:
        if job.callable == SCANNER_CALLABLE:
            return job.mindelay
    return None


class ReactorLag(service.Service):
    """Asks ``reactor`` to call back in ``interval`` seconds, over and
    over, and sets ``gauge`` to how late each call came."""

    def __init__(self, gauge, reactor, interval=LAG_INTERVAL):
        self.gauge, self.reactor, self.interval = gauge, reactor, interval
        self._call = None

    def startService(self):
        super().startService()
        self._schedule()

    def _schedule(self):
        due = self.reactor.seconds() + self.interval
        self._call = self.reactor.callLater(self.interval, self._tick, due)

    def _tick(self, due):
        self.gauge.set(max(0.0, self.reactor.seconds() - due))
        self._schedule()

    def stopService(self):
        super().stopService()
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
