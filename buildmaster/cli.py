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

The command line is parsed twice: once with the index of commands
alone, to learn which command was asked for (``--help`` ends there,
having imported no command, nor SQLAlchemy or Twisted), then with that
command's arguments, which means importing its modules.  SQLAlchemy
and the model come in only once the command is known to need the
database, and Twisted only with a command that runs a farm job.
"""

import argparse
import os
import sys

from buildmaster.commands import registry
from buildmaster.commands.registry import CommandError


def require_database(config):
    """Refuse a SQLite database file that does not exist (connecting would
    create an empty one)."""
    from buildmaster.db.engine import sqlite_path
    path = sqlite_path(config.database.url)
    if path is not None and not os.path.exists(path):
        source = f"from {config.path}" if config.path else "the default: no --config " \
            "or BUILDMASTER_CONFIG given"
        raise CommandError(
            f"no database at {path} ({source}): name your farm's configuration with "
            "--config FILE or BUILDMASTER_CONFIG, or run 'buildmaster upgrade' to "
            "start a new farm there")


def build_parser(chosen=None):
    """The command line's parser.  Only the command named ``chosen`` gets
    its arguments (its modules are imported for them); the others get
    none, not even ``--help``, so that they leave their arguments unparsed
    for the second pass (``parse``)."""
    parser = argparse.ArgumentParser(
        prog="buildmaster", description="Operate the buildmaster build farm.")
    parser.add_argument("--config", help="configuration file (default: $BUILDMASTER_CONFIG)")
    parser.add_argument("--json", action="store_true",
                        help="listings print a JSON list instead of a table")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, entry in registry.INDEX.items():
        sub = subparsers.add_parser(name, help=entry.help_text, aliases=list(entry.aliases),
                                    description=entry.help_text, add_help=name == chosen)
        if name == chosen:
            handler, *adders = registry.load(name)
            sub.set_defaults(handler=handler, creates=entry.creates)
            for add in adders:
                add(sub)
    return parser


def parse(argv=None):
    """The command line's arguments, the chosen command's handler among
    them.  Exits, as argparse does, on ``--help`` and on a usage error."""
    found, _ = build_parser().parse_known_args(argv)
    return build_parser(registry.canonical_name(found.command)).parse_args(argv)


def main(argv=None):
    args = parse(argv)
    from buildmaster.config import ConfigError
    try:
        _run(args)
        sys.stdout.flush()
    except (ConfigError, CommandError) as error:
        # A command refusing several things (a farm file's problems) says
        # each on a line of its own.
        for line in str(error).splitlines() or [""]:
            print(f"buildmaster: error: {line}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader stopped early; Python would fail again flushing
        # stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _run(args):
    """Run the command on the farm the configuration names."""
    import sqlalchemy.exc

    from buildmaster import config as configmodule
    from buildmaster.commands.common import CommandContext
    from buildmaster.db.engine import display_url
    config = configmodule.load(configmodule.config_path_from_environment(args.config),
                               check_dirs=args.creates)
    if not args.creates:
        require_database(config)
    try:
        context = CommandContext(config)
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
    sys.exit(main())
