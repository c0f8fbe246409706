"""Slave configuration: good files load, bad ones give one clear line."""

import os
import subprocess
import sys

import pytest

import slave
from slave.config import ConfigError, load_config

GOOD = {
    "bindhost": "127.0.0.1", "bindport": "8221", "architecturetag": "amd64",
    "filecache": "/srv/cache", "workdir": "/srv/work", "build_timeout": "60",
}


def write_config(tmp_path, values, section="slave"):
    path = tmp_path / "slave.ini"
    lines = [f"[{section}]"] + [f"{key} = {value}"
                                for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_good_config_loads(tmp_path):
    config = load_config(write_config(tmp_path, GOOD))
    assert config.bindport == 8221
    assert config.build_timeout == 60.0
    assert config.architecturetag == "amd64"


@pytest.mark.parametrize("key", sorted(GOOD))
def test_missing_key_names_file_section_and_key(tmp_path, key):
    path = write_config(tmp_path, {k: v for k, v in GOOD.items() if k != key})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: [slave] {key}:")


@pytest.mark.parametrize("key,value", [
    ("bindport", "eighty"), ("bindport", "70000"), ("build_timeout", "0"),
    ("build_timeout", "soon")])
def test_bad_numbers(tmp_path, key, value):
    path = write_config(tmp_path, dict(GOOD, **{key: value}))
    with pytest.raises(ConfigError, match=f"\\[slave\\] {key}:.*{value}"):
        load_config(path)


def test_an_unknown_section_is_refused(tmp_path):
    path = tmp_path / "slave.ini"
    path.write_text("[slave]\n" + "".join(f"{k} = {v}\n" for k, v in GOOD.items())
                    + "[slav]\nbindport = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value) == f"{path}: [slav]: unknown section (the slave reads only [slave])"


def test_a_misspelt_key_is_named_as_unknown_not_missing(tmp_path):
    values = dict(GOOD)
    values["build_timout"] = values.pop("build_timeout")
    path = write_config(tmp_path, values)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: [slave] build_timout: unknown key (known: ")


def test_missing_section_and_file(tmp_path):
    with pytest.raises(ConfigError, match=r"missing section \[slave\]"):
        load_config(write_config(tmp_path, GOOD, section="other"))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(str(tmp_path / "absent.ini"))


def run(command, config_path):
    env = dict(os.environ, BUILDMASTER_SLAVE_CONFIG=config_path)
    return subprocess.run(command, env=env, capture_output=True, text=True,
                          timeout=60)


def script(name):
    return os.path.join(os.path.dirname(sys.executable), name)


@pytest.mark.parametrize("runner", ["cli", "twistd"])
def test_bad_config_exits_2_with_one_line(tmp_path, runner):
    path = write_config(tmp_path, {k: v for k, v in GOOD.items()
                                   if k != "workdir"})
    tac = os.path.join(os.path.dirname(slave.__file__), "slave.tac")
    command = ([script("buildmaster-slave"), "--config", path]
               if runner == "cli" else
               [script("twistd"), "-n", "--pidfile=", "-y", tac])
    result = run(command, path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{path}: [slave] workdir: missing or empty" in result.stderr


def test_uncreatable_directory_names_file_and_key(tmp_path):
    (tmp_path / "blocker").write_text("a file, not a directory")
    path = write_config(tmp_path, dict(GOOD, workdir=tmp_path / "blocker/w",
                                       filecache=tmp_path / "cache"))
    result = run([script("buildmaster-slave"), "--config", path], path)
    assert result.returncode == 2
    assert f"{path}: [slave] workdir: cannot create" in result.stderr
    assert "Traceback" not in result.stderr
