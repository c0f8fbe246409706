"""Shared bits of the scanner and upload tests."""

import datetime
import email
import email.policy
import logging
from operator import itemgetter

from twisted.internet import defer

import buildmaster.seeds.builder  # noqa: F401  (the seeds' Builder API)
from buildmaster.model import UTC, BuildStatus
from buildmaster.scan.scanner import BuilderGroup


class RecordingMailer:
    """Records the failure notices asked for, sending nothing.

    Only tests/test_dispatch_builddmaster.py still uses it; the scanner's
    own tests mail through a real SMTP server (``delivered``).
    """

    def __init__(self):
        self.sent = []

    def notifyBuildFailure(self, build, upload_log=None):
        self.sent.append((build.id, build.buildstate, upload_log))

    def holdBuildFailure(self, build, upload_log=None, job=None):
        return (build.id, build.buildstate, upload_log)

    def release(self, held):
        self.sent.append(held)

    def drop(self, held):
        pass

    def flush(self):
        return defer.succeed(None)


def make_group(transaction, farm_config, librarian, mailer, logger=None):
    return BuilderGroup(logger or logging.getLogger("test.scanner"), transaction,
                        config=farm_config, librarian=librarian, mailer=mailer)


@defer.inlineCallbacks
def delivered(mailer, smtp_server):
    """Deliver what ``mailer`` queued; fires with [(recipients, parsed
    message)] received by ``smtp_server`` so far, recipients sorted in
    reverse as the seeds do."""
    yield mailer.flush()
    received = sorted(smtp_server.messages, key=itemgetter(1), reverse=True)
    return [(to, email.message_from_string(raw, policy=email.policy.default))
            for _, to, raw in received]


def start_job(build, builder, slave):
    """A queue entry for ``build`` running on ``builder`` (talking to ``slave``)."""
    entry = build.buildqueue_record or build.createBuildQueueEntry()
    entry.markAsBuilding(builder, datetime.datetime(2024, 1, 1, tzinfo=UTC))
    build.buildstate = BuildStatus.BUILDING
    builder.setSlaveForTesting(slave)
    return entry
