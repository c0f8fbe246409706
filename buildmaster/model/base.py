"""The declarative base and the enum machinery every model module shares."""

import datetime
import enum

import pytz
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

UTC = pytz.UTC


def utcnow():
    """The current time, timezone-aware in UTC, as every column stores it."""
    return datetime.datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp that always comes back timezone-aware in UTC.

    PostgreSQL keeps the zone; SQLite drops it.  Storing naive UTC and
    re-attaching UTC on the way out gives one behaviour on both.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class TitledEnum(enum.Enum):
    """An enum whose members carry the title the seeds print.

    Members are declared as ``NAME = (number, 'Title')``; the database
    stores the name.
    """

    def __init__(self, number, title):
        self.number = number
        self.title = title

    def __repr__(self):
        return f"<{type(self).__name__}.{self.name}>"


def enum_column(enum_class):
    """The column type for a TitledEnum: its member names as text."""
    return sa.Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=32,
        name=enum_class.__name__.lower(),
    )


class Base(DeclarativeBase):
    """Declarative base for every buildmaster table."""

    type_annotation_map = {datetime.datetime: UTCDateTime()}

    def __repr__(self):
        label = getattr(self, "name", None) or getattr(self, "id", None)
        return f"<{type(self).__name__} {label}>"
