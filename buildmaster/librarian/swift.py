"""The librarian's file contents in OpenStack Swift, streamed and verified.

Contents are addressed by SHA-1 as on disk: the object
``<container>/<sha1>`` holds the content whose sha1 that is, for every
alias of it, public or restricted alike (the split stays in the
database, as with the disk store).  Its sha256 is the object's
``X-Object-Meta-Sha256``.

Writing streams the file a chunk at a time, computing sha1, sha256 and
md5 on the way:

* a file whose sums are declared beforehand (``add_paths`` measures its
  files first) goes straight to its final name, and the sums computed
  on the way must equal the declared ones;
* a file read from a stream of unknown content (``add_file``) goes to
  ``<container>_segments/incoming/<uuid>/<n>`` and, once its sha1 is
  known, is copied to its final name inside Swift (COPY), the incoming
  object then deleted;
* whatever the path, each object (or segment) Swift stores is checked
  against the md5 we sent: Swift's ETag must equal it;
* a file larger than ``segment_size`` (by default 64 MiB under Swift's
  5 GiB object limit) is written as segments in ``<container>_segments``
  and its final object is a static large object (SLO) manifest listing
  them.

Invariant: the object is complete in Swift before ``add_*`` returns, so
before the caller commits the alias naming it.  A crash in between
leaves an object no row names (or incoming segments), never a row
naming nothing; ``buildmaster librarian gc`` is where those would go.

Reading streams too: ``open_stored`` gives a SwiftReader whose sha1,
sha256 and size are checked as it is read; at the end a mismatch raises
ContentMismatch naming the file, so a corrupt object is never handed on
as good.
"""

import datetime
import io
import json
import shutil
import threading
import time
import uuid

from swiftclient import client as swiftclient
from swiftclient.exceptions import ClientException

from buildmaster.librarian.storage import CHUNK_SIZE, content_rows, hash_chunks, new_aliases
from buildmaster.librarian.swiftio import (
    ContentMismatch, Hashing, Source, SwiftReader, SwiftStoreError)


# Seconds a connection's token is trusted without asking Swift again.
TOKEN_CHECK = 60


class SwiftStorage:
    """The librarian's contents in the Swift ``settings`` ([librarian]
    swift_*) name; the rows are the same LibraryFile* rows as on disk.

    Safe to use from many threads: each has its own Swift connection."""

    def __init__(self, settings, fallback=None, clock=time.monotonic):
        """``fallback``, a disk store (LibrarianStorage), serves what Swift
        does not hold yet: reads fall back to it while ``migrate`` runs.
        ``clock`` times how long a connection's token went unchecked."""
        self.settings = settings
        self.clock = clock
        self.fallback = fallback
        self.container = settings.swift_container
        self.segments = f"{settings.swift_container}_segments"
        self.segment_size = settings.swift_segment_size
        self._local = threading.local()
        self._containers_made = False

    def connection(self):
        """This thread's swiftclient Connection."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = swiftclient.Connection(
                authurl=self.settings.swift_auth_url, user=self.settings.swift_user,
                key=self.settings.swift_key, retries=2, timeout=60)
        return connection

    def fresh_connection(self):
        """This thread's connection, its token checked (and renewed when
        Swift refuses it) unless it was in the last TOKEN_CHECK seconds.
        A streamed PUT cannot be sent again, so swiftclient could not retry
        one refused for an expired token: it must start with a good one."""
        connection = self.connection()
        if self.clock() - getattr(self._local, "token_checked", -TOKEN_CHECK) >= TOKEN_CHECK:
            connection.head_account()
            self._local.token_checked = self.clock()
        return connection

    def object_name(self, sha1):
        return f"{self.container}/{sha1}"

    def add_file(self, session, filename, fileobj, mimetype="application/octet-stream",
                 restricted=False, expires=None):
        """Stream ``fileobj``'s bytes into Swift and return a new alias."""
        sums = self._put(fileobj)
        contents = content_rows(session, [sums])
        return new_aliases(session, [sums], contents, [dict(
            filename=filename, mimetype=mimetype, restricted=restricted,
            expires=expires)])[0]

    def add_bytes(self, session, filename, data, **kwargs):
        return self.add_file(session, filename, io.BytesIO(data), **kwargs)

    def add_path(self, session, filename, path, **kwargs):
        with open(path, "rb") as handle:
            return self.add_file(session, filename, handle, **kwargs)

    def add_paths(self, session, files):
        """As LibrarianStorage.add_paths: ``files`` are (filename, path,
        mimetype, restricted); returns their aliases in order.  Each file
        is measured, then sent under its sha1, checked against that."""
        measured = []
        for _, path, _, _ in files:
            with open(path, "rb") as handle:
                declared = hash_chunks(handle)
            with open(path, "rb") as handle:
                measured.append(self._put(handle, declared, path))
        contents = content_rows(session, measured)
        return new_aliases(session, measured, contents, [
            dict(filename=filename, mimetype=mimetype, restricted=restricted)
            for filename, _, mimetype, restricted in files])

    def open(self, alias):
        """As ``open_stored``, for ``alias`` (a LibraryFileAlias)."""
        from buildmaster.librarian.aliases import StoredFile
        content = alias.content
        return self.open_stored(StoredFile(
            alias.id, alias.filename, alias.mimetype, alias.restricted, alias.expires,
            content.sha1, content.filesize, content.sha256))

    def open_stored(self, stored):
        """A buffered SwiftReader on a StoredFile's content, checked as it
        is read; FileNotFoundError when Swift has no such object."""
        try:
            _, chunks = self.connection().get_object(
                self.container, stored.sha1, resp_chunk_size=CHUNK_SIZE)
        except ClientException as error:
            if error.http_status == 404 and self.fallback is not None:
                return self.fallback.open_stored(stored)
            if error.http_status == 404:
                raise FileNotFoundError(
                    f"Swift object {self.object_name(stored.sha1)} is missing") from None
            raise SwiftStoreError(f"reading Swift object {self.object_name(stored.sha1)}: "
                                  f"{error}") from None
        return io.BufferedReader(
            SwiftReader(iter(chunks), stored, self.object_name(stored.sha1)), CHUNK_SIZE)

    def local_path(self, stored):
        """None: no content is on this machine's disk."""
        return None

    def local_path_for(self, sha1):
        return None

    def fetch(self, sha1, size, path):
        """Write content ``sha1`` (``size`` bytes) to the file ``path``,
        checked as it comes (ContentMismatch); FileNotFoundError when Swift
        has no such object."""
        from buildmaster.librarian.aliases import StoredFile
        stored = StoredFile(None, sha1, "application/octet-stream", False, None,
                            sha1, size, None)
        with self.open_stored(stored) as reader, open(path, "wb") as out:
            shutil.copyfileobj(reader, out, CHUNK_SIZE)

    def exists(self, sha1):
        """True when Swift holds ``sha1``'s object."""
        return self._head(sha1) is not None

    def holds(self, sha1, size, sha256):
        """True when Swift's object for ``sha1`` says it is ``size`` bytes
        with that sha256 (what ``migrate`` trusts on a second run)."""
        headers = self._head(sha1)
        return headers is not None and int(headers.get("content-length", -1)) == size \
            and headers.get("x-object-meta-sha256") == sha256

    def object_names(self):
        """The names of every object in the container."""
        return [entry["name"] for entry in self._listing(self.container)]

    def unnamed_objects(self, known, cutoff):
        """Names of this container's objects whose sha1 is not in ``known``
        and last modified before ``cutoff`` (a POSIX time)."""
        return sorted(entry["name"] for entry in self._listing(self.container)
                      if entry["name"] not in known and _before(entry, cutoff))

    def unnamed_segments(self, kept, cutoff):
        """Names in the segments container, last modified before
        ``cutoff``, of uploads no object in ``kept`` (names) is made of:
        ``incoming/<upload>/<n>`` and the marker ``manifests/<upload>/<sha1>``
        of each upload whose marker names no kept object, or that has none
        (a write that never finished)."""
        listing = self._listing(self.segments)
        live = {name.split("/")[1] for name in (entry["name"] for entry in listing)
                if name.startswith("manifests/") and name.split("/")[-1] in kept}
        return sorted(entry["name"] for entry in listing if _before(entry, cutoff)
                      and _upload(entry["name"]) not in live | {None})

    def remove_segment(self, name):
        """Delete ``name`` from the segments container."""
        try:
            self._delete(self.segments, name)
        except ClientException as error:
            raise SwiftStoreError(f"removing {self.segments}/{name}: {error}") from None

    def _listing(self, container):
        try:
            return self.connection().get_container(container, full_listing=True)[1]
        except ClientException as error:
            if error.http_status == 404:
                return []
            raise SwiftStoreError(f"listing Swift container {container}: {error}") from None

    def remove_object(self, name):
        """Delete the object ``name``, with its SLO segments if it has some."""
        try:
            self.connection().delete_object(self.container, name,
                                            query_string="multipart-manifest=delete")
        except ClientException as error:
            if error.http_status != 404:
                raise SwiftStoreError(f"removing {self.object_name(name)}: {error}") from None

    def store_content(self, fileobj, declared, name):
        """Stream ``fileobj`` in as the content whose (sha1, sha256, md5,
        size) are ``declared``, checked against them (ContentMismatch)."""
        return self._put(fileobj, declared, name)

    def _head(self, sha1):
        try:
            return self.connection().head_object(self.container, sha1)
        except ClientException as error:
            if error.http_status == 404:
                return None
            raise SwiftStoreError(f"asking Swift for {self.object_name(sha1)}: {error}") from None

    def _put(self, fileobj, declared=None, name=None):
        """Send ``fileobj`` to its object; its (sha1, sha256, md5, size).
        A file whose declared sums Swift already holds is not sent."""
        self._make_containers()
        if declared is not None and self.exists(declared[0]):
            return tuple(declared)
        source = Source(fileobj)
        straight = declared is not None and declared[3] <= self.segment_size
        prefix = f"incoming/{uuid.uuid4().hex}"
        segments = []
        try:
            if straight:
                segments.append(self._put_segment(source, self.container, declared[0],
                                                  {"X-Object-Meta-Sha256": declared[1]}))
            while not straight and (not segments or not source.at_end()):
                segments.append(self._put_segment(
                    source, self.segments, f"{prefix}/{len(segments):08d}"))
            sums = source.sums()
            if declared is not None and _known(declared, sums) != sums:
                raise ContentMismatch(
                    f"{name or 'a file'} changed while it was stored: {sums[3]} bytes with "
                    f"sha1 {sums[0]} sent, {declared[3]} bytes with sha1 {declared[0]} "
                    "measured before")
            self._finish(segments, sums, straight)
        except ClientException as error:
            self._forget(segments)
            raise SwiftStoreError(f"storing {name or 'a file'} in Swift: {error}") from None
        except BaseException:
            self._forget(segments)
            raise
        return sums

    def _put_segment(self, source, container, name, headers=None):
        """Send up to a segment of ``source`` as ``container/name``, its
        ETag checked; (container, name, etag, size)."""
        body = Hashing(source, self.segment_size)
        etag = self.fresh_connection().put_object(container, name, body,
                                                  chunk_size=CHUNK_SIZE, headers=headers)
        if etag != body.md5.hexdigest():
            raise ContentMismatch(f"Swift stored {container}/{name} with ETag {etag}, "
                                  f"but what was sent has md5 {body.md5.hexdigest()}")
        return (container, name, etag, body.size)

    def _finish(self, segments, sums, sent_as_final):
        """Put the object's final name on what was sent (unless it went
        straight there, or Swift already holds that content): a copy of
        the one incoming object, or an SLO manifest of the segments."""
        sha1, sha256 = sums[0], sums[1]
        headers = {"X-Object-Meta-Sha256": sha256}
        if sent_as_final:
            return
        if self.exists(sha1):
            self._forget(segments)
        elif len(segments) == 1:
            container, name, _, _ = segments[0]
            self._copy(container, name, self.container, sha1, headers)
            self._delete(container, name)
        else:
            # Named before the manifest is written, so that gc never takes
            # the segments of a manifest (unnamed_segments).
            upload = segments[0][1].split("/")[1]
            self.connection().put_object(self.segments, f"manifests/{upload}/{sha1}", b"")
            manifest = [{"path": f"/{container}/{name}", "etag": etag, "size_bytes": size}
                        for container, name, etag, size in segments]
            self.connection().put_object(
                self.container, sha1, json.dumps(manifest), headers=headers,
                query_string="multipart-manifest=put")

    def _copy(self, container, name, to_container, to_name, headers=None):
        self.connection().copy_object(container, name, f"/{to_container}/{to_name}",
                                      headers=headers)

    def _delete(self, container, name):
        try:
            self.connection().delete_object(container, name)
        except ClientException as error:
            if error.http_status != 404:
                raise

    def _forget(self, segments):
        """Delete what a failed write sent, as far as Swift lets us (what
        is left is garbage for gc).  An object sent straight under its
        final name was not there before (``_put`` asked)."""
        for container, name, _, _ in segments:
            try:
                self._delete(container, name)
            except ClientException:
                pass

    def _make_containers(self):
        if not self._containers_made:
            for container in (self.container, self.segments):
                self.connection().put_container(container)
            self._containers_made = True


def _known(declared, sums):
    """``declared`` with what it leaves out (None) taken from ``sums``."""
    return tuple(sum_ if given is None else given for given, sum_ in zip(declared, sums))


def _before(entry, cutoff):
    """True when a container listing's ``entry`` was last modified before
    ``cutoff`` (a POSIX time)."""
    modified = datetime.datetime.fromisoformat(entry["last_modified"])
    return modified.replace(tzinfo=datetime.timezone.utc).timestamp() < cutoff


def _upload(name):
    """The upload a segments container's object belongs to; None for a
    name not of ours."""
    parts = name.split("/")
    if len(parts) == 3 and parts[0] in ("incoming", "manifests"):
        return parts[1]
    return None
