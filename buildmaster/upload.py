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

from twisted.internet import defer

from buildmaster import rows
from buildmaster.model import BinaryPackageFileType, PackagePublishingStatus

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


def upload_id(build, queue_id, now):
    """'<timestamp>-<build id>-<queue id>'; sorts in the order uploads came."""
    return f"{now:%Y%m%d-%H%M%S-%f}-{build.id}-{queue_id}"


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
    """Processes one upload directory at a time for a build."""

    def __init__(self, config, session, librarian):
        self.root = config.builddmaster.root
        self.session = session
        self.librarian = librarian

    def process(self, build, directory, refused=()):
        """Accept or fail the upload in ``directory``; an UploadResult.

        ``refused`` names files the slave offered that were not fetched.

        The caller has committed its own work: on failure the session is
        rolled back.  Raises UploadLocked when another process holds the
        upload lock (nothing has been touched then).
        """
        log = UploadLog()
        lock_path = os.path.join(self.root, LOCK_NAME)
        log.info("creating lockfile")
        with _lock(lock_path):
            log.debug("Initialising connection.")
            log.debug("Beginning processing")
            accepted = self._process_locked(build, directory, refused, log)
            log.debug(f"Removing lock file: {lock_path}")
        final = self._file_away(directory, log, accepted)
        return UploadResult(accepted=accepted, log=log.text(), directory=final)

    def _process_locked(self, build, directory, refused, log):
        destinations = [os.path.join(self.root, name) for name in ("accepted", "failed")]
        for path in destinations:
            if not os.path.isdir(path):
                log.debug(f"Creating directory {path}")
                os.makedirs(path)
        name = os.path.basename(directory)
        try:
            if refused:
                raise UploadError(f"the slave offered files named {sorted(refused)!r}")
            changes, binaries = check_upload(build, directory, log)
            self._record(build, directory, binaries, log)
        except UploadError as error:
            log.error(f"Upload {name} failed: {error}")
            log.debug("Rolling back any remaining transactions.")
            self.session.rollback()
            return False
        log.info(f"Upload {name} accepted: {len(binaries)} binary package(s) of "
                 f"{changes['Source']} {changes['Version']}")
        return True

    def _record(self, build, directory, binaries, log):
        """Store and record every (Files entry, control) binary package."""
        component = build.current_component.name
        for entry, control in binaries:
            path = os.path.join(directory, entry["name"])
            alias = self.librarian.add_path(
                self.session, entry["name"], path,
                mimetype="application/x-debian-package",
                restricted=build.archive.private)
            release = rows.binary_release(
                self.session, build, control["Package"], control["Version"],
                component_name=component, files=[alias],
                architecturespecific=control["Architecture"] != "all",
                section=control.get("Section", entry.get("section", "misc")),
                priority=control.get("Priority", entry.get("priority", "optional")),
                summary=control.get("Description", "").split("\n")[0],
                installedsize=_int_or_none(control.get("Installed-Size")))
            rows.publish_binary(
                self.session, release, build.archive, build.distroarchseries,
                pocket=build.pocket, status=PackagePublishingStatus.PENDING)
            log.debug(f"Recorded {control['Package']} {control['Version']} "
                      f"({entry['name']}) for {build.archive.reference} {build.suite}")

    def _file_away(self, directory, log, accepted):
        """Move the upload under accepted/ (its log only) or failed/ (whole)."""
        if accepted:
            for name in os.listdir(directory):
                os.unlink(os.path.join(directory, name))
        with open(os.path.join(directory, LOG_NAME), "w", encoding="utf-8") as handle:
            handle.write(log.text())
        final = os.path.join(self.root, "accepted" if accepted else "failed",
                             os.path.basename(directory))
        shutil.move(directory, final)
        return final


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
    arch = build.distroarchseries.architecturetag
    expected = {"Source": spr.name, "Version": spr.version}
    for field, value in expected.items():
        if changes[field].split()[0] != value:
            raise UploadError(
                f"{name} has {field} {changes[field]!r}, but build {build.id} "
                f"is of {spr.name} {spr.version}")
    architectures = changes["Architecture"].split()
    if arch not in architectures:
        raise UploadError(
            f"{name} has Architecture {changes['Architecture']!r}, but build "
            f"{build.id} is for {arch}")


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
