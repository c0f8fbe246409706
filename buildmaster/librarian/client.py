"""In-process librarian clients: add files, read them back by alias id.

LibrarianClient works with public files only, as the seeds' common
librarian client does: asked for a restricted file it refuses.
RestrictedLibrarianClient adds restricted files and reads any file.
Both read straight from the storage directory (they live in the master
process, beside it) and name the URL the file is served at.
"""

import io

from buildmaster.librarian.aliases import find_stored_file
from buildmaster.librarian.urls import http_url, restricted_url
from buildmaster.model import utcnow


class DownloadFailed(Exception):
    """The file can not be read; the message says why."""


class LibrarianFile(io.BufferedReader):
    """A stored file open for reading, with its alias id, filename and URL."""

    def __init__(self, path, stored, url):
        super().__init__(io.FileIO(path, "rb"))
        self.alias_id = stored.id
        self.filename = stored.filename
        self.url = url


class LibrarianStream:
    """A stored file read from a store that streams it (Swift), checked as
    it is read: ``read``, ``close``, a context manager, and the alias id,
    filename and URL."""

    def __init__(self, reader, stored, url):
        self._reader = reader
        self.alias_id = stored.id
        self.filename = stored.filename
        self.url = url

    def read(self, size=-1):
        return self._reader.read(size)

    def close(self):
        self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class LibrarianClient:
    """Public files of the librarian in ``context`` (a FarmContext)."""

    restricted = False

    def __init__(self, context):
        self.context = context

    def addFile(self, name, fileobj, contentType="application/octet-stream", expires=None):
        """Store ``fileobj``'s bytes as ``name``, committed; return the alias id."""
        session = self.context.sessions()
        try:
            alias = self.context.librarian.add_file(
                session, name, fileobj, mimetype=contentType,
                restricted=self.restricted, expires=expires)
            session.commit()
            return alias.id
        finally:
            session.close()

    def getFileByAlias(self, alias_id):
        """A LibrarianFile on alias ``alias_id``'s content (a LibrarianStream
        from Swift, which raises ContentMismatch at its end when the
        content is not what was stored)."""
        stored = find_stored_file(self.context.sessions, alias_id)
        if stored is None:
            raise DownloadFailed(f"Alias {alias_id} does not exist.")
        if stored.restricted and not self.restricted:
            raise DownloadFailed(f"Alias {alias_id} cannot be downloaded from this client.")
        if stored.expired(utcnow()):
            raise DownloadFailed(f"Alias {alias_id} ({stored.filename}) has expired.")
        storage = self.context.librarian
        path = storage.local_path(stored)
        try:
            if path is None:
                return LibrarianStream(storage.open_stored(stored), stored, self.url_for(stored))
            return LibrarianFile(path, stored, self.url_for(stored))
        except FileNotFoundError:
            raise DownloadFailed(f"Alias {alias_id} ({stored.filename}): its content "
                                 f"{stored.sha1} is missing from the store.") from None

    def url_for(self, stored):
        return http_url(self.context.config, stored)


class RestrictedLibrarianClient(LibrarianClient):
    """Adds restricted files; reads any file, named by a token URL."""

    restricted = True

    def url_for(self, stored):
        return restricted_url(self.context.config, stored)
