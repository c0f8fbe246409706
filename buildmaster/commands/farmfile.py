"""``buildmaster apply FILE`` and ``buildmaster export``: the farm as a file.

``apply`` reads the file (``-`` for standard input), prints the plan and
makes it in one transaction, recorded in the operators' journal; a file
with problems is refused whole, one line per problem, and nothing is
applied.  ``export`` prints the farm in the same form.
"""

import os
import sys

from buildmaster.commands.common import arg, farm_session, operator_command
from buildmaster.commands.registry import CommandError
from buildmaster.farm import changes, reader, state, writer
from buildmaster.farm.plan import make_plan
from buildmaster.model import DistroSeries
from buildmaster.operators import journal


@operator_command(
    "apply",
    arg("file", help="the farm file (TOML), or - for standard input"),
    arg("--dry-run", action="store_true", help="show the plan and change nothing"),
    arg("--prune", action="store_true",
        help="retire what the file no longer names: a series becomes OBSOLETE, an "
             "archive or a builder is disabled (nothing is ever deleted)"))
def apply(context, args):
    desired = _read(args.file)
    with farm_session(context) as session:
        plan = make_plan(state.current(session), desired, prune=args.prune)
        if not plan.writes:
            _say_plan(plan, dry_run=True)
            print(f"Nothing to do: the farm already is what {_named(args.file)} says.")
            return
        _say_plan(plan, args.dry_run)
        if args.dry_run:
            session.rollback()
            print("Dry run: nothing applied.")
            return
        base = os.getcwd() if args.file == "-" else os.path.dirname(os.path.abspath(args.file))
        try:
            changes.apply_plan(session, plan, desired, base)
        except changes.Refused as refused:
            session.rollback()
            raise CommandError("\n".join(refused.reasons)) from None
        for line in _chrootless(session, desired):
            print(line)
        journal.record(session, f"Applied {_named(args.file)}: "
                                f"{plan.lines()[-1].removeprefix('Plan: ')}")
    print("Applied.")


@operator_command("export")
def export(context, args):
    with farm_session(context) as session:
        text = writer.write(state.current(session))
    sys.stdout.write(text)


def _read(filename):
    """The canonical farm the file says; every problem is one line, exit 2."""
    try:
        if filename == "-":
            text, base = sys.stdin.read(), os.getcwd()
        else:
            with open(filename, encoding="utf-8") as handle:
                text = handle.read()
            base = os.path.dirname(os.path.abspath(filename))
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"{filename}: cannot be read: {error}") from None
    try:
        return reader.read(text, _named(filename), base)
    except reader.FarmFileError as error:
        raise CommandError("\n".join(error.problems)) from None


def _named(filename):
    return "standard input" if filename == "-" else filename


def _say_plan(plan, dry_run):
    for line in plan.lines():
        print(line)


def _chrootless(session, desired):
    """A note for each architecture the file names that has no chroot yet."""
    notes = []
    for key, fields in desired["series"].items():
        if fields["status"] == "OBSOLETE":
            continue
        distribution, _, name = key.partition("/")
        series = next(s for s in session.query(DistroSeries).filter_by(name=name)
                      if s.distribution.name == distribution)
        for arch in series.architectures:
            if arch.official and arch.chroot is None:
                notes.append(f"note: {key}/{arch.architecturetag} has no chroot yet, so "
                             f"nothing builds there: buildmaster chroot make "
                             f"{key}/{arch.architecturetag}")
    return notes
