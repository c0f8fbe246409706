"""``make run``: a whole build farm on this machine, building real packages.

Under ``var/demo/`` it writes a configuration (SQLite, the librarian and
the farm's archives on loopback ports, kept from run to run while they
are free) and prints the ``export BUILDMASTER_CONFIG=...`` line that
points other shells' ``buildmaster`` commands at it, creates the database
with the sample data and starts two real slaves (``slave/``) on free
loopback ports.  Then it defines its farm as an operator does: the farm
file the repository ships, ``farm.toml.example`` (the distribution
``acme`` with its series ``rocket``, people, a private PPA and the
builders bob and frog), filled in with this machine's architecture and
the slaves' URLs as ``var/demo/farm.toml`` (buildmaster/demo/farmfile.py
says how, and why a copy), is applied with ``buildmaster apply``, and
``buildmaster chroot make acme/rocket/ARCH`` gives the series a real
Debian bookworm buildd chroot (the series' ``chroot_suite``; made with
mmdebstrap on the first run, about a minute, and kept in the cache
buildmaster.archive.chroots.cached_buildd_chroot shares with the tests).

It then runs ``twistd -n -y buildmaster.tac`` and tells the story of
buildmaster/demo/story.py while it runs: an application uploaded to
acme/rocket before the library it build-depends on waits
(MANUALDEPWAIT), the library builds, is published, and the application
is retried by the publisher and built against it, each build in a fresh
chroot; apt on this host then finds both in acme's primary archive.  The
master's log shows every step, and the dashboard (its address is printed
once the master starts: http://127.0.0.1:58010/ unless that port is
taken) shows them live.  The mail the farm sends is kept in
``var/demo/mail/``, one file a message, by the demo's own SMTP server
(buildmaster/demo/mailsink.py).  Ctrl-C (SIGINT) or SIGTERM stops the
master, the slaves and the mail server.  A second run reuses the database: the farm file applies
with nothing to change but the slaves' new ports, and nothing new is
uploaded.  One runs at a time: while a demo (or a master or slave it
started) runs, another refuses in one line naming its pid and dashboard
(the lock on var/demo/demo.pid, buildmaster/demo/instance.py).

The sample world (warty and hoary, i386, stand-in sources no slave can
build) stays beside acme, untouched but for what the file names too:
bob and frog, moved to this machine's processor (their sample jobs back
in the queue first, free_builders), and the amd64 processor's title.
``buildmaster apply`` lists the rest and leaves it alone.  The demo's
archives are not signed: its sources.list lines say ``[trusted=yes]``.

native_series, point_builder and their helpers build a native series in
the sample world in Python, for the tests that want one without a farm
file.
"""

import os
import signal
import subprocess
import sys

import sqlalchemy as sa

from buildmaster.archive.chroots import cache_dir, host_architecture
from buildmaster.demo.farmfile import BUILDERS, upload_target, write_farm_file
from buildmaster.demo import mailsink
from buildmaster.demo.instance import DemoLock, DemoRunning
from buildmaster.demo.story import Story
from buildmaster.model import (
    BuildStatus, Builder, DistroArchSeries, DistroSeries, DistroSeriesStatus, Processor,
    SourcePackageName)

# -- A native series in Python, for the tests ---------------------------------

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
    release_job(builder)
    return builder


def release_job(builder):
    """The job ``builder`` holds, if any, goes back to the queue."""
    entry = builder.currentjob
    if entry is not None:
        entry.build.buildstate = BuildStatus.NEEDSBUILD
        entry.build.builder = None
        entry.reset()


def builder_named(session, name):
    return session.scalars(sa.select(Builder).where(Builder.name == name)).one()


# -- The demo ------------------------------------------------------------------

DEMO_DIR = os.path.join("var", "demo")

CONFIG_TEMPLATE = """\
# Written by 'make run' (buildmaster/demo/farm.py) at every start.
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
        # The demo's mail sink listens on smtp_port (mailsink.py).
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


def demo_context(config_path):
    """A FarmContext on the demo's configuration; close it when done."""
    from buildmaster import config as configmodule
    from buildmaster.context import FarmContext
    return FarmContext(configmodule.load(config_path))


def free_builders(config_path, names):
    """Jobs the builders ``names`` hold go back to the queue: the sample
    world's build 8 on bob, or a build a stopped run left on a slave that
    is gone.  (apply refuses to move a builder that builds to another
    processor, and the slaves of this run know no earlier job.)"""
    context = demo_context(config_path)
    try:
        with context.sessions() as session:
            for builder in session.scalars(sa.select(Builder).where(Builder.name.in_(names))):
                if builder.currentjob is not None:
                    say(f"build {builder.currentjob.build_id} on {builder.name} goes back "
                        "to the queue")
                release_job(builder)
            session.commit()
    finally:
        context.close()


def look(config_path, target):
    """(whether ``target``, DISTRIBUTION/SERIES/ARCH, has a chroot, the
    names of the source packages uploaded so far)."""
    from buildmaster.operators import lookup
    context = demo_context(config_path)
    try:
        with context.sessions() as session:
            has_chroot = lookup.distroarchseries(session, target).chroot is not None
            known = {name for (name,) in session.execute(sa.select(SourcePackageName.name))}
            return has_chroot, known
    finally:
        context.close()


def cached_tarball(suite, arch):
    """Where buildmaster.archive.chroots.cached_buildd_chroot keeps the
    buildd chroot of ``suite`` for ``arch``: ``chroot make --output`` there
    reuses it while it was made the same way (same suite, this host's apt
    sources, the default packages), and makes it there otherwise."""
    return os.path.join(cache_dir(), f"{suite}-{arch}-buildd.tar.gz")


def define_farm(config_path, directory, slaves):
    """Apply farm.toml.example, filled in for this run, and give the
    series uploads go to a chroot; (distribution, series, the names of
    the source packages uploaded so far)."""
    arch = host_architecture()
    path, farm = write_farm_file(directory, arch, {
        name: slave.url for name, slave in zip(BUILDERS, slaves)})
    distribution, series, suite = upload_target(farm)
    free_builders(config_path, BUILDERS)
    say(f"the farm: {path} (farm.toml.example for {arch}, "
        f"{' and '.join(BUILDERS)} on the slaves above)")
    cli(config_path, "apply", path)
    target = f"{distribution}/{series}/{arch}"
    has_chroot, known = look(config_path, target)
    if not has_chroot:
        say(f"the {suite} buildd chroot for {target} (made with mmdebstrap the first "
            "time, about a minute)")
        cli(config_path, "chroot", "make", target, "--output", cached_tarball(suite, arch))
    return distribution, series, known


def start_mail_sink(directory, port, lock):
    """The SMTP server the master's mail goes to, keeping it in
    ``var/demo/mail/`` (buildmaster/demo/mailsink.py); its Popen."""
    mail = os.path.join(directory, "mail")
    log = os.path.join(directory, "mail-sink.log")
    sink = mailsink.start_process(mail, port, log, pass_fds=(lock.fd,))
    say(f"the farm's mail goes to {mail}/, one file a message (an SMTP server on "
        f"127.0.0.1:{port}, log: {log}); none leaves this machine")
    return sink


def start_slaves(directory, lock):
    """The builders' slaves, each holding ``lock`` (a DemoLock) while it runs."""
    from buildmaster.testing.slaveprocess import SlaveProcess
    slaves = []
    for name in BUILDERS:
        slave = SlaveProcess(os.path.join(directory, f"slave-{name}"),
                             arch=host_architecture())
        slaves.append(slave.start(pass_fds=(lock.fd,)))
        say(f"slave for {name} listening on {slave.url} (log: {slave.log_path})")
    return slaves


def stop_slaves(slaves):
    from buildmaster.testing.slaveprocess import processes_in
    for slave in slaves:
        slave.stop()
        for pid in processes_in(slave.workdir):
            os.kill(pid, signal.SIGKILL)


def start_master(config_path, lock):
    """``twistd -n -y buildmaster.tac``, logging to this terminal and
    holding ``lock`` (a DemoLock) while it runs."""
    from buildmaster.testing.masterprocess import TAC, twistd
    return subprocess.Popen([twistd(), "--pidfile=", "-n", "-y", TAC],
                            cwd=os.path.dirname(config_path), pass_fds=(lock.fd,),
                            env=dict(os.environ, BUILDMASTER_CONFIG=config_path))


def stop_process(process):
    """SIGTERM the master or the mail sink, if it runs, and wait for it."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait()


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def main():
    # Even when started with SIGINT ignored (in the background of a
    # script), Ctrl-C or SIGINT stops the demo and everything it started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    directory = os.path.abspath(DEMO_DIR)
    os.makedirs(directory, exist_ok=True)
    try:
        lock = DemoLock(directory).acquire()
    except DemoRunning as running:
        say(str(running))
        raise SystemExit(1) from None
    config_path = write_config(directory)
    from buildmaster import config as configmodule
    from buildmaster.web.service import dashboard_url
    config = configmodule.load(config_path)
    dashboard = dashboard_url(config)
    lock.describe(dashboard)
    say(f"configuration {config_path}; to use this farm from another shell:")
    say(f"  export BUILDMASTER_CONFIG={config_path}")
    say("  .venv/bin/buildmaster builds")
    cli(config_path, "upgrade")
    cli(config_path, "sampledata")
    slaves, master, sink = [], None, None
    try:
        sink = start_mail_sink(directory, config.mail.smtp_port, lock)
        slaves = start_slaves(directory, lock)
        distribution, series, known = define_farm(config_path, directory, slaves)
        say("starting the master; Ctrl-C stops it and the slaves")
        master = start_master(config_path, lock)
        say(f"the dashboard: {dashboard} (its JSON under /api/1.0/)")
        Story(config_path, directory, distribution, series, say,
              lambda *args: cli(config_path, *args),
              running=lambda: master.poll() is None).tell(known)
        master.wait()
    except KeyboardInterrupt:
        pass
    except subprocess.CalledProcessError as failed:
        say(f"'buildmaster {' '.join(failed.cmd[3:])}' failed (exit status "
            f"{failed.returncode}); stopping")
        raise SystemExit(1) from None
    finally:
        stop_process(master)
        stop_slaves(slaves)
        stop_process(sink)
        lock.release()
        say("stopped")

