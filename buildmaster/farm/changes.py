"""Making a plan's changes in the database, all of them or none.

``apply_plan(session, plan, desired, base)`` first checks that no change
would strand work (an architecture dropped or moved to another processor
while it has builds in flight, a builder moved to another processor
while it builds) and raises Refused naming each; then it makes every
change on ``session``.  The caller commits once: a failure anywhere rolls
the whole apply back.  A private archive gets its buildd secret here,
once; nothing prints it.
"""

import secrets

import sqlalchemy as sa

from buildmaster.farm import keys
from buildmaster.farm.plan import CHANGE, CREATE, RETIRE
from buildmaster.farm.spec import RETIRED_NOTES, archive_key, series_key
from buildmaster.model import (
    Archive, ArchiveDependency, ArchivePurpose, ArchiveUploader, Build, Builder,
    BuildQueue, BuildStatus, Distribution, DistroArchSeries, DistroSeries,
    DistroSeriesStatus, OpenPGPKey, PackagePublishingPocket, Person, Processor, SSHKey)
from buildmaster.model.rows import component as component_row

IN_FLIGHT = (BuildStatus.NEEDSBUILD, BuildStatus.BUILDING)


class Refused(Exception):
    """Changes that would strand work; ``reasons`` has one line each."""

    def __init__(self, reasons):
        super().__init__("\n".join(reasons))
        self.reasons = reasons


def apply_plan(session, plan, desired, base):
    """Make ``plan``'s changes on ``session`` (uncommitted); Refused first."""
    reasons = [reason for change in plan.writes for reason in _strands(session, change)]
    if reasons:
        raise Refused(reasons)
    rows = _Rows(session)
    # Rows are half made while their references are looked up: they are
    # flushed once each change is whole.
    with session.no_autoflush:
        _make(session, rows, plan, desired, base)


def _make(session, rows, plan, desired, base):
    dependencies = []
    for change in plan.writes:
        fields = desired[change.kind].get(change.key, {})
        if change.action == CREATE:
            _CREATE[change.kind](rows, fields, base)
        elif change.action == CHANGE:
            _UPDATE[change.kind](rows, rows.find(change.kind, change.key), fields,
                                 change.fields, base)
        elif change.action == RETIRE:
            _retire(rows.find(change.kind, change.key))
        session.flush()
        if change.kind == "archive" and "dependencies" in (
                fields if change.action == CREATE else change.fields):
            dependencies.append((change.key, fields))
    # Archives may depend on archives the same file creates after them.
    for key, fields in dependencies:
        rows.archive(key).dependencies = [_dependency(rows, fields, wanted)
                                          for wanted in fields["dependencies"]]
    session.flush()


class _Rows:
    """Rows by the farm file's identities, looked up on ``session``."""

    def __init__(self, session):
        self.session = session

    def find(self, kind, key):
        return getattr(self, kind)(key)

    def processor(self, name):
        return self.session.scalars(sa.select(Processor).filter_by(name=name)).one()

    def person(self, name):
        return self.session.scalars(sa.select(Person).filter_by(name=name)).one()

    def distribution(self, name):
        return self.session.scalars(sa.select(Distribution).filter_by(name=name)).one()

    def series(self, key):
        distribution, _, name = key.partition("/")
        return self.session.scalars(sa.select(DistroSeries).join(Distribution).where(
            Distribution.name == distribution, DistroSeries.name == name)).one()

    def archive(self, key):
        distribution, _, reference = key.partition("/")
        query = sa.select(Archive).join(Distribution, Archive.distribution_id == Distribution.id)
        query = query.where(Distribution.name == distribution)
        if reference.startswith("~"):
            owner, _, name = reference[1:].partition("/")
            query = query.join(Person, Archive.owner_id == Person.id).where(
                Person.name == owner, Archive.name == name,
                Archive.purpose == ArchivePurpose.PPA)
        else:
            query = query.where(Archive.purpose == _PURPOSES[reference])
        return self.session.scalars(query).one()

    def builder(self, name):
        return self.session.scalars(
            sa.select(Builder).filter_by(name=name, active=True)).one()


_PURPOSES = {"primary": ArchivePurpose.PRIMARY, "partner": ArchivePurpose.PARTNER}


# -- Guards ---------------------------------------------------------------------

def _strands(session, change):
    """Why ``change`` would strand work: lines, none when it is safe."""
    if change.action != CHANGE:
        return []
    if change.kind == "series" and "architectures" in change.fields:
        old, new = change.fields["architectures"]
        reasons = []
        for tag, processor in old.items():
            if new.get(tag) == processor:
                continue
            busy = _builds_in_flight(session, change.key, tag)
            if busy:
                what = "remove" if tag not in new else f"move to processor {new[tag]}"
                reasons.append(f"series {change.key}: cannot {what} architecture {tag}: "
                               f"{busy} build(s) of it are pending or building")
        return reasons
    if change.kind == "builder" and "processor" in change.fields:
        builder = _Rows(session).builder(change.key)
        if builder.currentjob is not None:
            return [f"builder {change.key}: cannot change its processor while it builds "
                    f"build {builder.currentjob.build_id}"]
    return []


def _builds_in_flight(session, key, tag):
    distribution, _, series = key.partition("/")
    return session.scalar(
        sa.select(sa.func.count(Build.id)).join(BuildQueue, BuildQueue.build_id == Build.id)
        .join(DistroArchSeries, Build.distroarchseries_id == DistroArchSeries.id)
        .join(DistroSeries, DistroArchSeries.distroseries_id == DistroSeries.id)
        .join(Distribution, DistroSeries.distribution_id == Distribution.id)
        .where(Distribution.name == distribution, DistroSeries.name == series,
               DistroArchSeries.architecturetag == tag, Build.buildstate.in_(IN_FLIGHT)))


# -- Creating and changing each kind --------------------------------------------

def _create_processor(rows, fields, base):
    rows.session.add(Processor(name=fields["name"], title=fields["title"],
                               description=fields["description"]))


def _update_processor(rows, processor, fields, changed, base):
    processor.title, processor.description = fields["title"], fields["description"]


def _create_person(rows, fields, base):
    person = Person(name=fields["name"])
    rows.session.add(person)
    _update_person(rows, person, fields, fields, base)


def _update_person(rows, person, fields, changed, base):
    person.displayname, person.preferred_email = fields["display_name"], fields["email"]
    if "_fingerprints" in changed or "openpgp_keys" in changed:
        person.openpgp_keys = [_openpgp_key(rows.session, base, filename)
                               for filename in fields["openpgp_keys"]]
    if "ssh_keys" in changed:
        person.ssh_keys = [SSHKey(line=line) for line in fields["ssh_keys"]]


def _openpgp_key(session, base, filename):
    key = keys.read_public_key(base, filename)
    found = session.scalars(sa.select(OpenPGPKey).filter_by(fingerprint=key.fingerprint)).first()
    if found is not None:
        # The same key moved to another file or person: one row per key.
        found.filename, found.armored = filename, key.armored
        return found
    return OpenPGPKey(fingerprint=key.fingerprint, filename=filename, armored=key.armored)


def _create_distribution(rows, fields, base):
    distribution = Distribution(name=fields["name"])
    rows.session.add(distribution)
    _update_distribution(rows, distribution, fields, fields, base)


def _update_distribution(rows, distribution, fields, changed, base):
    distribution.title, distribution.displayname = fields["title"], fields["displayname"]
    distribution.components = list(fields["components"])
    distribution.upload_pockets = list(fields["upload_pockets"])
    for name in fields["components"]:
        component_row(rows.session, name)


def _create_series(rows, fields, base):
    series = DistroSeries(distribution=rows.distribution(fields["distribution"]),
                          name=fields["name"])
    rows.session.add(series)
    _update_series(rows, series, fields, fields, base)


def _update_series(rows, series, fields, changed, base):
    series.displayname, series.version = fields["displayname"], fields["version"]
    series.status = DistroSeriesStatus[fields["status"]]
    series.external_dependencies = list(fields["external_dependencies"])
    series.chroot_suite, series.chroot_mirror = fields["chroot_suite"], fields["chroot_mirror"]
    parent = fields["parent"]
    series.parent_series = None if parent is None else rows.series(
        parent if "/" in parent else series_key(fields["distribution"], parent))
    if "architectures" in changed:
        _architectures(rows, series, fields["architectures"])
    rows.session.flush()
    nominated = fields["nominated_arch_indep"]
    series.nominatedarchindep = None if nominated is None else next(
        arch for arch in series.architectures if arch.architecturetag == nominated)


def _architectures(rows, series, wanted):
    """Official architectures as ``wanted`` ({tag: processor}); one dropped is
    kept unofficial (its builds are history), one named again made official."""
    existing = {arch.architecturetag: arch for arch in series.architectures}
    for tag, arch in existing.items():
        if tag not in wanted:
            arch.official = False
    for tag, name in wanted.items():
        processor = rows.processor(name)
        arch = existing.get(tag)
        if arch is None:
            arch = DistroArchSeries(architecturetag=tag, processor=processor)
            series.architectures.append(arch)
        arch.official, arch.processor = True, processor


def _create_archive(rows, fields, base):
    reference = fields["reference"]
    distribution = rows.distribution(fields["distribution"])
    if reference.startswith("~"):
        owner, _, name = reference[1:].partition("/")
        archive = Archive(distribution=distribution, purpose=ArchivePurpose.PPA,
                          owner=rows.person(owner), name=name)
    else:
        archive = Archive(distribution=distribution, purpose=_PURPOSES[reference],
                          name=reference)
    rows.session.add(archive)
    _update_archive(rows, archive, fields, fields, base)


def _update_archive(rows, archive, fields, changed, base):
    archive.description, archive.enabled = fields["description"], fields["enabled"]
    archive.private = fields["private"]
    if archive.private and not archive.buildd_secret:
        archive.buildd_secret = secrets.token_urlsafe(24)
    archive.require_virtualized = fields["require_virtualized"]
    archive.relative_build_score = fields["relative_build_score"]
    archive.external_dependencies = list(fields["external_dependencies"])
    if "uploaders" in changed or "component_uploaders" in changed:
        archive.uploaders = [ArchiveUploader(person=rows.person(name))
                             for name in fields["uploaders"]] + [
            ArchiveUploader(person=rows.person(name),
                            component=component_row(rows.session, component))
            for component, people in fields["component_uploaders"].items()
            for name in people]


def _dependency(rows, fields, wanted):
    target = archive_key(wanted.get("distribution", fields["distribution"]), wanted["archive"])
    component = wanted.get("component")
    return ArchiveDependency(
        dependency=rows.archive(target), pocket=PackagePublishingPocket[wanted["pocket"]],
        component=component_row(rows.session, component) if component else None)


def _create_builder(rows, fields, base):
    found = rows.session.scalars(sa.select(Builder).filter_by(name=fields["name"])).first()
    if found is not None:
        # A builder removed before ('builder remove') comes back.
        builder = found
        builder.active, builder.builderok, builder.failnotes = True, True, None
    else:
        builder = Builder(name=fields["name"])
        rows.session.add(builder)
    _update_builder(rows, builder, fields, fields, base)


def _update_builder(rows, builder, fields, changed, base):
    builder.title, builder.url = fields["title"], fields["url"]
    builder.processor = rows.processor(fields["processor"])
    builder.virtualized, builder.manual = fields["virtualized"], fields["manual"]
    if "_retired" in changed and builder.failnotes == RETIRED_NOTES:
        builder.builderok, builder.failnotes = True, None


def _retire(row):
    if isinstance(row, DistroSeries):
        row.status = DistroSeriesStatus.OBSOLETE
    elif isinstance(row, Archive):
        row.enabled = False
    else:
        row.builderok, row.failnotes = False, RETIRED_NOTES


_CREATE = {"processor": _create_processor, "person": _create_person,
           "distribution": _create_distribution, "series": _create_series,
           "archive": _create_archive, "builder": _create_builder}
_UPDATE = {"processor": _update_processor, "person": _update_person,
           "distribution": _update_distribution, "series": _update_series,
           "archive": _update_archive, "builder": _update_builder}
