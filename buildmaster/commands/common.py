"""What the command modules share: the context a command works on,
declared arguments, subcommand groups, the schema check, and a session
whose misses become the command's one-line error.

Every command imports this module, so it imports only what every
command needs (SQLAlchemy and the model; not Twisted, not Alembic).
"""

import argparse
import contextlib

from buildmaster.commands.registry import CommandError, add_arguments, command
from buildmaster.db import revisions
from buildmaster.db.engine import display_url, make_engine, make_session_factory
from buildmaster.librarian.backends import make_storage
from buildmaster.operators import lookup


class CommandContext:
    """What a command works on: the configuration, the database engine
    and its sessions, and the librarian store; ``farm``, the running
    farm's FarmContext (on Twisted's reactor) that the periodic jobs
    take, is made only for a command that asks for it."""

    def __init__(self, config):
        self.config = config
        self.engine = make_engine(config.database.url)
        self.sessions = make_session_factory(self.engine)
        self.librarian = make_storage(config.librarian)
        self.schema_checked = False
        self._farm = None

    @property
    def farm(self):
        """The farm's FarmContext on this engine, made when first asked for
        (it brings Twisted and its reactor)."""
        if self._farm is None:
            from buildmaster.context import FarmContext
            self._farm = FarmContext(self.config, engine=self.engine)
        return self._farm

    def close(self):
        if self._farm is not None:
            self._farm.close()
        self.engine.dispose()


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


def operator_command(name, *arguments):
    """Define ``function(context, args)`` as ``buildmaster NAME``, which
    the index (buildmaster.commands.registry.INDEX) lists."""
    def register(function):
        command(name)(function)
        add_arguments(name)(lambda parser: _add_all(parser, arguments))
        return function
    return register


class Group:
    """``buildmaster NAME SUBCOMMAND ...``: a command made of subcommands,
    which the index lists by NAME."""

    def __init__(self, name):
        self.subcommands = []
        # The chosen subcommand's parser sets the handler.
        command(name)(None)
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
    if context.schema_checked:
        return
    current, head = revisions.current_revision(context.engine), revisions.head_revision()
    if current != head:
        raise CommandError(
            f"database {display_url(context.config.database.url)} has schema revision "
            f"{current or 'none'}, not {head}: run 'buildmaster upgrade'")
    context.schema_checked = True


@contextlib.contextmanager
def farm_session(context, refusals=()):
    """A session on the migrated database, committed if the block succeeds.

    A name or id that matches nothing, or any of the exception classes
    ``refusals`` (a refused upload, say), becomes the command's one-line
    error."""
    require_schema(context)
    with context.sessions() as session:
        try:
            yield session
        except (lookup.NotFound, *refusals) as error:
            raise CommandError(str(error)) from None
        session.commit()
