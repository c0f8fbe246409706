"""Engines, sessions and the transaction object the seeds pass around."""

import os

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker


def sqlite_path(url):
    """The file of a SQLite database URL; None for another database or
    an in-memory one."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        return url[len(prefix):].split("?", 1)[0]
    return None


def display_url(url):
    """The database's URL as messages name it, its password hidden."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def make_engine(url, **kwargs):
    """An engine for ``url``; SQLite gets foreign keys and its directory."""
    path = sqlite_path(url)
    if path is not None:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
    engine = sa.create_engine(url, future=True, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_session_factory(engine):
    return sessionmaker(bind=engine, expire_on_commit=False, class_=Session)


class Transaction:
    """What the seeds call ``transaction``: commit or abort the work so far.

    Wraps one long-lived Session; the scanner and dispatcher commit after
    each state change so that a master killed at any instant loses at
    most the change in flight.
    """

    def __init__(self, session):
        self.session = session

    def commit(self):
        self.session.commit()

    def abort(self):
        self.session.rollback()

    def begin(self):
        """Start a fresh view of the database (drop cached state)."""
        self.session.expire_all()
