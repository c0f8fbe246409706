"""Developers' uploads per minute through the real daemon's upload server,
and how long each takes from its last PUT to its builds.

    python benchmarks/uploads.py [--uploads 200] [--clients 8] [--closed-loop]
        [--targets 1] [--builders 0] [--db-url URL] [--json] [--keep]

It makes its own PostgreSQL database on the server ``--db-url`` names
(dropped afterwards), defines the farm with a farm file applied by
``buildmaster apply`` (buildmaster/testing/uploadfarm.py: this machine's
processor, acme/rocket, alice with a throwaway OpenPGP key and her PPA
~alice/tools, and ``--builders`` builders talking to fast slaves,
buildmaster.testing.fastslave, so accepted sources are built too; none
by default), gives acme/rocket a small stand-in chroot with ``buildmaster
chroot set``, and starts the real daemon, ``twistd -n -y buildmaster.tac``,
with its default jobs (process_uploads among them, woken by every
whole file) and its upload server on ``[upload] http_port``; its mail goes
to the fast slaves' SMTP server.

Before timing, ``--uploads`` small sources are built and signed as a
developer does (``dpkg-buildpackage -S``, signed by alice's key: one
signature of the .dsc and one of the .changes per package), each a
package of its own name.  Then ``--clients`` client threads send them,
each taking the next upload as soon as its previous one is sent (with
``--closed-loop``, once its previous one has its builds), with plain
HTTP PUTs made as Debian's dput makes them (one connection a file,
``Connection: close``, the files the .changes lists in its order, then
the .changes), not dput processes.  A poller reads the database every
10 ms for new builds.

The daemon processes each target's uploads one after another (different
targets' at once), checking the signatures of those waiting ahead, in
parallel.  So when the clients send to one target faster than it takes
them (eight clients sending flat out do: sending one takes a client
tens of milliseconds, and so does processing one), the uploads queue and
the latency measures the queue: the run's median waits for half of it.
``--closed-loop`` keeps at most ``--clients`` uploads in the daemon's
hands, as developers who each wait for their upload's mail;
``--targets N`` sends client K's uploads to alice's PPA K modulo N.

It prints ``uploads``, ``clients``, ``uploads_per_min`` (from the first
PUT to the last upload's builds existing), ``put_to_builds_ms_p50`` and
``put_to_builds_ms_p99`` (from the answer to an upload's last PUT, its
.changes, to the poll that first sees its builds), ``put_upload_ms_p50``
(the time a client takes to send one upload), ``accepted`` (uploads
accepted, of ``uploads``) and ``seconds``; with ``--json`` one object.
"""

import argparse
import concurrent.futures
import json
import os
import queue
import statistics
import sys
import threading
import time

import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from buildmaster.archive.chroots import host_architecture  # noqa: E402
from buildmaster.testing.benchargs import (  # noqa: E402
    add_daemon_arguments, parse_daemon_arguments, workdir)
from buildmaster.testing.database import scratch_database  # noqa: E402
from buildmaster.testing.debpackages import make_chroot_tarball  # noqa: E402
from buildmaster.testing.dput import signed_source  # noqa: E402
from buildmaster.testing.fastslave import FastSlaves  # noqa: E402
from buildmaster.testing.gpgkeys import Keys  # noqa: E402
from buildmaster.testing.masterprocess import MasterProcess  # noqa: E402
from buildmaster.testing.uploadfarm import (  # noqa: E402
    SERIES, daemon_config_text, define_farm, put_upload, steady_port, targets)

ARCH = host_architecture()


class Bench:
    """A database, fast slaves with their SMTP server, the farm and the daemon."""

    def __init__(self, server_url, workdir, builders, ppas=1):
        from buildmaster import schema
        from buildmaster.db.engine import make_engine
        self.workdir = workdir
        self.url, self._drop = scratch_database(server_url)
        self.engine = make_engine(self.url)
        schema.upgrade(self.engine)
        self.slaves = FastSlaves(os.path.join(workdir, "slaves"), builders, arch=ARCH)
        self.upload_port = steady_port()
        self.config_path = os.path.join(workdir, "buildmaster.conf")
        with open(self.config_path, "w", encoding="utf-8") as handle:
            handle.write(daemon_config_text(self.url, workdir, self.slaves.smtp_port,
                                            self.upload_port, jobs=None))
        self.keys = Keys()
        chroot = make_chroot_tarball(os.path.join(workdir, "chroot.tar.gz"))
        self.alice = define_farm(self.config_path, os.path.join(workdir, "farm"), self.keys,
                                 ARCH, chroot, [(f"fast{n}", url)
                                                for n, url in enumerate(self.slaves.urls)],
                                 ppas=ppas)
        self.master = MasterProcess(self.config_path, os.path.join(workdir, "master.log"))

    def sources(self, count, workers=4):
        """``count`` signed sources, bench-0000 on; [(name, .changes path)]."""
        names = [f"bench-{n:04d}" for n in range(count)]

        def make(name):
            directory = os.path.join(self.workdir, "sources", name)
            os.makedirs(directory)
            return name, signed_source(directory, self.keys, self.alice, name=name,
                                       distribution=SERIES)
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            return list(pool.map(make, names))

    def start(self):
        self.master.start()
        self.master.wait_for("Sequencer starting", timeout=120)

    def builds_seen(self, after_id):
        """[(build id, source name)] of the builds with ids over ``after_id``."""
        from buildmaster.model import Build, SourcePackageName, SourcePackageRelease
        with self.engine.connect() as connection:
            return connection.execute(
                sa.select(Build.id, SourcePackageName.name)
                .join(SourcePackageRelease,
                      SourcePackageRelease.id == Build.sourcepackagerelease_id)
                .join(SourcePackageName,
                      SourcePackageName.id == SourcePackageRelease.sourcepackagename_id)
                .where(Build.id > after_id)).all()

    def upload_states(self):
        from buildmaster.model import Upload
        with self.engine.connect() as connection:
            return dict(connection.execute(
                sa.select(Upload.state, sa.func.count()).group_by(Upload.state)).all())

    def close(self):
        self.master.stop()
        self.slaves.stop()
        self.keys.remove()
        self.engine.dispose()
        self._drop()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def measure(args, workdir):
    bench = Bench(args.db_url, workdir, args.builders, args.targets)
    aimed = targets(args.targets)
    try:
        uploads = bench.sources(args.uploads)
        bench.start()
        work = queue.Queue()
        for item in uploads:
            work.put(item)
        sent, send_times, errors = {}, [], []
        lock = threading.Lock()
        seen = {name: threading.Event() for name, _ in uploads}

        def client(target):
            while True:
                try:
                    name, changes = work.get_nowait()
                except queue.Empty:
                    return
                began = time.time()
                try:
                    answered = put_upload(bench.upload_port, target, changes)
                except Exception as error:
                    with lock:
                        errors.append(f"{name}: {error}")
                    continue
                with lock:
                    sent[name] = answered
                    send_times.append(answered - began)
                if args.closed_loop:
                    seen[name].wait(args.timeout)

        built, last_id = {}, 0
        began = time.time()
        clients = [threading.Thread(target=client, args=(aimed[number % len(aimed)],))
                   for number in range(args.clients)]
        for thread in clients:
            thread.start()
        deadline = time.monotonic() + args.timeout
        while len(built) < len(uploads):
            for build_id, name in bench.builds_seen(last_id):
                built.setdefault(name, time.time())
                seen[name].set()
                last_id = max(last_id, build_id)
            if errors:
                raise RuntimeError(f"PUTs failed: {errors[:5]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(built)} of {len(uploads)} uploads had builds after "
                                   f"{args.timeout} s; states {bench.upload_states()}; see "
                                   f"{bench.master.log_path}")
            time.sleep(0.01)
        ended = max(built.values())
        for thread in clients:
            thread.join()
        latencies = [built[name] - sent[name] for name in sent]
        states = bench.upload_states()
    finally:
        bench.close()
    return {"uploads": len(uploads), "clients": args.clients, "targets": args.targets,
            "builders": args.builders,
            "closed_loop": args.closed_loop,
            "uploads_per_min": round(len(uploads) / (ended - began) * 60, 1),
            "put_to_builds_ms_p50": round(statistics.median(latencies) * 1000, 1),
            "put_to_builds_ms_p99": round(percentile(latencies, 0.99) * 1000, 1),
            "put_upload_ms_p50": round(statistics.median(send_times) * 1000, 1),
            "accepted": states.get("ACCEPTED", 0),
            "seconds": round(ended - began, 1)}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=200,
                        help="signed sources uploaded (default 200)")
    parser.add_argument("--clients", type=int, default=8,
                        help="client threads sending them at once (default 8)")
    parser.add_argument("--closed-loop", action="store_true",
                        help="each client waits for its upload's builds before it "
                             "sends the next (default: it sends the next at once)")
    parser.add_argument("--targets", type=int, default=1,
                        help="PPAs the clients upload to, client N to PPA N modulo "
                             "this (default 1: all to ~alice/tools)")
    parser.add_argument("--builders", type=int, default=0,
                        help="fast slaves building what is accepted (default 0)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds to wait for every upload's builds")
    add_daemon_arguments(parser)
    return parse_daemon_arguments(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    with workdir(args, "uploads-bench-") as directory:
        result = measure(args, directory)
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print(f"{result['uploads']} uploads by {result['clients']} clients"
              f"{' (closed loop)' if result['closed_loop'] else ''}: "
              f"{result['uploads_per_min']:.1f} uploads/min; last PUT to builds "
              f"p50 {result['put_to_builds_ms_p50']} ms, p99 {result['put_to_builds_ms_p99']} ms;"
              f" sending one {result['put_upload_ms_p50']} ms; {result['accepted']} accepted "
              f"in {result['seconds']} s", flush=True)


if __name__ == "__main__":
    main()
