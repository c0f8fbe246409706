"""Operator subcommands beyond the basics, one module per subject.

Each module registers its commands with ``buildmaster.cli.command``;
importing this package imports them all.
"""
