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


def test_a_copy_only_an_unrecorded_delivery_explains_is_no_violation():
    from buildmaster.testing.invariants import mail_sent_twice
    copy = {"message_id": "<build28-job21-FAILEDTOBUILD-0@localhost>",
            "to": ["tests@example.invalid"]}
    recorded = ("2026-12-02T00:22:54+0000 [buildmaster.mail.mailer#info] Mail about build 28 "
                "(fail-src18 1.0 i386) on fast2 FAILEDTOBUILD delivered to "
                "tests@example.invalid\n")
    # Killed between the server's 250 and the spool: sent again, recorded once.
    assert mail_sent_twice([copy, copy], recorded) == []
    # Recorded twice: a master sent what it knew was delivered.
    assert mail_sent_twice([copy, copy], recorded * 2) == [
        "message <build28-job21-FAILEDTOBUILD-0@localhost> delivered 2 times, 2 of them "
        "recorded by a master"]
    assert mail_sent_twice([copy], recorded) == []
