"""One ``make run`` at a time: a second refuses in one line naming the
first, before it rewrites the configuration (which would take the first's
ports and point its builders at the second's slaves); a dead one's lock
is free, unless the processes it started still run."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from buildmaster.demo.instance import DemoLock, DemoRunning

URL = "http://127.0.0.1:58010/"


@pytest.fixture
def demo_dir(tmp_path):
    directory = tmp_path / "var" / "demo"
    directory.mkdir(parents=True)
    return directory


def holder(demo_dir, then):
    """A process that takes the lock, names ``URL``, says 'locked' and
    runs ``then`` (Python, with ``lock`` at hand)."""
    code = textwrap.dedent(f"""\
        import os, subprocess, sys, time
        from buildmaster.demo.instance import DemoLock
        lock = DemoLock({str(demo_dir)!r}).acquire()
        lock.describe({URL!r})
        print("locked", flush=True)
        """) + textwrap.dedent(then)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "locked\n"
    return process


def test_a_second_demo_refuses_naming_the_first_and_leaves_its_configuration(
        tmp_path, demo_dir):
    config = demo_dir / "buildmaster.conf"
    config.write_text("# the first demo's configuration\n")
    first = DemoLock(str(demo_dir)).acquire()
    first.describe(URL)
    try:
        second = subprocess.run([sys.executable, "-m", "buildmaster.demo"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
    finally:
        first.release()
    assert second.returncode == 1
    assert second.stdout.splitlines() == [
        f"make run: another 'make run' is running this farm (pid {os.getpid()}, {URL}); "
        f"stop it first (Ctrl-C in its terminal, or kill {os.getpid()})"]
    assert config.read_text() == "# the first demo's configuration\n"


def test_the_lock_of_a_demo_killed_with_all_it_started_is_free(demo_dir):
    first = holder(demo_dir, "time.sleep(60)\n")
    with pytest.raises(DemoRunning, match=f"pid {first.pid}, {URL}"):
        DemoLock(str(demo_dir)).acquire()
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = DemoLock(str(demo_dir)).acquire()
    assert (demo_dir / "demo.pid").read_text() == f"{os.getpid()} \n"
    second.release()


def test_a_dead_demos_master_still_holds_the_lock(demo_dir):
    # The demo hands the lock to what it starts, then dies; its "master"
    # (here a sleep) lives on.
    first = holder(demo_dir, """\
        child = subprocess.Popen(["sleep", "60"], pass_fds=(lock.fd,))
        print(child.pid, flush=True)
        """)
    master = int(first.stdout.readline())
    first.wait()
    try:
        with pytest.raises(DemoRunning) as refused:
            DemoLock(str(demo_dir)).acquire()
        assert str(refused.value) == (
            f"the 'make run' that ran this farm (pid {first.pid}, {URL}) is gone, but "
            f"the master or slaves it started still run and hold {demo_dir}/demo.pid; "
            "stop them first")
    finally:
        os.kill(master, signal.SIGKILL)
    # Once it is gone too (a killed process closes its files at once),
    # the lock is free.
    deadline = time.monotonic() + 10
    while True:
        try:
            DemoLock(str(demo_dir)).acquire().release()
            break
        except DemoRunning:
            assert time.monotonic() < deadline, "the lock stayed taken"
            time.sleep(0.05)
