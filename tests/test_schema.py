"""The models and the migrations describe the same schema, both ways."""

import pytest
import sqlalchemy as sa

from buildmaster import schema
from buildmaster.db import revisions
from buildmaster.db.engine import make_engine
from buildmaster.model import Base
from buildmaster.testing.database import scratch_database


def test_migrated_test_database_matches_the_models(db):
    assert schema.differences(db.engine) == []
    assert schema.current_revision(db.engine) == schema.head_revision()


def test_downgrade_to_base_and_upgrade_again():
    url, drop = scratch_database()
    engine = make_engine(url)
    try:
        schema.upgrade(engine)
        assert set(Base.metadata.tables) <= set(sa.inspect(engine).get_table_names())
        schema.downgrade(engine, "base")
        assert sa.inspect(engine).get_table_names() == ["alembic_version"]
        assert schema.current_revision(engine) is None
        schema.upgrade(engine)
        assert schema.differences(engine) == []
    finally:
        engine.dispose()
        drop()


def test_the_revisions_are_read_as_alembic_reads_them(db):
    """buildmaster.db.revisions reads them without Alembic, for the CLI."""
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    config = Config()
    config.set_main_option("script_location", schema.MIGRATIONS_DIR)
    assert revisions.head_revision() == ScriptDirectory.from_config(config).get_current_head()
    with db.engine.connect() as connection:
        alembics = MigrationContext.configure(connection).get_current_revision()
    assert alembics is not None
    assert revisions.current_revision(db.engine) == alembics


def test_the_head_is_the_revision_no_other_revises(tmp_path):
    (tmp_path / "0001_a.py").write_text("revision = 'a'\ndown_revision = None\n")
    (tmp_path / "0002_b.py").write_text(
        '"""b"""\nrevision: str = "b"\ndown_revision: str | None = "a"\n')
    assert revisions.head_revision(tmp_path) == "b"
    (tmp_path / "0003_c.py").write_text("revision = 'c'\ndown_revision = 'a'\n")
    with pytest.raises(revisions.RevisionError, match="2 heads: b, c"):
        revisions.head_revision(tmp_path)
    (tmp_path / "0004_merge.py").write_text("revision = 'd'\ndown_revision = ('b', 'c')\n")
    assert revisions.head_revision(tmp_path) == "d"
    (tmp_path / "0005_e.py").write_text("revision = (\n    'e')\ndown_revision = 'd'\n")
    with pytest.raises(revisions.RevisionError, match="revision is not a literal on one line"):
        revisions.head_revision(tmp_path)
