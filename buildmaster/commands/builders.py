"""``buildmaster builder add|list|set|remove|enable|disable``.

Every change is noted in the operators' journal (buildmaster.operators.journal),
which the daemon logs; ``--json`` prints the builder as ``builder list
--json`` shows it.
"""

import re
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from buildmaster.operators import journal, lookup, output
from buildmaster.runtime import wakeups
from buildmaster.commands.registry import CommandError
from buildmaster.commands.common import JSON, Group, arg, farm_session, json_option
from buildmaster.model import Builder

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9+.-]*")
COLUMNS = [("NAME", "name"), ("URL", "url"), ("PROCESSOR", "processor"),
           ("VIRT", "virtualized"), ("MANUAL", "manual"), ("OK", "builderok"),
           ("BUILD", "current_build"), ("FAILNOTES", "failnotes")]
JSON_RESULT = json_option("print the builder as a JSON object")

builder = Group("builder")


def slave_url(text):
    """``text`` if it is an http:// or https:// URL with a host and, if
    any, a numeric port; else CommandError."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CommandError(f"{text!r} is not an http:// or https:// URL")
    try:
        parts.port
    except ValueError:
        raise CommandError(f"{text!r} has a port that is not a number from 0 to "
                           "65535") from None
    return text


def _changed(session, found, what):
    """Journal ``what`` and wake the daemons' dispatchers when it commits
    (a builder added, changed or enabled may take a job now); the builder
    as its JSON object."""
    journal.record(session, what)
    wakeups.notify(session, wakeups.DISPATCH)
    session.flush()
    return output.builder_object(found)


def _report(args, obj, what):
    if args.json:
        output.emit_object(obj)
    else:
        print(what)


@builder.subcommand(
    "add", "register a new builder",
    arg("name", help="the builder's name, e.g. bob"),
    arg("url", help="its slave's XML-RPC URL, e.g. http://bob:8221/"),
    arg("--processor", required=True, help="the processor it builds for, e.g. 386"),
    arg("--virtualized", action="store_true", help="it builds for virtualized archives"),
    arg("--manual", action="store_true", help="only an operator dispatches to it"),
    arg("--title", help="a longer name (default: the name)"),
    JSON_RESULT)
def add(context, args):
    if not NAME_PATTERN.fullmatch(args.name):
        raise CommandError(
            f"{args.name!r} is not a builder name: use a-z, 0-9, '+', '.', '-'")
    slave_url(args.url)
    with farm_session(context) as session:
        found = session.scalars(sa.select(Builder).filter_by(name=args.name)).first()
        if found is not None and found.active:
            raise CommandError(f"a builder named {args.name!r} already exists")
        processor = lookup.processor(session, args.processor)
        if found is None:
            found = Builder(name=args.name)
            session.add(found)
        # A removed builder's name comes back as that builder: its builds
        # keep naming it.
        found.title = args.title or args.name
        found.url, found.processor = args.url, processor
        found.virtualized, found.manual = args.virtualized, args.manual
        found.active, found.builderok, found.failnotes = True, True, None
        kind = "virtualized" if args.virtualized else "not virtualized"
        what = (f"Builder {args.name} added: {args.url}, processor {args.processor}, "
                f"{kind}{', manual' if args.manual else ''}.")
        obj = _changed(session, found, what)
    _report(args, obj, what)


@builder.subcommand("list", "list the builders and what they build", JSON)
def list_builders(context, args):
    with farm_session(context) as session:
        builders = session.scalars(
            sa.select(Builder).where(Builder.active).order_by(Builder.name).options(
                selectinload(Builder.processor), selectinload(Builder.currentjob)))
        objects = [output.builder_object(each) for each in builders]
    output.emit(objects, COLUMNS, args.json, empty="No builders.")


def _active(session, name):
    found = lookup.builder(session, name)
    if not found.active:
        raise CommandError(f"builder {name} was removed")
    return found


def _busy(found, change):
    job = found.currentjob
    if job is not None:
        raise CommandError(f"builder {found.name} is building build {job.build_id} "
                           f"(job {job.build_id}-{job.id}): {change} once it is done, "
                           f"or after 'buildmaster cancel {job.build_id}'")


@builder.subcommand(
    "set", "change a builder's URL, processor, virtualization or manual flag",
    arg("name"),
    arg("--url", help="its slave's new XML-RPC URL"),
    arg("--processor", help="the processor it builds for"),
    arg("--virtualized", action="store_true", default=None,
        help="it builds for virtualized archives"),
    arg("--not-virtualized", dest="virtualized", action="store_false",
        help="it builds for archives that are not virtualized"),
    arg("--manual", action="store_true", default=None,
        help="only an operator dispatches to it"),
    arg("--not-manual", dest="manual", action="store_false",
        help="the dispatcher gives it jobs"),
    JSON_RESULT)
def set_builder(context, args):
    if args.url is not None:
        slave_url(args.url)
    with farm_session(context) as session:
        found = _active(session, args.name)
        changes = []
        if args.url is not None and args.url != found.url:
            changes.append(("url", args.url, f"URL {found.url} -> {args.url}"))
        if args.processor is not None and args.processor != found.processor.name:
            processor = lookup.processor(session, args.processor)
            changes.append(("processor", processor,
                            f"processor {found.processor.name} -> {processor.name}"))
        for flag in ("virtualized", "manual"):
            value = getattr(args, flag)
            if value is not None and value != getattr(found, flag):
                changes.append((flag, value, f"{'' if value else 'not '}{flag}"))
        if not changes:
            raise CommandError(f"builder {args.name}: nothing to change (give --url, "
                               "--processor, --[not-]virtualized or --[not-]manual)")
        if any(key != "manual" for key, _, _ in changes):
            _busy(found, "change its URL, processor or virtualization")
        for key, value, _ in changes:
            setattr(found, key, value)
        what = f"Builder {args.name} changed: {', '.join(text for *_, text in changes)}."
        obj = _changed(session, found, what)
    _report(args, obj, what)


@builder.subcommand(
    "remove", "take a builder out of the farm for good (its builds keep its name)",
    arg("name"), JSON_RESULT)
def remove(context, args):
    with farm_session(context) as session:
        found = _active(session, args.name)
        _busy(found, "remove it")
        found.active = False
        what = f"Builder {args.name} removed."
        obj = dict(_changed(session, found, what), removed=True)
    _report(args, obj, what)


@builder.subcommand("enable", "put a builder back in use, forgetting its failures",
                    arg("name"), JSON_RESULT)
def enable(context, args):
    with farm_session(context) as session:
        found = _active(session, args.name)
        found.enable()
        what = f"Builder {args.name} enabled."
        obj = _changed(session, found, what)
    _report(args, obj, what)


@builder.subcommand(
    "disable", "take a builder out of use until it is enabled",
    arg("name"),
    arg("--reason", default="Disabled by an operator.",
        help="why, shown as its failnotes"),
    JSON_RESULT)
def disable(context, args):
    with farm_session(context) as session:
        found = _active(session, args.name)
        found.failBuilder(args.reason)
        what = f"Builder {args.name} disabled: {args.reason}"
        obj = _changed(session, found, what)
    _report(args, obj, what)
