"""The dispatcher: start the chosen jobs on idle builders.

Candidates come from buildmaster.queue.candidates.  Dispatching one:

1. The request is prepared first (chroot, source files, sources.list);
   a build the farm must not start, or one without a chroot, fails
   there and nothing is claimed.
2. The claim, in one transaction and one commit: on PostgreSQL the
   builder row is locked (so two masters cannot give one builder two
   jobs), the entry is taken with a compare-and-set UPDATE (it must be
   as it was read: pending, or already this builder's; and the builder
   must have no other job), and the build is marked BUILDING on the
   builder.  A claim that loses changes nothing.
3. The slave is asked to fetch the chroot and the source files
   (``ensurepresent``: the slave downloads before it answers, so each
   call may take ``download_timeout``) and to start the build.  Nothing
   more is written when it says BUILDING.

If the slave refuses or fails, the claim is undone (the entry pending
again, the build back in its old state) and one failure is counted
against both the builder and the build (Builder.failure_count,
Build.failure_count, judged like the scanner's failures by
failures.judge): the builder keeps a note of why in ``failnotes`` (which
names no private build: buildmaster.dispatch.refusals) and is
only failed (builderok False) once its count reaches
``builder_failure_threshold``, so one refused download does not take a
builder out of the farm, while a job that keeps breaking builders is
failed at ``job_failure_threshold`` like any FAILEDTOBUILD build: date
built, a short build log in the librarian saying why, failure mail.

A master killed after the claim's commit and before the slave starts
leaves a BUILDING build whose slave is idle: the scanner counts that as
a failed scan of the builder and, at its threshold, puts the job back
in the queue.
"""

import xmlrpc.client

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, object_session, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from twisted.internet import defer

from buildmaster import health
from buildmaster.archive.dependencies import BUILDD_USER, source_file_url, sources_list
from buildmaster.slaves.buildlog import store_text_log
from buildmaster.queue.candidates import LOG, find_candidates
from buildmaster.queue.fairshare import Scheduling
from buildmaster.queue.fairshare import load as load_share
from buildmaster.dispatch.refusals import refusal_texts
from buildmaster.slaves.failures import judge
from buildmaster.librarian.backends import make_storage
from buildmaster.librarian.urls import http_url
from buildmaster.model import (
    Archive, Build, Builder, BuildQueue, BuildStatus, DistroArchSeries, DistroSeries,
    LibraryFileAlias, PackagePublishingPocket, SourcePackageRelease,
    SourcePackageReleaseFile, utcnow)
from buildmaster.archive.pockets import build_allowed_in_pocket
from buildmaster.publisher.signing import trusted_keys
from buildmaster.slaves import registry
from buildmaster.slaves.errors import SlaveError
from common.states import BuilderStatus


class JobTaken(Exception):
    """The queue entry was claimed by another builder, or the builder is busy."""


class DispatchFailed(Exception):
    """The slave refused or failed the job; the job is back in the queue."""


class SlaveRefused(Exception):
    """The slave answered, but no."""


# What counts as the slave refusing or failing a job it was sent.
SLAVE_FAILURES = (SlaveError, SlaveRefused, xmlrpc.client.Fault)


def job_id(entry):
    """The job's name on the wire: '<Build.id>-<BuildQueue.id>'."""
    return f"{entry.build_id}-{entry.id}"


def default_config():
    from buildmaster import config as configmodule
    return configmodule.load(configmodule.config_path_from_environment(),
                             check_dirs=False)


def is_available(builder):
    """Ok, active and without a job in the database (the slave itself is
    asked when the job is sent)."""
    session = object_session(builder)
    busy = session.scalar(sa.select(sa.exists().where(BuildQueue.builder_id == builder.id)))
    return bool(builder.builderok and builder.active and not busy)


# -- What to send -------------------------------------------------------------

# What build_request reads, loaded for a whole pass in a fixed number of
# queries instead of one lazy load per relationship per job: what each
# job has one of comes joined into the query that loads the jobs, its
# files and its archive's dependencies in one query each.
REQUEST_LOADS = (
    joinedload(BuildQueue.build, innerjoin=True).options(
        joinedload(Build.sourcepackagerelease, innerjoin=True).options(
            joinedload(SourcePackageRelease.sourcepackagename, innerjoin=True),
            selectinload(SourcePackageRelease.files)
            .joinedload(SourcePackageReleaseFile.libraryfile, innerjoin=True)
            .joinedload(LibraryFileAlias.content, innerjoin=True)),
        joinedload(Build.distroarchseries, innerjoin=True).options(
            joinedload(DistroArchSeries.chroot).joinedload(LibraryFileAlias.content),
            joinedload(DistroArchSeries.distroseries, innerjoin=True)
            .joinedload(DistroSeries.distribution, innerjoin=True)),
        joinedload(Build.archive, innerjoin=True).selectinload(Archive.dependencies)),
)


def check_dispatchable(build):
    """Raise AssertionError (the seed's text) for builds the farm must not
    start; raised explicitly, so ``python -O`` keeps the check."""
    if build.pocket == PackagePublishingPocket.SECURITY:
        raise AssertionError("Soyuz is not yet capable of building SECURITY uploads.")
    if not build_allowed_in_pocket(build):
        raise AssertionError(
            f"{build.title} ({build.id}) can not be built for pocket {build.pocket.name}: "
            f"invalid pocket due to the series status of {build.distroseries.name}.")


def build_request(config, entry):
    """What to send: [(sha1, url, user, password)] to fetch, and the
    build() arguments.  ``arch_indep`` is true only on the series'
    nominated arch-indep architecture: the slave builds the source's
    ``Architecture: all`` packages there (``dpkg-buildpackage -b``, with
    Build-Depends-Indep) and arch-dependent ones only elsewhere (``-B``).
    ``trusted_keys`` (base64 OpenPGP public keys, for the chroot's apt) is
    sent when the farm signs its archives; without it the farm's own
    ``archives`` lines say ``[trusted=yes]`` (archivedependencies).
    ``parallel``, the farm's cap on parallel=N, is sent only when
    ``[builddmaster] max_parallel`` sets one."""
    build = entry.build
    das, archive = build.distroarchseries, build.archive
    chroot = das.chroot
    if chroot is None:
        raise ValueError(f"{build.label}: no chroot for {das.displayname}")
    component_name = build.current_component.name
    fetches = [(chroot.content.sha1, http_url(config, chroot), None, None)]
    filemap = {}
    for source_file in build.sourcepackagerelease.files:
        alias = source_file.libraryfile
        filemap[alias.filename] = alias.content.sha1
        if archive.private:
            fetches.append((alias.content.sha1,
                            source_file_url(config, build, alias.filename,
                                            component_name),
                            BUILDD_USER, archive.buildd_secret))
        else:
            fetches.append((alias.content.sha1, http_url(config, alias), None, None))
    archives = sources_list(config, build, component_name)
    args = {
        "archives": archives.lines,
        "suite": build.suite,
        "ogrecomponent": archives.ogre_component,
        "archive_purpose": archives.purpose,
        "archive_private": archive.private,
        "arch_tag": das.architecturetag,
        "arch_indep": build.arch_indep,
        "distribution": build.distribution.name,
        "series": build.distroseries.name,
    }
    keys = trusted_keys(config)
    if keys:
        args["trusted_keys"] = keys
    if config.builddmaster.max_parallel > 0:
        # The farm's cap on DEB_BUILD_OPTIONS parallel=N (slave/speed.py).
        args["parallel"] = config.builddmaster.max_parallel
    return fetches, ("binarypackage", chroot.content.sha1, filemap, args)


# -- Claims -------------------------------------------------------------------

_queue = BuildQueue.__table__
_other_job = BuildQueue.__table__.alias("other_job")
_build = Build.__table__


def _claim_statement(still_pending):
    """Take entry :entry for builder :claimant if it is still pending
    (``still_pending``) or still the claimant's, and the claimant has no
    other job."""
    seen = (_queue.c.builder_id.is_(None) if still_pending
            else _queue.c.builder_id == sa.bindparam("claimant"))
    return (sa.update(_queue)
            .where(_queue.c.id == sa.bindparam("entry"), seen,
                   ~sa.exists().where(_other_job.c.builder_id == sa.bindparam("claimant"),
                                      _other_job.c.id != sa.bindparam("entry")))
            .values(builder_id=sa.bindparam("claimant"), date_started=sa.bindparam("now"),
                    logtail=None))


_LOCK_BUILDER = (sa.select(Builder.__table__.c.id)
                 .where(Builder.__table__.c.id == sa.bindparam("claimant")).with_for_update())
_CLAIM_PENDING = _claim_statement(still_pending=True)
_CLAIM_OWN = _claim_statement(still_pending=False)
_SET_BUILD = (sa.update(_build).where(_build.c.id == sa.bindparam("build"))
              .values(buildstate=sa.bindparam("state"), builder_id=sa.bindparam("holder")))
_UNCLAIM = (sa.update(_queue)
            .where(_queue.c.id == sa.bindparam("entry"),
                   _queue.c.builder_id == sa.bindparam("claimant"))
            .values(builder_id=None, date_started=None))


def _show(obj, **values):
    """Make ``obj`` show ``values`` the statements just wrote, as loaded
    state: nothing to flush, nothing to load again."""
    for key, value in values.items():
        set_committed_value(obj, key, value)


def claim(session, builder, entry):
    """Atomically make ``entry`` this builder's job and its build
    BUILDING on it; False (nothing changed) if the entry is another's or
    the builder has another job.  Commits.

    A compare-and-set on the builder the entry had when it was read: an
    entry read as pending is claimed only while still pending, so two
    masters that chose the same entry for the same builder do not both
    win; an entry already given to this builder (by an operator, or by
    the seeds' stories) may be dispatched again.
    """
    session.flush()
    seen = entry.builder_id
    if seen not in (None, builder.id):
        return False
    connection = session.connection()
    now = utcnow()
    connection.execute(_LOCK_BUILDER, {"claimant": builder.id})
    won = connection.execute(
        _CLAIM_PENDING if seen is None else _CLAIM_OWN,
        {"entry": entry.id, "claimant": builder.id, "now": now}).rowcount == 1
    if won:
        connection.execute(_SET_BUILD, {"build": entry.build_id, "holder": builder.id,
                                        "state": BuildStatus.BUILDING})
    session.commit()
    if won:
        _show(entry, builder_id=builder.id, builder=builder, date_started=now, logtail=None)
        _show(entry.build, buildstate=BuildStatus.BUILDING, builder_id=builder.id,
              builder=builder)
        _show(builder, currentjob=entry)
    else:
        try:
            session.refresh(entry)
        except sa.exc.InvalidRequestError:  # finished and gone meanwhile
            session.expunge(entry)
        session.expire(builder, ["currentjob"])
    return won


def _unclaim(session, builder, entry, before):
    """Undo a claim: the entry pending again, the build as ``before``
    (its (state, builder))."""
    state, holder = before
    connection = session.connection()
    connection.execute(_UNCLAIM, {"entry": entry.id, "claimant": builder.id})
    connection.execute(_SET_BUILD, {"build": entry.build_id, "state": state,
                                    "holder": holder.id if holder else None})
    _show(entry, builder_id=None, builder=None, date_started=None)
    _show(entry.build, buildstate=state, builder_id=holder.id if holder else None,
          builder=holder)
    _show(builder, currentjob=None)


# -- Sending a job --------------------------------------------------------------

@defer.inlineCallbacks
def send_job(slave, name, fetches, build_args, download_timeout):
    """Have ``slave`` fetch the files and start job ``name``; fires with
    None once it builds, fails with SlaveRefused when it says no (or a
    slave error)."""
    for sha1, url, user, password in fetches:
        present, info = yield slave.ensurepresent(sha1, url, user, password,
                                                  timeout=download_timeout)
        if not present:
            raise SlaveRefused(f"ensurepresent({url}) refused: {info}")
    state, info = yield slave.build(name, *build_args)
    if state != BuilderStatus.BUILDING:
        raise SlaveRefused(f"build({name}) answered {state}: {info}")


def log_started(logger, build_label, old, builder_name, name):
    logger.info(f"{build_label}: {old.name} -> BUILDING on {builder_name} (job {name})")


# -- Dispatching one candidate ---------------------------------------------------

class Dispatch:
    """One candidate going to one builder: claim, slave calls, outcome.

    ``librarian`` and ``mailer`` take the build log and the mail of a
    job failed at dispatch (by default the configured store and a new
    BuildMailer: a running master passes its one mailer).
    """

    def __init__(self, builder, entry, config, logger=LOG, librarian=None, mailer=None):
        self.builder, self.entry, self.build = builder, entry, entry.build
        self.session = object_session(builder)
        self.config, self.logger = config, logger
        self.librarian, self.mailer = librarian, mailer

    def start(self):
        """A Deferred firing with None once the slave builds the job.

        Fails with AssertionError (nothing claimed) for a build that must
        not start, JobTaken when the claim loses, DispatchFailed when the
        slave refuses or fails (claim undone, failure counted).
        """
        try:
            check_dispatchable(self.build)
            fetches, build_args = build_request(self.config, self.entry)
        except Exception:
            return defer.fail()
        before = (self.build.buildstate, self.build.builder)
        if not claim(self.session, self.builder, self.entry):
            return defer.fail(JobTaken(
                f"{self.build.label}: taken by another builder, "
                f"or {self.builder.name} is busy"))
        d = self._send(fetches, build_args)
        d.addCallback(self._started, before[0])
        d.addErrback(self._refused, before)
        return d

    def _send(self, fetches, build_args):
        return send_job(registry.slave_of(self.builder), job_id(self.entry), fetches, build_args,
                        self.config.builddmaster.download_timeout)

    def _started(self, _, old):
        log_started(self.logger, self.build.label, old, self.builder.name,
                    job_id(self.entry))

    def _refused(self, failure, before):
        failure.trap(*SLAVE_FAILURES)
        raise DispatchFailed(self.count_refusal(before, failure))

    def count_refusal(self, before, failure):
        """Count the slave's refusal (a Failure of SLAVE_FAILURES) against
        the builder and the build, judge them, and undo the claim or fail
        the job; commits.  Returns the reason, as the log says it."""
        builder, build = self.builder, self.build
        reason, notes = refusal_texts(build, failure)
        builder.failure_count += 1
        build.failure_count += 1
        limits = self.config.builddmaster
        verdict = judge(builder.failure_count, build.failure_count,
                        limits.builder_failure_threshold, limits.job_failure_threshold)
        if verdict.fail_builder:
            builder.failBuilder(notes)
        else:
            builder.failnotes = notes
        outcomes, held = [], None
        if verdict.fail_job:
            outcomes = self._failJob(reason)
            # Held before the commit, so a master killed after it loses no mail.
            held = self._mailer().holdBuildFailure(build, job=self.entry.id)
        else:
            _unclaim(self.session, builder, self.entry, before)
        try:
            self.session.commit()
        except Exception:
            if held is not None:
                self._mailer().drop(held)
            raise
        self.logger.warning(f"{reason} (on {builder.name}: {builder.failure_count} "
                            f"failures; {build.label}: {build.failure_count})")
        if verdict.fail_builder:
            self.logger.warning(f"Builder {builder.name} marked as failed: {reason}")
        if verdict.fail_job:
            self.logger.warning(f"{build.label}: {before[0].name} -> FAILEDTOBUILD "
                                f"(failed to dispatch {build.failure_count} times)")
            if held is not None:
                self._mailer().release(held)
            health.tell(self.session, self.config, self._mailer(), outcomes)
        return reason

    def _failJob(self, reason):
        """End the build FAILEDTOBUILD, with a build log saying why; its
        outcome (buildmaster.health), for after the commit."""
        build = self.build
        note = (f"The build master failed this build: dispatching it failed "
                f"{build.failure_count} times, last on {self.builder.name}.\n{reason}\n")
        self.session.delete(self.entry)
        build.buildstate = BuildStatus.FAILEDTOBUILD
        build.datebuilt = utcnow()
        build.buildlog = store_text_log(self.session, self._librarian(), build, note,
                                        "buildlog", BuildStatus.FAILEDTOBUILD)
        return health.record(self.session, self.config,
                             [health.Finished(self.entry, log_text=note)])

    def _librarian(self):
        return self.librarian or make_storage(self.config.librarian)

    def _mailer(self):
        if self.mailer is None:
            from buildmaster.mail.mailer import BuildMailer
            self.mailer = BuildMailer(self.config)
        return self.mailer


def dispatch_candidate(builder, entry, config=None, logger=LOG, librarian=None,
                       mailer=None):
    """Start ``entry`` on ``builder``; see Dispatch.start."""
    return Dispatch(builder, entry, config or default_config(), logger,
                    librarian, mailer).start()


# -- A whole pass -------------------------------------------------------------

def idle_builders(session, only=None):
    """Every active, ok, non-manual builder without a job (of ``only``,
    ids, if given), in one query."""
    busy = sa.select(BuildQueue.builder_id).where(BuildQueue.builder_id.is_not(None))
    query = (sa.select(Builder).where(Builder.active, Builder.builderok,
                                      sa.not_(Builder.manual), Builder.id.not_in(busy))
             .order_by(Builder.id))
    if only is not None:
        query = query.where(Builder.id.in_(sorted(only)))
    return session.scalars(query).all()


def pair_builders(session, builders, logger=LOG, scheduling=None):
    """[(builder, candidate)]: candidates chosen once per (processor,
    virtualized) group, by score and fair share (``scheduling``, a
    fairshare.Scheduling: the defaults if None), the first to the first
    builders, loaded with what their dispatch reads."""
    groups = {}
    for builder in builders:
        groups.setdefault((builder.processor_id, builder.virtualized), []).append(builder)
    if not groups:
        return []
    share = load_share(session, scheduling or Scheduling())
    pairs = []
    for (processor_id, virtualized), members in groups.items():
        candidates = find_candidates(session, processor_id, virtualized, len(members),
                                     logger, REQUEST_LOADS, share)
        pairs.extend(zip(members, candidates))
    return pairs
