"""No daemon a test starts outlives it (buildmaster/testing/children.py):
a doctest that failed half way left its slaves running for an hour."""

import os
import signal
import subprocess
import sys
import textwrap


def run_pytest(tmp_path, text, name="test_left.py"):
    (tmp_path / name).write_text(textwrap.dedent(text))
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["buildmaster.testing.fixtures"]\n')
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--doctest-glob=*.txt", "--rootdir", str(tmp_path), str(tmp_path / name)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:   # a zombie is gone for good
        return stat.read().split()[2] != "Z"


def test_a_failing_doctest_leaves_no_process_running(tmp_path):
    """As slave-protocol.txt failed: started, then a line that fails, so its
    stop line never runs."""
    pidfile = tmp_path / "pid"
    result = run_pytest(tmp_path, f"""\
        A daemon started, and the story fails before stopping it:

            >>> from buildmaster.testing import children
            >>> daemon = children.spawn(["sleep", "600"])
            >>> _ = open({str(pidfile)!r}, "w").write(str(daemon.pid))
            >>> 1 + 1
            3
            >>> daemon.terminate()
        """, name="story.txt")
    assert "1 failed" in result.stdout, result.stdout + result.stderr
    assert not alive(int(pidfile.read_text()))


def test_a_test_run_hung_up_stops_its_daemons(tmp_path):
    """A run ended by a signal runs no teardown (SIGHUP: a closed terminal
    or CI's runner going away; Twisted's reactor takes SIGTERM and SIGINT
    itself, and the run goes on to its teardowns), yet the daemons go with
    it."""
    pidfile = tmp_path / "pid"
    result = run_pytest(tmp_path, f"""\
        import os, signal
        from buildmaster.testing import children

        def test_killed():
            daemon = children.spawn(["sleep", "600"])
            open({str(pidfile)!r}, "w").write(str(daemon.pid))
            os.kill(os.getpid(), signal.SIGHUP)
        """)
    assert result.returncode == -signal.SIGHUP, result.stdout + result.stderr
    assert not alive(int(pidfile.read_text()))


def test_a_fixtures_daemon_started_before_the_test_is_left_to_it(tmp_path):
    result = run_pytest(tmp_path, """\
        import pytest
        from buildmaster.testing import children

        @pytest.fixture(scope="module")
        def daemon():
            process = children.spawn(["sleep", "600"])
            yield process
            children.stop(process)

        def test_first(daemon):
            pass

        def test_second(daemon):
            assert daemon.poll() is None
        """)
    assert "2 passed" in result.stdout, result.stdout + result.stderr
