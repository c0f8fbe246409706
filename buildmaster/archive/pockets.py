"""Which pockets of a series accept builds, given the series' status.

One rule for the dispatcher (before a build starts) and the scanner
(before its results are collected):

* a FROZEN series takes every pocket;
* a released series (CURRENT, SUPPORTED) has its RELEASE pocket closed:
  its changes go to the post-release pockets (UPDATES, SECURITY, ...);
* any other series (in development, experimental, ...) builds only for
  its RELEASE pocket.

Archives other than the primary one (partner, PPAs, copies) are not
bound by the release cycle: they build for any pocket.
"""

from buildmaster.model.enums import (
    ArchivePurpose, DistroSeriesStatus, PackagePublishingPocket)

RELEASED_STATES = frozenset({DistroSeriesStatus.CURRENT, DistroSeriesStatus.SUPPORTED})


def can_build_for_pocket(series_status, pocket, archive_purpose=ArchivePurpose.PRIMARY):
    """True when a series in ``series_status`` accepts builds for ``pocket``."""
    if archive_purpose != ArchivePurpose.PRIMARY:
        return True
    if series_status == DistroSeriesStatus.FROZEN:
        return True
    if series_status in RELEASED_STATES:
        return pocket != PackagePublishingPocket.RELEASE
    return pocket == PackagePublishingPocket.RELEASE


def build_allowed_in_pocket(build):
    """The rule applied to a Build row: its series' status, pocket and archive."""
    return can_build_for_pocket(
        build.distroseries.status, build.pocket, build.archive.purpose)
