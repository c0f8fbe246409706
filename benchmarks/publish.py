"""Benchmark the publisher: a fresh archive of many binaries, then no-op runs.

    python benchmarks/publish.py [--packages 10000] [--runs 3]
        [--db-url postgresql://postgres@127.0.0.1:5432/postgres] [--unsigned] [--json]

It creates its own PostgreSQL database (dropped after), loads the sample
world and a fresh distribution whose primary archive has one series with
one architecture, stores --packages real .deb files in the librarian
(made in memory, a few hundred bytes each) as the binaries of a hundred
builds, with PENDING publications, then measures:

* publish_s: the first publisher run, which puts every file in the pool
  and writes the seven suites with apt-ftparchive (reading every .deb),
  signs their Release files with the test key (unless --unsigned);
* noop_s: the median of --runs runs with nothing pending; each must
  write nothing (noop_writes counts the files under the archive root
  whose inode or modification time changed: 0);
* one_more_s: a run publishing one more binary into the same suite (the
  index is written again from apt-ftparchive's cache).

--json prints one JSON object: packages, publish_s, noop_s, noop_writes,
one_more_s.
"""

import argparse
import datetime
import json
import logging
import os
import statistics
import sys
import tempfile
import time

import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from buildmaster import config as configmodule  # noqa: E402
from buildmaster import schema
from buildmaster.seeds import sampledata  # noqa: E402
from buildmaster.context import FarmContext  # noqa: E402
from buildmaster.model import (  # noqa: E402
    Archive, ArchivePurpose, BinaryPackageFile, BinaryPackageFileType, BinaryPackageName,
    BinaryPackagePublishingHistory, BinaryPackageRelease, Build, BuildStatus, Component,
    Distribution, DistroArchSeries, DistroSeries, DistroSeriesStatus,
    PackagePublishingPocket, PackagePublishingStatus, SourcePackageName,
    SourcePackageRelease, UTC)
from buildmaster.publisher.run import publish  # noqa: E402
from buildmaster.testing.archives import binary_publication  # noqa: E402
from buildmaster.testing.debfiles import deb_bytes  # noqa: E402
from buildmaster.testing.fixtures import TEST_SIGNING_KEY  # noqa: E402

BUILDS = 100
START = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=10000,
                        help="binary packages in the fresh archive (default %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="no-op runs (default 3)")
    parser.add_argument("--db-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server's maintenance database")
    parser.add_argument("--unsigned", action="store_true", help="sign nothing")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args(argv)
    if args.packages < 1 or args.runs < 1:
        parser.error("--packages and --runs must be at least 1")
    if not args.db_url.startswith("postgresql"):
        parser.error("--db-url: the benchmark needs PostgreSQL")
    return args


def write_config(url, directory, signed):
    path = os.path.join(directory, "buildmaster.conf")
    with open(path, "w") as handle:
        handle.write(f"[database]\nurl = {url}\n[builddmaster]\nroot = {directory}/root\n"
                     f"[librarian]\nstorage = {directory}/librarian\n"
                     f"[archives]\nroot = {directory}/archives\n"
                     f"signing_key = {TEST_SIGNING_KEY if signed else ''}\n")
    return configmodule.load(path)


def fresh_archive(session, amd64):
    """Debian bookworm/amd64 and its empty primary archive."""
    debian = Distribution(name="debian", displayname="Debian", title="Debian GNU/Linux")
    series = DistroSeries(distribution=debian, name="bookworm", displayname="Bookworm",
                          version="12", status=DistroSeriesStatus.DEVELOPMENT)
    arch = DistroArchSeries(distroseries=series, processor=amd64, architecturetag="amd64")
    archive = Archive(distribution=debian, purpose=ArchivePurpose.PRIMARY, name="primary")
    session.add_all([debian, series, arch, archive])
    session.flush()
    return archive, arch


def fill(session, librarian, archive, arch, creator, packages, directory):
    """``packages`` binaries of BUILDS builds, each with its .deb in the
    librarian and a PENDING publication; Core inserts, a few queries."""
    main = session.scalar(sa.select(Component.id).where(Component.name == "main"))
    insert = lambda model, rows: session.execute(sa.insert(model), rows)  # noqa: E731
    insert(SourcePackageName, [{"name": f"bench{b}"} for b in range(BUILDS)])
    names = dict(session.execute(sa.select(SourcePackageName.name, SourcePackageName.id)
                                 .where(SourcePackageName.name.like("bench%"))).all())
    insert(SourcePackageRelease, [
        {"sourcepackagename_id": names[f"bench{b}"], "version": "1.0",
         "creator_id": creator.id, "maintainer_id": creator.id, "component_id": main}
        for b in range(BUILDS)])
    releases = session.scalars(sa.select(SourcePackageRelease.id).where(
        SourcePackageRelease.sourcepackagename_id.in_(names.values()))).all()
    insert(Build, [{"sourcepackagerelease_id": r, "distroarchseries_id": arch.id,
                    "archive_id": archive.id, "pocket": PackagePublishingPocket.RELEASE,
                    "processor_id": arch.processor_id, "buildstate": BuildStatus.FULLYBUILT}
                   for r in releases])
    builds = session.scalars(sa.select(Build.id).where(
        Build.archive_id == archive.id).order_by(Build.id)).all()
    insert(BinaryPackageName, [{"name": f"bench-pkg{i}"} for i in range(packages)])
    binary_names = dict(session.execute(
        sa.select(BinaryPackageName.name, BinaryPackageName.id)
        .where(BinaryPackageName.name.like("bench-pkg%"))).all())
    files = []
    for i in range(packages):
        path = os.path.join(directory, f"bench-pkg{i}_1.0_amd64.deb")
        with open(path, "wb") as handle:
            handle.write(deb_bytes(f"bench-pkg{i}", "1.0", "amd64"))
        files.append((os.path.basename(path), path, "application/x-debian-package", False))
    aliases = librarian.add_paths(session, files)
    insert(BinaryPackageRelease, [
        {"binarypackagename_id": binary_names[f"bench-pkg{i}"], "version": "1.0",
         "build_id": builds[i % BUILDS], "component_id": main}
        for i in range(packages)])
    release_ids = dict(session.execute(
        sa.select(BinaryPackageRelease.binarypackagename_id, BinaryPackageRelease.id)
        .where(BinaryPackageRelease.build_id.in_(builds))).all())
    insert(BinaryPackageFile, [
        {"binarypackagerelease_id": release_ids[binary_names[f"bench-pkg{i}"]],
         "libraryfile_id": alias.id, "filetype": BinaryPackageFileType.DEB}
        for i, alias in enumerate(aliases)])
    insert(BinaryPackagePublishingHistory, [
        {"binarypackagerelease_id": release_ids[binary_names[f"bench-pkg{i}"]],
         "archive_id": archive.id, "distroarchseries_id": arch.id, "component_id": main,
         "pocket": PackagePublishingPocket.RELEASE,
         "status": PackagePublishingStatus.PENDING}
        for i in range(packages)])
    session.commit()


def snapshot(root):
    seen = {}
    for directory, dirs, names in os.walk(root):
        for name in dirs + names:
            info = os.lstat(os.path.join(directory, name))
            seen[os.path.join(directory, name)] = (info.st_ino, info.st_mtime_ns)
    return seen


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def measure(args, bench, directory):
    schema.upgrade(bench.engine)
    config = write_config(bench.url, directory, not args.unsigned)
    context = FarmContext(config, engine=bench.engine)
    with context.sessions() as session:
        world = sampledata.load(session, context.librarian)
        session.commit()
        # The sample world's suites first, so the figures are the fresh archive's.
        publish(context, now=START)
        archive, arch = fresh_archive(session, world.amd64)
        debs = os.path.join(directory, "debs")
        os.makedirs(debs)
        fill(session, context.librarian, archive, arch, world.person["mark"],
             args.packages, debs)
        session.execute(sa.text("ANALYZE"))
        session.commit()
    report, publish_s = timed(lambda: publish(context, now=START + datetime.timedelta(1)))
    if report.published != args.packages or report.errors:
        raise SystemExit(f"publish: expected {args.packages} published, got "
                         f"{report.summary}")
    before = snapshot(config.archives.root)
    noops = []
    for run in range(args.runs):
        noop, seconds = timed(lambda: publish(
            context, now=START + datetime.timedelta(days=2, minutes=run)))
        noops.append(seconds)
        if noop.suites or noop.published:
            raise SystemExit(f"a no-op run did something: {noop.summary}")
    after = snapshot(config.archives.root)
    writes = sum(1 for path in set(before) | set(after) if before.get(path) != after.get(path))
    with context.sessions() as session:
        binary_publication(session, context.librarian, session.merge(archive),
                           session.merge(arch), "bench-extra", "1.0")
        session.commit()
    one, one_more_s = timed(lambda: publish(context, now=START + datetime.timedelta(3)))
    if one.published != 1:
        raise SystemExit(f"one more: {one.summary}")
    context.close()
    return {"packages": args.packages, "publish_s": round(publish_s, 3),
            "noop_s": round(statistics.median(noops), 4), "noop_writes": writes,
            "one_more_s": round(one_more_s, 3)}


def main(argv=None):
    args = parse_args(argv)
    # The sample world's stand-in files draw the publisher's warnings.
    logging.basicConfig(level=logging.ERROR)
    from dispatch import ScratchDatabase
    with tempfile.TemporaryDirectory(prefix="bm-publish-bench-") as directory, \
            ScratchDatabase(args.db_url) as bench:
        figures = measure(args, bench, directory)
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{figures['packages']} binaries: first publication "
              f"{figures['publish_s']:.2f} s, no-op run {figures['noop_s'] * 1000:.1f} ms "
              f"({figures['noop_writes']} files written), one more binary "
              f"{figures['one_more_s']:.2f} s")


if __name__ == "__main__":
    main()
