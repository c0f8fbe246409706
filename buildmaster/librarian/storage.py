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


class LibrarianStorage:
    """Files on disk under ``root`` plus their LibraryFile* rows."""

    def __init__(self, root):
        self.root = root
        os.makedirs(root, exist_ok=True)

    def path_for(self, sha1):
        return os.path.join(self.root, sha1[:2], sha1[2:4], sha1)

    def add_file(self, session, filename, fileobj, mimetype="application/octet-stream",
                 restricted=False, expires=None):
        """Store the bytes read from ``fileobj`` and return a new alias."""
        spooled = self._spool(fileobj)
        try:
            (alias,) = self._store(session, [spooled], [dict(
                filename=filename, mimetype=mimetype, restricted=restricted,
                expires=expires)])
        finally:
            _remove_if_present(spooled[-1])
        return alias

    def add_paths(self, session, files):
        """Store many files in two queries whatever their number.

        ``files`` are (filename, path, mimetype, restricted); returns their
        new aliases in the same order.
        """
        spooled = []
        try:
            for _, path, _, _ in files:
                with open(path, "rb") as handle:
                    spooled.append(self._spool(handle))
            return self._store(session, spooled, [
                dict(filename=filename, mimetype=mimetype, restricted=restricted)
                for filename, _, mimetype, restricted in files])
        finally:
            for entry in spooled:
                _remove_if_present(entry[-1])

    def _store(self, session, spooled, alias_fields):
        """Move spooled files into place; one alias per (spooled, fields)."""
        contents = self._content_rows(session, spooled)
        aliases = []
        for (sha1, _, _, size, temp_path), fields in zip(spooled, alias_fields):
            final_path = self.path_for(sha1)
            if not os.path.exists(final_path):
                os.replace(temp_path, final_path)
            aliases.append(LibraryFileAlias(content=contents[sha1, size], **fields))
        session.add_all(aliases)
        session.flush()
        return aliases

    def add_bytes(self, session, filename, data, **kwargs):
        return self.add_file(session, filename, io.BytesIO(data), **kwargs)

    def add_path(self, session, filename, path, **kwargs):
        with open(path, "rb") as handle:
            return self.add_file(session, filename, handle, **kwargs)

    def open(self, alias):
        """A binary file object on the stored content of ``alias``."""
        return open(self.path_for(alias.content.sha1), "rb")

    def _spool(self, fileobj):
        """Copy ``fileobj`` to a temporary file beside the store, hashing it."""
        hashes = [hashlib.sha1(), hashlib.sha256(), hashlib.md5()]
        size = 0
        incoming = os.path.join(self.root, "incoming")
        os.makedirs(incoming, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=incoming, delete=False)
        with handle:
            while chunk := fileobj.read(CHUNK_SIZE):
                for digest in hashes:
                    digest.update(chunk)
                size += len(chunk)
                handle.write(chunk)
        sha1, sha256, md5 = (digest.hexdigest() for digest in hashes)
        os.makedirs(os.path.dirname(self.path_for(sha1)), exist_ok=True)
        return sha1, sha256, md5, size, handle.name

    def _content_rows(self, session, spooled):
        """{(sha1, size): LibraryFileContent} for spooled files, the missing
        ones added to the session."""
        found = session.scalars(sa.select(LibraryFileContent).where(
            LibraryFileContent.sha1.in_({entry[0] for entry in spooled})))
        contents = {(content.sha1, content.filesize): content for content in found}
        for sha1, sha256, md5, size, _ in spooled:
            if (sha1, size) not in contents:
                contents[sha1, size] = LibraryFileContent(
                    sha1=sha1, sha256=sha256, md5=md5, filesize=size)
                session.add(contents[sha1, size])
        return contents


def _remove_if_present(path):
    if os.path.exists(path):
        os.unlink(path)
