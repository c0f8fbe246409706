"""The services ``buildmaster.tac`` starts, as one MultiService.

In start order (they stop in the reverse order, each once the one started
after it has stopped: InOrder):

1. the farm context (database engine), closed last;
2. Python ``logging`` records (the scanner's and dispatcher's state
   changes) routed into the twistd log;
3. the librarian's public and restricted HTTP servers, which slaves
   download chroots and sources from while a job runs, and the archives'
   HTTP server (when ``[archives] http_port`` is set), which their apt
   installs build-dependencies from;
4. the web (``[web] host:port``; buildmaster.web): the dashboard, the
   JSON API, /metrics and /healthz;
5. the operators' journal, logging what operators do from the command
   line (buildmaster.operators.journal);
6. on PostgreSQL, the wake-up listener: a NOTIFY from the command line
   (an upload, a retry, a builder enabled) or another master wakes the
   job it concerns (buildmaster.runtime.wakeups);
7. the task sequencer running the periodic jobs, subscribed to the
   wake-ups; it stops first, letting the running job finish (bounded by
   ``[sequencer] shutdown_timeout``) while the database and the librarian
   are still there.

Once the reactor runs, everything made while starting is frozen out of
the garbage collector's way (``gc.freeze``), so its full collections
stay short however long the master lives.

``make_application`` refuses, with a DaemonError naming the problem, a
database it cannot reach or whose schema is not at the newest revision,
a configured port another process holds, and a librarian advertising a
loopback address to builders on other hosts (their slaves could never
fetch a chroot from it).
"""

import gc
import logging

import sqlalchemy as sa

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger, LogLevel
from twisted.python import threadable

from buildmaster import schema
from buildmaster.slaves import registry
from buildmaster.context import FarmContext
from buildmaster.db.engine import display_url
from buildmaster.operators.journal import JournalService
from buildmaster.librarian.web import make_sites
from buildmaster.model import Builder
from buildmaster.runtime.accesslog import log_access
from buildmaster.runtime.listening import (
    NamedServer, PortInUse, check_ports, quiet_factories, url_on_loopback)
from buildmaster.slaves.client import close_connections
from buildmaster.runtime.wakeups import NotificationListener
from buildmaster.web.service import web_service
from sequencer import BuildSequencer

log = Logger()


class DaemonError(Exception):
    """The daemon cannot start; printed as one line, exit status 2."""


def check_schema(context):
    """Raise DaemonError unless the database is reachable and at head."""
    import sqlalchemy.exc
    url = display_url(context.config.database.url)
    try:
        current = schema.current_revision(context.engine)
    except sqlalchemy.exc.SQLAlchemyError as error:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()
        raise DaemonError(f"database {url}: {detail[0] if detail else error}") from None
    head = schema.head_revision()
    if current != head:
        raise DaemonError(
            f"database {url} has schema revision {current or 'none'}, not {head}: "
            f"run 'buildmaster upgrade'")


def check_librarian_reachable(context):
    """Raise DaemonError when the librarian advertises a loopback URL while
    an active builder's slave is on another host."""
    settings = context.config.librarian
    loopback = [(key, url) for key, url in (("public_url", settings.public_url),
                                            ("restricted_url", settings.restricted_url))
                if url_on_loopback(url)]
    if not loopback:
        return
    with context.sessions() as session:
        builders = session.execute(sa.select(Builder.name, Builder.url)
                                   .where(Builder.active).order_by(Builder.name)).all()
    remote = [row for row in builders if not url_on_loopback(row.url)]
    if remote:
        key, url = loopback[0]
        raise DaemonError(
            f"[librarian] {key} {url} is a loopback address, but builder "
            f"{remote[0].name} ({remote[0].url}) is on another host and could not "
            "fetch chroots or sources from it: set [librarian] public_url and "
            "restricted_url to an address the slaves reach (and public_host to "
            "listen on it)")


class InOrder(service.MultiService):
    """A MultiService that stops its children one at a time, last started
    first, each once the one after it has stopped: Twisted's stops them
    all at once, which closed the database under a job the sequencer was
    still letting finish."""

    @defer.inlineCallbacks
    def stopService(self):
        service.Service.stopService(self)
        for child in reversed(list(self)):
            try:
                yield defer.maybeDeferred(child.stopService)
            except Exception:
                log.failure("stopping {child} failed", child=getattr(child, "name", child))


class ContextService(service.Service):
    """Says which configuration and database the master runs on; closes
    the database engine and the kept-alive slave connections when
    everything else has stopped."""

    def __init__(self, context, reactor=None):
        self.context = context
        self.reactor = reactor

    def startService(self):
        super().startService()
        log.info("buildmaster starting with configuration {path} on {url}",
                 path=self.context.config.path or "<defaults>",
                 url=display_url(self.context.config.database.url))
        deprecated = [f"[external_dependencies.{kind}]" for kind, lines in sorted(
            (self.context.config.external_dependencies or {}).items()) if lines]
        if deprecated:
            log.warn("{path}: {sections} still work but are deprecated: give the lines "
                     "to the series or archive in the farm file (external_dependencies "
                     "= [...]) and buildmaster apply it",
                     path=self.context.config.path, sections=" and ".join(deprecated))
        self.context.reactor.callWhenRunning(freeze_start_up)

    def stopService(self):
        super().stopService()
        self.context.close()
        log.info("buildmaster stopped")
        return close_connections(self.reactor)


def freeze_start_up():
    """Import what the jobs will need, then move what start-up made out of
    the garbage collector's sight."""
    from buildmaster.jobs import import_work_modules
    import_work_modules()
    gc.collect()
    gc.freeze()


class TwistedLogHandler(logging.Handler):
    """Hands Python logging records to twisted.logger, under the record's
    logger name; a record logged in a database thread is handed over in
    the reactor's thread."""

    LEVELS = [(logging.CRITICAL, LogLevel.critical), (logging.ERROR, LogLevel.error),
              (logging.WARNING, LogLevel.warn), (logging.INFO, LogLevel.info)]

    def emit(self, record):
        level = next((twisted_level for floor, twisted_level in self.LEVELS
                      if record.levelno >= floor), LogLevel.debug)
        text = self.format(record)
        if threadable.isInIOThread():
            _emit(record.name, level, text)
        else:
            from twisted.internet import reactor
            reactor.callFromThread(_emit, record.name, level, text)


def _emit(namespace, level, text):
    Logger(namespace=namespace).emit(level, "{text}", text=text)


class PythonLoggingService(service.Service):
    """Routes INFO and above of Python's root logger into the twistd log
    while the daemon runs."""

    def __init__(self):
        self.handler = TwistedLogHandler(level=logging.INFO)
        self._old_level = None

    def startService(self):
        super().startService()
        root = logging.getLogger()
        self._old_level = root.level
        root.setLevel(logging.INFO)
        root.addHandler(self.handler)

    def stopService(self):
        super().stopService()
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self._old_level)


def librarian_servers(context):
    """TCPServer services for the librarian's public and restricted sites,
    their access logs on buildmaster.librarian.access (runtime/accesslog.py)."""
    public, restricted = (log_access(site, "buildmaster.librarian.access")
                          for site in make_sites(context))
    settings = context.config.librarian
    return [NamedServer(f"librarian: public files (advertised as {settings.public_url})",
                        settings.public_port, public, settings.public_host),
            NamedServer(f"librarian: restricted files, by token (advertised as "
                        f"{settings.restricted_url})",
                        settings.restricted_port, restricted, settings.public_host)]


def archive_server(context):
    """The TCPServer serving the published archives, its access log on
    buildmaster.archives.access, or None when ``[archives] http_port`` is 0."""
    from buildmaster.publisher.serving import make_site
    settings = context.config.archives
    if not settings.http_port:
        return None
    return NamedServer("archives: published archives", settings.http_port,
                       log_access(make_site(context), "buildmaster.archives.access"),
                       settings.http_host)


def upload_servers(context):
    """The TCPServers taking dput's uploads over HTTP PUT and SFTP, each
    unless its ``[upload]`` port is 0."""
    settings = context.config.upload
    servers = []
    if settings.http_port:
        from buildmaster.uploads.httpserver import make_site
        servers.append(NamedServer("uploads: dput's HTTP PUT", settings.http_port,
                                   make_site(context), settings.http_host))
    if settings.sftp_port:
        from buildmaster.uploads.sftpserver import make_factory
        servers.append(NamedServer("uploads: SFTP (dput's scp, dput-ng's sftp)",
                                   settings.sftp_port, make_factory(context),
                                   settings.sftp_host))
    return servers


def open_context(config):
    try:
        return FarmContext(config)
    except OSError as error:
        raise DaemonError(f"database {display_url(config.database.url)}: {error}") from None


def make_application(config, reactor=None, context=None):
    """The whole daemon as one MultiService; raises DaemonError when the
    database is not ready for it."""
    context = context or open_context(config)
    try:
        check_schema(context)
        check_librarian_reachable(context)
    except DaemonError:
        context.close()
        raise
    registry.configure(config)
    top = InOrder()
    ContextService(context, reactor).setServiceParent(top)
    PythonLoggingService().setServiceParent(top)
    for server in librarian_servers(context):
        server.setServiceParent(top)
    for server in [archive_server(context), *upload_servers(context)]:
        if server is not None:
            server.setServiceParent(top)
    web = web_service(context, reactor)
    if web is not None:
        web.setServiceParent(top)
    JournalService(context, reactor).setServiceParent(top)
    if context.engine.dialect.name == "postgresql":
        NotificationListener(context.engine, context.wakeups, reactor).setServiceParent(top)
    sequencer = BuildSequencer(config, reactor=reactor, context=context)
    context.wakeups.subscribe(sequencer.wake)
    sequencer.setServiceParent(top)
    quiet_factories(top)
    try:
        check_ports(config, top)
    except PortInUse as error:
        context.close()
        raise DaemonError(str(error)) from None
    return top
