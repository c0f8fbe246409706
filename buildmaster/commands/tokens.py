"""``buildmaster token create|list|revoke``: the web API's bearer tokens.

A token may expire (``create --expires DAYS|YYYY-MM-DD``): from then on
the web refuses it as it refuses an unknown one (401), and ``list``
shows it expired.  Without ``--expires`` it never does.
"""

import datetime

import sqlalchemy as sa

from buildmaster.operators import output
from buildmaster.commands.registry import CommandError
from buildmaster.commands.builders import NAME_PATTERN
from buildmaster.commands.common import JSON, Group, arg, farm_session
from buildmaster.model import UTC, ApiToken, utcnow
from buildmaster.web import auth

COLUMNS = [("NAME", "name"), ("RIGHTS", "rights"), ("CREATED", "date_created"),
           ("LAST USED", "date_last_used"), ("EXPIRES", "date_expires"),
           ("EXPIRED", "expired"), ("REVOKED", "revoked")]
MAX_DAYS = 100 * 366

token = Group("token")


@token.subcommand(
    "create", "make a token and print it (only this once)",
    arg("name", help="who or what uses it, e.g. release-team; logged with its writes"),
    arg("--rights", default=auth.WRITE,
        help="comma-separated: write (POST actions), private (see private "
             "archives); default write"),
    arg("--expires", metavar="DAYS|YYYY-MM-DD",
        help="refuse the token after this many days, or after this day (UTC); "
             "default never"))
def create(context, args):
    if not NAME_PATTERN.fullmatch(args.name):
        raise CommandError(f"{args.name!r} is not a token name: use a-z, 0-9, '+', '.', '-'")
    try:
        rights = auth.parse_rights(args.rights)
    except ValueError as error:
        raise CommandError(f"--rights: {error}") from None
    now = utcnow()
    expires = expiry_of(args.expires, now) if args.expires is not None else None
    with farm_session(context) as session:
        try:
            secret = auth.create(session, args.name, rights, now=now, expires=expires)
        except ValueError as error:
            raise CommandError(str(error)) from None
    print(secret)


def expiry_of(text, now):
    """When a token made at ``now`` expires, from ``--expires``: a whole
    number of days, or a date, the token working through that day (UTC);
    CommandError for anything else or a moment already past."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        days = int(text)
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--expires: {days} days is not from 1 to {MAX_DAYS}")
        return now + datetime.timedelta(days=days)
    try:
        day = datetime.date.fromisoformat(text)
        expires = datetime.datetime.combine(day + datetime.timedelta(days=1),
                                            datetime.time(), tzinfo=UTC)
    except (ValueError, OverflowError):
        raise CommandError(f"--expires: {text!r} is neither a number of days nor a "
                           "date (YYYY-MM-DD)") from None
    if expires <= now:
        raise CommandError(f"--expires: {day.isoformat()} is past")
    return expires


def token_object(row, now):
    return {"name": row.name, "rights": row.rights,
            "date_created": output.timestamp(row.date_created),
            "date_last_used": output.timestamp(row.date_last_used),
            "date_expires": output.timestamp(row.date_expires),
            "expired": row.expired(now),
            "revoked": row.revoked}


@token.subcommand("list", "list the tokens (never their secrets)", JSON)
def list_tokens(context, args):
    now = utcnow()
    with farm_session(context) as session:
        objects = [token_object(row, now) for row in
                   session.scalars(sa.select(ApiToken).order_by(ApiToken.name))]
    output.emit(objects, COLUMNS, args.json, empty="No tokens.")


@token.subcommand("revoke", "refuse a token from now on", arg("name"))
def revoke(context, args):
    with farm_session(context) as session:
        row = session.scalars(sa.select(ApiToken).where(ApiToken.name == args.name)).first()
        if row is None:
            raise CommandError(f"no token named {args.name!r}")
        row.revoked = True
    print(f"Token {args.name} revoked.")
