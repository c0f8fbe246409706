"""``buildmaster queue-builder``, ``scan`` and ``dispatch`` run one job by hand."""

import subprocess
import sys

import sqlalchemy as sa

from buildmaster.model import rows
from buildmaster.model import Build, Builder, BuildQueue, BuildStatus
from tests.clihelpers import cli  # noqa: F401

UNREACHABLE = "http://127.0.0.1:1/"


def point_builders_nowhere(session):
    for builder in session.scalars(sa.select(Builder)):
        builder.url = UNREACHABLE
    session.commit()


def test_queue_builder_creates_the_missing_build(cli, session, sample):
    release = rows.source_release(session, "hello", "2.0", sample.person["mark"])
    rows.publish_source(session, release, sample.primary, sample.hoary)
    session.commit()

    result = cli.process("queue-builder")
    assert result.status == 0, result.err
    assert result.out.strip() == "Queue builder finished; 1 build(s) created."
    build = session.scalars(sa.select(Build).where(
        Build.sourcepackagerelease_id == release.id)).one()
    assert build.buildstate == BuildStatus.NEEDSBUILD
    assert build.buildqueue_record.builder is None

    again = cli.process("queue-builder")
    assert again.out.strip() == "Queue builder finished; 0 build(s) created."


def test_scan_counts_unreachable_builders_without_blaming_them(cli, session, sample):
    point_builders_nowhere(session)

    result = cli.process("scan")
    assert result.status == 0, result.err
    assert result.out.strip() == "Scan finished; 2 builder(s) could not be scanned."
    assert "Scan of bob failed (1 of 5 in a row)" in result.err
    build = session.get(Build, 8)
    assert build.buildstate == BuildStatus.BUILDING
    assert build.buildqueue_record.builder.name == "bob"


def test_dispatch_to_an_unreachable_builder_leaves_the_job_pending(cli, session, sample):
    point_builders_nowhere(session)

    result = cli.process("dispatch")
    assert result.status == 0, result.err
    assert result.out.strip() == "Dispatch finished; 0 job(s) started."
    entry = session.get(BuildQueue, 2)
    assert entry.builder is None
    assert entry.build.buildstate == BuildStatus.NEEDSBUILD
    frog = session.scalars(sa.select(Builder).filter_by(name="frog")).one()
    assert "failed" in frog.failnotes


def test_jobs_refuse_an_unmigrated_database(tmp_path):
    config = tmp_path / "farm.conf"
    config.write_text(f"[database]\nurl = sqlite:///{tmp_path}/empty.db\n")
    done = subprocess.run([sys.executable, "-m", "buildmaster.cli", "--config",
                           str(config), "scan"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert "run 'buildmaster upgrade'" in done.stderr
