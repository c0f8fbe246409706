"""Benchmark the dispatcher on PostgreSQL at several queue sizes.

    python benchmarks/dispatch.py [--sizes 1000,100000,1000000]
        [--scores spread,equal] [--db-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--json] [--explain]

For each size it creates its own database (and drops it after), loads
the sample world, bulk-inserts that many pending builds with INSERT ...
SELECT generate_series (1,000,000 rows load in seconds), their scores
spread over 5,000 values ('spread') or all equal ('equal': the common
case of a real queue, where most builds share a pocket, component and
urgency), then measures:

* findBuildCandidate latency for an idle builder (median and 99th
  percentile over --samples calls): each call in a new session, as a
  dispatch pass has, with the builder already loaded (a pass loads all
  idle builders with one query), so it times the candidate query, the
  vetting and loading the chosen entry;
* dispatches per second: whole dispatch() passes filling --builders
  builders whose mock slaves answer at once, the jobs then finished with
  one DELETE so the next pass finds them idle again.

--json prints one JSON object per size and score mode: pending, scores,
usage, candidate_ms_p50, candidate_ms_p99, dispatch_per_s, floor_ms.
``--usage`` gives the queue's one owner (the primary archive's) an
hour of fair-share usage, so every candidate search also looks for a
lighter owner's jobs in the best band, and finds none: fair share's
worst case (buildmaster.queue.fairshare).
``floor_ms`` is the median round trip of a primary-key lookup on the
same database in the same run, what any query costs at least: the
candidate figures over it compare across machines.  --explain prints
the PostgreSQL plan of the candidate query.

The dispatch passes run as in the daemon: the database work in the
context's threads, the slave calls on a reactor (running in a thread of
its own here, so this script can drive it pass by pass).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time

import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import buildmaster.seeds.builder  # noqa: F401  (the seeds' Builder API)
from buildmaster.dispatch.dispatchpass import dispatch_idle_builders
from buildmaster import schema
from buildmaster.slaves import registry
from buildmaster.dispatch import dispatcher
from buildmaster.seeds import sampledata  # noqa: E402
from buildmaster import config as configmodule  # noqa: E402
from buildmaster.context import FarmContext  # noqa: E402
from buildmaster.db.engine import make_engine  # noqa: E402
from buildmaster.librarian.storage import LibrarianStorage  # noqa: E402
from buildmaster.model import Builder  # noqa: E402
from twisted.internet import reactor, threads  # noqa: E402

SOURCES = 1000
SCORES = {"spread": "(b.id::bigint * 7919) % 5000", "equal": "2515"}


class InstantSlave:
    """Answers every dispatch call at once, saying yes."""

    def ensurepresent(self, sha1, url, user=None, password=None):
        return [True, "Cached"]

    def build(self, build_id, manager, chroot_sha1, filemap, args):
        return ["BuilderStatus.BUILDING", build_id]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000",
                        help="comma-separated queue sizes (default %(default)s)")
    parser.add_argument("--scores", default="spread,equal",
                        help="comma-separated score modes: spread (5,000 values), "
                             "equal (all the same) (default %(default)s)")
    parser.add_argument("--db-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server's maintenance database")
    parser.add_argument("--json", action="store_true", help="one JSON object per size")
    parser.add_argument("--explain", action="store_true", help="print the candidate plan")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--builders", type=int, default=50)
    parser.add_argument("--passes", type=int, default=10)
    parser.add_argument("--usage", action="store_true",
                        help="give the queue's one owner fair-share usage, so each "
                             "candidate also looks for lighter owners' jobs (none)")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes: not a comma-separated list of numbers: {args.sizes!r}")
    args.scores = args.scores.split(",")
    unknown = set(args.scores) - set(SCORES)
    if unknown:
        parser.error(f"--scores: unknown mode {sorted(unknown)[0]!r}; "
                     f"choose from {', '.join(SCORES)}")
    if not args.db_url.startswith("postgresql"):
        parser.error("--db-url: the benchmark needs PostgreSQL")
    return args


class ScratchDatabase:
    """A database of its own on the server, dropped on exit."""

    def __init__(self, admin_url):
        self.admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.name = f"buildmaster_bench_{os.getpid()}"
        url = sa.make_url(admin_url).set(database=self.name)
        self.url = url.render_as_string(hide_password=False)

    def __enter__(self):
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}"')
            connection.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.engine = make_engine(self.url)
        return self

    def __exit__(self, *exc):
        self.engine.dispose()
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


def farm_config(url, directory):
    path = os.path.join(directory, "buildmaster.conf")
    with open(path, "w") as handle:
        handle.write(f"[database]\nurl = {url}\n[builddmaster]\nroot = {directory}/root\n"
                     f"[librarian]\nstorage = {directory}/librarian\n")
    return configmodule.load(path)


FILL_SQL = """
INSERT INTO sourcepackagename (name)
    SELECT 'bench' || g FROM generate_series(1, :sources) g;
INSERT INTO sourcepackagerelease (sourcepackagename_id, version, creator_id, maintainer_id,
        component_id, section, urgency, architecturehintlist, builddepends, dsc_format,
        dateuploaded)
    SELECT n.id, '1.0', 1, 1, c.id, 'devel', 'LOW', 'any', '', '1.0', now()
    FROM sourcepackagename n, component c
    WHERE n.name LIKE 'bench%' AND c.name = 'main';
INSERT INTO sourcepackagepublishinghistory (sourcepackagerelease_id, archive_id,
        distroseries_id, component_id, section, pocket, status, datecreated)
    SELECT r.id, :archive, :series, r.component_id, 'devel', 'RELEASE', 'PUBLISHED', now()
    FROM sourcepackagerelease r JOIN sourcepackagename n ON n.id = r.sourcepackagename_id
    WHERE n.name LIKE 'bench%';
CREATE TEMP TABLE bench_sources AS
    SELECT row_number() OVER (ORDER BY r.id) - 1 AS slot, r.id
    FROM sourcepackagerelease r JOIN sourcepackagename n ON n.id = r.sourcepackagename_id
    WHERE n.name LIKE 'bench%';
INSERT INTO build (sourcepackagerelease_id, distroarchseries_id, archive_id, pocket,
        processor_id, buildstate, datecreated, failure_count)
    SELECT s.id, :das, :archive, 'RELEASE', :processor, 'NEEDSBUILD', now(), 0
    FROM generate_series(1, :size) g JOIN bench_sources s ON s.slot = g % :sources;
INSERT INTO buildqueue (build_id, processor_id, virtualized, created, lastscore, manual)
    SELECT b.id, b.processor_id, false, now(), {score}, false
    FROM build b LEFT JOIN buildqueue q ON q.build_id = b.id
    WHERE q.id IS NULL AND b.buildstate = 'NEEDSBUILD';
ANALYZE;
"""


def load(bench, directory, size, scores):
    """The sample world plus ``size`` pending builds scored as ``scores``
    says; returns the context and the seconds the fill took."""
    schema.upgrade(bench.engine)
    config = farm_config(bench.url, directory)
    context = FarmContext(config, engine=bench.engine)
    session = context.sessions()
    world = sampledata.load(session, LibrarianStorage(config.librarian.storage))
    session.commit()
    params = {"sources": SOURCES, "size": size, "archive": world.primary.id,
              "series": world.hoary.id, "das": world.hoary["i386"].id,
              "processor": world.i386.id}
    started = time.perf_counter()
    with bench.engine.begin() as connection:
        for statement in FILL_SQL.replace("{score}", SCORES[scores]).split(";"):
            if statement.strip():
                connection.execute(sa.text(statement), {
                    key: value for key, value in params.items()
                    if f":{key}" in statement})
    session.close()
    return context, time.perf_counter() - started


def floor_latency(context, samples):
    """Median milliseconds of a primary-key lookup round trip."""
    times = []
    query = sa.select(Builder.id, Builder.name).where(Builder.id == sa.bindparam("id"))
    with context.engine.connect() as connection:
        builder_id = connection.execute(sa.select(sa.func.min(Builder.id))).scalar()
        for _ in range(samples):
            started = time.perf_counter()
            connection.execute(query, {"id": builder_id}).one()
            times.append((time.perf_counter() - started) * 1000)
            connection.rollback()
    return statistics.median(times)


def candidate_latencies(context, samples):
    times = []
    for _ in range(samples):
        session = context.sessions()
        builder = session.scalars(sa.select(Builder).where(Builder.name == "frog")).one()
        started = time.perf_counter()
        candidate = builder.findBuildCandidate()
        times.append((time.perf_counter() - started) * 1000)
        assert candidate is not None
        session.close()
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def explain(context):
    """EXPLAIN ANALYZE of the candidate query, exactly as findBuildCandidate
    sent it (caught on the way to the database)."""
    sent = []

    def catch(conn, cursor, statement, parameters, context_, executemany):
        if "lastscore" in statement and not sent:
            sent.append((statement, parameters))
    sa.event.listen(context.engine, "before_cursor_execute", catch)
    try:
        session = context.sessions()
        session.scalars(sa.select(Builder).where(Builder.name == "frog")).one() \
            .findBuildCandidate()
        session.close()
    finally:
        sa.event.remove(context.engine, "before_cursor_execute", catch)
    statement, parameters = sent[0]
    with context.engine.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute(f"EXPLAIN (ANALYZE, SUMMARY) {statement}", parameters)
        return "\n".join(row[0] for row in cursor.fetchall())


def dispatch_rate(context, builders, passes):
    session = context.sessions()
    processor = session.scalars(sa.select(Builder.processor_id)).first()
    session.execute(sa.update(Builder).values(active=False))
    racers = [Builder(name=f"bench{index}", title="bench", url=f"http://bench{index}/",
                      processor_id=processor) for index in range(builders)]
    session.add_all(racers)
    session.commit()
    for builder in racers:
        registry.override(builder, InstantSlave())
    started, elapsed = 0, 0.0
    for _ in range(passes):
        began = time.perf_counter()
        started += threads.blockingCallFromThread(reactor, dispatch_idle_builders, context)
        elapsed += time.perf_counter() - began
        with context.engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE build SET buildstate = 'FULLYBUILT' WHERE id IN"
                " (SELECT build_id FROM buildqueue WHERE builder_id IS NOT NULL)")
            connection.exec_driver_sql("DELETE FROM buildqueue WHERE builder_id IS NOT NULL")
    session.close()
    registry.clear_overrides()
    return started / elapsed if elapsed else 0.0


def run(args, size, scores):
    with ScratchDatabase(args.db_url) as bench, tempfile.TemporaryDirectory() as directory:
        context, load_seconds = load(bench, directory, size, scores)
        if args.usage:
            with context.engine.begin() as connection:
                connection.execute(sa.text(
                    "INSERT INTO archive_usage (archive_id, owner_id, seconds, stamp) "
                    "SELECT id, owner_id, 3600, now() AT TIME ZONE 'UTC' FROM archive "
                    "WHERE purpose = 'PRIMARY'"))
        with context.engine.connect() as connection:
            pending = connection.execute(sa.text(
                "SELECT count(*) FROM buildqueue WHERE builder_id IS NULL")).scalar()
        floor = floor_latency(context, args.samples)
        p50, p99 = candidate_latencies(context, args.samples)
        plan = explain(context) if args.explain else None
        rate = dispatch_rate(context, args.builders, args.passes)
        context.close()
    return {"pending": pending, "scores": scores, "usage": args.usage,
            "candidate_ms_p50": round(p50, 3),
            "candidate_ms_p99": round(p99, 3), "dispatch_per_s": round(rate, 1),
            "floor_ms": round(floor, 3),
            "load_s": round(load_seconds, 1)}, plan


def main(argv=None):
    args = parse_args(argv)
    reactor_thread = threading.Thread(target=reactor.run,
                                      kwargs={"installSignalHandlers": False}, daemon=True)
    reactor_thread.start()
    try:
        report(args)
    finally:
        reactor.callFromThread(reactor.stop)
        reactor_thread.join()


def report(args):
    for scores in args.scores:
        for size in args.sizes:
            result, plan = run(args, size, scores)
            if args.json:
                print(json.dumps(result), flush=True)
            else:
                print(f"{result['pending']:>9} pending, {scores} scores: findBuildCandidate "
                      f"p50 {result['candidate_ms_p50']:.2f} ms, "
                      f"p99 {result['candidate_ms_p99']:.2f} ms (a primary-key lookup: "
                      f"{result['floor_ms']:.2f} ms); "
                      f"{result['dispatch_per_s']:.0f} dispatches/s "
                      f"(loaded in {result['load_s']} s)", flush=True)
            if plan:
                print(plan, flush=True)


if __name__ == "__main__":
    main()
