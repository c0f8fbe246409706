"""Dependency waits retried as soon as publishing satisfies them.

A MANUALDEPWAIT build stores the relation its slave could not satisfy
(``Build.dependencies``, Debian syntax, e.g. ``libfoo-dev (>= 1.2) |
libbar-dev``).  After every publisher run, each such build is checked
against what its own sources.list would give it from the farm's archives
(archivedependencies.archive_entries: the archives, pockets and
components, the build's architecture plus ``Architecture: all``): when
every relation has an alternative some PUBLISHED binary satisfies
(name, and version compared as Debian does), and at least one of those
binaries was published after the build gave up, the build goes back to
NEEDSBUILD with a fresh score and one log line naming what it waited for.

A relation nothing in the farm satisfies keeps the build waiting: it may
be one only an external archive (a Debian mirror) could satisfy, which
the master cannot see; an operator's ``retry`` is for those.  Requiring a
publication newer than the wait keeps a build whose slave still fails to
install a satisfiable relation from being retried after every run.
Virtual packages (``Provides``) are not known to the master and never
count as satisfied.
"""

import logging
import re

import sqlalchemy as sa
from debian.debian_support import Version
from debian.deb822 import PkgRelation

from buildmaster.archive.dependencies import archive_entries
from buildmaster.model import (
    BinaryPackageName, BinaryPackageRelease, Build, BuildStatus, Component,
    DistroArchSeries, PackagePublishingStatus)
from buildmaster.model import BinaryPackagePublishingHistory as BPPH
from buildmaster.archive.pockets import build_allowed_in_pocket

logger = logging.getLogger("buildmaster.publisher")

RELATIONS = {
    "<<": lambda have, want: have < want,
    "<=": lambda have, want: have <= want,
    "=": lambda have, want: have == want,
    ">=": lambda have, want: have >= want,
    ">>": lambda have, want: have > want,
}


PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]*$")


def parse(dependencies):
    """The AND-list of OR-lists of python-debian relation dicts; raises
    ValueError for a relation that is not Debian syntax (python-debian
    hands those back whole, as a name)."""
    relations = PkgRelation.parse_relations(dependencies or "")
    for relation in relations:
        for alternative in relation:
            if not PACKAGE_NAME.match(alternative["name"]):
                raise ValueError(f"not a package relation: {alternative['name']!r}")
            if alternative.get("version"):
                Version(alternative["version"][1])
    return relations


def applies(alternative, arch):
    """False for an alternative restricted to other architectures."""
    restrictions = alternative.get("arch")
    if not restrictions:
        return True
    negated = [r.arch for r in restrictions if not r.enabled]
    wanted = [r.arch for r in restrictions if r.enabled]
    if wanted:
        return arch in wanted or "any" in wanted
    return arch not in negated


def satisfied_by(alternative, version):
    """True when a package of the alternative's name at ``version``
    satisfies its version relation."""
    constraint = alternative.get("version")
    if not constraint:
        return True
    relation, wanted = constraint
    return RELATIONS[relation](Version(version), Version(wanted))


def published_candidates(session, build, names):
    """[(name, version, datepublished, archive id, pocket, component)] of
    PUBLISHED binaries called ``names`` the build's architecture can
    install, in any of the farm's archives of its series."""
    das = build.distroarchseries
    return session.execute(
        sa.select(BinaryPackageName.name, BinaryPackageRelease.version, BPPH.datepublished,
                  BPPH.archive_id, BPPH.pocket, Component.name)
        .join(BinaryPackageRelease, BinaryPackageRelease.id == BPPH.binarypackagerelease_id)
        .join(BinaryPackageName,
              BinaryPackageName.id == BinaryPackageRelease.binarypackagename_id)
        .join(DistroArchSeries, DistroArchSeries.id == BPPH.distroarchseries_id)
        .join(Component, Component.id == BPPH.component_id)
        .where(BinaryPackageName.name.in_(names),
               BPPH.status == PackagePublishingStatus.PUBLISHED,
               DistroArchSeries.distroseries_id == das.distroseries_id,
               sa.or_(DistroArchSeries.architecturetag == das.architecturetag,
                      BinaryPackageRelease.architecturespecific.is_(False)))).all()


def newest_publications(session, names):
    """{binary name: when a binary of that name was last published}."""
    if not names:
        return {}
    return dict(session.execute(
        sa.select(BinaryPackageName.name, sa.func.max(BPPH.datepublished))
        .join(BinaryPackageRelease, BinaryPackageRelease.binarypackagename_id
              == BinaryPackageName.id)
        .join(BPPH, BPPH.binarypackagerelease_id == BinaryPackageRelease.id)
        .where(BinaryPackageName.name.in_(names),
               BPPH.status == PackagePublishingStatus.PUBLISHED)
        .group_by(BinaryPackageName.name)).all())


def check(session, build, relations=None):
    """(satisfiable, newest satisfying publication date) for the build's
    stored dependencies (``relations``, when already parsed); satisfiable
    False when any relation has no published alternative within the
    build's archives."""
    relations = parse(build.dependencies) if relations is None else relations
    if not relations:
        return False, None
    arch = build.distroarchseries.architecturetag
    visible = {}
    for archive, pockets, components in archive_entries(
            build, build.current_component.name):
        for pocket in pockets:
            visible.setdefault((archive.id, pocket), set()).update(components)
    names = {alt["name"] for relation in relations for alt in relation}
    by_name = {}
    for name, version, published, archive_id, pocket, component in \
            published_candidates(session, build, names):
        if component in visible.get((archive_id, pocket), ()):
            by_name.setdefault(name, []).append((version, published))
    newest = None
    for relation in relations:
        alternatives = [alt for alt in relation if applies(alt, arch)]
        if not alternatives:
            continue  # not for this architecture
        dates = [published for alt in alternatives
                 for version, published in by_name.get(alt["name"], ())
                 if satisfied_by(alt, version)]
        if not dates:
            return False, None
        newest = max([newest, *dates] if newest else dates)
    return True, newest


def waiting_builds(session, quiet=False):
    """[(build, its parsed relations, the names they mention)] of every
    MANUALDEPWAIT build with dependencies; one that is not Debian syntax is
    left out, with a warning unless ``quiet``."""
    found = []
    for build in session.scalars(sa.select(Build).where(
            Build.buildstate == BuildStatus.MANUALDEPWAIT,
            Build.dependencies.is_not(None)).order_by(Build.id)):
        try:
            relations = parse(build.dependencies)
        except ValueError as error:
            if not quiet:
                logger.warning("publisher: %s: cannot read its dependencies %r: %s",
                               build.label, build.dependencies, error)
            continue
        found.append((build, relations,
                      {alt["name"] for relation in relations for alt in relation}))
    return found


def retry_satisfiable(session, now, quiet=False):
    """Queue again every MANUALDEPWAIT build publishing has made
    satisfiable; the ids of the builds retried (flushed, not committed).

    Only a build some of whose wanted names were published after it gave
    up is looked at closely, so a run with nothing new costs two queries
    however many builds wait.  ``quiet`` leaves out the warnings about
    dependencies that are not Debian syntax (the publisher says them only
    in runs that published something, not every few seconds)."""
    from buildmaster.queue.scoring import score
    waiting = waiting_builds(session, quiet)
    newest = newest_publications(session, set().union(*(names for *_, names in waiting)))
    retried = []
    for build, relations, names in waiting:
        if build.datebuilt is not None and not any(
                newest.get(name) is not None and newest[name] > build.datebuilt
                for name in names):
            continue
        if not build_allowed_in_pocket(build):
            continue
        satisfiable, latest = check(session, build, relations)
        if not satisfiable:
            continue
        if build.datebuilt is not None and latest is not None and latest <= build.datebuilt:
            continue
        waited_for = build.dependencies
        build.reset_for_retry()
        entry = build.createBuildQueueEntry()
        entry.lastscore = score(entry, now)
        logger.info("%s: MANUALDEPWAIT -> NEEDSBUILD, its dependencies '%s' are "
                    "published now (score %d)", build.label, waited_for, entry.lastscore)
        retried.append(build.id)
    session.flush()
    return retried
