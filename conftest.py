"""Shared pytest set-up for tests/ and doctests/."""

import os

from sqlalchemy.engine import make_url

pytest_plugins = [
    "buildmaster.testing.fixtures",  # slave_proc, good_dsc and the others too
    "buildmaster.testing.chroots",  # buildd_chroot
    "buildmaster.testing.swift",  # swift: a real single-node Swift, one a session
]


def pytest_report_header(config):
    url = os.environ.get("BUILDMASTER_TEST_DB_URL")
    if url:
        shown = make_url(url).render_as_string(hide_password=True)
        return f"buildmaster test database: PostgreSQL, fresh database on {shown}"
    return "buildmaster test database: SQLite (set BUILDMASTER_TEST_DB_URL for PostgreSQL)"
