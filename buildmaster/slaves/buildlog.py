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


@defer.inlineCallbacks
def download_build_log(slave, config):
    """Stream the slave's 'buildlog' gzipped into a temporary file under
    the master's root; fire with its path, which the caller removes."""
    handle = tempfile.NamedTemporaryFile(
        dir=work_directory(config), suffix=".buildlog", delete=False)
    try:
        with handle:
            with gzip.GzipFile(filename="", mode="wb", fileobj=handle,
                               compresslevel=6) as compressed:
                yield slave.getFile("buildlog", compressed)
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
