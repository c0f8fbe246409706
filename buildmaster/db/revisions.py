"""Which migration the database is at, and which is the newest, read
without Alembic.

Every operator command checks both before it touches the farm, and
importing Alembic (Mako, its operations, the migration scripts) would
take longer than most commands do (benchmarks/cli.py).  So this module
reads the version table Alembic keeps, and the ``revision`` and
``down_revision`` lines of the scripts in migrations/versions/, as
Alembic would.  buildmaster.schema, which applies the migrations with
Alembic, answers with these; tests/test_schema.py checks that Alembic
answers the same.
"""

import ast
import os
import re

import sqlalchemy as sa

import migrations

VERSIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(migrations.__file__)),
                            "versions")
VERSION_TABLE = "alembic_version"
# ``revision = '0012_uploads'``, ``down_revision: str | None = None``.
DECLARATION = re.compile(
    r"^(?P<name>revision|down_revision)\s*(?::[^=\n]*)?=\s*(?P<value>.*?)\s*$", re.MULTILINE)


class RevisionError(Exception):
    """The migrations or the version table hold more than one head, or a
    migration script declares its revisions in a way this cannot read."""


def current_revision(engine):
    """The revision the database is at; None for a database without the
    schema (never migrated, or downgraded to base).  Raises RevisionError."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(VERSION_TABLE):
            return None
        found = connection.scalars(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    if len(found) > 1:
        raise RevisionError(f"the database is at several heads: {', '.join(sorted(found))}")
    return found[0] if found else None


def head_revision(directory=VERSIONS_DIR):
    """The revision of the newest migration in ``directory``: the one no
    other revises.  Raises RevisionError if there is not exactly one, or
    if a script's declarations cannot be read."""
    revised, revisions = set(), set()
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".py") or name.startswith("__"):
            continue
        declared = _declarations(os.path.join(directory, name))
        if "revision" not in declared:
            continue
        revisions.add(declared["revision"])
        down = declared.get("down_revision")
        revised.update(down if isinstance(down, (tuple, list)) else [down])
    heads = sorted(revisions - revised)
    if len(heads) != 1:
        raise RevisionError(f"the migrations in {directory} have {len(heads)} heads: "
                            f"{', '.join(heads) or 'none'}")
    return heads[0]


def _declarations(path):
    """The ``revision`` and ``down_revision`` a migration script declares,
    each on a line of its own as Alembic writes them (parsing the scripts
    whole would take longer than the rest of a command)."""
    with open(path, encoding="utf-8") as script:
        text = script.read()
    found = {}
    for match in DECLARATION.finditer(text):
        try:
            found[match["name"]] = ast.literal_eval(match["value"])
        except (SyntaxError, ValueError):
            raise RevisionError(f"{path}: {match['name']} is not a literal on one line: "
                                f"{match['value']}") from None
    return found
