"""How long an operator waits for ``buildmaster`` commands, beside the
bare interpreter's start.

    python benchmarks/cli.py [--runs 10] [--json]

It makes a small farm in a temporary directory, as an operator starts
one: a configuration naming a fresh SQLite database there, then
``buildmaster upgrade`` and ``buildmaster sampledata`` (the doctests'
sample world: a few builds, one of them pending).  Then it runs each of
these ``--runs`` times as a process of its own, one after another in
turn, and takes the median wall-clock time of each:

* help_s: ``buildmaster --help``;
* queue_s: ``buildmaster queue``;
* builds_json_s: ``buildmaster --json builds``;
* python_s: ``python -c pass``, the same interpreter starting and doing
  nothing: the floor the others stand on.

``buildmaster`` is the console script installed beside this interpreter
(``python -m buildmaster.cli`` when there is none).  Every command must
succeed.  --json prints one JSON object with those four keys and runs.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CONFIG = """\
[database]
url = sqlite:///{root}/farm.db
[builddmaster]
root = {root}/builddmaster
[librarian]
storage = {root}/librarian
[archives]
root = {root}/archives
"""


def buildmaster_command():
    """The argv that runs ``buildmaster`` with this interpreter's installation."""
    script = os.path.join(os.path.dirname(sys.executable), "buildmaster")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "buildmaster.cli"]


def run(argv, cwd):
    """Seconds ``argv`` took; RuntimeError if it failed."""
    began = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr}")
    return took


def make_farm(root):
    """The configuration file of a farm with the sample world in ``root``."""
    path = os.path.join(root, "buildmaster.conf")
    with open(path, "w", encoding="utf-8") as config:
        config.write(CONFIG.format(root=root))
    for step in ("upgrade", "sampledata"):
        run([*buildmaster_command(), "--config", path, step], root)
    return path


def measure(runs, root):
    config = make_farm(root)
    buildmaster = [*buildmaster_command(), "--config", config]
    commands = {
        "help_s": [*buildmaster, "--help"],
        "queue_s": [*buildmaster, "queue"],
        "builds_json_s": [*buildmaster, "--json", "builds"],
        "python_s": [sys.executable, "-c", "pass"],
    }
    times = {key: [] for key in commands}
    for _ in range(runs):
        for key, argv in commands.items():
            times[key].append(run(argv, root))
    result = {key: round(statistics.median(values), 3) for key, values in times.items()}
    result["runs"] = runs
    return result


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10,
                        help="runs of each command; the median is shown (default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs: at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cli-bench-") as root:
        result = measure(args.runs, root)
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print(f"median of {result['runs']} runs: buildmaster --help {result['help_s']} s, "
              f"queue {result['queue_s']} s, --json builds {result['builds_json_s']} s; "
              f"python -c pass {result['python_s']} s", flush=True)


if __name__ == "__main__":
    main()
