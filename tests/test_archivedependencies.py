"""The sources.list rules: pocket and component tables, archives, URLs."""

import pytest
import sqlalchemy as sa

from buildmaster.model import rows
from buildmaster.archive.dependencies import (
    archive_url, component_dependencies, pocket_dependencies, pool_path, sources_list)
from buildmaster.model import (
    Build, DistroSeriesStatus, PackagePublishingPocket, PackagePublishingStatus,
    SourcePackagePublishingHistory)

Pocket = PackagePublishingPocket
PRIMARY = "deb http://ftpmaster.internal/ubuntu"
ALL = "main restricted universe multiverse"


@pytest.mark.parametrize("pocket, expected", [
    (Pocket.RELEASE, [Pocket.RELEASE]),
    (Pocket.SECURITY, [Pocket.RELEASE, Pocket.SECURITY]),
    (Pocket.UPDATES, [Pocket.RELEASE, Pocket.SECURITY, Pocket.UPDATES]),
    (Pocket.PROPOSED, [Pocket.RELEASE, Pocket.SECURITY, Pocket.UPDATES, Pocket.PROPOSED]),
    (Pocket.BACKPORTS, [Pocket.RELEASE, Pocket.SECURITY, Pocket.UPDATES, Pocket.BACKPORTS]),
])
def test_pocket_dependencies(pocket, expected):
    assert list(pocket_dependencies(pocket)) == expected


@pytest.mark.parametrize("component, expected", [
    ("main", "main"),
    ("restricted", "main restricted"),
    ("universe", "main universe"),
    ("multiverse", "main restricted universe multiverse"),
    ("partner", "partner"),
])
def test_component_dependencies(component, expected):
    assert " ".join(component_dependencies(component)) == expected


def test_unknown_component_is_named():
    with pytest.raises(ValueError, match="unknown component 'contrib'"):
        component_dependencies("contrib")
    with pytest.raises(ValueError, match="unknown component 'universe'"):
        component_dependencies("universe", ["main", "contrib"])


@pytest.mark.parametrize("component, expected", [
    ("main", "main"), ("contrib", "main contrib"), ("non-free", "main contrib non-free")])
def test_a_farm_file_distribution_sees_the_components_listed_up_to_its_own(
        component, expected):
    assert " ".join(component_dependencies(component, ["main", "contrib", "non-free"])) \
        == expected


@pytest.mark.parametrize("name, expected", [
    ("mozilla-firefox", "pool/main/m/mozilla-firefox"),
    ("libfoo", "pool/main/libf/libfoo"),
    ("lib", "pool/main/lib/lib"),
])
def test_pool_path(name, expected):
    assert pool_path(name, "main") == expected


@pytest.fixture
def build(sample, session):
    """Build 8, mozilla-firefox 0.9 in hoary i386 (frozen: every pocket)."""
    built = session.get(Build, 8)
    built.distroseries.status = DistroSeriesStatus.FROZEN
    session.flush()
    return built


def lines(farm_config, build):
    return sorted(sources_list(farm_config, build).lines)


@pytest.mark.parametrize("pocket, suites", [
    (Pocket.RELEASE, ["hoary"]),
    (Pocket.SECURITY, ["hoary", "hoary-security"]),
    (Pocket.UPDATES, ["hoary", "hoary-security", "hoary-updates"]),
    (Pocket.PROPOSED, ["hoary", "hoary-proposed", "hoary-security", "hoary-updates"]),
])
def test_primary_build_sees_its_pocket_dependencies(farm_config, build, pocket, suites):
    build.pocket = pocket
    assert lines(farm_config, build) == [f"{PRIMARY} {suite} main" for suite in suites]


@pytest.mark.parametrize("component, components", [
    ("main", "main"), ("restricted", "main restricted"), ("universe", "main universe"),
    ("multiverse", ALL)])
def test_primary_build_sees_its_component_dependencies(
        farm_config, session, build, component, components):
    build.current_source_publication.component = rows.component(session, component)
    session.flush()
    assert lines(farm_config, build) == [f"{PRIMARY} hoary {components}"]
    assert sources_list(farm_config, build).ogre_component == component


def test_backports_build_sees_every_component(farm_config, build):
    build.pocket = Pocket.BACKPORTS
    assert lines(farm_config, build) == [
        f"{PRIMARY} {suite} {ALL}"
        for suite in ("hoary", "hoary-backports", "hoary-security", "hoary-updates")]


def give_published_binary(session, sample, archive, das, status):
    build = rows.build_for(sample.foobar, das, archive)
    binary = rows.binary_release(session, build, f"foo-{archive.id}-{das.id}", "1")
    rows.publish_binary(session, binary, archive, das, status=status)


@pytest.mark.parametrize("purpose", ["partner", "ppa"])
def test_partner_and_ppa_builds_see_primary_updates_with_all_components(
        farm_config, sample, build, purpose):
    build.archive = sample.partner if purpose == "partner" else sample.cprov_ppa
    assert lines(farm_config, build) == [
        f"{PRIMARY} {suite} {ALL}" for suite in ("hoary", "hoary-security", "hoary-updates")]


@pytest.mark.parametrize("status, in_series, listed", [
    (PackagePublishingStatus.PUBLISHED, True, True),
    (PackagePublishingStatus.PENDING, True, False),
    (PackagePublishingStatus.PUBLISHED, False, False),
])
def test_own_archive_listed_only_with_a_published_binary_there(
        farm_config, session, sample, build, status, in_series, listed):
    build.archive = sample.cprov_ppa
    das = build.distroarchseries if in_series else sample.warty["i386"]
    give_published_binary(session, sample, sample.cprov_ppa, das, status)
    own = "deb http://ppa.launchpad.dev/cprov/ppa/ubuntu hoary main"
    assert (own in lines(farm_config, build)) == listed


def test_partner_line_uses_partner_url_and_component(farm_config, session, sample, build):
    build.archive = sample.partner
    give_published_binary(session, sample, sample.partner, build.distroarchseries,
                          PackagePublishingStatus.PUBLISHED)
    assert "deb http://ftpmaster.internal/ubuntu-partner hoary partner" in \
        lines(farm_config, build)
    assert sources_list(farm_config, build).purpose == "PARTNER"


def test_ppa_dependency_on_another_ppa(farm_config, session, sample, build):
    build.archive = sample.cprov_ppa
    sample.cprov_ppa.addArchiveDependency(sample.mark_ppa, Pocket.UPDATES,
                                          rows.component(session, "main"))
    mark_line = "deb http://ppa.launchpad.dev/mark/ppa/ubuntu hoary-updates main"
    assert mark_line not in lines(farm_config, build)
    give_published_binary(session, sample, sample.mark_ppa, build.distroarchseries,
                          PackagePublishingStatus.PUBLISHED)
    assert mark_line in lines(farm_config, build)


def test_dependency_on_primary_replaces_the_default_primary_lines(
        farm_config, session, sample, build):
    build.archive = sample.cprov_ppa
    sample.cprov_ppa.addArchiveDependency(sample.primary, Pocket.SECURITY,
                                          rows.component(session, "universe"))
    assert lines(farm_config, build) == [
        f"{PRIMARY} hoary main universe", f"{PRIMARY} hoary-security main universe"]


def test_private_ppa_urls_carry_the_buildd_secret(farm_config, session, sample, build):
    ppa = sample.cprov_ppa
    ppa.private, ppa.buildd_secret = True, "s3cret"
    assert archive_url(farm_config, ppa) == \
        "http://buildd:s3cret@private-ppa.launchpad.dev/cprov/ppa/ubuntu"
    assert archive_url(farm_config, ppa, with_credentials=False) == \
        "http://private-ppa.launchpad.dev/cprov/ppa/ubuntu"


def test_private_ppa_without_secret_is_an_error(farm_config, sample):
    sample.cprov_ppa.private = True
    with pytest.raises(ValueError, match="private archive ~cprov/ppa has no buildd secret"):
        archive_url(farm_config, sample.cprov_ppa)


def primary_publications(session, sample, build):
    return session.scalars(sa.select(SourcePackagePublishingHistory).where(
        SourcePackagePublishingHistory.archive_id == sample.primary.id,
        SourcePackagePublishingHistory.distroseries_id == build.distroseries.id,
        SourcePackagePublishingHistory.sourcepackagerelease_id ==
        build.sourcepackagerelease_id)).all()


def test_non_virtualized_ppa_builds_as_primary_with_primary_ancestry(
        farm_config, session, sample, build):
    build.archive = sample.cprov_ppa
    sample.cprov_ppa.require_virtualized = False
    ancestry = primary_publications(session, sample, build)
    for publication in ancestry:
        publication.component = rows.component(session, "restricted")
    session.flush()
    assert sources_list(farm_config, build).ogre_component == "restricted"
    assert sources_list(farm_config, build).purpose == "PRIMARY"
    for publication in ancestry:
        publication.status = PackagePublishingStatus.DELETED
    session.flush()
    assert sources_list(farm_config, build).ogre_component == "universe"


def test_virtualized_ppa_keeps_its_purpose_and_component(farm_config, sample, build):
    build.archive = sample.cprov_ppa
    archives = sources_list(farm_config, build)
    assert (archives.purpose, archives.ogre_component) == ("PPA", "main")


def test_the_dispatcher_sends_the_lines_in_the_documented_order(
        farm_config, session, sample, build):
    """Own archive first, then its dependencies, then the primary archive,
    then the configured external lines: apt is given them in that order,
    never sorted (the mock slaves of the doctests print them sorted)."""
    from buildmaster.dispatch import dispatcher
    build.archive = sample.cprov_ppa
    sample.cprov_ppa.addArchiveDependency(sample.mark_ppa, Pocket.UPDATES,
                                          rows.component(session, "main"))
    for ppa in (sample.cprov_ppa, sample.mark_ppa):
        give_published_binary(session, sample, ppa, build.distroarchseries,
                              PackagePublishingStatus.PUBLISHED)
    farm_config.external_dependencies = {
        "series": {"ubuntu/hoary": ["deb http://aaa.example/debian bookworm main"]},
        "archive": {}}
    entry = build.buildqueue_record or build.createBuildQueueEntry()
    sent = dispatcher.build_request(farm_config, entry)[1][3]["archives"]
    assert sent == [
        "deb http://ppa.launchpad.dev/cprov/ppa/ubuntu hoary main",
        "deb http://ppa.launchpad.dev/mark/ppa/ubuntu hoary-updates main",
        f"{PRIMARY} hoary {ALL}", f"{PRIMARY} hoary-security {ALL}",
        f"{PRIMARY} hoary-updates {ALL}",
        "deb http://aaa.example/debian bookworm main"]
    assert sent != sorted(sent)
