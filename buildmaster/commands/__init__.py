"""The operator's subcommands, one module per subject.

``buildmaster.commands.registry`` holds the index of every command and
the module(s) defining it; ``buildmaster.cli`` imports a command's
modules only when that command is run (or its ``--help`` asked for), so
importing this package imports none of them.
"""
