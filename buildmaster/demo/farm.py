"""``make run``: a whole build farm on this machine, building real packages.

Under ``var/demo/`` it writes a configuration (SQLite, the librarian and
the farm's archives on loopback ports, kept from run to run while they
are free) and prints the ``export BUILDMASTER_CONFIG=...`` line that
points other shells' ``buildmaster`` commands at it, creates the database with
the sample data, starts two real slaves (``slave/``) on free loopback
ports and points the sample builders bob and frog at them, then runs
``twistd -n -y buildmaster.tac`` and tells the story of
buildmaster/demo/story.py while it runs: an application uploaded before
the library it build-depends on waits (MANUALDEPWAIT), the library
builds, is published, and the application is retried by the publisher
and built against it, each build in a fresh chroot; apt on this host
then finds both in the farm's primary archive.  The master's log shows
every step, and the dashboard (its address is printed once the master
starts: http://127.0.0.1:58010/ unless that port is taken) shows them
live.  Ctrl-C (SIGINT) or SIGTERM stops the master and the
slaves.  A second run reuses the database and uploads nothing new.

The sample series warty and hoary are for i386 and hold sample sources
whose files are stand-ins no slave can build, so the demo adds a series,
breezy, building for this machine's architecture in a real Debian
bookworm buildd chroot (made with mmdebstrap on the first run, about a
minute, and cached: buildmaster.archive.chroots.cached_buildd_chroot), moves bob
and frog to that architecture, and uploads to breezy.  The demo's
archives are not signed: its sources.list lines say ``[trusted=yes]``.
"""

import os
import signal
import subprocess
import sys

import sqlalchemy as sa

from buildmaster.archive.chroots import cached_buildd_chroot, host_architecture
from buildmaster.commands.chroots import CHROOT_MIMETYPE
from buildmaster.demo.story import Story
from buildmaster.model import (
    BuildStatus, Builder, Distribution, DistroArchSeries, DistroSeries, DistroSeriesStatus,
    Processor, SourcePackageName)

# dpkg's name for an architecture -> the farm's processor name, where they differ.
PROCESSOR_NAMES = {"i386": "386"}


def native_processor(session, arch):
    """The Processor builds for ``arch`` run on, created when missing."""
    name = PROCESSOR_NAMES.get(arch, arch)
    processor = session.scalars(sa.select(Processor).where(Processor.name == name)).first()
    if processor is None:
        processor = Processor(name=name, title=arch, description=f"{arch} processors")
        session.add(processor)
    return processor


def build_natively(session, series, arch, chroot):
    """Make ``series`` build for ``arch`` only: its DistroArchSeries (created
    when missing) gets ``chroot`` and becomes the arch-indep one; the
    series' other architectures lose theirs."""
    found = None
    for each in series.architectures:
        if each.architecturetag == arch:
            found = each
        else:
            each.chroot = None
    if found is None:
        found = DistroArchSeries(distroseries=series, architecturetag=arch, official=True,
                                 processor=native_processor(session, arch))
        session.add(found)
    found.chroot = chroot
    series.nominatedarchindep = found
    return found


def native_series(session, distribution, name, version, chroot):
    """A new DEVELOPMENT series of ``distribution`` building natively
    with ``chroot`` (or the one already made by an earlier run)."""
    series = session.scalars(sa.select(DistroSeries).where(
        DistroSeries.distribution == distribution, DistroSeries.name == name)).first()
    if series is None:
        series = DistroSeries(distribution=distribution, name=name,
                              displayname=name.capitalize(), version=version,
                              status=DistroSeriesStatus.DEVELOPMENT)
        session.add(series)
    arch = build_natively(session, series, host_architecture(), chroot)
    return series, arch


def point_builder(session, builder, url, processor):
    """Send ``builder`` to the slave at ``url``; a job it had on its old
    slave goes back to the queue."""
    builder.url = url
    builder.processor = processor
    builder.builderok = True
    builder.active = True
    entry = builder.currentjob
    if entry is not None:
        entry.build.buildstate = BuildStatus.NEEDSBUILD
        entry.build.builder = None
        entry.reset()
    return builder


def builder_named(session, name):
    return session.scalars(sa.select(Builder).where(Builder.name == name)).one()


DEMO_DIR = os.path.join("var", "demo")
SERIES = "breezy"

CONFIG_TEMPLATE = """\
# Written by 'make run' (buildmaster/demo.py) at every start.
[database]
url = sqlite:///buildmaster.db
[builddmaster]
root = builddmaster
socket_timeout = 10
[librarian]
storage = librarian
public_port = {public_port}
restricted_port = {restricted_port}
public_url = http://127.0.0.1:{public_port}
restricted_url = http://127.0.0.1:{restricted_port}
[archives]
root = archives
http_port = {archive_port}
primary_url = http://127.0.0.1:{archive_port}
[mail]
smtp_host = 127.0.0.1
smtp_port = {smtp_port}
[web]
port = {web_port}
[sequencer.job.slave_scanner]
callable = buildmaster.jobs:scan
mindelay = 2
[sequencer.job.queue_builder]
callable = buildmaster.jobs:build_queue
mindelay = 5
[sequencer.job.dispatcher]
callable = buildmaster.jobs:dispatch
mindelay = 2
[sequencer.job.publisher]
callable = buildmaster.jobs:publish
mindelay = 2
"""


def say(text):
    print(f"make run: {text}", flush=True)


# The ports the demo keeps from run to run: (section, key, template name).
PORTS = (("librarian", "public_port", "public_port"),
         ("librarian", "restricted_port", "restricted_port"),
         ("archives", "http_port", "archive_port"),
         ("mail", "smtp_port", "smtp_port"),
         ("web", "port", "web_port"))


def write_config(directory):
    """The demo's configuration on loopback ports; its path.  The ports of
    the last run's configuration are kept while they are free, so the
    log URLs already mailed, and the dashboard's address, stay good."""
    from buildmaster.testing.slaveprocess import free_port
    path = os.path.join(directory, "buildmaster.conf")
    previous = previous_ports(path)
    ports = {}
    for section, key, name in PORTS:
        kept = previous.get(name)
        if kept is not None and port_free(kept):
            ports[name] = kept
        else:
            ports[name] = web_port(free_port) if name == "web_port" else free_port()
            if kept is not None:
                say(f"[{section}] {key} {kept} is taken now: using {ports[name]}")
    with open(path, "w", encoding="utf-8") as f:
        # Nothing listens on smtp_port: failure mail is logged and retried.
        f.write(CONFIG_TEMPLATE.format(**ports))
    return path


def previous_ports(path):
    """{template name: port} of the configuration the last run wrote."""
    import configparser
    parser = configparser.ConfigParser(interpolation=None)
    if not parser.read(path, encoding="utf-8"):
        return {}
    found = {}
    for section, key, name in PORTS:
        value = parser.get(section, key, fallback="")
        if value.isdigit() and int(value):
            found[name] = int(value)
    return found


def port_free(port):
    import socket
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def web_port(free_port, wanted=58010):
    """The dashboard's port: ``wanted`` (the default) when it is free,
    else any free one."""
    return wanted if port_free(wanted) else free_port()


def cli(config_path, *args):
    """Run a ``buildmaster`` command, showing its output; stop on failure."""
    command = [os.path.join(os.path.dirname(sys.executable), "buildmaster"),
               "--config", config_path, *args]
    subprocess.run(command, check=True)


def stored_chroot(session, librarian, tarball):
    """The librarian file of ``tarball``, stored when new (hard-linked
    from the cache, not copied)."""
    (alias,) = librarian.add_paths(
        session, [(os.path.basename(tarball), tarball, CHROOT_MIMETYPE, False)])
    return alias


def prepare_farm(config_path, slaves, tarball):
    """A series building natively in the chroot ``tarball``; bob and frog
    sent to the slaves."""
    from buildmaster import config as configmodule
    from buildmaster.context import FarmContext
    context = FarmContext(configmodule.load(config_path))
    try:
        with context.sessions() as session:
            ubuntu = session.scalars(sa.select(Distribution).where(
                Distribution.name == "ubuntu")).one()
            chroot = stored_chroot(session, context.librarian, tarball)
            series, arch = native_series(session, ubuntu, SERIES, "5.10", chroot)
            say(f"ubuntu {series.name} builds for {arch.architecturetag}")
            for name, slave in zip(("bob", "frog"), slaves):
                point_builder(session, builder_named(session, name), slave.url,
                              arch.processor)
                say(f"builder {name} -> slave at {slave.url} ({arch.architecturetag})")
            session.commit()
            return {name for (name,) in session.execute(sa.select(SourcePackageName.name))}
    finally:
        context.close()


def start_slaves(directory):
    from buildmaster.testing.slaveprocess import SlaveProcess
    slaves = []
    for name in ("bob", "frog"):
        slave = SlaveProcess(os.path.join(directory, f"slave-{name}"),
                             arch=host_architecture())
        slaves.append(slave.start())
        say(f"slave for {name} listening on {slave.url} (log: {slave.log_path})")
    return slaves


def stop_slaves(slaves):
    from buildmaster.testing.slaveprocess import processes_in
    for slave in slaves:
        slave.stop()
        for pid in processes_in(slave.workdir):
            os.kill(pid, signal.SIGKILL)


def start_master(config_path):
    """``twistd -n -y buildmaster.tac``, logging to this terminal."""
    from buildmaster.testing.masterprocess import TAC, twistd
    return subprocess.Popen([twistd(), "--pidfile=", "-n", "-y", TAC],
                            cwd=os.path.dirname(config_path),
                            env=dict(os.environ, BUILDMASTER_CONFIG=config_path))


def stop_master(master):
    if master is not None and master.poll() is None:
        master.send_signal(signal.SIGTERM)
        master.wait()


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def main():
    # Even when started with SIGINT ignored (in the background of a
    # script), Ctrl-C or SIGINT stops the demo and everything it started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    directory = os.path.abspath(DEMO_DIR)
    os.makedirs(directory, exist_ok=True)
    config_path = write_config(directory)
    say(f"configuration {config_path}; to use this farm from another shell:")
    say(f"  export BUILDMASTER_CONFIG={config_path}")
    say("  .venv/bin/buildmaster builds")
    cli(config_path, "upgrade")
    cli(config_path, "sampledata")
    say("the bookworm buildd chroot (made with mmdebstrap the first time, "
        "about a minute)")
    tarball = cached_buildd_chroot()
    say(f"chroot {tarball}")
    slaves, master = [], None
    try:
        slaves = start_slaves(directory)
        known = prepare_farm(config_path, slaves, tarball)
        say("starting the master; Ctrl-C stops it and the slaves")
        master = start_master(config_path)
        from buildmaster import config as configmodule
        from buildmaster.web.service import dashboard_url
        say(f"the dashboard: {dashboard_url(configmodule.load(config_path))} "
            "(its JSON under /api/1.0/)")
        Story(config_path, directory, SERIES, say, lambda *args: cli(config_path, *args),
              running=lambda: master.poll() is None).tell(known)
        master.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop_master(master)
        stop_slaves(slaves)
        say("stopped")

