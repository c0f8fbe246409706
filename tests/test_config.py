"""The configuration file: defaults, checks, one-line errors."""

import pytest

from buildmaster import config


def write(tmp_path, text):
    path = tmp_path / "buildmaster.conf"
    path.write_text(text)
    return str(path)


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded = config.load(None)
    assert loaded.database.url == f"sqlite:///{tmp_path}/var/buildmaster.db"
    assert loaded.builddmaster.root == str(tmp_path / "var" / "builddmaster")
    assert loaded.archives.primary_url == "http://ftpmaster.internal"
    assert {job.name for job in loaded.jobs} >= {
        "slave_scanner", "queue_builder", "dispatcher", "publisher"}
    assert loaded.sequencer.mailer_targets == ["-"]


def test_the_example_file_loads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded = config.load(_example())
    assert loaded.mail.smtp_port == 25
    assert {job.name for job in loaded.jobs} >= {"slave_scanner", "queue_builder", "dispatcher"}


def _example():
    import os
    return os.path.join(os.path.dirname(__file__), "..", "buildmaster.conf.example")


@pytest.mark.parametrize("text, expected", [
    ("[nonsense]\nx = 1\n", "[nonsense]: unknown section"),
    ("[database]\nuri = sqlite://\n", "[database] uri: unknown key"),
    ("[database]\nurl = mysql://x/y\n", "[database] url: not a sqlite:// or postgresql:// URL"),
    ("[archives]\nppa_url = ftp://ppa\n", "[archives] ppa_url: not an http URL"),
    ("[builddmaster]\nsocket_timeout = soon\n", "[builddmaster] socket_timeout:"),
    ("[sequencer.job.x]\ncommand = true\n", "[sequencer.job.x] mindelay: missing key"),
    ("[sequencer.job.x]\nmindelay = 5\n", "[sequencer.job.x] command: give exactly one"),
    ("[builddmaster]\nroot = /proc/forbidden\n", "[builddmaster] root: cannot create"),
    ("not an ini file\n", "[-]: not an ini file"),
])
def test_bad_files_name_file_section_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(config.ConfigError) as raised:
        config.load(path)
    message = str(raised.value)
    assert message.startswith(path + ": ")
    assert expected in message
    assert "\n" not in message


def test_relative_paths_follow_the_config_file(tmp_path):
    loaded = config.load(write(tmp_path, "[database]\nurl = sqlite:///state/bm.db\n"))
    assert loaded.database.url == f"sqlite:///{tmp_path}/state/bm.db"
    assert loaded.librarian.storage == str(tmp_path / "var" / "librarian")
