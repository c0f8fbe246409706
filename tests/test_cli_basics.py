"""``buildmaster upgrade`` and ``sampledata``, and how the CLI fails."""

import os
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
    assert result.stderr.startswith(
        "buildmaster: error: database postgresql://postgres@127.0.0.1:1/none: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_a_password_in_the_database_url_is_never_shown(tmp_path):
    result = run(tmp_path, "builder", "list", config_text=(
        "[database]\nurl = postgresql://farm:s3cret@127.0.0.1:1/none\n"))
    assert result.returncode == 2
    assert "s3cret" not in result.stderr and "farm:***@127.0.0.1:1/none" in result.stderr


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("command", [
    ["builder", "list"], ["builds"], ["queue"], ["--json", "builder", "list"],
    ["builder", "add", "bob", "http://bob:8221/", "--processor", "386"]])
def test_commands_never_make_a_database_or_directory(tmp_path, command):
    """Only 'upgrade' makes a farm: any other command, run on the wrong
    configuration, says which database it looked for and creates nothing."""
    result = run(tmp_path, *command,
                 config_text="[database]\nurl = sqlite:///missing/farm.db\n")
    assert result.returncode == 2
    assert result.stderr == (
        f"buildmaster: error: no database at {tmp_path}/missing/farm.db (from "
        f"{tmp_path}/farm.conf): name your farm's configuration with --config FILE or "
        "BUILDMASTER_CONFIG, or run 'buildmaster upgrade' to start a new farm there\n")
    assert files_under(tmp_path) == ["farm.conf"]


def test_without_a_configuration_the_error_says_the_defaults_were_used(tmp_path):
    result = run(tmp_path, "builder", "list")
    assert result.returncode == 2
    assert f"no database at {tmp_path}/var/buildmaster.db (the default: no --config" \
        in result.stderr
    assert files_under(tmp_path) == []


def test_a_reading_command_on_a_farm_creates_nothing(tmp_path):
    config = "[database]\nurl = sqlite:///farm.db\n"
    assert run(tmp_path, "upgrade", config_text=config).returncode == 0
    assert run(tmp_path, "sampledata", config_text=config).returncode == 0
    before = files_under(tmp_path)
    for command in (["builder", "list"], ["builds"], ["queue"], ["log", "8"]):
        run(tmp_path, *command, config_text=config)
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("command", [["builds"], ["--json", "builder", "list"],
                                     ["queue"], ["builder", "list"]])
def test_a_listing_into_a_closed_pipe_ends_quietly(tmp_path, command):
    """``buildmaster builds | head -1``: the reader is gone before the
    listing is written."""
    config = tmp_path / "farm.conf"
    config.write_text("[database]\nurl = sqlite:///farm.db\n")
    for setup in (["upgrade"], ["sampledata"]):
        assert run(tmp_path, *setup, config_text=config.read_text()).returncode == 0
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "buildmaster.cli", "--config", str(config), *command],
            cwd=tmp_path, stdout=writer, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (0, "")
