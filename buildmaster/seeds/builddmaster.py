"""The 2005 BuilddMaster: the seeds' older, per-processor driver.

It keeps the seed's protocol over today's parts: the architectures that
can build (those with a chroot) and the builders for each, the pending
queue split by processor in score order, dispatch of each processor's
queue to its idle builders, and a scan of every builder (the slave
scanner's BuilderGroup).  The daemon itself uses the dispatch and scan passes
(dispatchpass.dispatch_idle_builders, scanpass.scan); this class is for
scripts and the seed's story.
"""

import logging

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from twisted.internet import defer

from buildmaster.queue import candidates
from buildmaster.dispatch import dispatcher
from buildmaster.scan import scanner
from buildmaster.errortext import failure_text
from buildmaster.model import (
    Build, Builder, BuildQueue, DistroArchSeries, DistroSeries, SourcePackageRelease)


class BuilddMaster:
    """``BuilddMaster(logger, transaction)``; ``config``, ``librarian`` and
    ``mailer`` are passed on to the scanner's BuilderGroup."""

    def __init__(self, logger, transaction, config=None, librarian=None, mailer=None):
        self._logger = logger or logging.getLogger("buildmaster.builddmaster")
        self._tm = transaction
        self.session = transaction.session
        self.config = config or dispatcher.default_config()
        self.librarian = librarian
        self.mailer = mailer
        self._archreleases = {}

    def _group(self):
        return scanner.BuilderGroup(self._logger, self._tm, config=self.config,
                                    librarian=self.librarian, mailer=self.mailer)

    def addDistroArchRelease(self, distroarchrelease):
        """Take ``distroarchrelease`` on if it can build (has a chroot)."""
        if distroarchrelease.chroot is None:
            self._logger.info(f"{distroarchrelease.displayname}: no chroot, not building")
            return
        self._archreleases.setdefault(distroarchrelease, {})

    def setupBuilders(self, distroarchrelease):
        """The BuilderGroup of the usable builders for ``distroarchrelease``.

        KeyError when the architecture was not taken on (no chroot) or
        no active, ok builder has its processor.
        """
        info = self._archreleases[distroarchrelease]
        if "builders" not in info:
            group = self._group()
            group.builders = list(self.session.scalars(
                sa.select(Builder).where(
                    Builder.processor_id == distroarchrelease.processor_id,
                    Builder.active, Builder.builderok).order_by(Builder.id)))
            if not group.builders:
                raise KeyError(f"no usable builder for {distroarchrelease.displayname}")
            info["builders"] = group
        return info["builders"]

    def scanActiveBuilders(self):
        """Scan every active builder once; a Deferred firing with the number
        of builders whose scan failed."""
        group = self._group()
        group.builders = load_builders(self.session)
        return group.scanActiveBuilders()

    def sortAndSplitByProcessor(self):
        """{processor: pending queue entries, best first}."""
        return sortAndSplitByProcessor(self.session)

    def dispatchByProcessor(self, processor, queueItems):
        """Give ``queueItems`` (one processor's, best first) to that
        processor's idle builders, each the best item it can take; a
        Deferred firing with the number started."""
        items = candidates.vet(self.session, list(queueItems), self._logger)
        pairs = []
        for builder in dispatcher.idle_builders(self.session):
            if builder.processor_id != processor.id:
                continue
            for item in items:
                if item.virtualized == builder.virtualized:
                    items.remove(item)
                    pairs.append((builder, item))
                    break
        return dispatch_pairs(pairs, self.config, self._logger,
                                      self.librarian, self.mailer)


def sortAndSplitByProcessor(session):
    """{processor: pending queue entries, highest score first}."""
    entries = session.scalars(
        sa.select(BuildQueue).where(BuildQueue.builder_id.is_(None))
        .options(selectinload(BuildQueue.build).selectinload(Build.processor))
        .order_by(BuildQueue.lastscore.desc(), BuildQueue.id))
    split = {}
    for entry in entries:
        split.setdefault(entry.build.processor, []).append(entry)
    return split


def load_builders(session):
    """Every active builder with its job and what the log lines name,
    in a fixed handful of queries whatever the size of the farm."""
    build_details = (
        selectinload(Build.sourcepackagerelease)
        .selectinload(SourcePackageRelease.sourcepackagename),
        selectinload(Build.distroarchseries).selectinload(DistroArchSeries.distroseries)
        .selectinload(DistroSeries.distribution),
        selectinload(Build.archive),
    )
    return list(session.scalars(
        sa.select(Builder).where(Builder.active).order_by(Builder.id).options(
            selectinload(Builder.currentjob).selectinload(BuildQueue.build)
            .options(*build_details))))


@defer.inlineCallbacks
def dispatch_pairs(pairs, config, logger, librarian=None, mailer=None):
    """Dispatch every (builder, candidate) pair, at most
    ``max_concurrent_calls`` talking at once; fires with how many started."""
    semaphore = defer.DeferredSemaphore(max(1, config.builddmaster.max_concurrent_calls))
    results = yield defer.DeferredList(
        [semaphore.run(dispatcher.dispatch_candidate, builder, entry, config, logger,
                       librarian, mailer)
         for builder, entry in pairs], consumeErrors=True)
    started = 0
    for (builder, entry), (ok, result) in zip(pairs, results):
        if ok:
            started += 1
        elif result.check(dispatcher.JobTaken):
            logger.info(failure_text(result))
        elif not result.check(dispatcher.DispatchFailed):
            logger.error(f"Dispatching to {builder.name} failed: {failure_text(result)}",
                         exc_info=(result.type, result.value, result.getTracebackObject()))
    return started
