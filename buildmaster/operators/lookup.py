"""Rows found by the names operators type: 'ubuntu/hoary/i386', '~cprov/ppa',
a builder's name, a build's id.

Every miss raises NotFound, whose text names what was asked for and,
where the choices are few, what there is.
"""

import sqlalchemy as sa

from buildmaster.model import (
    Archive, ArchivePurpose, Build, Builder, Component, Distribution,
    PackagePublishingPocket, Person, Processor)


class NotFound(LookupError):
    """Nothing answers to the name or id given; the text says which."""

    def __str__(self):
        return self.args[0]


def _one_line_choices(names):
    return ", ".join(sorted(names)) or "none"


def distribution(session, name):
    return _named(session, Distribution, "distribution", name)


def series(session, distribution_name, series_name):
    dist = distribution(session, distribution_name)
    try:
        return dist[series_name]
    except KeyError:
        names = (each.name for each in dist.series)
        raise NotFound(f"{dist.name} has no series named {series_name!r} "
                       f"(known: {_one_line_choices(names)})") from None


def distroarchseries(session, path):
    """'ubuntu/hoary/i386' -> that DistroArchSeries."""
    parts = path.split("/")
    if len(parts) != 3 or not all(parts):
        raise NotFound(f"{path!r} is not DISTRIBUTION/SERIES/ARCH, e.g. ubuntu/hoary/i386")
    found_series = series(session, parts[0], parts[1])
    try:
        return found_series[parts[2]]
    except KeyError:
        names = (arch.architecturetag for arch in found_series.architectures)
        raise NotFound(f"{parts[0]}/{parts[1]} has no architecture {parts[2]!r} "
                       f"(known: {_one_line_choices(names)})") from None


def archive(session, dist, reference):
    """'primary', 'partner' or '~owner/name' in distribution ``dist``."""
    query = sa.select(Archive).where(Archive.distribution_id == dist.id)
    if reference.startswith("~"):
        owner, _, name = reference[1:].partition("/")
        query = query.join(Person, Archive.owner_id == Person.id).where(
            Archive.purpose == ArchivePurpose.PPA, Person.name == owner,
            Archive.name == name)
    elif reference in ("primary", "partner"):
        query = query.where(Archive.purpose == ArchivePurpose[reference.upper()])
    else:
        raise NotFound(f"{reference!r} is not an archive reference: "
                       "use primary, partner or '~owner/name' (quoted, or the "
                       "shell makes a home directory of ~owner)")
    found = session.scalars(query).first()
    if found is None:
        raise NotFound(f"{dist.name} has no archive {reference!r}")
    return found


def pocket(name):
    """A PackagePublishingPocket from its name, any case ('release', 'UPDATES')."""
    if isinstance(name, PackagePublishingPocket):
        return name
    try:
        return PackagePublishingPocket[name.upper()]
    except KeyError:
        names = (each.name for each in PackagePublishingPocket)
        raise NotFound(f"no pocket named {name!r} (known: {_one_line_choices(names)})") \
            from None


def _named(session, model, noun, name, list_choices=True):
    """The ``model`` row called ``name``; NotFound names the choices."""
    found = session.scalars(sa.select(model).filter_by(name=name)).first()
    if found is None:
        known = ""
        if list_choices:
            names = session.scalars(sa.select(model.name))
            known = f" (known: {_one_line_choices(names)})"
        raise NotFound(f"no {noun} named {name!r}{known}")
    return found


def component(session, name):
    return _named(session, Component, "component", name)


def processor(session, name):
    return _named(session, Processor, "processor", name)


def builder(session, name):
    return _named(session, Builder, "builder", name, list_choices=False)


def build(session, build_id):
    found = session.get(Build, build_id)
    if found is None:
        raise NotFound(f"no build with id {build_id}")
    return found
