"""What the command modules share: declared arguments, subcommand groups,
the schema check, and a session whose misses become the command's
one-line error."""

import argparse
import contextlib

from buildmaster import schema
from buildmaster.commands.registry import CommandError, add_arguments, command
from buildmaster.db.engine import display_url
from buildmaster.operators import lookup
from buildmaster.uploads.sources import SourceUploadError


def arg(*names, **options):
    """One argument of a command, as ``parser.add_argument`` takes it."""
    return names, options


def json_option(help_text):
    """``--json`` after the command too (``buildmaster builds --json``);
    SUPPRESS keeps the global flag's value when it is not given here."""
    return arg("--json", action="store_true", default=argparse.SUPPRESS, help=help_text)


JSON = json_option("print a JSON list instead of a table")


def _add_all(parser, arguments):
    for names, options in arguments:
        parser.add_argument(*names, **options)


def operator_command(name, help_text, *arguments):
    """Register ``function(context, args)`` as ``buildmaster NAME``."""
    def register(function):
        command(name, help_text)(function)
        add_arguments(name)(lambda parser: _add_all(parser, arguments))
        return function
    return register


class Group:
    """``buildmaster NAME SUBCOMMAND ...``: a command made of subcommands."""

    def __init__(self, name, help_text):
        self.subcommands = []
        # The chosen subcommand's parser sets the handler.
        command(name, help_text)(None)
        add_arguments(name)(self._add_parsers)

    def subcommand(self, name, help_text, *arguments):
        def register(function):
            self.subcommands.append((name, help_text, arguments, function))
            return function
        return register

    def _add_parsers(self, parser):
        nested = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND",
                                       required=True)
        for name, help_text, arguments, function in self.subcommands:
            sub = nested.add_parser(name, help=help_text, description=help_text)
            sub.set_defaults(handler=function)
            _add_all(sub, arguments)


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


@contextlib.contextmanager
def farm_session(context):
    """A session on the migrated database, committed if the block succeeds.

    A name or id that matches nothing, or a refused upload, becomes the
    command's one-line error."""
    require_schema(context)
    with context.sessions() as session:
        try:
            yield session
        except (lookup.NotFound, SourceUploadError) as error:
            raise CommandError(str(error)) from None
        session.commit()
