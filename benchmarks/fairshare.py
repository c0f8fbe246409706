"""Fair share through the real daemon: one owner's 1,000 builds against
another's 10 uploaded a minute later.

    python benchmarks/fairshare.py [--a-builds 1000] [--b-builds 10]
        [--b-after 60] [--build-seconds 1] [--builders 4] [--score-only]
        [--owner-cap N] [--db-url URL] [--json]

The farm is benchmarks/throughput.py's (its own PostgreSQL database,
the sample world, the real daemon, ``--builders`` fast slaves), with
builds that take ``--build-seconds`` on the slave.  Owner A (cprov)
uploads ``--a-builds`` sources to ~cprov/ppa with one ``buildmaster
upload``; ``--b-after`` seconds after it started, owner B (mark) uploads
``--b-builds`` to ~mark/ppa.  Every build has the same score.
``--score-only`` runs the same with fair share off, for comparison;
``--owner-cap`` sets the cap.

It prints:

* ``build_s``: one build's duration, the median Build.buildduration
  (claim to end, as the master counts it; the slave takes
  ``slave_build_s``);
* ``b_wait_s_p50``, ``b_wait_s_max``: from each B build's first sight
  in the database (polled every 10 ms) to its slave being asked to build
  it; ``b_created_to_start_s_p50`` from its Build.datecreated (the
  upload command's clock, before its commit);
* ``a_builds_per_min``: A's builds ended per minute over A's whole run;
  ``a_alone_per_min`` and ``a_shared_per_min`` before B's upload and
  while B's builds ran, and ``b_share``, the part of the builds started
  while B's ran that were B's: the target is a_shared_per_min >=
  a_alone_per_min * (1 - b_share) (A loses no more than B takes);
* ``seconds``: the whole run.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from throughput import SERIES, Farm, percentile  # noqa: E402
from buildmaster.testing.benchargs import (  # noqa: E402
    add_daemon_arguments, parse_daemon_arguments, workdir)
from buildmaster.testing.fastfarm import ARCH  # noqa: E402
from buildmaster.testing.fastslave import FastSlaves, write_source  # noqa: E402

A_ARCHIVE, B_ARCHIVE = "~cprov/ppa", "~mark/ppa"


class FairFarm(Farm):
    """throughput.Farm with slow-enough builds and PPA uploads."""

    def __init__(self, server_url, builders, workdir, build_seconds, scheduling):
        super().__init__(server_url, builders, workdir)
        self.build_seconds = build_seconds
        self.scheduling = scheduling

    def _write_config(self):
        super()._write_config()
        with open(self.config_path, "a") as f:
            f.write(f"[scheduling]\n{self.scheduling}")

    def _start_slaves(self):
        self.slaves = FastSlaves(os.path.join(self.workdir, "slaves"), self.builders,
                                 arch=ARCH, build_seconds=self.build_seconds)

    def _populate(self):
        super()._populate()
        from buildmaster.model import Archive
        with self.engine.begin() as connection:
            # The sample PPAs want virtualized builders; the fast ones are not.
            connection.execute(sa.update(Archive).values(require_virtualized=False))

    def upload_command(self, paths, archive):
        return [os.path.join(os.path.dirname(sys.executable), "buildmaster"),
                "--config", self.config_path, "upload", *paths,
                "--distribution", "ubuntu", "--series", SERIES, "--archive", archive]

    def watch(self, names, upload, timeout):
        """{name: when its build was first seen in the database, POSIX
        time}, polling every 10 ms until all are seen and ``upload`` ended."""
        from buildmaster.model import Build, SourcePackageName, SourcePackageRelease
        query = (sa.select(SourcePackageName.name)
                 .join(SourcePackageRelease,
                       SourcePackageRelease.sourcepackagename_id == SourcePackageName.id)
                 .join(Build, Build.sourcepackagerelease_id == SourcePackageRelease.id)
                 .where(SourcePackageName.name.in_(names)))
        seen, deadline = {}, time.monotonic() + timeout
        while len(seen) < len(names) or upload.poll() is None:
            with self.engine.connect() as connection:
                now = time.time()
                for (name,) in connection.execute(query):
                    seen.setdefault(name, now)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(seen)} of {len(names)} builds of B seen")
            time.sleep(0.01)
        return seen

    def builds(self, names):
        """{name: (created, duration seconds or None, ended or None)} as POSIX times."""
        from buildmaster.model import Build, SourcePackageName, SourcePackageRelease
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(SourcePackageName.name, Build.datecreated, Build.buildduration,
                          Build.datebuilt)
                .join(SourcePackageRelease,
                      SourcePackageRelease.id == Build.sourcepackagerelease_id)
                .join(SourcePackageName,
                      SourcePackageName.id == SourcePackageRelease.sourcepackagename_id)
                .where(SourcePackageName.name.in_(names))).all()
        return {name: (created.timestamp(),
                       duration.total_seconds() if duration is not None else None,
                       built.timestamp() if built is not None else None)
                for name, created, duration, built in rows}


def measure(args, workdir):
    sources = os.path.join(workdir, "sources")
    os.makedirs(sources)
    a_names = [f"faira{n:04d}" for n in range(args.a_builds)]
    b_names = [f"fairb{n:03d}" for n in range(args.b_builds)]
    a_paths = [write_source(sources, name) for name in a_names]
    b_paths = [write_source(sources, name) for name in b_names]
    scheduling = (f"fair_share = {'false' if args.score_only else 'true'}\n"
                  f"owner_cap = {args.owner_cap}\n")
    farm = FairFarm(args.db_url, args.builders, workdir, args.build_seconds, scheduling)
    try:
        farm.start()
        began = time.time()
        a_upload = subprocess.Popen(farm.upload_command(a_paths, A_ARCHIVE),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        drain = threading.Thread(target=a_upload.communicate, daemon=True)
        drain.start()
        time.sleep(max(0.0, began + args.b_after - time.time()))
        b_upload_at = time.time()
        b_upload = subprocess.Popen(farm.upload_command(b_paths, B_ARCHIVE),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = farm.watch(b_names, b_upload, args.timeout)
        if b_upload.returncode != 0:
            raise RuntimeError(f"B's upload failed: {b_upload.stderr.read().strip()}")
        farm.wait_built(b_names, args.timeout)
        b_done_at = time.time()
        drain.join(args.timeout)
        if a_upload.returncode != 0:
            raise RuntimeError(f"A's upload failed (exit {a_upload.returncode})")
        farm.wait_built(a_names, args.timeout)
        started = farm.started()
        a_builds, b_builds = farm.builds(a_names), farm.builds(b_names)
    finally:
        farm.close()
    b_waits = [started[name] - seen[name] for name in b_names]
    b_from_created = [started[name] - b_builds[name][0] for name in b_names]
    durations = [duration for _, duration, _ in a_builds.values()] + [
        duration for _, duration, _ in b_builds.values()]
    a_started = sorted(started[name] for name in a_names)
    a_ended = sorted(ended for _, _, ended in a_builds.values())
    b_first = min(started[name] for name in b_names)
    b_last_end = max(ended for _, _, ended in b_builds.values())

    def a_rate(since, until):
        ended = [when for when in a_ended if since <= when < until]
        return len(ended) / (until - since) * 60 if until > since else None
    in_b_window = [name for name in started if b_first <= started[name] < b_last_end]
    return {
        "builders": args.builders, "a_builds": args.a_builds, "b_builds": args.b_builds,
        "fair_share": not args.score_only, "owner_cap": args.owner_cap,
        "slave_build_s": args.build_seconds,
        "build_s": round(statistics.median(durations), 2),
        "b_wait_s_p50": round(statistics.median(b_waits), 2),
        "b_wait_s_max": round(max(b_waits), 2),
        "a_builds_per_min": round(len(a_ended) / (a_ended[-1] - a_started[0]) * 60, 1),
        "a_alone_per_min": _round(a_rate(a_started[0], b_upload_at)),
        "a_shared_per_min": _round(a_rate(b_first, b_last_end)),
        "b_share": round(sum(1 for name in in_b_window if name in b_builds)
                         / max(1, len(in_b_window)), 3),
        "b_wait_s_p90": round(percentile(b_waits, 0.9), 2),
        "b_created_to_start_s_p50": round(statistics.median(b_from_created), 2),
        "b_done_after_upload_s": round(b_done_at - b_upload_at, 1),
        "seconds": round(a_ended[-1] - began, 1)}


def _round(value):
    return None if value is None else round(value, 1)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a-builds", type=int, default=1000)
    parser.add_argument("--b-builds", type=int, default=10)
    parser.add_argument("--b-after", type=float, default=60,
                        help="seconds from A's upload to B's (default 60)")
    parser.add_argument("--build-seconds", type=float, default=1.0,
                        help="how long a build takes on its slave (default 1)")
    parser.add_argument("--builders", type=int, default=4)
    parser.add_argument("--score-only", action="store_true",
                        help="[scheduling] fair_share = false: the queue by score alone")
    parser.add_argument("--owner-cap", type=int, default=0,
                        help="[scheduling] owner_cap (default 0: none)")
    parser.add_argument("--timeout", type=float, default=3600)
    add_daemon_arguments(parser)
    return parse_daemon_arguments(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    with workdir(args, "fairshare-bench-") as directory:
        result = measure(args, directory)
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print(", ".join(f"{key} {value}" for key, value in result.items()), flush=True)


if __name__ == "__main__":
    main()
