"""What must hold of a farm after any fault: the fault-injection suite's
checks, each a function returning the violations it found (sentences).

At any instant (``check_structure``), a master killed or its database
cut off included:

* no build is BUILDING without a builder holding its job;
* no builder holds two jobs, and no build has two jobs;
* no job runs on two slaves at once (the fast slaves' journal: a job is
  running on a slave from its build() to the next clean() there);
* no mail was delivered twice once a master had recorded its delivery
  (the SMTP server's journal by Message-ID, against the masters' log
  lines "Mail about ... delivered to ...").  A message the server took
  in the instant before a kill, before the master could strike it off
  its spool, goes out again: SMTP cannot be told "did you get it?", and
  the spool's promise is never to lose one (buildmaster.mail.spool).

Once the farm has settled (``check_settled``):

* every build uploaded exists once and ends in exactly one terminal
  state (each source gets one build, and no build is pending or running);
* no log or upload is lost: every finished build has its build log in
  the librarian, on disk; a FULLYBUILT one has its binaries, each with
  its file on disk; a FAILEDTOUPLOAD one has its upload log;
* every failed build was mailed about.
"""

import collections
import os
import re

import sqlalchemy as sa

from buildmaster.model import (
    BinaryPackageFile, BinaryPackageRelease, BuildStatus, LibraryFileAlias,
    LibraryFileContent)

TERMINAL = {BuildStatus.FULLYBUILT, BuildStatus.FAILEDTOBUILD, BuildStatus.MANUALDEPWAIT,
            BuildStatus.CHROOTWAIT, BuildStatus.SUPERSEDED, BuildStatus.FAILEDTOUPLOAD,
            BuildStatus.CANCELLED}
MAILED = {BuildStatus.FAILEDTOBUILD, BuildStatus.CHROOTWAIT, BuildStatus.FAILEDTOUPLOAD}


class Tally:
    """How many checks ran and what they found."""

    def __init__(self):
        self.checks = collections.Counter()
        self.violations = []

    def add(self, name, found):
        self.checks[name] += 1
        self.violations.extend(f"{name}: {text}" for text in found)

    @property
    def total(self):
        return sum(self.checks.values())


def building_without_builder(builds):
    return [f"build {row.id} ({row.name}) is BUILDING but no builder holds its job"
            for row in builds
            if row.buildstate == BuildStatus.BUILDING and row.queue_builder is None]


def builders_with_two_jobs(builds):
    held = collections.Counter(row.queue_builder for row in builds
                               if row.queue_builder is not None)
    jobs = collections.Counter(row.id for row in builds if row.queue_id is not None)
    return ([f"builder {builder} holds {count} jobs" for builder, count in held.items()
             if count > 1]
            + [f"build {build} has {count} jobs" for build, count in jobs.items()
               if count > 1])


def jobs_running_twice(journal):
    """Jobs (by build id) running on two slaves at once, from the fast
    slaves' journal of build(), abort() and clean() calls."""
    running = {}  # slave port -> build id it runs
    found = []
    for entry in journal:
        slave, build = entry["slave"], entry["job"].split("-")[0] if entry["job"] else None
        if entry["call"] == "build":
            elsewhere = [port for port, job in running.items()
                         if job == build and port != slave]
            if elsewhere:
                found.append(f"build {build} started on slave {slave} while running on "
                             f"slave {elsewhere[0]}")
            running[slave] = build
        elif entry["call"] == "clean":
            running.pop(slave, None)
    return found


_FAILURE_MAIL = re.compile(r"<build(\d+)-job\d+-(\w+)-\d+@")
_RECORDED = re.compile(r"Mail about build (\d+) \(.*?\) on \S+ (\w+) delivered to (\S+)$",
                       re.MULTILINE)


def mail_sent_twice(mail, master_log):
    """Messages delivered more than once though a master recorded more
    than one delivery of them: all but one copy must have gone out
    unrecorded, in the instant before a kill."""
    recorded = collections.Counter(_RECORDED.findall(master_log))
    seen = collections.Counter((entry["message_id"], tuple(entry["to"])) for entry in mail)
    found = []
    for (message_id, to), count in seen.items():
        failure = _FAILURE_MAIL.match(message_id)
        told = (recorded[(failure.group(1), failure.group(2), to[0])]
                if failure and len(to) == 1 else count)
        if count > 1 and told > 1:
            found.append(f"message {message_id} delivered {count} times, {told} of them "
                         "recorded by a master")
    return found


def check_structure(farm, tally):
    """The checks that hold at any instant; adds to ``tally``."""
    builds = farm.builds()
    tally.add("building without builder", building_without_builder(builds))
    tally.add("builder with two jobs", builders_with_two_jobs(builds))
    tally.add("job running twice", jobs_running_twice(farm.slaves.journal()))
    tally.add("mail sent twice", mail_sent_twice(farm.slaves.mail(), farm.master.read_log()))
    return builds


def unsettled(builds):
    """The builds not yet in a terminal state."""
    return [row for row in builds if row.buildstate not in TERMINAL]


def check_settled(farm, tally):
    """The checks of a farm whose builds have all ended; adds to ``tally``."""
    builds = check_structure(farm, tally)
    per_source = collections.Counter(row.name for row in builds)
    tally.add("one build per upload", [
        f"{name} has {per_source[name]} builds" for name in farm.uploaded
        if per_source[name] != 1])
    tally.add("terminal state", [
        f"build {row.id} ({row.name}) is {row.buildstate.name}"
        + (" with a job" if row.queue_id is not None else "")
        for row in builds if row.buildstate not in TERMINAL or row.queue_id is not None])
    tally.add("no log or upload lost", _lost_files(farm, builds))
    tally.add("failure mailed", _unmailed(farm, builds))


def _lost_files(farm, builds):
    storage = _storage(farm)
    with farm.engine.connect() as connection:
        paths = dict(connection.execute(
            sa.select(LibraryFileAlias.id, LibraryFileContent.sha1)
            .join(LibraryFileContent, LibraryFileContent.id == LibraryFileAlias.content_id))
            .all())
        binaries = collections.defaultdict(list)
        for build_id, alias_id in connection.execute(
                sa.select(BinaryPackageRelease.build_id, BinaryPackageFile.libraryfile_id)
                .join(BinaryPackageFile,
                      BinaryPackageFile.binarypackagerelease_id == BinaryPackageRelease.id)
                .where(BinaryPackageRelease.build_id.in_([row.id for row in builds]))):
            binaries[build_id].append(alias_id)
    found = []

    def missing(alias_id, what, row):
        sha1 = paths.get(alias_id)
        if sha1 is None or not os.path.exists(
                os.path.join(storage, sha1[:2], sha1[2:4], sha1)):
            found.append(f"build {row.id} ({row.name}) {row.buildstate.name}: its {what} "
                         "is not in the librarian")

    for row in builds:
        if row.buildstate in (BuildStatus.FULLYBUILT, BuildStatus.FAILEDTOBUILD,
                              BuildStatus.FAILEDTOUPLOAD, BuildStatus.CHROOTWAIT):
            if row.buildlog_id is None:
                found.append(f"build {row.id} ({row.name}) {row.buildstate.name} has no "
                             "build log")
            else:
                missing(row.buildlog_id, "build log", row)
        if row.buildstate == BuildStatus.FULLYBUILT:
            if not binaries[row.id]:
                found.append(f"build {row.id} ({row.name}) FULLYBUILT has no binaries")
            for alias_id in binaries[row.id]:
                missing(alias_id, "binary", row)
        if row.buildstate == BuildStatus.FAILEDTOUPLOAD:
            if row.upload_log_id is None:
                found.append(f"build {row.id} ({row.name}) FAILEDTOUPLOAD has no upload log")
            else:
                missing(row.upload_log_id, "upload log", row)
    return found


def _storage(farm):
    from buildmaster import config as configmodule
    return configmodule.load(farm.config_path, check_dirs=False).librarian.storage


def _unmailed(farm, builds):
    subjects = " ".join(entry["subject"] or "" for entry in farm.slaves.mail())
    return [f"build {row.id} ({row.name}) {row.buildstate.name} was not mailed about"
            for row in builds
            if row.buildstate in MAILED and f"[Build #{row.id}]" not in subjects]
