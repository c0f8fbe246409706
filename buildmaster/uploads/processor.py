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
import os
import shutil

import sqlalchemy as sa
from sqlalchemy.orm import object_session, selectinload
from twisted.internet import defer

from buildmaster.model import (
    BinaryPackageFile, BinaryPackageName,
    BinaryPackagePublishingHistory, BinaryPackageRelease, Build,
    PackagePublishingStatus)
from buildmaster.model import SourcePackagePublishingHistory as SPPH
from buildmaster.uploads.buildchecks import (
    LOG_NAME, UploadError, binary_type, check_upload, plain_name)

LOCK_NAME = "process-upload-buildd.lock"


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
        if plain_name(name):
            yield slave.getFile(sha1, os.path.join(directory, name))
        else:
            refused.append(name)
    return refused


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
                libraryfile=alias, filetype=binary_type(entry)))
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
