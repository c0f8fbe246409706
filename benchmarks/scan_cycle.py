"""How long one scan cycle takes, and what it costs, as the farm grows.

    python benchmarks/scan_cycle.py [--sizes 10,100,1000] [--db-url URL] [--json]

For each size N this makes its own PostgreSQL database on the server
``--db-url`` names (dropped afterwards), loads the sample data, adds N
builders and starts one twisted.web process on loopback that plays all
their slaves, each at ``/<n>/``: a quarter idle, half building, an eighth
waiting with a good build (a real .deb and .changes to upload) and an
eighth waiting with a failed one (each slave's log is its own).  The
same process runs the SMTP server the master's real BuildMailer sends
the failure mail to (three messages per failed build), so the master
does all the work it does in production and nothing else: the slaves'
process reports its own CPU time to show it is not what we wait for.

Then it runs two scan cycles: the first collects every finished build,
the second finds the farm steady.  It prints for each N the first
cycle's wall time, database queries, CPU seconds (the master's and the
slaves' process's), how much of the cycle went into queueing failure
mail, the process's peak RSS, the steady cycle's time and queries, and
how long the mail took to reach the SMTP server after the cycle; with
--json one object per N with the keys builders, cycle_s, queries, cpu_s,
slaves_cpu_s, mail_s, peak_rss_mb, steady_s, steady_queries,
reactor_lag_ms_max and floor_s.

``reactor_lag_ms_max`` is how late a 0.1 s LoopingCall ran at worst
during the first cycle: how long the reactor was kept from its other
work (a slave's answer, a librarian download).  ``floor_s`` is a bare
Twisted XML-RPC poll of the same N slaves, as many calls in flight as
the scanner allows and no database, measured in the same run: the
cycle can only come close to it, and the ratio compares across machines.
The master runs as the daemon does once started: the jobs' modules
imported and its start-up objects frozen out of the garbage collector's
way (buildmaster.daemon.freeze_start_up).
"""

import argparse
import base64
import gc
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

MIX = (("idle", 2), ("building", 4), ("ok", 1), ("fail", 1))
BUILD_LOG = b"".join(b"benchmark build log line %d\n" % i for i in range(2000))
ADMINS = ("admin1@example.com", "admin2@example.com")


def states_for(count):
    """The slave state of each of ``count`` builders, in the MIX proportions."""
    pattern = [state for state, weight in MIX for _ in range(weight)]
    return [pattern[n % len(pattern)] for n in range(count)]


# -- The slaves' process ------------------------------------------------------

def serve(spec_path):
    """Serve every slave of the spec on one loopback port and an SMTP
    server on another; print both ports."""
    from twisted.internet import reactor
    from twisted.web import resource, server, xmlrpc

    from buildmaster.testing.smtp import LoopbackSMTPServer

    with open(spec_path) as f:
        spec = json.load(f)
    files = {name: base64.b64decode(data) for name, data in spec["files"].items()}
    by_sha1 = {hashlib.sha1(data).hexdigest(): data for data in files.values()}
    filemap = {name: hashlib.sha1(data).hexdigest() for name, data in files.items()}

    class FakeSlave(xmlrpc.XMLRPC):
        def __init__(self, state, build_id):
            super().__init__(allowNone=True)
            self.state, self.build_id = state, build_id

        def xmlrpc_status(self):
            if self.state == "idle":
                return {"builder_status": "BuilderStatus.IDLE", "build_id": ""}
            if self.state == "building":
                return {"builder_status": "BuilderStatus.BUILDING",
                        "build_id": self.build_id,
                        "logtail": xmlrpc.Binary(BUILD_LOG[-2048:])}
            return {"builder_status": "BuilderStatus.WAITING", "build_id": self.build_id,
                    "build_status": ("BuildStatus.OK" if self.state == "ok"
                                     else "BuildStatus.PACKAGEFAIL"),
                    "filemap": filemap if self.state == "ok" else {},
                    "dependencies": None}

        def xmlrpc_clean(self):
            self.state = "idle"
            return "BuilderStatus.IDLE"

    class FileCache(resource.Resource):
        isLeaf = True

        def __init__(self, build_id):
            super().__init__()
            self.log = b"build %s\n" % build_id.encode() + BUILD_LOG

        def render_GET(self, request):
            name = request.postpath[0].decode()
            if name == "buildlog":
                return self.log
            if name in by_sha1:
                return by_sha1[name]
            request.setResponseCode(404)
            return b"not found"

    root = resource.Resource()
    for n, (state, build_id) in enumerate(spec["slaves"]):
        slave = resource.Resource()
        slave.putChild(b"rpc", FakeSlave(state, build_id))
        slave.putChild(b"filecache", FileCache(build_id))
        root.putChild(str(n).encode(), slave)
    port = reactor.listenTCP(0, server.Site(root), interface="127.0.0.1", backlog=1024)
    smtp = LoopbackSMTPServer(reactor=reactor)
    smtp.start()
    stdin = stdio_lines(reactor, lambda line: print(len(smtp.messages), flush=True))
    print(port.getHost().port, smtp.port, flush=True)
    reactor.run()
    stdin.loseConnection()


def stdio_lines(reactor, answer):
    """Call ``answer`` for every line on stdin: the master asks how many
    messages arrived."""
    from twisted.internet import stdio
    from twisted.protocols.basic import LineReceiver

    class Questions(LineReceiver):
        delimiter = b"\n"

        def lineReceived(self, line):
            answer(line)

        def connectionLost(self, reason):
            if reactor.running:
                reactor.stop()
    return stdio.StandardIO(Questions())


# -- The master's side ----------------------------------------------------------

class Farm:
    """A database, configuration and slaves process for one size."""

    def __init__(self, server_url, count, workdir):
        from buildmaster import config as configmodule
        from buildmaster.context import FarmContext
        from buildmaster.db.engine import make_engine
        self.server_url = server_url
        self.name = f"buildmaster_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self._admin(f'CREATE DATABASE "{self.name}"')
        url = make_url(server_url).set(database=self.name).render_as_string(
            hide_password=False)
        path = os.path.join(workdir, "buildmaster.conf")
        with open(path, "w") as f:
            f.write(f"[database]\nurl = {url}\n[builddmaster]\n"
                    f"root = {workdir}/root\n[librarian]\nstorage = {workdir}/lib\n"
                    f"[mail]\nsmtp_host = 127.0.0.1\nbuildd_admins = {', '.join(ADMINS)}\n")
        self.config = configmodule.load(path)
        self.context = FarmContext(self.config, engine=make_engine(url))
        self.count = count
        self.slaves = None

    def _admin(self, statement):
        from buildmaster.db.engine import make_engine
        admin = make_engine(self.server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(statement))
        admin.dispose()

    def populate(self, workdir):
        """Schema, sample data, N builders with jobs; start their slaves."""
        from buildmaster import schema
        from buildmaster.model import rows
        from buildmaster.seeds import sampledata
        from buildmaster.testing.uploads import binary_upload
        from buildmaster.model import Builder, BuildStatus, Processor
        schema.upgrade(self.context.engine)
        session = self.context.sessions()
        world = sampledata.load(session, self.context.librarian)
        world.bob.active = world.frog.active = False
        release = rows.source_release(session, "bench", "1.0", world.person["mark"])
        i386 = session.scalars(sa.select(Processor).where(Processor.name == "386")).one()
        arch = world.hoary["i386"]
        spec = []
        for n, state in enumerate(states_for(self.count)):
            builder = Builder(name=f"bench{n}", title=f"Bench {n}", processor=i386,
                              url=f"http://127.0.0.1:{{port}}/{n}/")
            session.add(builder)
            build_id = ""
            if state != "idle":
                build = release.createBuild(arch, world.primary, rows.PackagePublishingPocket.RELEASE,
                                            status=BuildStatus.BUILDING)
                entry = build.createBuildQueueEntry()
                session.flush()
                entry.markAsBuilding(builder)
                build_id = f"{build.id}-{entry.id}"
            spec.append((state, build_id))
        session.flush()
        files = binary_upload("bench", "1.0", "i386")
        spec_path = os.path.join(workdir, "slaves.json")
        with open(spec_path, "w") as f:
            json.dump({"slaves": spec, "files": {name: base64.b64encode(data).decode()
                                                 for name, data in files.items()}}, f)
        self.slaves = subprocess.Popen([sys.executable, __file__, "--serve", spec_path],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True)
        port, self.config.mail.smtp_port = map(int, self.slaves.stdout.readline().split())
        session.execute(sa.update(Builder).where(Builder.name.like("bench%")).values(
            url=sa.func.replace(Builder.url, "{port}", str(port))))
        session.commit()
        session.close()

    def outcome(self):
        """'BUILDING 50, FULLYBUILT 12, ...': what the cycles left."""
        from buildmaster.model import Build
        with self.context.sessions() as session:
            counts = session.execute(sa.select(Build.buildstate, sa.func.count()).group_by(
                Build.buildstate).order_by(Build.buildstate)).all()
        return ", ".join(f"{state.name} {number}" for state, number in counts)

    def messages_received(self):
        """How many messages the SMTP server has received so far."""
        self.slaves.stdin.write("?\n")
        self.slaves.stdin.flush()
        return int(self.slaves.stdout.readline())

    def slaves_cpu(self):
        """CPU seconds the slaves' process has used."""
        with open(f"/proc/{self.slaves.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self):
        if self.slaves is not None:
            self.slaves.stdin.close()
            self.slaves.wait()
        self.context.close()
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class TimedMailer:
    """The real BuildMailer, timing how long composing and spooling each
    notice takes (in whichever thread does it)."""

    def __init__(self, mailer):
        self.mailer = mailer
        self.config = mailer.config
        self.seconds = 0.0

    def holdBuildFailure(self, build, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.mailer.holdBuildFailure(build, *args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start

    def notifyBuildFailure(self, build, *args, **kwargs):
        batch = self.holdBuildFailure(build, *args, **kwargs)
        if batch is not None:
            self.release(batch)

    def hold(self, sender, about, messages):
        return self.mailer.hold(sender, about, messages)

    def release(self, batch):
        self.mailer.release(batch)

    def claim_in_spool(self, name):
        return self.mailer.claim_in_spool(name)

    def released(self, batch, claimed):
        self.mailer.released(batch, claimed)

    def drop(self, batch):
        self.mailer.drop(batch)

    def flush(self):
        return self.mailer.flush()


class LagMeter:
    """How late a 0.1 s LoopingCall runs: the reactor's lag, worst case.

    Each tick is compared with its place on the LoopingCall's own grid
    (its start time plus the intervals counted so far), so a tick on time
    reads 0, whatever the reactor did before the meter started."""

    INTERVAL = 0.1

    def __init__(self):
        from twisted.internet import reactor, task
        self.reactor = reactor
        self.worst = 0.0
        self._due = None
        self._loop = task.LoopingCall.withCount(self._tick)

    def start(self):
        self._loop.start(self.INTERVAL, now=False)
        self._due = self._loop.starttime

    def _tick(self, intervals):
        # This call was due ``intervals`` ticks after the last one was.
        self._due += intervals * self.INTERVAL
        self.worst = max(self.worst, self.reactor.seconds() - self._due)

    def stop(self):
        """The worst lag, counting a tick overdue right now."""
        self.worst = max(self.worst, self.reactor.seconds() - self._due - self.INTERVAL)
        self._loop.stop()
        return self.worst


async def measure_cycle(farm):
    """{wall, queries, cpu, slaves_cpu, mail, lag} of one scan cycle, in seconds."""
    from buildmaster.scan import scanpass
    context = farm.context
    mailer = context.mailer
    statements = []

    def count(*args):
        statements.append(args[2])
    event.listen(context.engine, "before_cursor_execute", count)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    slaves_before, mail_before = farm.slaves_cpu(), mailer.seconds
    lag = LagMeter()
    lag.start()
    start = time.perf_counter()
    try:
        await scanpass.scan(context)
    finally:
        event.remove(context.engine, "before_cursor_execute", count)
        worst = lag.stop()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return {"wall": wall, "queries": len(statements), "cpu": cpu,
            "slaves_cpu": farm.slaves_cpu() - slaves_before,
            "mail": mailer.seconds - mail_before, "lag": worst}


async def measure_floor(farm):
    """Seconds a bare Twisted XML-RPC status() poll of every slave takes,
    as many calls in flight as the scanner allows, no database."""
    from twisted.internet import defer
    from twisted.web.xmlrpc import Proxy
    with farm.context.sessions() as session:
        from buildmaster.model import Builder
        urls = session.scalars(sa.select(Builder.url).where(Builder.active)).all()
    semaphore = defer.DeferredSemaphore(farm.config.builddmaster.max_concurrent_calls)
    proxies = [Proxy((url + "rpc").encode()) for url in urls]
    start = time.perf_counter()
    await defer.DeferredList([semaphore.run(proxy.callRemote, "status")
                              for proxy in proxies], fireOnOneErrback=True)
    return time.perf_counter() - start


async def deliver(farm):
    """Seconds until the SMTP server has every message queued; their count."""
    start = time.perf_counter()
    await farm.context.mailer.flush()
    return time.perf_counter() - start, farm.messages_received()


async def run_size(server_url, count):
    from buildmaster.daemon import freeze_start_up
    from buildmaster.mail.mailer import BuildMailer
    with tempfile.TemporaryDirectory(prefix="scan-bench-") as workdir:
        farm = Farm(server_url, count, workdir)
        try:
            farm.populate(workdir)
            mailer = BuildMailer(farm.config)
            farm.context.mailer = TimedMailer(mailer)
            floor = await measure_floor(farm)
            freeze_start_up()
            first = await measure_cycle(farm)
            delivery = await deliver(farm)
            steady = await measure_cycle(farm)
            mailer.stop()
            outcome = farm.outcome()
        finally:
            gc.unfreeze()
            farm.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"builders": count, "cycle_s": round(first["wall"], 3),
            "queries": first["queries"], "cpu_s": round(first["cpu"], 3),
            "slaves_cpu_s": round(first["slaves_cpu"], 3), "mail_s": round(first["mail"], 3),
            "peak_rss_mb": round(peak_mb, 1), "steady_s": round(steady["wall"], 3),
            "steady_queries": steady["queries"],
            "reactor_lag_ms_max": round(first["lag"] * 1000, 1),
            "floor_s": round(floor, 3)}, delivery, outcome


async def main(reactor, args):
    import logging
    logging.basicConfig(level=logging.ERROR)
    for count in args.sizes:
        result, (delivery_s, messages), outcome = await run_size(args.db_url, count)
        if args.json:
            print(json.dumps(result), flush=True)
            continue
        print(f"{count:6d} builders: cycle {result['cycle_s']:.3f} s "
              f"(bare poll {result['floor_s']:.3f} s), reactor lag at most "
              f"{result['reactor_lag_ms_max']:.1f} ms, "
              f"{result['queries']} queries, CPU {result['cpu_s']:.3f} s "
              f"(slaves' process {result['slaves_cpu_s']:.3f} s), queueing mail "
              f"{result['mail_s']:.3f} s, peak RSS {result['peak_rss_mb']:.1f} MB; "
              f"steady cycle {result['steady_s']:.3f} s, {result['steady_queries']} "
              f"queries; {messages} messages delivered {delivery_s:.3f} s after the "
              f"cycle; builds: {outcome}", flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000",
                        type=lambda text: [int(n) for n in text.split(",")])
    parser.add_argument("--db-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server (any database on it)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    if arguments.serve:
        serve(arguments.serve)
    else:
        from twisted.internet import task
        task.react(main, [arguments])
