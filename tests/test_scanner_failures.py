"""The rules that decide who is to blame for failed scans."""

from buildmaster.slaves.failures import ScanFailures, Verdict, judge


def test_a_streak_completes_at_the_threshold_and_starts_again():
    failures = ScanFailures(3)
    assert [failures.failed("bob") for _ in range(7)] == [
        False, False, True, False, False, True, False]


def test_success_breaks_the_streak_of_that_builder_only():
    failures = ScanFailures(2)
    failures.failed("bob")
    failures.failed("frog")
    failures.succeeded("bob")
    assert failures.streak("bob") == 0
    assert failures.failed("frog") is True


def test_no_job_blames_the_builder_past_its_threshold():
    assert judge(4, None, 5, 3) == Verdict(fail_builder=False, fail_job=False)
    assert judge(5, None, 5, 3) == Verdict(fail_builder=True, fail_job=False)


def test_equal_counts_requeue_until_the_builder_threshold():
    assert judge(1, 1, 5, 3).requeue_job
    assert judge(1, 1, 5, 3) == Verdict(False, False)
    assert judge(5, 5, 5, 3) == Verdict(fail_builder=True, fail_job=False)


def test_the_job_with_more_failures_is_failed_past_its_threshold():
    assert judge(1, 2, 5, 3) == Verdict(fail_builder=False, fail_job=False)
    assert judge(1, 3, 5, 3) == Verdict(fail_builder=False, fail_job=True)
    assert not judge(1, 3, 5, 3).requeue_job


def test_the_builder_with_more_failures_is_failed_past_its_threshold():
    assert judge(4, 1, 5, 3) == Verdict(fail_builder=False, fail_job=False)
    assert judge(5, 1, 5, 3) == Verdict(fail_builder=True, fail_job=False)
