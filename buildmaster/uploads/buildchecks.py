"""A finished build's upload checked: its .changes against the build, the
files against the .changes, each binary package's control read.

``check_upload`` raises UploadError naming the first thing that is wrong;
it reads the directory and never the database beyond the build it is
given, so the processor (processor.py) can check many uploads before it
records any.  A binary package's name and version (its control's Package
and Version, and the .changes' Binary names) must be what Debian policy
allows (policy.py): a slave's word goes into pool paths and indexes.
"""

import hashlib
import os

from buildmaster.model import BinaryPackageFileType
from buildmaster.uploads import policy

LOG_NAME = "uploader.log"
CHUNK_SIZE = 64 * 1024
BINARY_TYPES = {
    ".deb": BinaryPackageFileType.DEB,
    ".udeb": BinaryPackageFileType.UDEB,
    ".ddeb": BinaryPackageFileType.DDEB,
}
CHECKSUM_FIELDS = (("Checksums-Sha1", "sha1"), ("Checksums-Sha256", "sha256"))


class UploadError(Exception):
    """The upload is wrong: the build fails to upload."""


def plain_name(name):
    """Whether ``name`` is a file name a slave may give an uploaded file:
    no path, no dot names, not the upload log's."""
    return (isinstance(name, str) and name not in ("", ".", "..", LOG_NAME)
            and "/" not in name and "\0" not in name)


def check_upload(build, directory, log):
    """Check the upload's .changes and files; return the changes and its
    binary packages as [(Files entry, control fields)].

    Raises UploadError naming the first thing that is wrong.
    """
    changes_name = _changes_file(directory)
    log.debug(f"Processing {changes_name}")
    changes = _parse_changes(os.path.join(directory, changes_name))
    _check_matches_build(changes, changes_name, build)
    files = changes["Files"]
    checksums = _listed_checksums(changes)
    for entry in files:
        _check_file(directory, entry, checksums.get(entry["name"], {}))
        log.debug(f"Verified {entry['name']} ({entry['size']} bytes)")
    binaries = [(entry, _deb_control(os.path.join(directory, entry["name"])))
                for entry in files if binary_type(entry) is not None]
    if not binaries:
        raise UploadError(f"{changes_name} lists no binary packages")
    _check_binary_architectures(build, binaries)
    if build.binarypackages:
        names = ", ".join(sorted(b.name for b in build.binarypackages))
        raise UploadError(f"build {build.id} already has binary packages: {names}")
    return changes, binaries


def _changes_file(directory):
    names = sorted(os.listdir(directory))
    found = [name for name in names if name.endswith(".changes")]
    if len(found) != 1:
        listed = ", ".join(names) or "none"
        what = "no .changes file" if not found else "more than one .changes file"
        raise UploadError(f"{what} (files: {listed})")
    return found[0]


def _parse_changes(path):
    from debian.deb822 import Changes
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as handle:
            changes = Changes(handle)
    except (UnicodeDecodeError, ValueError) as error:
        raise UploadError(f"{name} cannot be parsed: {error}") from None
    for field in ("Source", "Version", "Architecture", "Files"):
        if not changes.get(field):
            raise UploadError(f"{name} has no {field} field")
    for entry in changes["Files"]:
        if not plain_name(entry.get("name")) or not entry.get("size", "").isdigit():
            raise UploadError(f"{name} has a malformed Files line: {dict(entry)}")
    problem = policy.first_problem(*(
        policy.name_problem("Binary", binary)
        for binary in (changes.get("Binary") or "").split()))
    if problem is not None:
        raise UploadError(f"{name}: {problem}")
    return changes


def _check_matches_build(changes, name, build):
    spr = build.sourcepackagerelease
    expected = {"Source": spr.name, "Version": spr.version}
    for field, value in expected.items():
        if changes[field].split()[0] != value:
            raise UploadError(
                f"{name} has {field} {changes[field]!r}, but build {build.id} "
                f"is of {spr.name} {spr.version}")
    architectures = set(changes["Architecture"].split())
    if "all" in architectures:
        _check_arch_indep(build, f"{name} has Architecture {changes['Architecture']!r}")
    if not architectures & _architectures(build) or architectures - _architectures(build):
        raise UploadError(
            f"{name} has Architecture {changes['Architecture']!r}, but build "
            f"{build.id} is for {_architectures_text(build)}")


def _architectures(build):
    """The Architecture values the build's files may carry: its own tag,
    and 'all' on the series' nominated arch-indep architecture."""
    tag = build.distroarchseries.architecturetag
    return {tag, "all"} if build.arch_indep else {tag}


def _architectures_text(build):
    tag = build.distroarchseries.architecturetag
    return f"{tag} and all" if build.arch_indep else tag


def _check_arch_indep(build, what):
    """Refuse arch-independent files from a build not on the nominated
    arch-indep architecture (the source's 'all' packages are built once,
    there)."""
    if build.arch_indep:
        return
    nominated = build.distroseries.nominatedarchindep
    where = (f"{build.distroseries.name}'s arch-indep builds are on "
             f"{nominated.architecturetag}" if nominated is not None
             else f"{build.distroseries.name} has no arch-indep architecture")
    raise UploadError(
        f"{what}, but build {build.id} ({build.distroarchseries.architecturetag}) "
        f"must not upload arch-independent packages: {where}")


def _check_binary_architectures(build, binaries):
    """Every .deb is for the build's architecture, or 'all' where allowed."""
    for entry, control in binaries:
        arch = control["Architecture"]
        if arch == "all":
            _check_arch_indep(build, f"{entry['name']} is Architecture: all")
        elif arch not in _architectures(build):
            raise UploadError(
                f"{entry['name']} is Architecture: {arch}, but build {build.id} "
                f"is for {_architectures_text(build)}")


def _listed_checksums(changes):
    """{file name: {'sha1': ..., 'sha256': ...}} from the Checksums fields."""
    listed = {}
    for field, key in CHECKSUM_FIELDS:
        for entry in changes.get(field) or ():
            listed.setdefault(entry["name"], {})[key] = entry[key]
    return listed


def _check_file(directory, entry, extra_sums):
    name = entry["name"]
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        raise UploadError(f"{name} is listed in the .changes but was not uploaded")
    size, digests = _measure(path)
    if size != int(entry["size"]):
        raise UploadError(f"{name} has {size} bytes, the .changes says {entry['size']}")
    wanted = dict(extra_sums, md5=entry["md5sum"])
    for algorithm, value in sorted(wanted.items()):
        if digests[algorithm] != value.lower():
            raise UploadError(
                f"{name} has {algorithm} {digests[algorithm]}, the .changes says {value}")


def _measure(path):
    digests = {name: hashlib.new(name) for name in ("md5", "sha1", "sha256")}
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            size += len(chunk)
            for digest in digests.values():
                digest.update(chunk)
    return size, {name: digest.hexdigest() for name, digest in digests.items()}


def binary_type(entry):
    return BINARY_TYPES.get(os.path.splitext(entry["name"])[1])


def _deb_control(path):
    from debian.arfile import ArError
    from debian.debfile import DebError, DebFile
    name = os.path.basename(path)
    try:
        control = DebFile(path).debcontrol()
    except (ArError, DebError, OSError, KeyError, ValueError) as error:
        raise UploadError(f"{name} is not a valid Debian package: {error}") from None
    for field in ("Package", "Version", "Architecture"):
        if not control.get(field):
            raise UploadError(f"{name} has no {field} in its control file")
    problem = policy.first_problem(policy.name_problem("Package", control["Package"]),
                                   policy.version_problem("Version", control["Version"]))
    if problem is not None:
        raise UploadError(f"{name}: {problem}")
    return control
