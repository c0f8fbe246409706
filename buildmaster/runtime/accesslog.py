"""The access log of a file server, on a logger of its own.

twisted.web writes a line for every request into the twistd log, at
INFO: the librarian's and the archives' lines (a slave fetching a chroot
and a source, apt reading indexes and packages in every build) buried
the farm's own lines, dozens a build.  ``log_access(site, name)`` sends a
site's lines to the Python logger ``name`` instead: a read answered (GET
or HEAD, 200, 206 or 304) at DEBUG, below what the daemon shows, and
anything else (a 404, a 401, a refused body) at INFO.  A line is in
twisted.web's combined log format, as before.
"""

import logging

from twisted.web import http

READ_METHODS = (b"GET", b"HEAD")
READ_CODES = (200, 206, 304)


def log_access(site, name):
    """Have ``site`` (a twisted.web Site) log its requests to the logger
    ``name``; returns the site."""
    logger = logging.getLogger(name)

    def log(request):
        read = request.method in READ_METHODS and request.code in READ_CODES
        level = logging.DEBUG if read else logging.INFO
        if logger.isEnabledFor(level):
            logger.log(level, http.combinedLogFormatter(http.datetimeToLogString(), request))
    site.log = log
    return site
