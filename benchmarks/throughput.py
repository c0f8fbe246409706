"""Builds per minute through the real daemon, with fast fake slaves.

    python benchmarks/throughput.py [--builders 4,8] [--builds 200]
        [--latency-samples 20] [--db-url URL] [--json]

For each number of builders N this makes its own PostgreSQL database on
the server ``--db-url`` names (dropped afterwards), loads the sample
world, adds a series ``benchy`` whose only architecture has the sample
chroot and a processor of its own, and N builders for it, each talking
to a fast slave (buildmaster.testing.fastslave: a real XML-RPC server on
loopback, all N in one child process, each on its own port, speaking
launchpad-buildd's protocol 1.0), whose builds finish the moment they
start with a small real .deb and .changes made for the source it was
given, so the master fetches, checks and stores a real upload.  The
master is the real daemon, ``twistd -n -y buildmaster.tac``, with the
default jobs (the publisher publishing every build's binaries among
them).

Then it measures, through ``buildmaster upload`` run as a process:

* submit to start on an idle farm: ``--latency-samples`` uploads one at
  a time, each waited for until it is FULLYBUILT; from the moment the
  upload is recorded (its publication's creation) to the moment its
  slave is asked to build (the slaves' journal of build() calls);
  median and 99th percentile;
* builds per minute: ``--builds`` sources uploaded by one command, from
  the moment it starts to the last FULLYBUILT;
* the master's CPU seconds per build over that run (user and system,
  read from /proc).

--json prints one object per N with the keys builders, builds,
builds_per_min, submit_to_start_ms_p50, submit_to_start_ms_p99 and
master_cpu_per_build_s.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import make_url

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from buildmaster.testing.fastfarm import ARCH, populate  # noqa: E402
from buildmaster.testing.fastslave import FastSlaves, write_source  # noqa: E402
from buildmaster.testing.slaveprocess import free_port  # noqa: E402

SERIES = "benchy"


# -- The farm -------------------------------------------------------------------

class Farm:
    """A database, a daemon and N fake slaves, for one N."""

    def __init__(self, server_url, builders, workdir):
        from buildmaster.db.engine import make_engine
        self.server_url = server_url
        self.workdir = workdir
        self.builders = builders
        self.name = f"buildmaster_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self._admin(f'CREATE DATABASE "{self.name}"')
        self.url = make_url(server_url).set(database=self.name).render_as_string(
            hide_password=False)
        self.engine = make_engine(self.url)
        self.config_path = os.path.join(workdir, "buildmaster.conf")
        self.slaves = self.master = None

    def _admin(self, statement):
        from buildmaster.db.engine import make_engine
        admin = make_engine(self.server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(statement))
        admin.dispose()

    def start(self):
        self._start_slaves()
        self._write_config()
        self._populate()
        from buildmaster.testing.masterprocess import MasterProcess
        self.master = MasterProcess(self.config_path,
                                    os.path.join(self.workdir, "master.log")).start()
        self.master.wait_for("Sequencer starting", timeout=60)

    def _start_slaves(self):
        self.slaves = FastSlaves(os.path.join(self.workdir, "slaves"), self.builders,
                                 arch=ARCH)

    def _write_config(self):
        public, restricted = free_port(), free_port()
        with open(self.config_path, "w") as f:
            f.write(f"[database]\nurl = {self.url}\n"
                    f"[builddmaster]\nroot = {self.workdir}/root\n"
                    f"[librarian]\nstorage = {self.workdir}/librarian\n"
                    f"public_port = {public}\nrestricted_port = {restricted}\n"
                    f"public_url = http://127.0.0.1:{public}\n"
                    f"restricted_url = http://127.0.0.1:{restricted}\n"
                    f"[archives]\nroot = {self.workdir}/archives\n"
                    f"[web]\nport = {free_port()}\n"
                    f"[mail]\nsmtp_host = 127.0.0.1\nsmtp_port = {self.slaves.smtp_port}\n")

    def _populate(self):
        populate(self.url, self.config_path, self.slaves.urls, SERIES)

    # -- Driving it -------------------------------------------------------------

    def upload(self, paths):
        """``buildmaster upload`` of ``paths`` as a process."""
        done = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "buildmaster"),
             "--config", self.config_path, "upload", *paths,
             "--distribution", "ubuntu", "--series", SERIES],
            capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"upload failed: {done.stderr.strip()}")

    def wait_built(self, names, timeout):
        """Wait until every source of ``names`` has a FULLYBUILT build;
        {name: datebuilt as a POSIX time}."""
        from buildmaster.model import (
            Build, BuildStatus, SourcePackageName, SourcePackageRelease)
        query = (sa.select(SourcePackageName.name, Build.datebuilt, Build.buildstate)
                 .join(SourcePackageRelease,
                       SourcePackageRelease.sourcepackagename_id == SourcePackageName.id)
                 .join(Build, Build.sourcepackagerelease_id == SourcePackageRelease.id)
                 .where(SourcePackageName.name.in_(names)))
        deadline = time.monotonic() + timeout
        while True:
            with self.engine.connect() as connection:
                rows = connection.execute(query).all()
            built = {name: datebuilt.timestamp() for name, datebuilt, state in rows
                     if state == BuildStatus.FULLYBUILT}
            other = {name: state.name for name, _, state in rows
                     if state not in (BuildStatus.FULLYBUILT, BuildStatus.NEEDSBUILD,
                                      BuildStatus.BUILDING)}
            if other:
                raise RuntimeError(f"builds ended otherwise: {other}")
            if len(built) == len(names):
                return built
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(built)} of {len(names)} built after "
                                   f"{timeout} s; see {self.master.log_path}")
            time.sleep(0.05)

    def submitted(self, names):
        """{name: when its upload was recorded, as a POSIX time}."""
        from buildmaster.model import (
            SourcePackageName, SourcePackagePublishingHistory, SourcePackageRelease)
        spph = SourcePackagePublishingHistory
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(SourcePackageName.name, spph.datecreated)
                .join(SourcePackageRelease,
                      SourcePackageRelease.sourcepackagename_id == SourcePackageName.id)
                .join(spph, spph.sourcepackagerelease_id == SourcePackageRelease.id)
                .where(SourcePackageName.name.in_(names))).all()
        return {name: created.timestamp() for name, created in rows}

    def milestones(self, name):
        """{what: POSIX time} of the build of ``name``: created, claimed,
        asked to build (by its slave's note), built."""
        from buildmaster.model import Build, SourcePackageName, SourcePackageRelease
        with self.engine.connect() as connection:
            build_id, created, built, duration = connection.execute(
                sa.select(Build.id, Build.datecreated, Build.datebuilt, Build.buildduration)
                .join(SourcePackageRelease,
                      SourcePackageRelease.id == Build.sourcepackagerelease_id)
                .join(SourcePackageName,
                      SourcePackageName.id == SourcePackageRelease.sourcepackagename_id)
                .where(SourcePackageName.name == name)).one()
        return {"created": created.timestamp(),
                "claimed": (built - duration).timestamp(),
                "sent": self.started()[name], "built": built.timestamp()}

    def started(self):
        """{source name: when its slave was asked to build, POSIX time}."""
        from buildmaster.model import Build, SourcePackageName, SourcePackageRelease
        jobs = {int(entry["job"].split("-")[0]): entry["time"]
                for entry in self.slaves.journal() if entry["call"] == "build"}
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(Build.id, SourcePackageName.name)
                .join(SourcePackageRelease,
                      SourcePackageRelease.id == Build.sourcepackagerelease_id)
                .join(SourcePackageName,
                      SourcePackageName.id == SourcePackageRelease.sourcepackagename_id)
                .where(Build.id.in_(list(jobs)))).all()
        return {name: jobs[build_id] for build_id, name in rows}

    def master_cpu(self):
        """CPU seconds (user + system) the daemon has used."""
        with open(f"/proc/{self.master.popen.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self):
        if self.master is not None:
            self.master.stop()
        if self.slaves is not None:
            self.slaves.stop()
        self.engine.dispose()
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def run(args, builders):
    if args.keep:
        workdir = tempfile.mkdtemp(prefix="throughput-bench-")
        print(f"keeping the farm's files and the master's log in {workdir}",
              file=sys.stderr)
        return measure(args, builders, workdir)
    with tempfile.TemporaryDirectory(prefix="throughput-bench-") as workdir:
        return measure(args, builders, workdir)


def measure(args, builders, workdir):
    if True:
        sources = os.path.join(workdir, "sources")
        os.makedirs(sources)
        farm = Farm(args.db_url, builders, workdir)
        try:
            farm.start()
            timeout = args.timeout
            # An idle farm, one build at a time.
            latencies = []
            for n in range(args.latency_samples):
                name = f"solo{n}"
                farm.upload([write_source(sources, name)])
                farm.wait_built([name], timeout)
                submitted, started = farm.submitted([name])[name], farm.started()[name]
                latencies.append(started - submitted)
                if args.detail:
                    print(f"{name}: " + ", ".join(
                        f"{what} +{(when - submitted) * 1000:.0f} ms"
                        for what, when in farm.milestones(name).items()), file=sys.stderr)
            # Many at once.
            names = [f"many{n}" for n in range(args.builds)]
            paths = [write_source(sources, name) for name in names]
            cpu_before = farm.master_cpu()
            began = time.time()
            farm.upload(paths)
            built = farm.wait_built(names, timeout)
            cpu = farm.master_cpu() - cpu_before
            elapsed = max(built.values()) - began
        finally:
            farm.close()
    return {"builders": builders, "builds": args.builds,
            "builds_per_min": round(args.builds / elapsed * 60, 1),
            "submit_to_start_ms_p50": (round(statistics.median(latencies) * 1000, 1)
                                       if latencies else None),
            "submit_to_start_ms_p99": (round(percentile(latencies, 0.99) * 1000, 1)
                                       if latencies else None),
            "master_cpu_per_build_s": round(cpu / args.builds, 4)}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builders", default="4,8",
                        type=lambda text: [int(n) for n in text.split(",")],
                        help="comma-separated numbers of builders (default 4,8)")
    parser.add_argument("--builds", type=int, default=200,
                        help="builds submitted at once (default 200)")
    parser.add_argument("--latency-samples", type=int, default=20,
                        help="single uploads timed on the idle farm (default 20)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds to wait for builds before giving up")
    parser.add_argument("--db-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server (any database on it)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--detail", action="store_true",
                        help="print when each timed build was created, claimed, sent "
                             "and built")
    parser.add_argument("--keep", action="store_true",
                        help="keep the farm's files and the master's log")
    args = parser.parse_args(argv)
    if not args.db_url.startswith("postgresql"):
        parser.error("--db-url: the benchmark needs PostgreSQL")
    return args


def main(argv=None):
    args = parse_args(argv)
    for builders in args.builders:
        result = run(args, builders)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            print(f"{builders:3d} builders, {result['builds']} builds: "
                  f"{result['builds_per_min']:.1f} builds/min; submit to start "
                  f"p50 {result['submit_to_start_ms_p50']} ms, "
                  f"p99 {result['submit_to_start_ms_p99']} ms; master CPU "
                  f"{result['master_cpu_per_build_s']:.4f} s per build", flush=True)


if __name__ == "__main__":
    main()
