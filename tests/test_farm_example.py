"""farm.toml.example, the farm file the repository ships and ``make run``
applies: it reads as shipped, shows every kind of table, and filled in as
the demo fills it (buildmaster/demo/farmfile.py) it applies to an empty
database, and to the sample world, with nothing to do the second time."""

import re

import pytest
import sqlalchemy as sa

from buildmaster.demo import farm as demo
from buildmaster.demo import farmfile
from buildmaster.farm import reader, writer
from buildmaster.farm.spec import DEFAULTS, KINDS, REQUIRED
from buildmaster.model import Build, BuildStatus, Builder
from tests.clihelpers import cli  # noqa: F401
from tests.test_farm_file import counted_writes, empty_cli  # noqa: F401

SLAVES = {"bob": "http://127.0.0.1:8221/", "frog": "http://127.0.0.1:9221/"}


def test_the_example_reads_as_shipped_with_every_kind_of_table():
    farm = farmfile.read_example()
    assert all(farm[kind] for kind in KINDS), [kind for kind in KINDS if not farm[kind]]
    assert [key for key, archive in farm["archive"].items()
            if archive["private"] and archive["reference"].startswith("~")] == \
        ["acme/~carol/embargoed"]
    assert set(farm["builder"]) == set(farmfile.BUILDERS)
    assert farmfile.upload_target(farm) == ("acme", "rocket", "bookworm")
    # Every key of every table is there, set or commented out.
    text = open(farmfile.EXAMPLE, encoding="utf-8").read()
    missing = [f"{kind}.{key}" for kind in KINDS for key in (*REQUIRED[kind], *DEFAULTS[kind])
               if not re.search(rf"^(# )?{key} = ", text, re.MULTILINE)]
    assert missing == []


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_the_demos_copy_is_the_example_filled_in(tmp_path, arch):
    path, farm = farmfile.write_farm_file(str(tmp_path), arch, SLAVES)
    text = open(path, encoding="utf-8").read()
    assert reader.read(text, "farm.toml", str(tmp_path)) == farm
    assert text.startswith("# Written by 'make run'")
    assert farm["series"]["acme/rocket"]["architectures"] == {arch: arch}
    assert farm["series"]["acme/rocket"]["nominated_arch_indep"] == arch
    assert {name: (fields["url"], fields["processor"])
            for name, fields in farm["builder"].items()} == {
        name: (url, arch) for name, url in SLAVES.items()}
    # Nothing else changed.
    example = farmfile.read_example()
    for kind in ("distribution", "person", "archive"):
        assert farm[kind] == example[kind]
    assert writer.write(farm).count("[[builder]]") == 2


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_the_demos_copy_applies_to_an_empty_database_and_again_does_nothing(
        empty_cli, tmp_path, session, arch):  # noqa: F811
    path, _ = farmfile.write_farm_file(str(tmp_path), arch, SLAVES)
    applied = empty_cli("apply", path)
    assert applied.status == 0, applied.err
    lines = applied.out.splitlines()
    assert f"+ create series acme/rocket: 1.0 DEVELOPMENT, {arch} ({arch})" in lines
    assert "+ create archive acme/~carol/embargoed (private; its buildd secret stays in " \
           "the database)" in lines
    assert f"+ create builder bob: http://127.0.0.1:8221/ ({arch})" in lines
    assert lines[-2:] == [
        f"note: acme/rocket/{arch} has no chroot yet, so nothing builds there: "
        f"buildmaster chroot make acme/rocket/{arch}",
        "Applied."]
    with counted_writes() as writes:
        again = empty_cli("apply", path)
    assert again.status == 0, again.err
    assert again.out.splitlines()[-1] == \
        f"Nothing to do: the farm already is what {path} says."
    assert writes == []
    assert empty_cli("series", "list").out.splitlines()[1].split()[:3] == [
        "acme/rocket", "1.0", "DEVELOPMENT"]


def test_the_example_as_shipped_applies_to_an_empty_database(empty_cli):  # noqa: F811
    applied = empty_cli("apply", farmfile.EXAMPLE)
    assert applied.status == 0, applied.err
    assert "Plan: 9 to create, 0 to change, 0 to retire, 0 left alone." in applied.out
    assert "Nothing to do" in empty_cli("apply", farmfile.EXAMPLE).out


def test_the_demo_applies_it_over_the_sample_world(cli, session, sample, tmp_path):  # noqa: F811
    # Build 8 runs on bob in the sample world: the demo gives it back to
    # the queue first, or apply would refuse to move bob to another processor.
    path, _ = farmfile.write_farm_file(str(tmp_path), "arm64", SLAVES)
    refused = cli("apply", path)
    assert refused.status == 2
    assert "builder bob: cannot change its processor while it builds build 8" in refused.err
    for builder in session.scalars(sa.select(Builder)):
        demo.release_job(builder)
    session.commit()
    applied = cli("apply", path)
    assert applied.status == 0, applied.err
    # The sample world is left alone: listed, never retired.
    assert "? series ubuntu/hoary is not in the file (--prune would retire it (made " \
           "OBSOLETE))" in applied.out
    assert session.get(Build, 8).buildstate == BuildStatus.NEEDSBUILD
    assert {b.name: (b.url, b.processor.name) for b in session.scalars(sa.select(Builder))} \
        == {name: (url, "arm64") for name, url in SLAVES.items()}
    again = cli("apply", path)
    assert again.out.splitlines()[-1] == \
        f"Nothing to do: the farm already is what {path} says."
