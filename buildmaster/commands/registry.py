"""The index of operator commands, the decorators with which a command's
module defines it, and the error a command reports.

The index is all ``buildmaster`` reads to list the commands (``--help``)
and to find which one was asked for; the chosen command's modules are
imported only then (``load``).  So ``buildmaster --help`` imports no
command module, and a command imports what it uses and nothing that
another command uses (benchmarks/cli.py times them;
tests/test_cli_imports.py says what each may not import).  A module of
``buildmaster.commands`` defines its commands when imported: each
handler ``function(context, args)`` and the functions that add its
arguments to its parser.
"""

import importlib


class CommandError(Exception):
    """A problem the operator can fix; printed as one line, exit status 2."""


class Entry:
    """A command as the index lists it: what it does (its help), the modules
    of ``buildmaster.commands`` that define it, its aliases, and whether it
    may create the database (only ``upgrade`` may)."""

    def __init__(self, help_text, modules, aliases=(), creates=False):
        self.help_text, self.modules = help_text, tuple(modules)
        self.aliases, self.creates = tuple(aliases), creates


# In the order ``buildmaster --help`` lists them.
INDEX = {
    "upgrade": Entry("create or upgrade the database schema", ["database"],
                     aliases=["initdb"], creates=True),
    "sampledata": Entry("load the sample world of the doctests", ["database"]),
    "publications": Entry("list source and binary publications, newest first",
                          ["archives"]),
    "archive": Entry("look at the farm's archives", ["archives", "distributions"]),
    "checkwatches": Entry("check the due watches on external bug trackers once; "
                          "log on stderr", ["bugs"]),
    "bug": Entry("failed builds and the upstream bugs they wait on", ["bugs"]),
    "builder": Entry("add, list, change, remove, enable and disable builders",
                     ["builders"]),
    "builds": Entry("list recent builds, newest first", ["builds"]),
    "retry": Entry("queue a failed build again", ["builds"]),
    "log": Entry("print a build's log", ["builds"]),
    "chroot": Entry("manage the chroot tarballs builds run in", ["chroots"]),
    "distribution": Entry("look at the farm's distributions", ["distributions"]),
    "series": Entry("look at the series of the farm's distributions", ["distributions"]),
    "apply": Entry("make the farm what a farm file says, showing the plan first",
                   ["farmfile"]),
    "export": Entry("print the farm as a farm file (buildmaster apply reads it)",
                    ["farmfile"]),
    "scan": Entry("scan every builder once: log tails, results, rescues", ["farmjobs"]),
    "queue-builder": Entry("create the builds that published sources call for",
                           ["farmjobs"]),
    "dispatch": Entry("give every idle builder its next job, once", ["farmjobs"]),
    "publish": Entry("publish every archive's pending packages once, and retry the "
                     "dependency waits that satisfies", ["farmjobs"]),
    "cancel": Entry("cancel a build: a pending one leaves the queue, a dependency wait "
                    "ends, a running one is aborted on its slave; it ends CANCELLED",
                    ["operating"]),
    "queue": Entry("list the pending jobs, highest score first, and why each waits",
                   ["queue"]),
    "rescore": Entry("recompute the score of every pending job, or set one build's",
                     ["rescore"]),
    "report": Entry("how the farm did: builds, failure rates, flaky builds, builders "
                    "out, queue wait and build time", ["report"]),
    "token": Entry("create, list and revoke the web API's bearer tokens", ["tokens"]),
    "librarian": Entry("copy the librarian's disk store into Swift, and remove the "
                       "files no row names", ["librarian"]),
    "upload": Entry("register a source package (.dsc and its files) for building",
                    ["uploads"]),
    "uploads": Entry("list uploads, newest first: dput's, accepted or not, and "
                     "'buildmaster upload's", ["uploads"]),
}

# Filled as the modules are imported: a command's name -> [its handler,
# then the functions adding its arguments].
DEFINED = {}


def canonical_name(name):
    """The index's name of the command ``name`` or its alias is; KeyError."""
    if name in INDEX:
        return name
    return next(each for each, entry in INDEX.items() if name in entry.aliases)


def load(name):
    """[handler, *argument adders] of the command called ``name``, its
    modules imported."""
    for module in INDEX[name].modules:
        importlib.import_module(f"buildmaster.commands.{module}")
    return DEFINED[name]


def _indexed(name):
    if name not in INDEX:
        raise LookupError(f"command {name!r} is missing from the index, "
                          "buildmaster.commands.registry.INDEX")
    return name


def command(name):
    """Define ``function(context, args)`` as the command ``name``."""
    def register(function):
        DEFINED[_indexed(name)] = [function]
        return function
    return register


def add_arguments(name):
    """Decorate a function that adds the command ``name``'s arguments to its parser."""
    def register(function):
        DEFINED[_indexed(name)].append(function)
        return function
    return register
