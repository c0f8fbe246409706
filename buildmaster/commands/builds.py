"""``buildmaster builds``, ``retry BUILD_ID`` and ``log BUILD_ID``."""

import gzip
import io
import os
import shutil
import sys

import sqlalchemy as sa

from buildmaster.operators import journal, lookup, output
from buildmaster.bugs import upstream
from buildmaster.commands.registry import CommandError
from buildmaster.commands.common import (
    JSON, arg, farm_session, json_option, operator_command)
from buildmaster.model import (
    Build, BuildStatus, SourcePackageName, SourcePackageRelease)

COLUMNS = [("ID", "id"), ("SOURCE", "source"), ("VERSION", "version"),
           ("ARCH", "arch"), ("SERIES", "series"), ("ARCHIVE", "archive"),
           ("POCKET", "pocket"), ("STATE", "state"), ("COLOUR", "colour"),
           ("BUILDER", "builder")]
GZIP_MAGIC = b"\x1f\x8b"


def build_state(name):
    try:
        return BuildStatus[name.upper()]
    except KeyError:
        known = ", ".join(state.name for state in BuildStatus)
        raise CommandError(f"no build state named {name!r} (known: {known})") from None


def positive(text):
    """An argparse type: a whole number of at least 1."""
    number = int(text)
    if number < 1:
        raise ValueError(text)
    return number


@operator_command(
    "builds",
    arg("--state", help="only builds in this state, e.g. FAILEDTOBUILD"),
    arg("--source", help="only builds of this source package"),
    arg("--limit", type=positive, default=20, help="at most this many (default 20)"),
    JSON)
def builds(context, args):
    query = sa.select(Build).order_by(Build.id.desc()).limit(args.limit)
    if args.state:
        query = query.where(Build.buildstate == build_state(args.state))
    if args.source:
        query = query.join(SourcePackageRelease).join(SourcePackageName).where(
            SourcePackageName.name == args.source)
    with farm_session(context) as session:
        objects = [output.build_object(build, context.config)
                   for build in session.scalars(query)]
        upstream.add_upstream_bugs(session, objects)
    output.emit(objects, COLUMNS, args.json, empty="No builds.")


@operator_command("retry", arg("build_id", type=int, metavar="BUILD_ID"),
                  json_option("print what was done as a JSON object"))
def retry(context, args):
    from buildmaster.commands.operating import report
    from buildmaster.web import actions
    with farm_session(context) as session:
        build = lookup.build(session, args.build_id)
        # Journalled (for the daemon's log) in the retry's own commit.
        journal.record(session, f"Build {build.id} ({build.title}) was "
                                f"{build.buildstate.name}; now NEEDSBUILD.")
        try:
            was, entry = actions.retry(session, args.build_id,
                                       by=journal.operator_name())
        except actions.Refused as refused:
            raise CommandError(str(refused)) from None
        result = {"build": build.id, "was": was.name, "state": "NEEDSBUILD",
                  "job": entry.id, "score": entry.lastscore}
        what = (f"Build {entry.build.id} ({entry.build.title}) was {was.name}; "
                f"now NEEDSBUILD as job {entry.id} with score {entry.lastscore}.")
    report(args, result, what)


@operator_command("log", arg("build_id", type=int, metavar="BUILD_ID"))
def log(context, args):
    with farm_session(context) as session:
        build = lookup.build(session, args.build_id)
        alias = build.buildlog
        if alias is None:
            raise CommandError(f"build {build.id} ({build.title}) has no build log")
        try:
            stored = context.librarian.open(alias)
        except FileNotFoundError:
            raise CommandError(f"librarian file {alias.id} ({alias.filename}) "
                               "is missing from the store") from None
    with stored:
        stream_log(stored, alias)


def stream_log(stored, alias):
    """Copy the stored log to stdout in chunks, gunzipping a gzipped one.

    A reader that stops early (``buildmaster log 8 | head``) ends the copy
    quietly.  A stdout without a byte stream (a doctest's) gets text."""
    gzipped = stored.peek(2)[:2] == GZIP_MAGIC
    source = gzip.GzipFile(fileobj=stored, mode="rb") if gzipped else stored
    sys.stdout.flush()
    target = getattr(sys.stdout, "buffer", None)
    if target is None:
        source = io.TextIOWrapper(source, encoding="utf-8", errors="replace")
        target = sys.stdout
    try:
        shutil.copyfileobj(source, target)
        target.flush()
    except BrokenPipeError:
        # Else Python fails again flushing stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (gzip.BadGzipFile, EOFError) as error:
        raise CommandError(f"librarian file {alias.id} ({alias.filename}) "
                           f"is not valid gzip: {error}") from None
