"""The operator's command line: ``buildmaster [--config FILE] COMMAND``.

Every command reports bad arguments, unknown ids, configuration and
database problems as one line on stderr (a database named, its password
hidden) and exits with status 2.  A listing piped into a reader that
stops early (``buildmaster builds | head -1``) ends quietly.

Only ``upgrade`` creates a database: every other command refuses a
SQLite file that is not there rather than make an empty farm beside the
one the operator meant, and reading commands create no file or
directory at all (the configuration's directories are made by whatever
first writes into them).
"""

import argparse
import os
import sys

from buildmaster import config as configmodule
from buildmaster import schema
from buildmaster.seeds import sampledata
from buildmaster.context import FarmContext
from buildmaster.db.engine import display_url, sqlite_path


class CommandError(Exception):
    """A problem the operator can fix; printed as one line, exit status 2."""


COMMANDS = {}


def command(name, help_text, aliases=()):
    """Register ``function(context, args)`` as a subcommand."""
    def register(function):
        COMMANDS[name] = (function, help_text, aliases)
        return function
    return register


def add_arguments(name):
    """Decorate a function that adds a subcommand's arguments to its parser."""
    def register(function):
        COMMANDS[name] = COMMANDS[name] + (function,)
        return function
    return register


@command("upgrade", "create or upgrade the database schema", aliases=("initdb",))
def upgrade(context, args):
    before = schema.current_revision(context.engine)
    schema.upgrade(context.engine)
    after = schema.current_revision(context.engine)
    if before == after:
        print(f"Database is up to date at revision {after}.")
    else:
        print(f"Database upgraded from {before or 'empty'} to revision {after}.")


@command("sampledata", "load the sample world of the doctests")
def load_sampledata(context, args):
    require_schema(context)
    with context.sessions() as session:
        try:
            sampledata.load(session, context.librarian)
        except sampledata.AlreadyLoaded:
            print("Sample data is already there; nothing to do.")
            return
        session.commit()
    print("Sample data loaded.")


def require_schema(context):
    """CommandError unless the database is at the newest revision (asked
    once per command, however many sessions it opens)."""
    if getattr(context, "schema_checked", False):
        return
    current, head = schema.current_revision(context.engine), schema.head_revision()
    if current != head:
        raise CommandError(
            f"database {display_url(context.config.database.url)} has schema revision "
            f"{current or 'none'}, not {head}: run 'buildmaster upgrade'")
    context.schema_checked = True


def require_database(config):
    """Refuse a SQLite database file that does not exist (connecting would
    create an empty one)."""
    path = sqlite_path(config.database.url)
    if path is not None and not os.path.exists(path):
        source = f"from {config.path}" if config.path else "the default: no --config " \
            "or BUILDMASTER_CONFIG given"
        raise CommandError(
            f"no database at {path} ({source}): name your farm's configuration with "
            "--config FILE or BUILDMASTER_CONFIG, or run 'buildmaster upgrade' to "
            "start a new farm there")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="buildmaster", description="Operate the buildmaster build farm.")
    parser.add_argument("--config", help="configuration file (default: $BUILDMASTER_CONFIG)")
    parser.add_argument("--json", action="store_true",
                        help="listings print a JSON list instead of a table")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, entry in COMMANDS.items():
        function, help_text, aliases = entry[:3]
        sub = subparsers.add_parser(name, help=help_text, aliases=list(aliases),
                                    description=help_text)
        sub.set_defaults(handler=function)
        for add in entry[3:]:
            add(sub)
    return parser


def _load_commands():
    """Import the modules that register further commands."""
    import buildmaster.commands  # noqa: F401


def main(argv=None):
    _load_commands()
    args = build_parser().parse_args(argv)
    try:
        _run(args)
        sys.stdout.flush()
    except (configmodule.ConfigError, CommandError) as error:
        print(f"buildmaster: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader stopped early; Python would fail again flushing
        # stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _run(args):
    """Run the command on the farm the configuration names."""
    import sqlalchemy.exc
    creates = args.handler is upgrade
    config = configmodule.load(configmodule.config_path_from_environment(args.config),
                               check_dirs=creates)
    if not creates:
        require_database(config)
    try:
        context = FarmContext(config)
        try:
            args.handler(context, args)
        finally:
            context.close()
    except sqlalchemy.exc.SQLAlchemyError as error:  # unreachable, gone away...
        raise CommandError(f"database {display_url(config.database.url)}: "
                           f"{_first_line(error)}") from None
    except OSError as error:  # a directory that cannot be written, say
        if isinstance(error, BrokenPipeError) or error.strerror is None:
            raise
        where = f": {error.filename}" if error.filename else ""
        raise CommandError(f"{error.strerror}{where}") from None


def _first_line(error):
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


if __name__ == "__main__":
    # Run as ``python -m buildmaster.cli``: the command modules register
    # with the module ``buildmaster.cli``, not with this ``__main__`` copy.
    from buildmaster.cli import main as imported_main
    sys.exit(imported_main())
