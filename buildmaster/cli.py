"""The operator's command line: ``buildmaster [--config FILE] COMMAND``.

Every command reports bad arguments, unknown ids and configuration
problems as one line on stderr and exits with status 2.
"""

import argparse
import sys

from buildmaster import config as configmodule
from buildmaster import sampledata, schema
from buildmaster.context import FarmContext


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
    if schema.current_revision(context.engine) != schema.head_revision():
        raise CommandError("the database schema is not up to date: run 'buildmaster upgrade'")


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
        config = configmodule.load(configmodule.config_path_from_environment(args.config))
        context = FarmContext(config)
        try:
            args.handler(context, args)
        finally:
            context.close()
    except (configmodule.ConfigError, CommandError) as error:
        print(f"buildmaster: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the database gone away, and the like
        if not _is_database_error(error):
            raise
        print(f"buildmaster: error: database: {_first_line(error)}", file=sys.stderr)
        return 2
    return 0


def _is_database_error(error):
    import sqlalchemy.exc
    return isinstance(error, sqlalchemy.exc.SQLAlchemyError)


def _first_line(error):
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


if __name__ == "__main__":
    # Run as ``python -m buildmaster.cli``: the command modules register
    # with the module ``buildmaster.cli``, not with this ``__main__`` copy.
    from buildmaster.cli import main as imported_main
    sys.exit(imported_main())
