"""Putting the librarian's files into an archive's pool.

A file goes to ``pool/<component>/<prefix>/<source>/<filename>``, hard-
linked from the librarian's store when both are on one filesystem, else
copied, always under a temporary name first and renamed into place: apt
never sees half a file.  A pool never changes a file it holds: the same
name with other content is a PoolConflict, and the publication that
wanted it stays PENDING.
"""

import hashlib
import os
import shutil

from buildmaster.archive.dependencies import pool_path


class PoolConflict(Exception):
    """The pool already holds another file under that name."""


def pool_file(tree, component, source_name, filename):
    """(path relative to the tree, absolute path) of a pool file."""
    relative = f"{pool_path(source_name, component)}/{filename}"
    return relative, os.path.join(tree, relative)


def place(stored_path, target, size):
    """Make ``target`` hold the file at ``stored_path`` (``size`` bytes).

    Returns True when the file was added, False when it was already there.
    Raises PoolConflict when ``target`` holds other content, and
    FileNotFoundError when the librarian lost the file.
    """
    try:
        present = os.stat(target)
    except FileNotFoundError:
        present = None
    if present is not None:
        stored = os.stat(stored_path)
        if (present.st_dev, present.st_ino) == (stored.st_dev, stored.st_ino):
            return False
        if present.st_size == size and _same_bytes(stored_path, target):
            return False
        raise PoolConflict(f"{target} already holds other content "
                           f"({present.st_size} bytes)")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    temporary = os.path.join(os.path.dirname(target),
                             f".{os.path.basename(target)}.{os.getpid()}.new")
    try:
        try:
            os.link(stored_path, temporary)
        except OSError:  # another filesystem, or no hard links: copy
            shutil.copyfile(stored_path, temporary)
            os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)
    return True


def place_stored(storage, sha1, target, size):
    """As ``place``, for the librarian content ``sha1`` of ``storage``:
    linked from a disk store, fetched (checked) from one that is not,
    such as Swift, into a temporary file beside ``target`` first."""
    if storage.local_path_for(sha1) is not None:
        return place(storage.local_path_for(sha1), target, size)
    if _holds(target, sha1, size):
        return False
    os.makedirs(os.path.dirname(target), exist_ok=True)
    fetched = os.path.join(os.path.dirname(target),
                           f".{os.path.basename(target)}.{os.getpid()}.fetched")
    try:
        storage.fetch(sha1, size, fetched)
        return place(fetched, target, size)
    finally:
        if os.path.lexists(fetched):
            os.unlink(fetched)


def _holds(path, sha1, size):
    """True when ``path`` is a file of ``size`` bytes with that sha1."""
    try:
        if os.stat(path).st_size != size:
            return False
    except FileNotFoundError:
        return False
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest() == sha1


def _same_bytes(first, second, chunk=1 << 16):
    with open(first, "rb") as a, open(second, "rb") as b:
        while True:
            left, right = a.read(chunk), b.read(chunk)
            if left != right:
                return False
            if not left:
                return True
