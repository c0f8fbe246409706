"""kill -9 of the master at instants a seeded random generator picks, on a
busy farm, with the farm's invariants checked after every fault.

    python benchmarks/chaos.py [--kills 200] [--seed 15] [--builders 4]
        [--builds-per-kill 3] [--build-seconds 0.3] [--max-delay 4] [--json]

A FastFarm (buildmaster/testing/fastfarm.py: its own PostgreSQL database
on the server BUILDMASTER_TEST_DB_URL names, else SQLite; fast slaves
that build in ``--build-seconds`` and make real uploads; the real daemon
as a process) gets sources uploaded through ``buildmaster upload``, one
in six of them failing to build (so failure mail goes out).  The master is killed with SIGKILL at a delay
drawn uniformly from [0, ``--max-delay``] seconds after its sequencer
started, over its whole life: claims, dispatches, collections, uploads,
mail.  More sources are uploaded whenever fewer than two per builder are
left to build, ``--builds-per-kill`` per builder at a time.  After every kill the instantaneous invariants are checked
(buildmaster/testing/invariants.py: nothing BUILDING without a builder,
no builder with two jobs, no job running twice, no mail sent again once a master recorded its delivery) and
the master is started again.  After the last kill it runs until every
build has ended, and the settled invariants are checked (one terminal
state per build, no log or upload lost, every failure mailed).

It prints the figures: kills, what the master had last logged when it
was killed (a rough picture of what it was doing), builds, invariant
checks run and violations found; with ``--json`` one object.  The exit
status is 1 when a violation was found.  ``run()`` is what the CI test
(tests/test_chaos.py) calls with a small count.
"""

import argparse
import collections
import json
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from buildmaster.testing import invariants  # noqa: E402
from buildmaster.testing.fastfarm import FastFarm, source_names  # noqa: E402

# What the master's last log lines say it was doing, most telling first.
ACTIVITIES = [("mail", ("Mail about",)),
              ("upload", ("upload", "FULLYBUILT", "FAILEDTOUPLOAD")),
              ("collection", ("FAILEDTOBUILD", "-> FULLYBUILT", "collect")),
              ("dispatch", ("-> BUILDING", "Dispatch")),
              ("claim", ("NEEDSBUILD",)),
              ("start-up", ("Sequencer starting", "starting up", "listening"))]


def activity(log_tail):
    """What the last lines of the master's log show it doing."""
    for line in reversed(log_tail.splitlines()[-3:]):
        for name, marks in ACTIVITIES:
            if any(mark in line for mark in marks):
                return name
    return "idle"


def run(directory, kills=20, seed=15, builders=4, builds_per_kill=3, build_seconds=0.3,
        max_delay=4.0, settle_timeout=600, say=None):
    """The chaos run in ``directory``; its figures (a dict)."""
    say = say or (lambda text: None)
    rng = random.Random(seed)
    farm = FastFarm(directory, builders=builders, build_seconds=build_seconds)
    tally = invariants.Tally()
    activities = collections.Counter()
    began = time.monotonic()
    try:
        for kill in range(kills):
            # Keep the farm busy: more work whenever little is left.
            if len(invariants.unsettled(farm.builds())) < builders * 2:
                farm.upload(source_names(len(farm.uploaded), builders * builds_per_kill))
            farm.start()
            delay = rng.uniform(0, max_delay)
            time.sleep(delay)
            log = farm.master.read_log()
            farm.kill()
            activities[activity(log)] += 1
            invariants.check_structure(farm, tally)
            say(f"kill {kill + 1}/{kills} after {delay:.2f} s ({activity(log)}); "
                f"{len(tally.violations)} violation(s) so far")
        farm.start()
        farm.wait_until(lambda: not invariants.unsettled(farm.builds()),
                        "settled: every build ended", timeout=settle_timeout)
        failed = sum(1 for row in farm.builds() if row.buildstate in invariants.MAILED)
        farm.wait_until(lambda: _all_mailed(farm), "every failure mailed",
                        timeout=settle_timeout)
        farm.stop()
        invariants.check_settled(farm, tally)
        builds = farm.builds()
    finally:
        farm.close()
    states = collections.Counter(row.buildstate.name for row in builds)
    return {"kills": kills, "seed": seed, "builders": builders,
            "killed_during": dict(activities), "builds": len(builds),
            "build_states": dict(states), "failed_builds_mailed": failed,
            "mail_delivered": len(farm.slaves.mail()),
            "invariant_checks": tally.total, "checks_by_kind": dict(tally.checks),
            "violations": tally.violations,
            "seconds": round(time.monotonic() - began, 1)}


def _all_mailed(farm):
    tally = invariants.Tally()
    tally.add("failure mailed", invariants._unmailed(farm, farm.builds()))
    return not tally.violations


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--builders", type=int, default=4)
    parser.add_argument("--builds-per-kill", type=int, default=3)
    parser.add_argument("--build-seconds", type=float, default=0.3)
    parser.add_argument("--max-delay", type=float, default=4.0)
    parser.add_argument("--keep", action="store_true",
                        help="keep the farm's files and logs (the path is printed)")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    directory = tempfile.mkdtemp(prefix="chaos-") if args.keep else None
    with tempfile.TemporaryDirectory(prefix="chaos-") as scratch:
        figures = run(directory or scratch, args.kills, args.seed, args.builders,
                      args.builds_per_kill, args.build_seconds, args.max_delay,
                      say=None if args.json else print)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key}: {value}")
    if directory:
        print(f"farm kept in {directory}", file=sys.stderr)
    return 1 if figures["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
