"""The upload queue on disk: files received, uploads made whole, their ends.

::

    <root>/uploads/incoming/<target>/   files as they arrive (HTTP PUT, SFTP),
        .part-<name> while they are written, renamed to <name> when whole
      ──► a .changes whose listed files are all there with the right sizes:
    <root>/uploads/queue/<id>/          claimed: the .changes and its files
        moved in by rename, with TARGET naming the archive they are for
      ──► processed (intake.py), the database committed, then renamed to
    <root>/uploads/{accepted,rejected,failed}/<id>/

Every step is a rename within one filesystem, so a master killed at any
instant leaves each file in exactly one place: a part file (dropped and
sent again; one the HTTP server held in incoming/ itself times out), a
whole file in incoming (claimed later or timed out), a claim half made
in queue/.<id>/ (its files given back to incoming before the next
claim), or an upload in queue/ (processed at the next run; the database
row keyed by ``<id>`` says whether it already was).  An upload whose .changes or
listed files do not all arrive within ``incomplete_timeout`` is moved to
rejected/ by ``expire``.
"""

import datetime
import os
import re
import shutil
import time
import uuid

from debian.deb822 import Changes

STATES = ("accepted", "rejected", "failed")
PART_PREFIX = ".part-"
TARGET_FILE = "TARGET"
# A plain file name: no path, no dot file, nothing a shell or a URL mangles.
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+_.~:-]*\Z")
MAX_NAME = 255


class InboxError(Exception):
    """A file the queue will not take; the text says why, for the uploader."""


def plain_name(name):
    """Whether ``name`` is a file name an upload may carry."""
    return (isinstance(name, str) and len(name) <= MAX_NAME and bool(PLAIN_NAME.match(name))
            and ".." not in name)


def target_slug(target):
    """The incoming directory's name for an archive reference: '~alice/tools/acme'
    becomes '~alice+tools+acme' (one path component)."""
    return target.replace("/", "+")


class Inbox:
    """The queue under ``root`` (``<builddmaster root>/uploads``)."""

    def __init__(self, root):
        self.root = root
        for name in ("incoming", "queue", *STATES):
            os.makedirs(os.path.join(root, name), exist_ok=True)

    # -- Receiving -------------------------------------------------------------

    def incoming(self, target):
        path = os.path.join(self.root, "incoming", target_slug(target))
        os.makedirs(path, exist_ok=True)
        return path

    def part_path(self, target, name):
        """Where a file being received is written; InboxError for a bad name."""
        if not plain_name(name):
            raise InboxError(f"{name!r} is no plain file name (letters, digits and "
                             "'+_.~:-', no path, no dot file)")
        return os.path.join(self.incoming(target), f"{PART_PREFIX}{uuid.uuid4().hex}-{name}")

    def complete(self, target, part, name):
        """The part file is whole: it becomes ``name`` in the target's directory."""
        os.replace(part, os.path.join(self.incoming(target), name))

    def size_of(self, target):
        """Bytes the target's incoming directory holds (whole files and parts)."""
        directory = self.incoming(target)
        return sum(found.st_size for found in map(_stat, os.scandir(directory)) if found)

    # -- Whole uploads ---------------------------------------------------------

    def targets(self):
        """[(slug, path)] of the targets' incoming directories.  The HTTP
        server's part files wait in incoming/ itself until their request
        names its file (httpserver.py): they are no target."""
        incoming = os.path.join(self.root, "incoming")
        return [(entry.name, entry.path)
                for entry in sorted(os.scandir(incoming), key=lambda entry: entry.name)
                if entry.is_dir(follow_symlinks=False)]

    def claim_complete(self):
        """Move every .changes whose listed files have all arrived into
        queue/ with those files; the new upload ids.  Claims a killed
        master left half made are given back to incoming/ first."""
        self.recover_claims()
        claimed = []
        for slug, directory in self.targets():
            for name in _by_arrival(directory, ".changes"):
                if not name.startswith(PART_PREFIX):
                    upload_id = self._claim(directory, slug, name)
                    if upload_id is not None:
                        claimed.append(upload_id)
        return claimed

    def _claim(self, directory, slug, changes_name):
        listed = listed_names(os.path.join(directory, changes_name))
        if listed is None:
            listed = []  # not readable as a .changes: processing rejects it
        wanted = {name: size for name, size in listed}
        for name, size in wanted.items():
            path = os.path.join(directory, name)
            if not (plain_name(name) and os.path.isfile(path)):
                return None
            if size is not None and os.path.getsize(path) != size:
                return None
        upload_id = f"{datetime.datetime.now():%Y%m%d-%H%M%S-%f}-{uuid.uuid4().hex[:8]}"
        staging = os.path.join(self.root, "queue", f".{upload_id}")
        os.makedirs(staging)
        with open(os.path.join(staging, TARGET_FILE), "w", encoding="utf-8") as handle:
            handle.write(slug.replace("+", "/") + "\n")
        for name in [*wanted, changes_name]:
            os.replace(os.path.join(directory, name), os.path.join(staging, name))
        os.replace(staging, os.path.join(self.root, "queue", upload_id))
        return upload_id

    def recover_claims(self):
        """Move the files of every claim left half made in queue/ (a
        ``.<id>`` directory: the master was killed between the claim's
        first rename and its last) back to their target's incoming
        directory, where the next claim takes them with the rest; the
        names moved.  The queue has one master processing it, and it
        calls this before claiming, so no claim is under way."""
        moved = []
        queue = os.path.join(self.root, "queue")
        for name in sorted(os.listdir(queue)):
            staging = os.path.join(queue, name)
            if not name.startswith(".") or not os.path.isdir(staging):
                continue
            files = sorted(entry for entry in os.listdir(staging) if entry != TARGET_FILE)
            if files:
                # TARGET is written whole before the first file is moved in.
                with open(os.path.join(staging, TARGET_FILE), encoding="utf-8") as handle:
                    directory = self.incoming(handle.read().strip())
                for entry in files:
                    os.replace(os.path.join(staging, entry), os.path.join(directory, entry))
                moved += files
            shutil.rmtree(staging)
        return moved

    def queued(self):
        """The ids of the uploads waiting in queue/, oldest first."""
        return sorted(name for name in os.listdir(os.path.join(self.root, "queue"))
                      if not name.startswith("."))

    def path(self, upload_id, state="queue"):
        return os.path.join(self.root, state, upload_id)

    def target_of(self, upload_id):
        with open(os.path.join(self.path(upload_id), TARGET_FILE), encoding="utf-8") as handle:
            return handle.read().strip()

    def finish(self, upload_id, state):
        """Move a processed upload out of queue/ to ``state``'s directory."""
        if state not in STATES:
            raise ValueError(state)
        os.replace(self.path(upload_id), self.path(upload_id, state))

    # -- Timing out --------------------------------------------------------------

    def expire(self, timeout, now=None):
        """Move files that waited in incoming over ``timeout`` seconds to
        rejected/; [(target, [file names])] of what was moved."""
        now = time.time() if now is None else now
        expired = []
        incoming = os.path.join(self.root, "incoming")
        for entry in os.scandir(incoming):
            # An HTTP request's part file whose request died with its master.
            if entry.name.startswith(PART_PREFIX) and _older(entry, now, timeout):
                _remove(entry.path)
        for slug, directory in self.targets():
            old = [entry for entry in os.scandir(directory) if _older(entry, now, timeout)]
            if not old:
                continue
            destination = os.path.join(self.root, "rejected",
                                       f"incomplete-{time.strftime('%Y%m%d-%H%M%S')}-"
                                       f"{uuid.uuid4().hex[:8]}")
            os.makedirs(destination)
            names = []
            for entry in old:
                if entry.name.startswith(PART_PREFIX):
                    _remove(entry.path)
                    continue
                try:
                    shutil.move(entry.path, os.path.join(destination, entry.name))
                except FileNotFoundError:
                    continue
                names.append(entry.name)
            expired.append((slug.replace("+", "/"), sorted(names)))
        return expired


# The servers write, complete and replace files in incoming/ in the reactor's
# thread while the job reads it in another: an entry listed a moment ago
# may be gone (claimed, completed, sent again) by the time it is looked at.

def _by_arrival(directory, suffix):
    """The names in ``directory`` ending in ``suffix``, the first whole
    first: an upload's id sorts as it was claimed, so each target's
    uploads are processed in the order they arrived (1.9 before 1.10)."""
    arrived = []
    for entry in os.scandir(directory):
        found = _stat(entry) if entry.name.endswith(suffix) else None
        if found:
            arrived.append((found.st_mtime_ns, entry.name))
    return [name for _, name in sorted(arrived)]


def _stat(entry):
    """The stat of a plain file ``entry`` (os.DirEntry), or None when it is
    no plain file or no longer there."""
    try:
        return entry.stat(follow_symlinks=False) if entry.is_file(follow_symlinks=False) \
            else None
    except FileNotFoundError:
        return None


def _older(entry, now, timeout):
    found = _stat(entry)
    return found is not None and now - found.st_mtime > timeout


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def listed_names(changes_path):
    """[(name, size or None)] of the files a .changes lists, or None when it
    cannot be read as one.  Unsigned text is read as it is: the signature
    is checked when the upload is processed."""
    try:
        with open(changes_path, "rb") as handle:
            changes = Changes(handle.read(1024 * 1024).decode("utf-8", "replace"))
    except OSError:
        return None
    listed = []
    for entry in changes.get("Files") or []:
        size = entry.get("size", "")
        listed.append((entry.get("name", ""), int(size) if size.isdigit() else None))
    return listed
