"""Bad uploads from real slaves over HTTP (marked chaos): a corrupt
.changes, a file missing, a wrong checksum, a huge file, names climbing
out of the upload directory in the slave's filemap or in the .changes'
Files: each build ends FAILEDTOUPLOAD with the reason in its upload log,
people are told, and nothing is written outside the upload directory."""

import gzip
import os

import pytest

from buildmaster import config as configmodule
from buildmaster.librarian.storage import LibrarianStorage
from buildmaster.model import BuildStatus, LibraryFileAlias
from buildmaster.testing import invariants
from buildmaster.testing.fastfarm import FastFarm
from buildmaster.testing.fastslave import BAD_UPLOADS, ESCAPE

pytestmark = pytest.mark.chaos


def files_named(directory, part):
    return [os.path.join(where, name) for where, _, names in os.walk(directory)
            for name in names if part in name]


def test_bad_uploads_end_failedtoupload_and_write_nothing_outside(tmp_path):
    farm = FastFarm(tmp_path / "farm", builders=3)
    try:
        names = [f"bad-{kind}-1" for kind in sorted(BAD_UPLOADS)] + ["good-1"]
        farm.upload(names)
        farm.start()
        farm.wait_until(lambda: not invariants.unsettled(farm.builds()), "every build ended",
                        timeout=300)
        farm.wait_until(lambda: not invariants._unmailed(farm, farm.builds()), "mailed")
        builds = {row.name: row for row in farm.builds()}
        assert builds["good-1"].buildstate == BuildStatus.FULLYBUILT
        config = configmodule.load(farm.config_path, check_dirs=False)
        librarian = LibrarianStorage(config.librarian.storage)
        from sqlalchemy.orm import Session
        with Session(farm.engine) as session:
            for kind, reason in BAD_UPLOADS.items():
                row = builds[f"bad-{kind}-1"]
                assert row.buildstate == BuildStatus.FAILEDTOUPLOAD, kind
                with librarian.open(session.get(LibraryFileAlias, row.upload_log_id)) as f:
                    upload_log = gzip.decompress(f.read()).decode()
                assert reason in upload_log, (kind, upload_log)
        escaped = ESCAPE.rsplit("/", 1)[1]
        assert files_named(tmp_path, escaped) == []
        tally = invariants.Tally()
        invariants.check_settled(farm, tally)
        assert tally.violations == []
    finally:
        farm.close()
