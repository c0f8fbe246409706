"""The access log of a file server, on a logger of its own, at DEBUG.

twisted.web writes a line for every request into the twistd log, at
INFO: the librarian's and the archives' lines (a slave fetching a chroot
and a source, apt reading the indexes and packages of every build, and
probing an unsigned archive for InRelease and Release.gpg, 404 each
time) buried the farm's own lines, dozens a build.  ``log_access(site,
name)`` sends a site's lines to the Python logger ``name`` at DEBUG,
below what the daemon shows: what went wrong in serving a request is
logged by the resource itself, at ERROR.  A line is in twisted.web's
combined log format, as before.
"""

import logging

from twisted.web import http


def log_access(site, name):
    """Have ``site`` (a twisted.web Site) log its requests to the logger
    ``name`` at DEBUG; returns the site."""
    logger = logging.getLogger(name)

    def log(request):
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(http.combinedLogFormatter(http.datetimeToLogString(), request))
    site.log = log
    return site
