"""Shared pytest set-up for tests/ and doctests/."""

pytest_plugins = ["buildmaster.testing.fixtures"]
