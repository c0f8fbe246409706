"""``buildmaster report [--since 7d] [--until DATE] [--json]``."""

import argparse
import datetime
import json

from buildmaster.commands.registry import CommandError
from buildmaster.commands.common import arg, farm_session, operator_command
from buildmaster.health import report, reporting
from buildmaster.model import UTC, utcnow


def _until(text):
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--until: {text!r} is not a date like 2024-01-08 or "
                           "2024-01-08T12:00") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@operator_command(
    "report",
    arg("--since", default="7d", help="the period's length, e.g. 7d, 12h, 2w (default 7d)"),
    arg("--until", help="its end, a UTC date or time (default: now)"),
    arg("--json", action="store_true", default=argparse.SUPPRESS,
        help="print the figures as one JSON object"))
def farm_report(context, args):
    try:
        length = report.parse_duration(args.since)
    except ValueError as error:
        raise CommandError(f"--since: {error}") from None
    now = utcnow()
    until = _until(args.until) if args.until else now
    with farm_session(context) as session:
        figures = reporting.figures(session, until - length, until, now)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(report.text(figures), end="")
