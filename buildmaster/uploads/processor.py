"""Upload processing: a finished build's files become published binaries.

The scanner fetches every file the slave offers into
``<root>/incoming/<upload id>/`` (fetch_upload) and hands the directory to
UploadProcessor.process, which checks the .changes against the build and
against the files, then stores the binaries in the librarian and records
them (BinaryPackageRelease, BinaryPackageFile, a pending
BinaryPackagePublishingHistory).  Nothing is recorded until every check
passed; a failure rolls the session back.

Every run writes an upload log, like the old process-upload did; it ends
up in the upload's directory as ``uploader.log``, which moves to
``accepted/`` (the files themselves are in the librarian by then) or
stays whole under ``failed/`` for an operator to look at.
"""

import dataclasses
import errno
import fcntl
import hashlib
import os
import shutil

import sqlalchemy as sa
from sqlalchemy.orm import object_session, selectinload
from twisted.internet import defer

from buildmaster.model import (
    BinaryPackageFile, BinaryPackageFileType, BinaryPackageName,
    BinaryPackagePublishingHistory, BinaryPackageRelease, Build,
    PackagePublishingStatus)
from buildmaster.model import SourcePackagePublishingHistory as SPPH

LOCK_NAME = "process-upload-buildd.lock"
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


class UploadLocked(Exception):
    """Another process is processing uploads; try again on the next scan."""


def upload_id(build_id, queue_id, now):
    """'<timestamp>-<build id>-<queue id>'; sorts in the order uploads came."""
    return f"{now:%Y%m%d-%H%M%S-%f}-{build_id}-{queue_id}"


def incoming_directory(config, name):
    path = os.path.join(config.builddmaster.root, "incoming", name)
    os.makedirs(path)
    return path


@defer.inlineCallbacks
def fetch_upload(slave, filemap, directory):
    """Stream every file of ``filemap`` {name: sha1} from the slave.

    Fires with the names refused (not plain file names), which fail the
    upload; slave errors pass through (they are the scan's, not the
    upload's).
    """
    refused = []
    for name, sha1 in sorted(filemap.items()):
        if _plain_name(name):
            yield slave.getFile(sha1, os.path.join(directory, name))
        else:
            refused.append(name)
    return refused


def _plain_name(name):
    return (isinstance(name, str) and name not in ("", ".", "..", LOG_NAME)
            and "/" not in name and "\0" not in name)


@dataclasses.dataclass
class UploadResult:
    accepted: bool
    log: str
    directory: str


class UploadLog:
    """Lines as the old uploader wrote them: 'DEBUG   Beginning processing'."""

    def __init__(self):
        self.lines = []

    def _add(self, level, message):
        self.lines.append(f"{level:<8}{message}")

    def debug(self, message):
        self._add("DEBUG", message)

    def info(self, message):
        self._add("INFO", message)

    def error(self, message):
        self._add("ERROR", message)

    def text(self):
        return "\n".join(self.lines) + "\n"


class UploadProcessor:
    """Processes upload directories for builds, many at a time."""

    def __init__(self, config, session, librarian):
        self.root = config.builddmaster.root
        self.session = session
        self.librarian = librarian

    def process(self, build, directory, refused=()):
        """Accept or fail the upload in ``directory``; an UploadResult, the
        directory filed away.  ``refused`` names files the slave offered
        that were not fetched.  The caller commits."""
        (result,) = self.process_many([(build, directory, refused)])
        self.file_away(result)
        return result

    def process_many(self, uploads):
        """Check every (build, directory, refused) upload, then store and
        record the accepted ones' binaries in one flush; UploadResults in
        the same order.

        A failed upload records nothing, so one bad upload never undoes
        another.  The caller commits, then files each result away.
        Raises UploadLocked when another process holds the upload lock
        (nothing has been touched then).
        """
        lock_path = os.path.join(self.root, LOCK_NAME)
        logs = [UploadLog() for _ in uploads]
        for log in logs:
            log.info("creating lockfile")
        with _lock(lock_path):
            _load_binaries([build for build, _, _ in uploads])
            checked = [self._check(upload, log) for upload, log in zip(uploads, logs)]
            self._record([(upload[0], upload[1], binaries, log) for upload, binaries, log
                          in zip(uploads, checked, logs) if binaries is not None])
            for log in logs:
                log.debug(f"Removing lock file: {lock_path}")
        return [UploadResult(accepted=binaries is not None, log=log.text(),
                             directory=directory)
                for (_, directory, _), binaries, log in zip(uploads, checked, logs)]

    def _check(self, upload, log):
        """The upload's binaries [(Files entry, control)], or None when it fails."""
        build, directory, refused = upload
        log.debug("Initialising connection.")
        log.debug("Beginning processing")
        for path in (os.path.join(self.root, name) for name in ("accepted", "failed")):
            if not os.path.isdir(path):
                log.debug(f"Creating directory {path}")
                os.makedirs(path)
        name = os.path.basename(directory)
        try:
            if refused:
                raise UploadError(f"the slave offered files named {sorted(refused)!r}")
            changes, binaries = check_upload(build, directory, log)
        except UploadError as error:
            log.error(f"Upload {name} failed: {error}")
            log.debug("Rolling back any remaining transactions.")
            return None
        log.info(f"Upload {name} accepted: {len(binaries)} binary package(s) of "
                 f"{changes['Source']} {changes['Version']}")
        return binaries

    def _record(self, accepted):
        """Store and record the binaries of accepted uploads
        [(build, directory, binaries, log)] with one flush."""
        packages = [(build, entry, control, log) for build, directory, binaries, log
                    in accepted for entry, control in binaries]
        if not packages:
            return
        aliases = self.librarian.add_paths(self.session, [
            (entry["name"], os.path.join(directory, entry["name"]),
             "application/x-debian-package", build.archive.private)
            for build, directory, binaries, _ in accepted for entry, _ in binaries])
        names = _binary_names(self.session, {control["Package"] for _, _, control, _
                                             in packages})
        components = current_components(self.session, [build for build, *_ in accepted])
        for (build, entry, control, log), alias in zip(packages, aliases):
            release = BinaryPackageRelease(
                binarypackagename=names[control["Package"]], version=control["Version"],
                build=build, component=components[build.id],
                architecturespecific=control["Architecture"] != "all",
                section=control.get("Section", entry.get("section", "misc")),
                priority=control.get("Priority", entry.get("priority", "optional")),
                summary=control.get("Description", "").split("\n")[0],
                installedsize=_int_or_none(control.get("Installed-Size")))
            release.files.append(BinaryPackageFile(
                libraryfile=alias, filetype=_binary_type(entry)))
            self.session.add(BinaryPackagePublishingHistory(
                binarypackagerelease=release, archive=build.archive,
                distroarchseries=build.distroarchseries, component=release.component,
                section=release.section, priority=release.priority, pocket=build.pocket,
                status=PackagePublishingStatus.PENDING))
            log.debug(f"Recorded {control['Package']} {control['Version']} "
                      f"({entry['name']}) for {build.archive.reference} {build.suite}")
        self.session.flush()

    def file_away(self, result):
        """Move the upload under accepted/ (its log only) or failed/
        (whole); ``result.directory`` becomes the new place."""
        directory = result.directory
        if result.accepted:
            for name in os.listdir(directory):
                os.unlink(os.path.join(directory, name))
        with open(os.path.join(directory, LOG_NAME), "w", encoding="utf-8") as handle:
            handle.write(result.log)
        result.directory = os.path.join(
            self.root, "accepted" if result.accepted else "failed",
            os.path.basename(directory))
        shutil.move(directory, result.directory)


def _load_binaries(builds):
    """Load the binary packages of every build in one query."""
    if builds:
        session = object_session(builds[0])
        session.scalars(sa.select(Build).where(Build.id.in_({b.id for b in builds}))
                        .options(selectinload(Build.binarypackages))).all()


def _binary_names(session, names):
    """{name: BinaryPackageName} for ``names``, the missing ones added."""
    found = {row.name: row for row in session.scalars(
        sa.select(BinaryPackageName).where(BinaryPackageName.name.in_(names)))}
    for name in names - found.keys():
        found[name] = BinaryPackageName(name=name)
        session.add(found[name])
    return found


def current_components(session, builds):
    """{build id: Build.current_component} for many builds in one query:
    the component of the newest publication of the build's source in its
    archive and series, else the source's own."""
    key = sa.tuple_(SPPH.sourcepackagerelease_id, SPPH.archive_id, SPPH.distroseries_id)
    wanted = {build.id: (build.sourcepackagerelease_id, build.archive_id,
                         build.distroarchseries.distroseries_id) for build in builds}
    newest = {}
    for publication in session.scalars(
            sa.select(SPPH).where(key.in_(set(wanted.values())))
            .options(selectinload(SPPH.component)).order_by(SPPH.id)):
        newest[publication.sourcepackagerelease_id, publication.archive_id,
               publication.distroseries_id] = publication.component
    return {build.id: newest.get(wanted[build.id]) or build.sourcepackagerelease.component
            for build in builds}


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
                for entry in files if _binary_type(entry) is not None]
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
        if not _plain_name(entry.get("name")) or not entry.get("size", "").isdigit():
            raise UploadError(f"{name} has a malformed Files line: {dict(entry)}")
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


def _binary_type(entry):
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
    return control


def _int_or_none(value):
    return int(value) if value and value.isdigit() else None


class _lock:
    """An exclusive, non-blocking lock file at ``path``, removed on exit.

    flock() guards it; a lock taken on a file another process has just
    removed (its inode no longer at ``path``) does not count.
    """

    def __init__(self, path):
        self.path = path
        self.handle = None

    def __enter__(self):
        self.handle = open(self.path, "a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not _same_file(self.path, self.handle):
                raise UploadLocked(f"{self.path} was replaced while locking")
        except OSError as error:
            self.handle.close()
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise UploadLocked(f"{self.path} is held by another process") from None
            raise
        except UploadLocked:
            self.handle.close()
            raise
        return self

    def __exit__(self, *exc_info):
        os.unlink(self.path)
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
        return False


def _same_file(path, handle):
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False
