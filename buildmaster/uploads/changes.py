"""A developer's upload judged: its .changes, its signer, its target, their rights.

``judge(session, directory, target, keyring)`` reads the one .changes of
an upload directory, checks its clearsignature with gpgv against the
farm's people's keys, and collects every reason the upload cannot be
taken, so the rejection mail lists them all at once.  It returns a
Verdict; nothing is recorded here (intake.py registers an accepted
upload's source).  A signature no known key made leaves ``signer`` None:
nobody is trusted with a mail about it.
"""

import dataclasses
import os
import re

import sqlalchemy as sa
from debian.deb822 import Changes
from debian.debian_support import Version

from buildmaster.model import (
    Archive, ArchivePurpose, ArchiveUploader, Distribution, DistroSeries, DistroSeriesStatus,
    OpenPGPKey, PackagePublishingPocket, Person, SourcePackageName,
    SourcePackagePublishingHistory, SourcePackageRelease)
from buildmaster.uploads import signatures
from buildmaster.uploads.sources import file_sums

REQUIRED = ("Source", "Version", "Distribution", "Architecture", "Files")
CHECKSUMS = (("Files", "md5sum", "md5"), ("Checksums-Sha1", "sha1", "sha1"),
             ("Checksums-Sha256", "sha256", "sha256"))
BINARY = re.compile(r"\.u?d?deb\Z")
CLOSED = (DistroSeriesStatus.OBSOLETE,)


@dataclasses.dataclass
class Verdict:
    """What judging an upload found."""

    changes_name: str = None
    signer: Person = None
    fingerprint: str = None
    source: str = None
    version: str = None
    archive: Archive = None
    series: DistroSeries = None
    pocket: PackagePublishingPocket = None
    component: str = "main"
    dsc_name: str = None
    reasons: list = dataclasses.field(default_factory=list)

    @property
    def accepted(self):
        return self.signer is not None and not self.reasons


def farm_keyring(session, path):
    """Write every person's OpenPGP public keys to ``path``; ``path``, or None
    when the farm knows no key."""
    keys = session.scalars(sa.select(OpenPGPKey.armored).order_by(OpenPGPKey.id)).all()
    if not keys:
        return None
    with open(path, "w", encoding="ascii") as handle:
        handle.write("\n".join(keys))
    return path


def judge(session, directory, target, keyring):
    """The Verdict on the upload in ``directory`` for ``target``."""
    verdict = Verdict()
    names = sorted(name for name in os.listdir(directory) if name.endswith(".changes"))
    if len(names) != 1:
        verdict.reasons.append(f"an upload carries one .changes, not {len(names)}")
        return verdict
    verdict.changes_name = names[0]
    changes = _verified(session, directory, verdict, keyring)
    if changes is None:
        return verdict
    missing = [field for field in REQUIRED if not changes.get(field)]
    if missing:
        verdict.reasons.append(f"{verdict.changes_name} lacks {', '.join(missing)}")
        return verdict
    verdict.source, verdict.version = changes["Source"], changes["Version"]
    _check_files(directory, changes, verdict)
    _check_target(session, target, changes, verdict)
    if verdict.archive is not None and verdict.series is not None:
        _check_rights(session, verdict)
        _check_version(session, verdict)
    return verdict


def _verified(session, directory, verdict, keyring):
    """The .changes as its signer signed it, or None (the reason noted)."""
    path = os.path.join(directory, verdict.changes_name)
    if keyring is None:
        verdict.reasons.append("the farm knows no OpenPGP key to check signatures with")
        return None
    try:
        signed = signatures.verify(path, keyring)
    except signatures.SignatureError as error:
        verdict.reasons.append(str(error))
        return None
    verdict.fingerprint = signed.fingerprint
    key = session.scalars(sa.select(OpenPGPKey).filter_by(fingerprint=signed.fingerprint)).first()
    verdict.signer = key.owner if key is not None else None
    try:
        return Changes(signed.signed_text.decode("utf-8"))
    except UnicodeDecodeError:
        verdict.reasons.append(f"{verdict.changes_name} is not UTF-8 text")
        return None


def _check_files(directory, changes, verdict):
    architectures = changes["Architecture"].split()
    if architectures != ["source"]:
        verdict.reasons.append(
            f"binary uploads are refused: this farm builds from source (Architecture: "
            f"{' '.join(architectures)}); upload with 'dpkg-buildpackage -S'")
    listed = {}
    for field, key, name in CHECKSUMS:
        for entry in changes.get(field) or []:
            listed.setdefault(entry.get("name"), {})[name] = entry.get(key)
            listed[entry.get("name")]["size"] = entry.get("size")
            if field == "Files":
                section = entry.get("section", "")
                if "/" in section:
                    verdict.component = section.split("/", 1)[0]
    for name, wanted in listed.items():
        path = os.path.join(directory, name or "")
        if BINARY.search(name or ""):
            verdict.reasons.append(f"{name}: binary packages are refused")
        if not name or not os.path.isfile(path):
            verdict.reasons.append(f"{name}: listed in {verdict.changes_name} but not uploaded")
            continue
        if str(os.path.getsize(path)) != wanted.get("size"):
            verdict.reasons.append(f"{name}: {os.path.getsize(path)} bytes, the .changes says "
                                   f"{wanted.get('size')}")
            continue
        sums = file_sums(path, [algorithm for algorithm in ("md5", "sha1", "sha256")
                                if wanted.get(algorithm)])
        for algorithm, digest in sums.items():
            if digest != wanted[algorithm]:
                verdict.reasons.append(f"{name}: its {algorithm} is not the one the .changes "
                                       "gives")
        if name.endswith(".dsc"):
            verdict.dsc_name = name
    if verdict.dsc_name is None and architectures == ["source"]:
        verdict.reasons.append(f"{verdict.changes_name} lists no .dsc")


def _check_target(session, target, changes, verdict):
    """The archive ``target`` names ('acme', '~alice/tools/acme'), and the
    series and pocket its Distribution field names."""
    parts = target.split("/")
    if len(parts) == 1:
        distribution_name, archive_filter = parts[0], (Archive.purpose ==
                                                      ArchivePurpose.PRIMARY,)
    elif len(parts) == 3 and parts[0].startswith("~"):
        distribution_name = parts[2]
        owner = session.scalars(sa.select(Person.id).filter_by(name=parts[0][1:])).first()
        archive_filter = (Archive.purpose == ArchivePurpose.PPA, Archive.owner_id == owner,
                          Archive.name == parts[1])
    else:
        verdict.reasons.append(f"no archive '{target}': upload to DISTRIBUTION or "
                               "~OWNER/NAME/DISTRIBUTION")
        return
    distribution = session.scalars(sa.select(Distribution).filter_by(
        name=distribution_name)).first()
    archive = distribution and session.scalars(sa.select(Archive).where(
        Archive.distribution_id == distribution.id, *archive_filter)).first()
    if archive is None or not archive.enabled:
        verdict.reasons.append(f"no archive '{target}' takes uploads")
        return
    verdict.archive = archive
    suite = changes["Distribution"].split()[0]
    series_name, _, pocket_name = suite.partition("-")
    series = session.scalars(sa.select(DistroSeries).filter_by(
        distribution_id=distribution.id, name=series_name)).first()
    if series is None or series.status in CLOSED:
        verdict.reasons.append(f"{distribution.name} has no open series '{series_name}'")
        return
    pocket = (pocket_name or "release").upper()
    if pocket not in PackagePublishingPocket.__members__ or \
            pocket not in distribution.upload_pockets:
        verdict.reasons.append(f"{distribution.name}'s {pocket} pocket takes no uploads "
                               f"(it takes: {', '.join(distribution.upload_pockets)})")
        return
    verdict.series, verdict.pocket = series, PackagePublishingPocket[pocket]
    if verdict.component not in distribution.components:
        verdict.reasons.append(f"{distribution.name} has no component '{verdict.component}'")


def _check_rights(session, verdict):
    archive, signer = verdict.archive, verdict.signer
    if signer is None:
        return
    if archive.purpose == ArchivePurpose.PPA and archive.owner_id == signer.id:
        return
    rows = session.execute(
        sa.select(ArchiveUploader.component_id, ArchiveUploader.id)
        .where(ArchiveUploader.archive_id == archive.id,
               ArchiveUploader.person_id == signer.id)).all()
    components = {component for component, _ in rows}
    if None in components:
        return
    if components:
        from buildmaster.model import Component
        names = set(session.scalars(sa.select(Component.name).where(
            Component.id.in_(components))))
        if verdict.component in names:
            return
    verdict.reasons.append(f"{signer.name} may not upload to {archive.reference} in "
                           f"{archive.distribution.name}"
                           + (f" ({verdict.component})" if archive.purpose ==
                              ArchivePurpose.PRIMARY else ""))


def _check_version(session, verdict):
    """Launchpad's rule: newer than every version the archive has of the
    source in the series."""
    versions = session.scalars(
        sa.select(SourcePackageRelease.version)
        .join(SourcePackagePublishingHistory,
              SourcePackagePublishingHistory.sourcepackagerelease_id ==
              SourcePackageRelease.id)
        .join(SourcePackageName,
              SourcePackageName.id == SourcePackageRelease.sourcepackagename_id)
        .where(SourcePackageName.name == verdict.source,
               SourcePackagePublishingHistory.archive_id == verdict.archive.id,
               SourcePackagePublishingHistory.distroseries_id == verdict.series.id)).all()
    try:
        newest = max(versions, key=Version, default=None)
        if newest is not None and Version(verdict.version) <= Version(newest):
            verdict.reasons.append(f"{verdict.source} {verdict.version} is not newer than "
                                   f"{newest}, which {verdict.archive.reference} has in "
                                   f"{verdict.series.name}")
    except ValueError as error:
        verdict.reasons.append(f"version '{verdict.version}': {error}")
