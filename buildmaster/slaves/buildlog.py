"""Build logs: streamed from the slave, gzipped on disk, kept in the librarian.

A log can be hundreds of megabytes, so it never sits in memory: the
slave's bytes go through a gzip stream into a temporary file under the
master's root directory (never /tmp, which may be small and is shared)
and from there into the librarian, chunk by chunk.  The temporary file
is removed whatever happens.
"""

import gzip
import os
import tempfile

from twisted.internet import defer

from common import steptimes

TEXT_MIMETYPE = "text/plain"
# How the farm's slave begins the lines it writes into a build log itself.
SLAVE_NOTE = "[slave] "


def log_filename(build, prefix="buildlog", state=None):
    """'buildlog_ubuntu-warty-i386.foobar_1.0_FULLYBUILT.txt.gz'.

    The state is ``state``, by default the build's state at the time the
    log is taken.
    """
    state = state or build.buildstate
    spr = build.sourcepackagerelease
    return (f"{prefix}_{build.distribution.name}-{build.distroseries.name}-"
            f"{build.distroarchseries.architecturetag}.{spr.name}_{spr.version}_"
            f"{state.name}.txt.gz")


def work_directory(config):
    """Where the master keeps files in transit: ``<root>/tmp``."""
    path = os.path.join(config.builddmaster.root, "tmp")
    os.makedirs(path, exist_ok=True)
    return path


class StepLines:
    """The slave's step lines (common/steptimes.py), picked out of a
    build log as it streams past on its way to a file (``passing_to``):
    the log is never read twice, nor held in memory.  Only the line under
    way is kept, and no more of it than a step line can be."""

    LONGEST = 200

    def __init__(self):
        self.target = None
        self.lines = []
        self._partial = b""
        self._overlong = False

    def passing_to(self, target):
        """This, writing all it is given on to ``target`` (a binary file)."""
        self.target = target
        return self

    def write(self, data):
        self.target.write(data)
        lines = (self._partial + data).split(b"\n")
        if self._overlong:
            lines[0] = b""
        self._partial = lines.pop()
        # A line longer than any step line is skipped to its end.
        self._overlong = (self._overlong and not lines) or len(self._partial) > self.LONGEST
        if self._overlong:
            self._partial = b""
        prefix = steptimes.PREFIX.encode("ascii")
        self.lines += [line.decode("utf-8", "replace") for line in lines
                       if line.startswith(prefix)]

    def steps(self):
        """{step: seconds} of the lines seen so far (steptimes.parse)."""
        return steptimes.parse(self.lines + [self._partial.decode("utf-8", "replace")])


@defer.inlineCallbacks
def download_build_log(slave, config, steps=None):
    """Stream the slave's 'buildlog' gzipped into a temporary file under
    the master's root; fire with its path, which the caller removes.
    ``steps`` (a StepLines) is given every step line on the way."""
    handle = tempfile.NamedTemporaryFile(
        dir=work_directory(config), suffix=".buildlog", delete=False)
    try:
        with handle:
            with gzip.GzipFile(filename="", mode="wb", fileobj=handle,
                               compresslevel=6) as compressed:
                yield slave.getFile("buildlog", compressed if steps is None
                                    else steps.passing_to(compressed))
    except BaseException:
        os.unlink(handle.name)
        raise
    return handle.name


def stored_log_entry(build, path, name=None):
    """The (filename, path, mimetype, restricted) LibrarianStorage.add_paths
    takes for a log of ``build``: restricted when its archive is private."""
    return (name or log_filename(build), path, TEXT_MIMETYPE, build.archive.private)


@defer.inlineCallbacks
def fetch_build_log(slave, build, session, config, librarian):
    """Fetch the slave's 'buildlog' into the librarian; fire with the alias."""
    name = log_filename(build)
    path = yield download_build_log(slave, config)
    try:
        (alias,) = librarian.add_paths(session, [stored_log_entry(build, path, name)])
    finally:
        os.unlink(path)
    return alias


def store_text_log(session, librarian, build, text, prefix, state):
    """Store ``text`` gzipped as the build's ``prefix`` log (e.g. 'upload_log')
    of the build ending in ``state``."""
    data = gzip.compress(text.encode("utf-8"))
    return librarian.add_bytes(
        session, log_filename(build, prefix, state), data, mimetype=TEXT_MIMETYPE,
        restricted=build.archive.private)


def last_slave_note(path):
    """The last line the slave wrote itself into the gzipped build log at
    ``path``, without its '[slave] ', or None: for a build the slave ended
    on a chroot problem, the problem (slave/binarypackage.py notes it
    last).  Reads the whole log: call it in a thread, for short logs."""
    last = None
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith(SLAVE_NOTE):
                last = line[len(SLAVE_NOTE):].strip()
    return last
