"""Recording how a build ended: one BuildOutcome per finished attempt.

The outcome is added in the transaction that ends the build (the
caller commits), so a build is never finished without its outcome nor
the other way round, and a master killed afterwards leaves the outcome
unjudged for the next one to tell (buildmaster.health.notify).  Its
queue entry's id is unique among outcomes: a second master recording
the same attempt fails instead of recording it twice.

The build log is read once, line by line, for its warnings and the
first lines of its failure; a failed upload's failure is in its upload
log.
"""

import dataclasses
import gzip
import io
from typing import Optional

from buildmaster.health.colours import NONE, RED, colour, read_log
from buildmaster.model import BuildOutcome, BuildQueue


@dataclasses.dataclass
class Finished:
    """An attempt that just ended: the queue ``entry`` it ran as (deleted
    in the same transaction), with its build log as a gzipped file on the
    master's disk (``log_path``) or as text the master wrote
    (``log_text``), and the upload log of a good build's upload."""

    entry: BuildQueue
    log_path: Optional[str] = None
    log_text: Optional[str] = None
    upload_log: Optional[str] = None


def _log_lines(finished):
    if finished.log_path is not None:
        return gzip.open(finished.log_path, "rt", encoding="utf-8", errors="replace")
    return io.StringIO(finished.log_text or "")


def record_outcomes(session, config, finished):
    """Add a BuildOutcome for each Finished attempt and set each build's
    warnings; the caller commits.  Returns the outcomes."""
    patterns = config.status.warning_patterns
    outcomes = []
    for attempt in finished:
        entry = attempt.entry
        build = entry.build
        with _log_lines(attempt) as lines:
            warnings, excerpt = read_log(lines, patterns)
        upload_warnings, upload_excerpt = read_log(
            io.StringIO(attempt.upload_log or ""), patterns)
        state = build.buildstate.name
        build.warnings = warnings + upload_warnings
        shade = colour(state, build.warnings)
        if state == "FAILEDTOUPLOAD":
            excerpt = upload_excerpt or excerpt
        spr = build.sourcepackagerelease
        outcomes.append(BuildOutcome(
            build=build, buildqueue_id=entry.id,
            sourcepackagename_id=spr.sourcepackagename_id, sourcepackagerelease_id=spr.id,
            archive_id=build.archive_id, distroarchseries_id=build.distroarchseries_id,
            builder=build.builder, state=state, colour=shade, warnings=build.warnings,
            queued_at=entry.created, started_at=entry.date_started,
            finished_at=build.datebuilt, buildlog=build.buildlog,
            excerpt=excerpt if shade == RED else None, builder_fault=False,
            # Nothing to tell of a build that says nothing of its package.
            judged_at=build.datebuilt if shade == NONE else None, mailed=False))
    session.add_all(outcomes)
    return outcomes
