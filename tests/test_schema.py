"""The models and the migrations describe the same schema, both ways."""

import sqlalchemy as sa

from buildmaster import schema
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
