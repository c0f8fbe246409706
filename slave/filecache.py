"""The content-addressed file cache: files named by their sha1."""

import base64
import hashlib
import os
import re
import tempfile
from urllib.parse import urlsplit

import treq
from twisted.internet import defer
from twisted.logger import Logger
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers

SHA1_PATTERN = re.compile(r"\A[0-9a-f]{40}\Z")
CHUNK_SIZE = 256 * 1024
DOWNLOAD_TIMEOUT = 3600

log = Logger()


def is_sha1(name):
    """True when ``name`` is a lower-case hex sha1, the only cache names."""
    return isinstance(name, str) and SHA1_PATTERN.match(name) is not None


class FileCache:
    """Files stored under ``directory`` as ``<sha1>``."""

    def __init__(self, directory, reactor):
        self.directory = directory
        self.reactor = reactor

    def path(self, sha1):
        if not is_sha1(sha1):
            raise ValueError(f"not a sha1: {sha1!r}")
        return os.path.join(self.directory, sha1)

    def has(self, sha1):
        return is_sha1(sha1) and os.path.isfile(self.path(sha1))

    def remove(self, sha1):
        try:
            os.unlink(self.path(sha1))
        except FileNotFoundError:
            pass

    def store(self, path):
        """Copy the file at ``path`` into the cache; return its sha1."""
        digest = hashlib.sha1()
        with open(path, "rb") as source, self._tempfile() as (target, tmp):
            for chunk in iter(lambda: source.read(CHUNK_SIZE), b""):
                digest.update(chunk)
                target.write(chunk)
        os.replace(tmp, self.path(digest.hexdigest()))
        return digest.hexdigest()

    @defer.inlineCallbacks
    def ensure_present(self, sha1, url=None, user=None, password=None):
        """Make sure ``sha1`` is cached, fetching ``url`` if needed.

        Returns (present, info) as launchpad-buildd does: info is 'Cache'
        or 'No URL' for a file already here, 'Download' after a good
        download, otherwise the reason for failing.
        """
        if self.has(sha1):
            return (True, "Cache" if url else "No URL")
        if not url:
            return (False, "No URL")
        if urlsplit(url).scheme not in ("http", "https"):
            return (False, f"Refusing to fetch non-HTTP URL {url!r}")
        log.info("Fetching {sha1} from {url}", sha1=sha1, url=url)
        try:
            actual = yield self._download(sha1, url, user, password)
        except Exception as e:
            reason = f"Error fetching {url}: {e}"
            log.warn(reason)
            return (False, reason)
        if actual != sha1:
            reason = (f"Digests did not match for {url}: expected {sha1},"
                      f" got {actual}; file removed")
            log.warn(reason)
            return (False, reason)
        return (True, "Download")

    @defer.inlineCallbacks
    def _download(self, sha1, url, user, password):
        """Stream ``url`` into the cache; return the sha1 of what came."""
        headers = Headers()
        if user:
            token = base64.b64encode(f"{user}:{password or ''}".encode())
            headers.addRawHeader(b"Authorization", b"Basic " + token)
        digest = hashlib.sha1()
        with self._tempfile() as (target, tmp):
            def write(chunk):
                digest.update(chunk)
                target.write(chunk)
            # A plain Agent: the cache must hold the bytes exactly as served,
            # never a transparently decompressed copy.
            agent = Agent(self.reactor, pool=HTTPConnectionPool(
                self.reactor, persistent=False))
            d = agent.request(b"GET", url.encode("utf-8"), headers)
            d.addTimeout(DOWNLOAD_TIMEOUT, self.reactor)
            response = yield d
            if response.code != 200:
                yield treq.collect(response, lambda _chunk: None)
                raise OSError(f"HTTP status {response.code}")
            yield treq.collect(response, write)
        if digest.hexdigest() == sha1:
            os.replace(tmp, self.path(sha1))
        else:
            os.unlink(tmp)
        return digest.hexdigest()

    def _tempfile(self):
        return _TempFile(self.directory)


class _TempFile:
    """A temp file in the cache dir, deleted on error, kept on success.

    The caller renames it into place; unique names let concurrent
    downloads of the same sha1 not trample each other.
    """

    def __init__(self, directory):
        fd, self.path = tempfile.mkstemp(dir=directory, suffix=".part")
        self.file = os.fdopen(fd, "wb")

    def __enter__(self):
        return self.file, self.path

    def __exit__(self, kind, value, traceback):
        self.file.close()
        if kind is not None:
            os.unlink(self.path)
        return False
