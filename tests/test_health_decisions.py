"""Build health decisions, as pure functions: colours, what a change is,
which modes mail it, flaky pairs, sick builders, told builder states."""

import io
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildmaster import config
from buildmaster.health import colours
from buildmaster.health.builders import FAILED, OK, QUARANTINED, observed_state
from buildmaster.health.colours import (
    FAILURE_MARKERS, GREEN, NONE, ORANGE, RED, colour, read_log)
from buildmaster.health.flaky import is_flaky
from buildmaster.health.quarantine import Attempt, is_sick
from buildmaster.health.transitions import MODES, change, wants_mail

PATTERNS = config.load(None, check_dirs=False).status.warning_patterns


@pytest.mark.parametrize("state, warnings, expected", [
    ("FULLYBUILT", 0, GREEN), ("FULLYBUILT", None, GREEN), ("FULLYBUILT", 3, ORANGE),
    ("FAILEDTOBUILD", 0, RED), ("FAILEDTOUPLOAD", 2, RED), ("CHROOTWAIT", 0, RED),
    ("MANUALDEPWAIT", 0, NONE), ("SUPERSEDED", 0, NONE), ("GIVENBACK", 0, NONE),
    ("NEEDSBUILD", 0, None), ("BUILDING", 0, None),
])
def test_every_state_has_its_colour(state, warnings, expected):
    assert colour(state, warnings) == expected


def test_dpkg_compiler_and_upload_warnings_are_counted_by_default():
    log = ["dpkg-gencontrol: warning: Depends field of package x: unknown substitution",
           "src/x.c:12:5: warning: unused variable 'y' [-Wunused-variable]",
           "x.c:3: warning: implicit declaration",
           "WARNING Upload of x_1.0_i386.deb: overriding section",
           "checking whether warnings are errors... no",
           "make[1]: warning: jobserver unavailable",
           "dpkg-buildpackage: info: binary-only upload"]
    assert read_log(log, PATTERNS)[0] == 4


def test_the_excerpt_starts_at_the_first_error():
    log = [f"step {n}\n" for n in range(30)] + [
        "x.c:1:1: error: expected ';'\n", "make: *** [all] Error 1\n", "\n"]
    warnings, excerpt = read_log(log, PATTERNS)
    assert (warnings, excerpt) == (0, "x.c:1:1: error: expected ';'\nmake: *** [all] Error 1")


def test_without_an_error_line_the_excerpt_is_the_logs_end():
    log = [f"step {n}" for n in range(30)]
    assert read_log(log, PATTERNS, size=3) == (0, "step 27\nstep 28\nstep 29")
    assert read_log([], PATTERNS) == (0, None)


def _read_line_by_line(lines, patterns, size=12):
    """read_log's meaning, one line at a time: what its block search must equal."""
    warnings, failure, tail = 0, [], []
    for line in lines:
        line = line.rstrip("\r\n")
        warnings += any(pattern.search(line) for pattern in patterns)
        if failure:
            failure += [line][:size - len(failure)]
        elif any(marker in line for marker in FAILURE_MARKERS):
            failure.append(line)
        else:
            tail = (tail + [line])[-size:]
    chosen = failure or tail
    while chosen and not chosen[-1].strip():
        chosen.pop()
    return warnings, ("\n".join(chosen) if chosen else None)


LOG_PIECES = ["WARNING ", "WARNING", "dpkg-source: warning: x", "f.c:12: warning: y",
              "f.c:1:3: warning: z", "", " ", "error: bad", "E: apt", "*** make", "FAILED",
              "a warning", "deprecated", "\r", "Error 2", "\n", "\r\n"]


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from(LOG_PIECES), max_size=80),
       block_lines=st.sampled_from([1, 2, 3, 4096]))
def test_reading_a_log_in_blocks_counts_and_cuts_as_line_by_line(pieces, block_lines):
    lines = io.StringIO("".join(pieces)).readlines()
    patterns = PATTERNS + config._patterns("warning$\n^$\n\\bdeprecated\\b")
    with mock.patch.object(colours, "BLOCK_LINES", block_lines):
        assert read_log(lines, patterns) == _read_line_by_line(lines, patterns)


@pytest.mark.parametrize("previous, current, flaky, expected", [
    (GREEN, RED, False, "regression"), (ORANGE, RED, False, "regression"),
    (RED, RED, False, "still-failing"), (RED, GREEN, False, "fixed"),
    (RED, ORANGE, False, "fixed"), (GREEN, ORANGE, False, "new-warnings"),
    (ORANGE, GREEN, False, "warnings-gone"), (GREEN, GREEN, False, "unchanged"),
    (None, RED, False, "first"), (RED, GREEN, True, "flaky"), (None, GREEN, True, "flaky"),
])
def test_what_a_build_does_to_its_line(previous, current, flaky, expected):
    assert change(previous, current, flaky) == expected


# (previous, current) -> the modes that mail it
MAILED_BY = {
    (GREEN, RED): {"problem", "change", "failing", "warnings"},
    (ORANGE, RED): {"problem", "change", "failing", "warnings"},
    (RED, RED): {"failing", "warnings"},
    (None, RED): {"failing", "warnings"},
    (RED, GREEN): {"change"},
    (RED, ORANGE): {"change", "warnings"},
    (GREEN, ORANGE): {"change", "warnings"},
    (ORANGE, ORANGE): {"warnings"},
    (None, ORANGE): {"warnings"},
    (ORANGE, GREEN): {"change"},
    (GREEN, GREEN): set(),
    (None, GREEN): set(),
}


@pytest.mark.parametrize("previous, current", sorted(MAILED_BY, key=str))
def test_each_mode_mails_what_buildbot_mails(previous, current):
    mailed = {mode for mode in MODES if wants_mail((mode,), previous, current)}
    assert mailed == MAILED_BY[previous, current]


def test_several_modes_mail_what_any_of_them_mails():
    assert wants_mail(("problem", "change"), RED, GREEN)
    assert not wants_mail(("problem", "change"), RED, RED)


def test_a_mode_the_list_does_not_know_is_refused(tmp_path):
    path = tmp_path / "buildmaster.conf"
    path.write_text("[status]\nmode = problem, loud\n")
    with pytest.raises(config.ConfigError) as raised:
        config.load(str(path), check_dirs=False)
    assert "[status] mode: not a mode: loud (known: problem, change, failing, warnings)" \
        in str(raised.value)
    path.write_text("[status]\nwarning_patterns = (unclosed\n")
    with pytest.raises(config.ConfigError, match=r"\[status\] warning_patterns: bad"):
        config.load(str(path), check_dirs=False)


def test_only_red_then_good_is_flaky():
    assert is_flaky(RED, GREEN) and is_flaky(RED, ORANGE)
    assert not is_flaky(RED, RED) and not is_flaky(GREEN, GREEN)
    assert not is_flaky(None, GREEN)


FAST_FAIL = Attempt(RED, 10.0, built_elsewhere=True)


def test_three_fast_failures_that_built_elsewhere_make_a_builder_sick():
    assert is_sick([FAST_FAIL] * 3, 3, 120)
    assert is_sick([FAST_FAIL] * 3 + [Attempt(GREEN, 500.0, False)], 3, 120)


@pytest.mark.parametrize("odd_one", [
    Attempt(RED, 600.0, True),  # slow: a real failure takes its time
    Attempt(RED, 10.0, False),  # the source failed everywhere
    Attempt(GREEN, 10.0, True),  # the builder built something
    Attempt(RED, None, True),  # never started
])
def test_one_attempt_that_does_not_fit_keeps_a_builder_in_use(odd_one):
    assert not is_sick([FAST_FAIL, odd_one, FAST_FAIL], 3, 120)
    assert not is_sick([FAST_FAIL, FAST_FAIL], 3, 120)


def test_a_builder_is_in_the_state_last_told_until_it_is_ok():
    assert observed_state(True, QUARANTINED) == OK
    assert observed_state(False, OK) == FAILED
    assert observed_state(False, QUARANTINED) == QUARANTINED
    assert observed_state(False, FAILED) == FAILED
