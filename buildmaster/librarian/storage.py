"""Content-addressed storage on disk, and the rows that name its files.

Each content lives once, at ``<root>/<sha1[:2]>/<sha1[2:4]>/<sha1>``,
written to a temporary file in the same directory and renamed into
place, so a reader never sees half a file and a crash leaves no debris
under a real name.  Adding content that is already stored only adds an
alias.
"""

import hashlib
import io
import os
import tempfile

import sqlalchemy as sa

from buildmaster.model import LibraryFileAlias, LibraryFileContent

CHUNK_SIZE = 64 * 1024


class StoreError(Exception):
    """A store (swift.py) refused or lost a content; the message names it."""


class LibrarianStorage:
    """Files on disk under ``root`` plus their LibraryFile* rows."""

    def __init__(self, root):
        """``root`` is made by the first file stored, so a reader makes
        nothing."""
        self.root = root

    def path_for(self, sha1):
        return os.path.join(self.root, sha1[:2], sha1[2:4], sha1)

    def add_file(self, session, filename, fileobj, mimetype="application/octet-stream",
                 restricted=False, expires=None):
        """Store the bytes read from ``fileobj`` and return a new alias."""
        *sums, temp_path = self._spool(fileobj)
        try:
            contents = content_rows(session, [sums])
            if not os.path.exists(self.path_for(sums[0])):
                os.replace(temp_path, self.path_for(sums[0]))
        finally:
            _remove_if_present(temp_path)
        return new_aliases(session, [sums], contents, [dict(
            filename=filename, mimetype=mimetype, restricted=restricted,
            expires=expires)])[0]

    def add_paths(self, session, files):
        """Store many files in two queries whatever their number.

        ``files`` are (filename, path, mimetype, restricted); returns their
        new aliases in the same order.  A file on the store's filesystem
        is hard-linked into place, not copied: the caller may remove it
        afterwards, but must not change it.
        """
        measured = [_measure(path) for _, path, _, _ in files]
        contents = content_rows(session, measured)
        for sums, (_, path, _, _) in zip(measured, files):
            self._link_into_place(path, sums[0])
        return new_aliases(session, measured, contents, [
            dict(filename=filename, mimetype=mimetype, restricted=restricted)
            for filename, _, mimetype, restricted in files])

    def _link_into_place(self, path, sha1):
        final_path = self.path_for(sha1)
        os.makedirs(os.path.dirname(final_path), exist_ok=True)
        try:
            os.link(path, final_path)
        except FileExistsError:
            pass
        except OSError:  # another filesystem, or links not allowed: copy
            with open(path, "rb") as handle:
                *_, temp_path = self._spool(handle)
            os.replace(temp_path, final_path)

    def add_bytes(self, session, filename, data, **kwargs):
        return self.add_file(session, filename, io.BytesIO(data), **kwargs)

    def add_path(self, session, filename, path, **kwargs):
        with open(path, "rb") as handle:
            return self.add_file(session, filename, handle, **kwargs)

    def open(self, alias):
        """A binary file object on the stored content of ``alias``."""
        return open(self.path_for(alias.content.sha1), "rb")

    def open_stored(self, stored):
        """A binary file object on a StoredFile's content (aliases.py);
        FileNotFoundError when the store lost it."""
        return open(self.path_for(stored.sha1), "rb")

    def local_path(self, stored):
        """Where a StoredFile's content is on this machine's disk."""
        return self.path_for(stored.sha1)

    def local_path_for(self, sha1):
        """Where content ``sha1`` is on this machine's disk."""
        return self.path_for(sha1)

    def _spool(self, fileobj):
        """Copy ``fileobj`` to a temporary file beside the store, hashing it:
        (sha1, sha256, md5, size, temporary path)."""
        incoming = os.path.join(self.root, "incoming")
        os.makedirs(incoming, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=incoming, delete=False)
        with handle:
            sums = hash_chunks(fileobj, handle.write)
        os.makedirs(os.path.dirname(self.path_for(sums[0])), exist_ok=True)
        return (*sums, handle.name)

def new_aliases(session, measured, contents, alias_fields):
    """One new alias per (sums, fields), flushed together."""
    aliases = [LibraryFileAlias(content=contents[sums[0], sums[3]], **fields)
               for sums, fields in zip(measured, alias_fields)]
    session.add_all(aliases)
    session.flush()
    return aliases


def content_rows(session, measured):
    """{(sha1, size): LibraryFileContent} for files' (sha1, sha256, md5,
    size), the missing ones added to the session."""
    found = session.scalars(sa.select(LibraryFileContent).where(
        LibraryFileContent.sha1.in_({sums[0] for sums in measured})))
    contents = {(content.sha1, content.filesize): content for content in found}
    for sha1, sha256, md5, size in measured:
        if (sha1, size) not in contents:
            contents[sha1, size] = LibraryFileContent(
                sha1=sha1, sha256=sha256, md5=md5, filesize=size)
            session.add(contents[sha1, size])
    return contents


def hash_chunks(fileobj, sink=None):
    """(sha1, sha256, md5, size) of what ``fileobj`` holds, each chunk also
    given to ``sink``."""
    hashes = [hashlib.sha1(), hashlib.sha256(), hashlib.md5()]
    size = 0
    while chunk := fileobj.read(CHUNK_SIZE):
        for digest in hashes:
            digest.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink(chunk)
    return (*(digest.hexdigest() for digest in hashes), size)


def _measure(path):
    with open(path, "rb") as handle:
        return hash_chunks(handle)


def _remove_if_present(path):
    if os.path.exists(path):
        os.unlink(path)
