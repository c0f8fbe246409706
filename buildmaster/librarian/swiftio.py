"""The streams of the librarian's Swift store (swift.py): what a write
reads from the file it stores, hashing it, and what a read gives back,
checked at its end; and the errors they raise."""

import hashlib
import io

from buildmaster.librarian.storage import CHUNK_SIZE, StoreError


class SwiftStoreError(StoreError):
    """Swift refused or lost a librarian object; the message names it."""


class ContentMismatch(SwiftStoreError):
    """What was read or written is not the content its sums say."""


class Hashing:
    """Reads at most ``limit`` bytes from ``source`` (a Source), feeding
    the file's running hashes and the segment's own md5; swiftclient
    reads it as the body of one PUT."""

    def __init__(self, source, limit):
        self.source = source
        self.remaining = limit
        self.md5 = hashlib.md5()
        self.size = 0

    def read(self, size=-1):
        if self.remaining <= 0:
            return b""
        wanted = CHUNK_SIZE if size is None or size < 0 else size
        chunk = self.source.read(min(wanted, self.remaining))
        self.remaining -= len(chunk)
        self.size += len(chunk)
        self.md5.update(chunk)
        return chunk


class Source:
    """A file object read once, its sha1, sha256, md5 and size kept."""

    def __init__(self, fileobj):
        self.fileobj = fileobj
        self.hashes = [hashlib.sha1(), hashlib.sha256(), hashlib.md5()]
        self.size = 0
        self._ahead = b""

    def read(self, size):
        chunk = self._ahead[:size] if self._ahead else self.fileobj.read(size)
        self._ahead = self._ahead[len(chunk):]
        for digest in self.hashes:
            digest.update(chunk)
        self.size += len(chunk)
        return chunk

    def at_end(self):
        if not self._ahead:
            self._ahead = self.fileobj.read(CHUNK_SIZE)
        return not self._ahead

    def sums(self):
        """(sha1, sha256, md5, size) of what was read."""
        return (*(digest.hexdigest() for digest in self.hashes), self.size)


class SwiftReader(io.RawIOBase):
    """A stored content read from Swift a chunk at a time (raw: wrap it in
    io.BufferedReader, as ``open_stored`` does); raises ContentMismatch at
    its end when what came is not ``stored``'s content."""

    def __init__(self, chunks, stored, name):
        super().__init__()
        self._chunks = chunks
        self._left = b""
        self._stored = stored
        self._name = name
        self._sha1, self._sha256 = hashlib.sha1(), hashlib.sha256()
        self._size = 0
        self._checked = False

    def readable(self):
        return True

    def readinto(self, buffer):
        """Fill ``buffer`` from the next chunk; 0 at the end, once checked."""
        if not self._left:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._check()
                return 0
            self._sha1.update(chunk)
            self._sha256.update(chunk)
            self._size += len(chunk)
            self._left = chunk
        count = min(len(buffer), len(self._left))
        buffer[:count] = self._left[:count]
        self._left = self._left[count:]
        return count

    def _check(self):
        if self._checked:
            return
        stored = self._stored
        got = (self._sha1.hexdigest(), self._sha256.hexdigest(), self._size)
        # A pool file's row knows no sha256 (fetch): sha1 and size then.
        wanted = (stored.sha1, stored.sha256 or got[1], stored.size)
        if got != wanted:
            what = (f"librarian file {stored.id} ({stored.filename})" if stored.id is not None
                    else f"librarian content {stored.sha1}")
            raise ContentMismatch(
                f"{what}: Swift object {self._name} "
                f"holds {got[2]} bytes with sha1 {got[0]} and sha256 {got[1]}, not the "
                f"{stored.size} bytes with sha1 {stored.sha1} and sha256 {stored.sha256} "
                "stored")
        self._checked = True

    def close(self):
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        super().close()
