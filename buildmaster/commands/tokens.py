"""``buildmaster token create|list|revoke``: the web API's bearer tokens."""

import sqlalchemy as sa

from buildmaster.operators import output
from buildmaster.commands.registry import CommandError
from buildmaster.commands.builders import NAME_PATTERN
from buildmaster.commands.common import JSON, Group, arg, farm_session
from buildmaster.model import ApiToken
from buildmaster.web import auth

COLUMNS = [("NAME", "name"), ("RIGHTS", "rights"), ("CREATED", "date_created"),
           ("LAST USED", "date_last_used"), ("REVOKED", "revoked")]

token = Group("token")


@token.subcommand(
    "create", "make a token and print it (only this once)",
    arg("name", help="who or what uses it, e.g. release-team; logged with its writes"),
    arg("--rights", default=auth.WRITE,
        help="comma-separated: write (POST actions), private (see private "
             "archives); default write"))
def create(context, args):
    if not NAME_PATTERN.fullmatch(args.name):
        raise CommandError(f"{args.name!r} is not a token name: use a-z, 0-9, '+', '.', '-'")
    try:
        rights = auth.parse_rights(args.rights)
    except ValueError as error:
        raise CommandError(f"--rights: {error}") from None
    with farm_session(context) as session:
        try:
            secret = auth.create(session, args.name, rights)
        except ValueError as error:
            raise CommandError(str(error)) from None
    print(secret)


def token_object(row):
    return {"name": row.name, "rights": row.rights,
            "date_created": output.timestamp(row.date_created),
            "date_last_used": output.timestamp(row.date_last_used),
            "revoked": row.revoked}


@token.subcommand("list", "list the tokens (never their secrets)", JSON)
def list_tokens(context, args):
    with farm_session(context) as session:
        objects = [token_object(row) for row in
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
