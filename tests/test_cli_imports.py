"""``buildmaster`` imports what the command asked for uses, and nothing
else: the index of commands lists them all, and a command's modules are
imported only when it runs (benchmarks/cli.py times the result)."""

import json
import os
import subprocess
import sys

import pytest

from buildmaster.cli import main
from buildmaster.commands import registry
from tests.clihelpers import cli  # noqa: F401

# What a command that only reads the database never needs: the reactor,
# the web, the sample world, the migrations' machinery.
NOT_FOR_A_LISTING = ("twisted", "buildmaster.seeds", "alembic", "jinja2", "mako")


# As the console script runs ``buildmaster``, then writes down every
# module the process imported.
PROBE = """
import json, sys
from buildmaster.cli import main
modules_file, sys.argv[1:] = sys.argv[1], sys.argv[2:]
try:
    status = main()
except SystemExit as exit:
    status = exit.code
with open(modules_file, "w") as listing:
    json.dump(sorted(sys.modules), listing)
sys.exit(status)
"""


def run_importing(*argv, cwd):
    """The finished ``buildmaster ARGV`` and the names of the modules it imported."""
    modules_file = os.path.join(cwd, "modules.json")
    done = subprocess.run([sys.executable, "-c", PROBE, modules_file, *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    with open(modules_file, encoding="utf-8") as listing:
        return done, set(json.load(listing))


def under(modules, *prefixes):
    return sorted(name for name in modules
                  if any(name == prefix or name.startswith(prefix + ".")
                         for prefix in prefixes))


def test_help_imports_no_command_nor_the_database_nor_twisted(tmp_path):
    done, modules = run_importing("--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "queue-builder" in done.stdout and "upgrade (initdb)" in done.stdout
    assert under(modules, "twisted", "sqlalchemy", "alembic", "buildmaster.model",
                 "buildmaster.config") == []
    assert under(modules, "buildmaster.commands") == [
        "buildmaster.commands", "buildmaster.commands.registry"]


def test_the_queue_needs_the_model_but_not_the_reactor_nor_the_sample_world(cli):
    cli.session.rollback()
    done, modules = run_importing("--config", cli.config.path, "queue",
                                  cwd=os.path.dirname(cli.config.path))
    assert done.returncode == 0, done.stderr
    assert "foobar" in done.stdout  # the sample world's pending build was listed
    assert "buildmaster.model" in modules and "sqlalchemy.orm" in modules
    assert under(modules, "twisted.internet.reactor", "buildmaster.seeds.sampledata",
                 *NOT_FOR_A_LISTING) == []
    assert under(modules, "buildmaster.commands") == [
        "buildmaster.commands", "buildmaster.commands.common",
        "buildmaster.commands.queue", "buildmaster.commands.registry"]


def test_listing_builds_takes_no_reactor_nor_sample_world(cli):
    cli.session.rollback()
    done, modules = run_importing("--config", cli.config.path, "--json", "builds",
                                  cwd=os.path.dirname(cli.config.path))
    assert done.returncode == 0, done.stderr
    assert '"source": "foobar"' in done.stdout
    assert under(modules, "twisted.internet.reactor", "buildmaster.seeds",
                 "alembic") == []


@pytest.mark.parametrize("name", list(registry.INDEX))
def test_every_indexed_command_is_defined_by_its_modules(name, capsys):
    """``buildmaster NAME --help`` imports NAME's modules and shows its own
    arguments, under the help the index gives it."""
    with pytest.raises(SystemExit) as exit:
        main([name, "--help"])
    assert exit.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"usage: buildmaster {name} [-h]")
    assert " ".join(registry.INDEX[name].help_text.split()) in " ".join(shown.split())
    assert registry.DEFINED[name][0] is not None or "SUBCOMMAND" in shown


def test_no_module_defines_a_command_the_index_does_not_list():
    for name in registry.INDEX:
        registry.load(name)
    assert set(registry.DEFINED) == set(registry.INDEX)
    with pytest.raises(LookupError, match="'frobnicate' is missing from the index"):
        registry.command("frobnicate")(lambda context, args: None)


def test_an_alias_runs_its_command(capsys):
    with pytest.raises(SystemExit):
        main(["initdb", "--help"])
    assert capsys.readouterr().out.startswith("usage: buildmaster upgrade [-h]")
    assert registry.canonical_name("initdb") == "upgrade"
