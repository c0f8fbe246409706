"""The fault-injection suite's kill -9 run: the master killed at 20
instants a seeded generator picks across a busy farm's life (fast real
slaves, the real daemon, PostgreSQL in CI), the farm's invariants
checked after every kill and once everything has ended.
``benchmarks/chaos.py`` runs the same with 200 kills and more."""

import pytest

from benchmarks import chaos

pytestmark = pytest.mark.chaos


def test_a_master_killed_at_twenty_instants_loses_and_doubles_nothing(tmp_path):
    figures = chaos.run(tmp_path, kills=20, seed=15, builders=4, builds_per_kill=2,
                        build_seconds=0.3, max_delay=3.0)
    assert figures["violations"] == []
    assert figures["kills"] == 20
    assert figures["invariant_checks"] >= 20 * 4 + 4
    states = figures["build_states"]
    assert set(states) == {"FULLYBUILT", "FAILEDTOBUILD"}
    assert figures["failed_builds_mailed"] == states["FAILEDTOBUILD"] > 0
