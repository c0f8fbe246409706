"""The configuration file: defaults, checks, one-line errors."""

import os
import re

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
    # It shows the default warning patterns as they are.
    assert [pattern.pattern for pattern in loaded.status.warning_patterns] == [
        pattern.pattern for pattern in config.load(None).status.warning_patterns]


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


def test_external_dependency_lines_by_series_and_archive(tmp_path):
    loaded = config.load(write(tmp_path, (
        "[external_dependencies.series]\n"
        "ubuntu/breezy = deb http://mirror.example/debian bookworm main\n"
        "  deb [trusted=yes] http://extra.example/%(series)s ./\n"
        "[external_dependencies.archive]\n"
        "ubuntu/~cprov/ppa = deb-src http://ppa.example/cprov breezy main\n")))
    assert loaded.external_dependencies == {
        "series": {"ubuntu/breezy": ["deb http://mirror.example/debian bookworm main",
                                     "deb [trusted=yes] http://extra.example/%(series)s ./"]},
        "archive": {"ubuntu/~cprov/ppa": ["deb-src http://ppa.example/cprov breezy main"]}}
    assert config.load(write(tmp_path, "")).external_dependencies == {
        "series": {}, "archive": {}}


@pytest.mark.parametrize("text, expected", [
    ("[external_dependencies.series]\nbreezy = deb http://m/debian bookworm main\n",
     "[external_dependencies.series] breezy: not DISTRIBUTION/SERIES"),
    ("[external_dependencies.archive]\nubuntu/primary = http://m/debian bookworm\n",
     "[external_dependencies.archive] ubuntu/primary: not a sources.list line: "
     "'http://m/debian bookworm'"),
    ("[archives]\nsigning_key = no-such-key.asc\n",
     "[archives] signing_key: cannot read"),
    ("[archives]\nhttp_port = web\n", "[archives] http_port:"),
])
def test_bad_archive_settings_name_the_key(tmp_path, text, expected):
    with pytest.raises(config.ConfigError, match=re.escape(expected)):
        config.load(write(tmp_path, text))


def test_archive_paths_follow_the_config_file(tmp_path):
    (tmp_path / "farm.asc").write_text("key")
    loaded = config.load(write(tmp_path, "[archives]\nroot = trees\nsigning_key = farm.asc\n"))
    assert loaded.archives.root == str(tmp_path / "trees")
    assert loaded.archives.signing_key == str(tmp_path / "farm.asc")
    assert os.path.isdir(loaded.archives.root)
