"""Counting scan failures and deciding who is to blame.

A builder that does not answer once is usually just slow or restarting,
so nothing happens until ``scan_failure_threshold`` scans in a row have
failed.  That streak is kept in memory, per builder name, by the one
long-lived ScanFailures of the running master: it only needs to live as
long as the streak, and a restarted master starting a fresh streak can
only delay a verdict, never pass a wrong one.

When a streak completes, one failure is counted against the builder
(Builder.failure_count) and its job (Build.failure_count); those are
columns, so they survive restarts.  Then the one with more failures
takes the blame (Launchpad's rule):

* the job, when it has failed on more builders than this builder has
  failed: past ``job_failure_threshold`` the build is failed, before
  that it goes back to the queue to try elsewhere;
* the builder, when it has failed at least as often as its job: past
  ``builder_failure_threshold`` it is taken out of use, and its job goes
  back to the queue either way.
"""

import dataclasses


class ScanFailures:
    """Consecutive failed scans per builder name."""

    def __init__(self, threshold):
        self.threshold = threshold
        self._streaks = {}

    def failed(self, name):
        """Count one failed scan; True when the streak reaches the threshold.

        A completed streak starts again from zero.
        """
        count = self._streaks.get(name, 0) + 1
        if count >= self.threshold:
            self._streaks.pop(name, None)
            return True
        self._streaks[name] = count
        return False

    def succeeded(self, name):
        self._streaks.pop(name, None)

    def streak(self, name):
        return self._streaks.get(name, 0)


@dataclasses.dataclass(frozen=True)
class Verdict:
    fail_builder: bool
    fail_job: bool

    @property
    def requeue_job(self):
        return not self.fail_job


def judge(builder_count, job_count, builder_threshold, job_threshold):
    """The Verdict for counts already including this failure.

    ``job_count`` is None when the builder had no job.
    """
    if job_count is None:
        return Verdict(fail_builder=builder_count >= builder_threshold, fail_job=False)
    if job_count > builder_count:
        return Verdict(fail_builder=False, fail_job=job_count >= job_threshold)
    return Verdict(fail_builder=builder_count >= builder_threshold, fail_job=False)
