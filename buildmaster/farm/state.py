"""The farm as the database holds it, in the farm file's canonical form.

``current(session)`` reads every processor, person, distribution, series
(its official architectures), archive (primary, partner and PPAs) and
active builder, so that a plan compares like with like and ``export``
writes what ``apply`` would read back.  Secrets (a private archive's
buildd secret) are never part of it.
"""

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from buildmaster.farm.spec import RETIRED_NOTES, archive_key, empty_farm, series_key
from buildmaster.model import (
    Archive, ArchivePurpose, Builder, Distribution, DistroSeries, Person, Processor)


def current(session):
    """{kind: {identity: fields}} of the database."""
    farm = empty_farm()
    for processor in session.scalars(sa.select(Processor).order_by(Processor.id)):
        farm["processor"][processor.name] = {
            "name": processor.name, "title": processor.title,
            "description": processor.description or ""}
    for person in session.scalars(sa.select(Person).order_by(Person.id).options(
            selectinload(Person.openpgp_keys), selectinload(Person.ssh_keys))):
        farm["person"][person.name] = person_fields(person)
    for distribution in session.scalars(sa.select(Distribution).order_by(Distribution.id)):
        farm["distribution"][distribution.name] = {
            "name": distribution.name, "title": distribution.title,
            "displayname": distribution.displayname,
            "components": list(distribution.components),
            "upload_pockets": list(distribution.upload_pockets)}
    for series in session.scalars(sa.select(DistroSeries).order_by(DistroSeries.id).options(
            selectinload(DistroSeries.architectures), selectinload(DistroSeries.distribution))):
        farm["series"][series_key(series.distribution.name, series.name)] = \
            series_fields(series)
    for archive in session.scalars(
            sa.select(Archive).where(Archive.purpose != ArchivePurpose.COPY)
            .order_by(Archive.id).options(selectinload(Archive.uploaders),
                                          selectinload(Archive.dependencies))):
        farm["archive"][archive_key(archive.distribution.name, archive.reference)] = \
            archive_fields(archive)
    for builder in session.scalars(sa.select(Builder).where(Builder.active)
                                   .order_by(Builder.id)):
        farm["builder"][builder.name] = {
            "name": builder.name, "title": builder.title, "url": builder.url,
            "processor": builder.processor.name, "virtualized": builder.virtualized,
            "manual": builder.manual, "_retired": is_retired(builder)}
    return farm


def is_retired(builder):
    """Disabled by ``apply --prune``, as opposed to by an operator or the scanner."""
    return not builder.builderok and builder.failnotes == RETIRED_NOTES


def person_fields(person):
    return {"name": person.name, "display_name": person.displayname,
            "email": person.preferred_email,
            "openpgp_keys": [key.filename for key in person.openpgp_keys],
            "_fingerprints": [key.fingerprint for key in person.openpgp_keys],
            "ssh_keys": [key.line for key in person.ssh_keys]}


def series_fields(series):
    parent = series.parent_series
    if parent is not None and parent.distribution_id != series.distribution_id:
        parent_name = series_key(parent.distribution.name, parent.name)
    else:
        parent_name = parent.name if parent is not None else None
    official = [arch for arch in series.architectures if arch.official]
    nominated = series.nominatedarchindep
    return {
        "name": series.name, "version": series.version, "status": series.status.name,
        "displayname": series.displayname, "distribution": series.distribution.name,
        "parent": parent_name,
        "architectures": {arch.architecturetag: arch.processor.name for arch in official},
        "nominated_arch_indep": nominated.architecturetag
        if nominated is not None and nominated.official else None,
        "external_dependencies": list(series.external_dependencies),
        "chroot_suite": series.chroot_suite, "chroot_mirror": series.chroot_mirror}


def archive_fields(archive):
    uploaders, per_component = [], {}
    for row in archive.uploaders:
        if row.component is None:
            uploaders.append(row.person.name)
        else:
            per_component.setdefault(row.component.name, []).append(row.person.name)
    dependencies = []
    for row in archive.dependencies:
        dependency = {"archive": row.dependency.reference, "pocket": row.pocket.name}
        if row.component is not None:
            dependency["component"] = row.component.name
        if row.dependency.distribution_id != archive.distribution_id:
            dependency["distribution"] = row.dependency.distribution.name
        dependencies.append(dependency)
    return {
        "reference": archive.reference, "distribution": archive.distribution.name,
        "description": archive.description or "", "private": archive.private,
        "require_virtualized": archive.require_virtualized,
        "relative_build_score": archive.relative_build_score, "enabled": archive.enabled,
        "dependencies": dependencies, "uploaders": sorted(uploaders),
        "component_uploaders": {component: sorted(people)
                                for component, people in sorted(per_component.items())},
        "external_dependencies": list(archive.external_dependencies)}
