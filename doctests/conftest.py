"""Doctests read like the seeds: the sample world is already loaded.

Each doctest file finds in its namespace ``session`` and ``transaction``
(on a clean database holding the sample data), ``sample`` (the objects
sampledata created, e.g. ``sample.bob``), ``librarian``, ``config``, and
``wait(deferred)`` to take the result of a Deferred.  Log records at
WARNING and above print as ``LEVEL:name:message``.  ``config`` is also
what BUILDMASTER_CONFIG names, so code that reads the configuration
itself (the seeds' ``dispatchBuildCandidate(candidate)``) sees the same
signed farm: its sources.list lines are the seeds' plain ones.

A story that starts from an empty farm (EMPTY_FARM) gets the same
without the sample world.  A doctest that needs none of this (one that
starts its own slave, say)
says so by naming itself ``*-standalone.txt`` or simply ignoring them.
"""

import pytest

from buildmaster.testing.deferreds import wait


# Stories that start from an empty farm: their database is migrated and
# holds nothing, not even the sample world.
EMPTY_FARM = {"farm-definition.txt"}


@pytest.fixture(autouse=True)
def doctest_world(request, doctest_namespace, monkeypatch):
    if request.node.name.endswith("standalone.txt"):
        return
    world = () if request.node.name in EMPTY_FARM else ("sample",)
    for name in ("session", "transaction", *world, "librarian", "farm_config",
                 "printed_log"):
        doctest_namespace[name] = request.getfixturevalue(name)
    doctest_namespace["config"] = doctest_namespace.pop("farm_config")
    monkeypatch.setenv("BUILDMASTER_CONFIG", doctest_namespace["config"].path)
    doctest_namespace["wait"] = wait
