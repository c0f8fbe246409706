"""Running ``buildmaster`` commands in tests: in-process or as a real process."""

import dataclasses
import json
import subprocess
import sys

import pytest

from buildmaster.cli import main


@dataclasses.dataclass
class Result:
    status: int
    out: str
    err: str

    def json(self):
        assert self.status == 0, self.err
        return json.loads(self.out)

    def error_line(self):
        """The one line a failed command printed on stderr."""
        assert self.status == 2, (self.status, self.out, self.err)
        assert "Traceback" not in self.err
        lines = self.err.splitlines()
        assert len(lines) == 1, self.err
        return lines[0]


class Cli:
    """``cli('builder', 'list')`` runs the command against the test farm.

    The test's session is rolled back around each command, so it holds no
    read lock while the command writes (SQLite), and expired after it, so
    it sees what the command committed."""

    def __init__(self, config, session, capsys):
        self.config, self.session, self.capsys = config, session, capsys

    def __call__(self, *argv):
        self.session.rollback()
        self.capsys.readouterr()
        try:
            status = main(["--config", self.config.path, *argv])
        except SystemExit as exit:  # argparse's usage errors
            status = exit.code
        out, err = self.capsys.readouterr()
        self._forget()
        return Result(status, out, err)

    def process(self, *argv):
        """The same command as a real ``python -m buildmaster.cli`` process."""
        self.session.rollback()
        done = subprocess.run(
            [sys.executable, "-m", "buildmaster.cli", "--config", self.config.path,
             *argv], capture_output=True, text=True, timeout=120)
        self._forget()
        return Result(done.returncode, done.stdout, done.stderr)

    def _forget(self):
        self.session.rollback()
        self.session.expire_all()


@pytest.fixture
def cli(farm_config, session, sample, capsys):
    return Cli(farm_config, session, capsys)
