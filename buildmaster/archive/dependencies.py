"""The sources.list a build gets: which archives, pockets and components.

A build may install its build-dependencies from these archives only:

* the primary archive, in the pockets its own pocket depends on
  (POCKET_DEPENDENCIES) and the components its component depends on: in
  Ubuntu's four, COMPONENT_DEPENDENCIES; in any other distribution's
  components (the farm file's ``components``, in order), those listed up
  to its own, as Debian's contrib sees main and non-free sees both; a
  BACKPORTS build sees every component;
* for a partner or PPA build, instead, the primary archive's RELEASE,
  SECURITY and UPDATES pockets with every component, plus the build's
  own archive;
* the archives named by ArchiveDependency rows of the build's archive;
  a row naming the primary archive replaces the default primary lines
  with that row's pocket and component rules.

A partner archive or PPA is listed only once it has at least one
PUBLISHED binary in the build's architecture series: before that its
indexes are not on disk and apt would fail on them (Launchpad bug
#196782).  Private archives are reached with the buildd user and the
archive's secret in the URL.

After the farm's own archives come the sources.list lines configured
for the build's series and archive (``[external_dependencies.series]``,
``[external_dependencies.archive]``): a Debian mirror, say, for what the
farm does not build.  When the farm signs its archives (``[archives]
signing_key``) the build is sent the key to trust and the farm's lines
are plain; otherwise they say ``deb [trusted=yes] ...`` (the test-farm
mode).  External lines are sent as configured.

The 'ogre' component tells the chroot which components' packages it may
use (the "ogre model").  A PPA that does not require virtualization
builds as if it were the primary archive (so the archive tools mangle
its packages the same way) and takes the component of the source's
ancestry in the primary archive, else 'universe'.
"""

import dataclasses
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.orm import object_session

from buildmaster.model import (
    ArchivePurpose, BinaryPackagePublishingHistory, Component, PackagePublishingPocket,
    PackagePublishingStatus, SourcePackageName, SourcePackagePublishingHistory,
    SourcePackageRelease)
from buildmaster.model.publishing import ACTIVE_STATUSES

Pocket = PackagePublishingPocket

POCKET_DEPENDENCIES = {
    Pocket.RELEASE: (Pocket.RELEASE,),
    Pocket.SECURITY: (Pocket.RELEASE, Pocket.SECURITY),
    Pocket.UPDATES: (Pocket.RELEASE, Pocket.SECURITY, Pocket.UPDATES),
    Pocket.PROPOSED: (Pocket.RELEASE, Pocket.SECURITY, Pocket.UPDATES, Pocket.PROPOSED),
    Pocket.BACKPORTS: (Pocket.RELEASE, Pocket.SECURITY, Pocket.UPDATES, Pocket.BACKPORTS),
}

ALL_COMPONENTS = ("main", "restricted", "universe", "multiverse")

COMPONENT_DEPENDENCIES = {
    "main": ("main",),
    "restricted": ("main", "restricted"),
    "universe": ("main", "universe"),
    "multiverse": ALL_COMPONENTS,
    "partner": ("partner",),
}

# What partner and PPA builds see of the primary archive (with all of
# its distribution's components).
NON_PRIMARY_POCKET = Pocket.UPDATES
# The ogre component of a non-virtualized PPA build without ancestry.
DEFAULT_OGRE_COMPONENT = "universe"
BUILDD_USER = "buildd"


@dataclasses.dataclass(frozen=True)
class BuildArchives:
    """What the slave is told about archives for one build."""

    lines: list
    ogre_component: str
    purpose: str


def pocket_dependencies(pocket):
    """The pockets a build for ``pocket`` installs from."""
    return POCKET_DEPENDENCIES[pocket]


def component_dependencies(component_name, components=ALL_COMPONENTS):
    """The components a package in ``component_name`` may depend on, in a
    distribution of ``components`` (its ordered list)."""
    components = tuple(components)
    if components == ALL_COMPONENTS or component_name == "partner":
        try:
            return COMPONENT_DEPENDENCIES[component_name]
        except KeyError:
            pass
    elif component_name in components:
        return components[:components.index(component_name) + 1]
    raise ValueError(f"unknown component {component_name!r}") from None


def default_ogre_component(distribution):
    """The ogre component of a PPA build with no ancestry: Ubuntu's universe,
    else the distribution's last (most permissive) component."""
    components = tuple(distribution.components)
    return DEFAULT_OGRE_COMPONENT if DEFAULT_OGRE_COMPONENT in components else components[-1]


def suite_name(series_name, pocket):
    if pocket == Pocket.RELEASE:
        return series_name
    return f"{series_name}-{pocket.name.lower()}"


def archive_url(config, archive, with_credentials=True):
    """The base URL of ``archive`` for apt: '<primary_url>/ubuntu',
    '<primary_url>/ubuntu-partner', '<ppa_url>/<owner>/<name>/ubuntu', or
    for a private PPA '<private_ppa_url>/...' with the buildd credentials
    (when ``with_credentials``)."""
    urls = config.archives
    distribution = archive.distribution.name
    if archive.purpose == ArchivePurpose.PRIMARY:
        return f"{urls.primary_url}/{distribution}"
    if archive.purpose == ArchivePurpose.PARTNER:
        return f"{urls.primary_url}/{distribution}-partner"
    if archive.purpose != ArchivePurpose.PPA:
        raise ValueError(f"{archive.reference}: no URL for a {archive.purpose.name} archive")
    path = f"{archive.owner.name}/{archive.name}/{distribution}"
    if not archive.private:
        return f"{urls.ppa_url}/{path}"
    if not with_credentials:
        return f"{urls.private_ppa_url}/{path}"
    if not archive.buildd_secret:
        raise ValueError(f"private archive {archive.reference} has no buildd secret")
    return with_userinfo(f"{urls.private_ppa_url}/{path}", BUILDD_USER,
                         archive.buildd_secret)


def with_userinfo(url, user, password):
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc}"))


def pool_path(source_name, component_name):
    """'pool/main/m/mozilla-firefox', 'pool/main/libf/libfoo'."""
    prefix = source_name[:4] if source_name.startswith("lib") else source_name[:1]
    return f"pool/{component_name}/{prefix}/{source_name}"


def source_file_url(config, build, filename, component_name):
    """Where a slave fetches a source file of a private archive's build:
    the file in the archive's pool, under the build's current component
    ``component_name`` (without credentials; the slave gets those
    separately)."""
    base = archive_url(config, build.archive, with_credentials=False)
    return (f"{base}/{pool_path(build.sourcepackagerelease.name, component_name)}"
            f"/{filename}")


def has_published_binaries(archive, distroarchseries):
    """True once ``archive`` has a PUBLISHED binary in ``distroarchseries``."""
    session = object_session(archive)
    bpph = BinaryPackagePublishingHistory
    return session.scalar(sa.select(sa.literal(True)).where(
        bpph.archive_id == archive.id,
        bpph.distroarchseries_id == distroarchseries.id,
        bpph.status == PackagePublishingStatus.PUBLISHED).limit(1)) is not None


def primary_ancestry_component(build):
    """The component of the newest live publication of the build's source
    name in the primary archive of its series, or None."""
    session = object_session(build)
    spph, spr = SourcePackagePublishingHistory, SourcePackageRelease
    primary = build.distribution.main_archive
    return session.scalar(
        sa.select(Component.name)
        .join(spph, spph.component_id == Component.id)
        .join(spr, spr.id == spph.sourcepackagerelease_id)
        .join(SourcePackageName, SourcePackageName.id == spr.sourcepackagename_id)
        .where(SourcePackageName.name == build.sourcepackagerelease.name,
               spph.archive_id == primary.id,
               spph.distroseries_id == build.distroseries.id,
               spph.status.in_(ACTIVE_STATUSES))
        .order_by(spph.id.desc()).limit(1))


def ogre_component(build, component_name):
    """The ogre component of ``build``, whose current component is
    ``component_name``."""
    archive = build.archive
    if archive.is_ppa and not archive.require_virtualized:
        return primary_ancestry_component(build) or default_ogre_component(build.distribution)
    return component_name


def archive_purpose(build):
    """The purpose the slave is told: a PPA not requiring virtualization
    builds as PRIMARY so the archive tools treat its packages alike."""
    archive = build.archive
    if archive.is_ppa and not archive.require_virtualized:
        return ArchivePurpose.PRIMARY.name
    return archive.purpose.name


def own_components(build, component_name):
    """The components of the build's own archive line, for a build whose
    current component is ``component_name``."""
    if build.archive.purpose == ArchivePurpose.PRIMARY:
        if build.pocket == Pocket.BACKPORTS:
            return tuple(build.distribution.components)
        return component_dependencies(component_name, build.distribution.components)
    if build.archive.purpose == ArchivePurpose.PARTNER:
        return ("partner",)
    # A PPA publishes everything in main.
    return ("main",)


def primary_archive(build):
    """The primary archive of the build's distribution (its own archive,
    when that is the primary one: no query)."""
    if build.archive.purpose == ArchivePurpose.PRIMARY:
        return build.archive
    return build.distribution.main_archive


def archive_entries(build, component_name):
    """The farm's own archives a build installs from, in sources.list
    order: [(archive, pockets, components)], own archive first, then its
    dependencies, then the primary archive.  ``component_name`` is the
    build's current component."""
    archive, das = build.archive, build.distroarchseries
    entries = []
    primary_rules = None
    if archive.purpose == ArchivePurpose.PRIMARY:
        primary_rules = (pocket_dependencies(build.pocket),
                         own_components(build, component_name))
    elif has_published_binaries(archive, das):
        entries.append((archive, (build.pocket,), own_components(build, component_name)))
    for dependency in archive.dependencies:
        target = dependency.dependency
        component = dependency.component.name if dependency.component else "main"
        if target.purpose == ArchivePurpose.PRIMARY:
            primary_rules = (pocket_dependencies(dependency.pocket),
                             component_dependencies(component, target.distribution.components))
        elif has_published_binaries(target, das):
            entries.append((target, (dependency.pocket,), (component,)))
    if primary_rules is None:
        primary_rules = (pocket_dependencies(NON_PRIMARY_POCKET),
                         tuple(build.distribution.components))
    entries.append((primary_archive(build),) + primary_rules)
    return entries


def external_lines(config, build):
    """The sources.list lines the farm file gives the build's series and
    then its archive (``external_dependencies``), then those a configuration
    still has in its deprecated ``[external_dependencies.*]`` sections, with
    '%(series)s' replaced by the series name."""
    configured = getattr(config, "external_dependencies", None) or {}
    distribution, series = build.distribution.name, build.distroseries.name
    lines = list(build.distroseries.external_dependencies or ())
    lines += build.archive.external_dependencies or ()
    lines += configured.get("series", {}).get(f"{distribution}/{series}", ())
    lines += configured.get("archive", {}).get(
        f"{distribution}/{build.archive.reference}", ())
    return [line.replace("%(series)s", series) for line in dict.fromkeys(lines)]


def sources_list(config, build, component_name=None):
    """The BuildArchives for ``build``: its sources.list lines (own
    archive first, then dependencies, then the primary archive, then the
    external lines configured for its series and archive), its ogre
    component and the purpose to announce.  ``component_name`` is the
    build's current component, when the caller already has it.

    When the farm signs its archives (``[archives] signing_key``), the
    build is sent the key to trust and the lines are plain; otherwise its
    own archives' lines say ``[trusted=yes]`` (the test-farm mode)."""
    series = build.distroseries.name
    component_name = component_name or build.current_component.name
    options = "" if config.archives.signing_key else "[trusted=yes] "
    lines = []
    for target, pockets, components in archive_entries(build, component_name):
        base = archive_url(config, target)
        for pocket in pockets:
            lines.append(f"deb {options}{base} {suite_name(series, pocket)} "
                         f"{' '.join(components)}")
    lines += external_lines(config, build)
    return BuildArchives(lines=lines, ogre_component=ogre_component(build, component_name),
                         purpose=archive_purpose(build))
