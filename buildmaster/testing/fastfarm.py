"""A whole farm on fast slaves, run as real processes: for the
fault-injection suite and the benchmarks that drive the daemon.

``FastFarm(directory, builders=4)`` makes its own database (a scratch
PostgreSQL database on the server ``BUILDMASTER_TEST_DB_URL`` or
``server_url`` names, else a SQLite file), loads the sample world, adds
a series building for one architecture of a processor of its own on
``builders`` builders, each talking to a fast slave
(buildmaster.testing.fastslave, all in one process with the SMTP server
the master mails), and writes the master's configuration.  Then
``upload`` submits sources through ``buildmaster upload``, ``start``,
``kill`` (kill -9) and ``stop`` run the real daemon (``twistd -n -y
buildmaster.tac``), and ``builds()`` reads the builds back.

Everything here blocks (processes, sleeps): call it from plain tests
or scripts.
"""

import os
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from buildmaster.testing.database import scratch_database
from buildmaster.testing.fastslave import FAILING_PREFIX, FastSlaves, write_source
from buildmaster.testing.masterprocess import MasterProcess
from buildmaster.testing.slaveprocess import free_port

SERIES = "fastfarm"
ARCH = "i386"
ADMINS = ("admin@farm.example",)


class FastFarm:
    """One farm: database, fast slaves, SMTP server, configuration, daemon."""

    def __init__(self, directory, builders=4, build_seconds=0.0, server_url=None,
                 retry_delay=2, scan_every=1, socket_timeout=10):
        self.directory = str(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.url, self._drop = scratch_database(server_url)
        self.engine = sa.create_engine(self.url, pool_pre_ping=True)
        self.slaves = FastSlaves(os.path.join(self.directory, "slaves"), builders,
                                 arch=ARCH, build_seconds=build_seconds)
        self.config_path = os.path.join(self.directory, "buildmaster.conf")
        self.sources = os.path.join(self.directory, "sources")
        os.makedirs(self.sources, exist_ok=True)
        self._write_config(retry_delay, scan_every, socket_timeout)
        self._populate()
        self.master = MasterProcess(self.config_path,
                                    os.path.join(self.directory, "master.log"))
        self.uploaded = []

    # -- Making it --------------------------------------------------------------------

    def _write_config(self, retry_delay, scan_every, socket_timeout):
        public, restricted = free_port(), free_port()
        jobs = {"slave_scanner": "scan", "queue_builder": "build_queue",
                "dispatcher": "dispatch", "build_health": "build_health"}
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(
                f"[database]\nurl = {self.url}\n"
                f"[builddmaster]\nroot = {self.directory}/root\n"
                f"socket_timeout = {socket_timeout}\n"
                f"[librarian]\nstorage = {self.directory}/librarian\n"
                f"public_port = {public}\nrestricted_port = {restricted}\n"
                f"public_url = http://127.0.0.1:{public}\n"
                f"restricted_url = http://127.0.0.1:{restricted}\n"
                f"[archives]\nroot = {self.directory}/archives\n"
                # The web takes the fast slaves' call-backs (callbacks.py).
                f"[web]\nport = {free_port()}\n"
                f"[mail]\nsmtp_host = 127.0.0.1\nsmtp_port = {self.slaves.smtp_port}\n"
                f"buildd_admins = {', '.join(ADMINS)}\nretry_delay = {retry_delay}\n"
                "[sequencer]\nshutdown_timeout = 30\n"
                + "".join(f"[sequencer.job.{name}]\ncallable = buildmaster.jobs:{function}\n"
                          f"mindelay = {scan_every}\ntimeout = 120\n"
                          for name, function in jobs.items()))

    def _populate(self):
        populate(self.url, self.config_path, self.slaves.urls)

    # -- Driving it ---------------------------------------------------------------------

    def upload(self, names):
        """Upload a new source for each of ``names`` (a ``fail-`` name's
        build fails) with one ``buildmaster upload``."""
        paths = [write_source(self.sources, name) for name in names]
        done = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "buildmaster"),
             "--config", self.config_path, "upload", *paths,
             "--distribution", "ubuntu", "--series", SERIES],
            capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"upload of {names} failed: {done.stderr.strip()}")
        self.uploaded.extend(names)

    def start(self, wait=True):
        """Start the daemon; with ``wait``, until its sequencer runs."""
        offset = len(self.master.read_log())
        self.master.start()
        if wait:
            self.master.wait_for("Sequencer starting", timeout=120, after=offset)
        return self

    def kill(self):
        """kill -9: the daemon gets no chance to tidy up."""
        self.master.kill()

    def stop(self):
        return self.master.stop(signal.SIGTERM)

    def builds(self):
        """[(build id, source, state name, builder id or None, queue builder id or
        None, build log id, upload log id)] of the farm's series, by id."""
        from buildmaster.model import (
            Build, BuildQueue, DistroArchSeries, DistroSeries, SourcePackageName,
            SourcePackageRelease)
        query = (sa.select(Build.id, SourcePackageName.name, Build.buildstate,
                           Build.builder_id, BuildQueue.builder_id.label("queue_builder"),
                           BuildQueue.id.label("queue_id"), Build.buildlog_id,
                           Build.upload_log_id)
                 .join(SourcePackageRelease,
                       SourcePackageRelease.id == Build.sourcepackagerelease_id)
                 .join(SourcePackageName,
                       SourcePackageName.id == SourcePackageRelease.sourcepackagename_id)
                 .join(DistroArchSeries, DistroArchSeries.id == Build.distroarchseries_id)
                 .join(DistroSeries, DistroSeries.id == DistroArchSeries.distroseries_id)
                 .outerjoin(BuildQueue, BuildQueue.build_id == Build.id)
                 .where(DistroSeries.name == SERIES).order_by(Build.id))
        with self.engine.connect() as connection:
            return connection.execute(query).all()

    def wait_until(self, check, what, timeout=300, interval=0.2):
        """Poll ``check()`` until it is true; fails naming ``what`` with
        the master's log when it never is."""
        deadline = time.monotonic() + timeout
        while not (result := check()):
            if time.monotonic() > deadline:
                raise AssertionError(f"never {what}; master log:\n"
                                     f"{self.master.read_log()[-6000:]}")
            time.sleep(interval)
        return result

    def terminate_backends(self):
        """pg_terminate_backend every other connection to the farm's
        PostgreSQL database (the master's); how many were cut."""
        with self.engine.connect() as connection:
            cut = connection.execute(sa.text(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                "FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")).scalar()
            connection.rollback()
        return cut

    def close(self):
        self.master.stop(signal.SIGKILL)
        self.slaves.stop()
        self.engine.dispose()
        self._drop()


def populate(url, config_path, slave_urls, series_name=SERIES):
    """Migrate the database at ``url`` and load the sample world, its
    builders out of use, plus a series ``series_name`` building for ARCH
    on a processor of its own and one builder per slave of ``slave_urls``
    (fast0, fast1, ...)."""
    from buildmaster import config as configmodule
    from buildmaster import schema
    from buildmaster.seeds import sampledata
    from buildmaster.db.engine import make_engine, make_session_factory
    from buildmaster.librarian.storage import LibrarianStorage
    from buildmaster.model import (
        Builder, DistroArchSeries, DistroSeries, DistroSeriesStatus, Processor)
    config = configmodule.load(config_path)
    engine = make_engine(url)
    schema.upgrade(engine)
    with make_session_factory(engine)() as session:
        world = sampledata.load(session, LibrarianStorage(config.librarian.storage))
        for builder in session.scalars(sa.select(Builder)):
            builder.active = False
        processor = Processor(name="fastcpu", title="fast", description="fast slaves")
        series = DistroSeries(distribution=world.ubuntu, name=series_name,
                              displayname=series_name.capitalize(), version="99.0",
                              status=DistroSeriesStatus.DEVELOPMENT)
        arch = DistroArchSeries(distroseries=series, architecturetag=ARCH,
                                official=True, processor=processor, chroot=world.chroot)
        session.add_all([processor, series, arch])
        series.nominatedarchindep = arch
        for n, slave_url in enumerate(slave_urls):
            session.add(Builder(name=f"fast{n}", title=f"Fast {n}", url=slave_url,
                                processor=processor))
        session.commit()
    engine.dispose()


def source_names(start, count, failing_every=6):
    """``count`` fresh source names from number ``start``; every
    ``failing_every``-th one fails to build."""
    return [f"{FAILING_PREFIX if (start + n) % failing_every == 0 else ''}src{start + n}"
            for n in range(count)]
