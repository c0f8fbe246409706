"""``buildmaster builder add|list|enable|disable``."""

import re
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from buildmaster import lookup, output
from buildmaster.cli import CommandError
from buildmaster.commands.common import JSON, Group, arg, farm_session
from buildmaster.model import Builder

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9+.-]*")
COLUMNS = [("NAME", "name"), ("URL", "url"), ("PROCESSOR", "processor"),
           ("VIRT", "virtualized"), ("MANUAL", "manual"), ("OK", "builderok"),
           ("BUILD", "current_build"), ("FAILNOTES", "failnotes")]

builder = Group("builder", "add, list, enable and disable builders")


@builder.subcommand(
    "add", "register a new builder",
    arg("name", help="the builder's name, e.g. bob"),
    arg("url", help="its slave's XML-RPC URL, e.g. http://bob:8221/"),
    arg("--processor", required=True, help="the processor it builds for, e.g. 386"),
    arg("--virtualized", action="store_true", help="it builds for virtualized archives"),
    arg("--manual", action="store_true", help="only an operator dispatches to it"),
    arg("--title", help="a longer name (default: the name)"))
def add(context, args):
    if not NAME_PATTERN.fullmatch(args.name):
        raise CommandError(
            f"{args.name!r} is not a builder name: use a-z, 0-9, '+', '.', '-'")
    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CommandError(f"{args.url!r} is not an http:// or https:// URL")
    with farm_session(context) as session:
        if session.scalar(sa.select(Builder.id).filter_by(name=args.name)) is not None:
            raise CommandError(f"a builder named {args.name!r} already exists")
        new = Builder(name=args.name, title=args.title or args.name, url=args.url,
                      processor=lookup.processor(session, args.processor),
                      virtualized=args.virtualized, manual=args.manual)
        session.add(new)
    kind = "virtualized" if args.virtualized else "not virtualized"
    print(f"Builder {args.name} added: {args.url}, processor {args.processor}, {kind}"
          f"{', manual' if args.manual else ''}.")


@builder.subcommand("list", "list the builders and what they build", JSON)
def list_builders(context, args):
    with farm_session(context) as session:
        builders = session.scalars(
            sa.select(Builder).order_by(Builder.name).options(
                selectinload(Builder.processor), selectinload(Builder.currentjob)))
        objects = [output.builder_object(each) for each in builders]
    output.emit(objects, COLUMNS, args.json, empty="No builders.")


@builder.subcommand("enable", "put a builder back in use, forgetting its failures",
                    arg("name"))
def enable(context, args):
    with farm_session(context) as session:
        lookup.builder(session, args.name).enable()
    print(f"Builder {args.name} enabled.")


@builder.subcommand(
    "disable", "take a builder out of use until it is enabled",
    arg("name"),
    arg("--reason", default="Disabled by an operator.",
        help="why, shown as its failnotes"))
def disable(context, args):
    with farm_session(context) as session:
        lookup.builder(session, args.name).failBuilder(args.reason)
    print(f"Builder {args.name} disabled: {args.reason}")
