"""``buildmaster upgrade`` and ``sampledata``, and how the CLI fails."""

import subprocess
import sys

import pytest

from buildmaster.testing.database import scratch_database


def run(tmp_path, *args, config_text=None):
    command = [sys.executable, "-m", "buildmaster.cli"]
    if config_text is not None:
        path = tmp_path / "farm.conf"
        path.write_text(config_text)
        command += ["--config", str(path)]
    return subprocess.run(command + list(args), cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def scratch_config(tmp_path):
    url, drop = scratch_database()
    yield f"[database]\nurl = {url}\n"
    drop()


def test_upgrade_and_sampledata_twice(tmp_path, scratch_config):
    for _ in range(2):
        upgraded = run(tmp_path, "upgrade", config_text=scratch_config)
        assert upgraded.returncode == 0, upgraded.stderr
    assert "up to date" in upgraded.stdout
    first = run(tmp_path, "sampledata", config_text=scratch_config)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "Sample data loaded."
    second = run(tmp_path, "sampledata", config_text=scratch_config)
    assert second.returncode == 0
    assert "already there" in second.stdout


def test_sampledata_before_upgrade_says_what_to_do(tmp_path, scratch_config):
    result = run(tmp_path, "sampledata", config_text=scratch_config)
    assert result.returncode == 2
    assert "run 'buildmaster upgrade'" in result.stderr


def test_broken_config_is_one_line_and_status_2(tmp_path):
    result = run(tmp_path, "upgrade", config_text="[database]\nurl = nonsense\n")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert "farm.conf: [database] url:" in result.stderr


def test_unreachable_database_is_one_line(tmp_path):
    result = run(tmp_path, "upgrade",
                 config_text="[database]\nurl = postgresql://postgres@127.0.0.1:1/none\n")
    assert result.returncode == 2
    assert result.stderr.startswith("buildmaster: error: database:")
    assert "Traceback" not in result.stderr
