"""Shared bits of the scanner and upload tests."""

import logging

from buildmaster.model import UTC, BuildStatus
from buildmaster.scanner import BuilderGroup


class RecordingMailer:
    """Records the failure notices the scanner asks for."""

    def __init__(self):
        self.sent = []

    def notifyBuildFailure(self, build, upload_log=None):
        self.sent.append((build.id, build.buildstate, upload_log))

    def flush(self):
        pass


def make_group(transaction, farm_config, librarian, logger=None):
    return BuilderGroup(logger or logging.getLogger("test.scanner"), transaction,
                        config=farm_config, librarian=librarian,
                        mailer=RecordingMailer())


def start_job(build, builder, slave):
    """A queue entry for ``build`` running on ``builder`` (talking to ``slave``)."""
    import datetime
    entry = build.buildqueue_record or build.createBuildQueueEntry()
    entry.markAsBuilding(builder, datetime.datetime(2024, 1, 1, tzinfo=UTC))
    build.buildstate = BuildStatus.BUILDING
    builder.setSlaveForTesting(slave)
    return entry
