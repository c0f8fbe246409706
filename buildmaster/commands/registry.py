"""The table of operator commands ``buildmaster.cli`` builds its parser
from, the decorators that fill it, and the error a command reports."""


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
