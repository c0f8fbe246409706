"""apt's lists kept between builds, one copy per archive set.

Every build starts from the pristine chroot, so without this each
``apt-get update`` downloads every index of every archive again.  The
slave keeps the lists a build's update left in
``<workdir>/apt-lists/<key>/`` and copies them into the next chroot
with the same key before its update: apt then asks each archive
If-Modified-Since the kept file's time (copies keep it), an unchanged
InRelease or Release is a 304, and no index is fetched again.

The key is a hash of everything that decides what the lists say and
who may read them: the exact ``archives`` lines as the master sent them
(credentials included, so a private archive's lists never reach a build
of another archive set, nor of the same archive with other
credentials), the trusted keys (a list kept under one key is never
taken as verified under another) and the chroot.  The directory is
readable by root only.

Invariants: the lists are saved right after ``apt-get update`` passed,
before anything the build installs runs as root in the chroot, so a
package's maintainer script cannot poison the next build's lists; both
copies are real copies, never links, for the same reason.  A save
writes a fresh directory, syncs it to disk and renames it over the old
under a lock (``<key>.lock``), so a reader sees the old set or the new
one, never a half-written one, even after the host crashed; a slave
killed mid-save leaves a ``.new-*`` directory that the next save
removes.  Only the newest KEEP sets are kept.
"""

import fcntl
import hashlib
import json
import os
import shutil
from contextlib import contextmanager

LISTS = "/var/lib/apt/lists"
KEEP = 8
# apt's own lock file, not a list.
SKIPPED = frozenset({"lock"})


def lists_key(archives, trusted_keys, chroot_sha1):
    """The cache key (hex) of a build's archive set."""
    material = json.dumps([list(archives), list(trusted_keys or ()), chroot_sha1])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class ListsCache:
    """The kept lists of one slave, under ``<workdir>/apt-lists``."""

    def __init__(self, workdir):
        self.directory = os.path.join(workdir, "apt-lists")

    def _path(self, key):
        return os.path.join(self.directory, key)

    @contextmanager
    def _locked(self, key):
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        with open(self._path(key) + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def restore(self, key, target):
        """Copy the lists kept under ``key`` into the directory ``target``
        (the chroot's lists, in the build's layer); the number of files
        copied, 0 when none are kept.  Blocks: call it in a thread."""
        with self._locked(key):
            kept = self._path(key)
            if not os.path.isdir(kept):
                return 0
            os.makedirs(target, exist_ok=True)
            names = _list_files(kept)
            for name in names:
                shutil.copy2(os.path.join(kept, name), os.path.join(target, name))
            os.utime(kept)
            return len(names)

    def save(self, key, source):
        """Keep the lists in ``source`` (the chroot's lists directory after
        a good update) under ``key``; the number of files kept.  Blocks:
        call it in a thread."""
        with self._locked(key):
            fresh = f"{self._path(key)}.new-{os.getpid()}"
            shutil.rmtree(fresh, ignore_errors=True)
            os.makedirs(fresh, mode=0o700)
            names = _list_files(source) if os.path.isdir(source) else []
            for name in names:
                shutil.copy2(os.path.join(source, name), os.path.join(fresh, name))
                _sync(os.path.join(fresh, name))
            _sync(fresh)
            old = f"{self._path(key)}.old-{os.getpid()}"
            if os.path.isdir(self._path(key)):
                os.rename(self._path(key), old)
            os.rename(fresh, self._path(key))
            _sync(self.directory)
            shutil.rmtree(old, ignore_errors=True)
        self._forget_old()
        return len(names)

    def _forget_old(self):
        """Remove all but the newest KEEP sets, and leftovers of a save."""
        sets = []
        for entry in os.scandir(self.directory):
            if not entry.is_dir(follow_symlinks=False):
                continue
            if ".new-" in entry.name or ".old-" in entry.name:
                if not entry.name.endswith(f"-{os.getpid()}"):
                    shutil.rmtree(entry.path, ignore_errors=True)
                continue
            sets.append(entry)
        sets.sort(key=lambda entry: entry.stat().st_mtime, reverse=True)
        for entry in sets[KEEP:]:
            with self._locked(entry.name):
                shutil.rmtree(entry.path, ignore_errors=True)
            try:
                os.unlink(entry.path + ".lock")
            except FileNotFoundError:
                pass


class KeptLists:
    """The kept lists of one build's archive set: ListsCache and key."""

    @staticmethod
    def of(workdir, args, chroot_sha1):
        """The KeptLists of a build with ``args``, or None when the master
        sent no archives (the chroot's own sources.list is used)."""
        if "archives" not in args:
            return None
        return KeptLists(ListsCache(workdir),
                         lists_key(args["archives"], args.get("trusted_keys"), chroot_sha1))

    def __init__(self, cache, key):
        self.cache, self.key = cache, key

    def restore(self, target):
        """What the build log says of the lists copied into ``target``.
        Kept lists only save time: a set that cannot be read (a full
        disk) is said and skipped, and apt fetches everything."""
        try:
            count = self.cache.restore(self.key, target)
        except OSError as e:
            return f"apt lists: none kept could be read ({e})"
        return f"apt lists: {count} file(s) kept from an earlier build of these archives"

    def save(self, source):
        """What the build log says of keeping the lists in ``source``;
        a failure is said and changes nothing else."""
        try:
            return f"apt lists: {self.cache.save(self.key, source)} file(s) kept for the next build"
        except OSError as e:
            return f"apt lists: not kept for the next build ({e})"


def _sync(path):
    """fsync ``path`` (a file or a directory).  The chroot's own writes
    never reach the disk (nosync.py), but a kept set outlives it: one
    torn by a crash would be taken as current, apt asking only whether
    the Release changed."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _list_files(directory):
    """The regular files directly in ``directory`` (no links, no
    overlay whiteouts, not apt's lock or partial/)."""
    return sorted(entry.name for entry in os.scandir(directory)
                  if entry.is_file(follow_symlinks=False) and entry.name not in SKIPPED)
