"""Where each archive's apt tree lives on disk, and which URL serves it.

``[archives] root`` holds three areas, one per base URL the dispatcher
writes into sources.list (buildmaster/archive/dependencies.py:archive_url)::

    <root>/primary/<dist>/                 primary_url/<dist>
    <root>/primary/<dist>-partner/         primary_url/<dist>-partner
    <root>/ppa/<owner>/<name>/<dist>/      ppa_url/<owner>/<name>/<dist>
    <root>/private/<owner>/<name>/<dist>/  private_ppa_url/<owner>/<name>/<dist>
    <root>/work/                           the publisher's own files, never served

so a tree's path below its area is exactly its URL's path below the base
URL, and a private archive's files are only ever under ``private/``,
which is served with credentials alone.  Inside a tree::

    pool/<component>/<prefix>/<source>/<file>
    dists/<suite> -> .<suite>.<serial>/    (a symlink, swapped atomically)
        Release, Release.gpg, InRelease
        <component>/source/Sources(.gz)
        <component>/binary-<arch>/Packages(.gz)
"""

import os

from buildmaster.archive.dependencies import suite_name
from buildmaster.model import ArchivePurpose

PRIMARY_AREA, PPA_AREA, PRIVATE_AREA = "primary", "ppa", "private"
AREAS = (PRIMARY_AREA, PPA_AREA, PRIVATE_AREA)
WORK = "work"
# The components each kind of archive always has in every suite, so every
# line a build is sent finds its indexes, empty or not.
DEFAULT_COMPONENTS = {
    ArchivePurpose.PRIMARY: ("main", "restricted", "universe", "multiverse"),
    ArchivePurpose.PARTNER: ("partner",),
    ArchivePurpose.PPA: ("main",),
}


def is_published(archive):
    """True for the archives the publisher writes trees for (not copies)."""
    return archive.purpose in DEFAULT_COMPONENTS


def area_of(archive):
    """The area an archive's tree is in: 'primary', 'ppa' or 'private'."""
    if archive.purpose in (ArchivePurpose.PRIMARY, ArchivePurpose.PARTNER):
        return PRIMARY_AREA
    if archive.purpose == ArchivePurpose.PPA:
        return PRIVATE_AREA if archive.private else PPA_AREA
    raise ValueError(f"{archive.reference}: a {archive.purpose.name} archive is not "
                     "published")


def tree_relpath(archive):
    """The tree's path below its area, as in its URL: 'ubuntu',
    'ubuntu-partner', 'cprov/ppa/ubuntu'."""
    distribution = archive.distribution.name
    if archive.purpose == ArchivePurpose.PRIMARY:
        return distribution
    if archive.purpose == ArchivePurpose.PARTNER:
        return f"{distribution}-partner"
    area_of(archive)  # refuses copy archives
    return f"{archive.owner.name}/{archive.name}/{distribution}"


def tree_path(root, archive, private=None):
    """The directory of ``archive``'s tree under ``root``; ``private``
    overrides the archive's own flag (to find a tree it left behind)."""
    area = area_of(archive)
    if area != PRIMARY_AREA and private is not None:
        area = PRIVATE_AREA if private else PPA_AREA
    return os.path.join(root, area, tree_relpath(archive))


def work_path(root, archive):
    """The publisher's scratch and cache directory for ``archive``."""
    return os.path.join(root, WORK, f"archive-{archive.id}")


def area_urls(config):
    """{area: base URL} as the dispatcher writes them."""
    settings = config.archives
    return {PRIMARY_AREA: settings.primary_url, PPA_AREA: settings.ppa_url,
            PRIVATE_AREA: settings.private_ppa_url}


def default_components(archive):
    return DEFAULT_COMPONENTS[archive.purpose]


def suite_path(tree, series_name, pocket):
    return os.path.join(tree, "dists", suite_name(series_name, pocket))
