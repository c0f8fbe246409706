"""The farm file: apply a plan, export the same text, refuse bad input whole."""

import contextlib
import io
import pathlib

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildmaster.model import (
    Archive, Build, BuildQueue, BuildStatus, Builder, DistroArchSeries, DistroSeries,
    OpenPGPKey, Person)
from buildmaster.testing.gpgkeys import throwaway_keys  # noqa: F401
from tests.clihelpers import Cli, cli  # noqa: F401

EXAMPLE = '''\
[[processor]]
name = "amd64"
title = "AMD64"

[[distribution]]
name = "acme"
title = "Acme Linux"
components = ["main", "contrib"]

[[distribution.series]]
name = "rocket"
version = "1.0"
status = "DEVELOPMENT"
architectures = { amd64 = "amd64" }
nominated_arch_indep = "amd64"
external_dependencies = ["deb http://mirror.example/debian bookworm main"]

[[person]]
name = "alice"
email = "alice@example.org"
openpgp_keys = ["alice.asc"]

[[archive]]
reference = "~alice/tools"
distribution = "acme"
private = true

[[builder]]
name = "bob"
url = "http://127.0.0.1:8221/"
processor = "amd64"
'''


@pytest.fixture
def empty_cli(farm_config, session, capsys):
    """``buildmaster`` on a migrated database with nothing in it."""
    return Cli(farm_config, session, capsys)


class FarmDir(type(pathlib.Path())):
    """A directory holding a farm file; ``fingerprint`` is alice's key's."""

    fingerprint = None


@pytest.fixture
def farm_dir(tmp_path, throwaway_keys):  # noqa: F811
    """A directory with the example farm file and alice's public key."""
    directory = FarmDir(tmp_path)
    directory.fingerprint = throwaway_keys.make("Alice <alice@example.org>")
    throwaway_keys.export(directory / "alice.asc", directory.fingerprint, armor=True)
    (directory / "farm.toml").write_text(EXAMPLE)
    return directory


def write(directory, text, name="farm.toml"):
    path = directory / name
    path.write_text(text)
    return str(path)


@contextlib.contextmanager
def counted_writes():
    """The INSERT, UPDATE and DELETE statements any engine runs meanwhile."""
    writes = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement)
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        yield writes
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


def farm_rows(session):
    """A fingerprint of the farm's rows, to tell that nothing changed (read
    in a transaction ended at once: PostgreSQL's TRUNCATE waits for it)."""
    try:
        return [session.scalars(sa.select(model.id).order_by(model.id)).all()
                for model in (Person, Archive, DistroSeries, DistroArchSeries, Builder,
                              OpenPGPKey)]
    finally:
        session.rollback()


def test_the_example_applies_to_an_empty_database_and_exports_as_written(
        empty_cli, farm_dir, session):
    applied = empty_cli("apply", str(farm_dir / "farm.toml"))
    assert applied.status == 0, applied.err
    assert applied.out.splitlines()[:8] == [
        "+ create processor amd64",
        "+ create person alice <alice@example.org>",
        "+ create distribution acme",
        "+ create series acme/rocket: 1.0 DEVELOPMENT, amd64 (amd64)",
        "+ create archive acme/primary",
        "+ create archive acme/~alice/tools (private; its buildd secret stays in the "
        "database)",
        "+ create builder bob: http://127.0.0.1:8221/ (amd64)",
        "Plan: 7 to create, 0 to change, 0 to retire, 0 left alone.",
    ]
    assert "note: acme/rocket/amd64 has no chroot yet" in applied.out
    exported = empty_cli("export")
    assert exported.status == 0
    body = exported.out.split("\n", 2)[2]
    assert body == EXAMPLE
    ppa = session.scalars(sa.select(Archive).filter_by(name="tools")).one()
    assert ppa.private and len(ppa.buildd_secret) >= 24
    assert ppa.buildd_secret not in applied.out + exported.out
    assert session.scalars(sa.select(OpenPGPKey.fingerprint)).all() == [farm_dir.fingerprint]


def test_a_second_apply_writes_nothing(empty_cli, farm_dir):
    assert empty_cli("apply", str(farm_dir / "farm.toml")).status == 0
    with counted_writes() as writes:
        again = empty_cli("apply", str(farm_dir / "farm.toml"))
    assert again.status == 0
    assert again.out.splitlines()[-1] == \
        f"Nothing to do: the farm already is what {farm_dir / 'farm.toml'} says."
    assert writes == []


def test_export_piped_into_apply_changes_nothing(empty_cli, farm_dir, monkeypatch):
    empty_cli("apply", str(farm_dir / "farm.toml"))
    exported = empty_cli("export").out
    monkeypatch.setattr("sys.stdin", io.StringIO(exported))
    monkeypatch.chdir(farm_dir)
    again = empty_cli("apply", "-")
    assert again.status == 0, again.err
    assert "Nothing to do: the farm already is what standard input says." in again.out


def test_the_sample_worlds_export_applies_to_an_empty_database(cli, farm_config, db, session,
                                                                 tmp_path, capsys):
    exported = cli("export").out
    session.rollback()
    db.empty()
    fresh = Cli(farm_config, session, capsys)
    applied = fresh("apply", write(tmp_path, exported))
    assert applied.status == 0, applied.err
    assert fresh("export").out == exported


def test_the_plan_shows_each_change_with_old_and_new_values(empty_cli, farm_dir):
    empty_cli("apply", str(farm_dir / "farm.toml"))
    changed = (EXAMPLE.replace('status = "DEVELOPMENT"', 'status = "FROZEN"')
               .replace('url = "http://127.0.0.1:8221/"', 'url = "http://127.0.0.1:9000/"')
               .replace('private = true', 'private = true\nrelative_build_score = 100'))
    plan = empty_cli("apply", "--dry-run", write(farm_dir, changed, "changed.toml"))
    assert plan.status == 0
    assert plan.out.splitlines() == [
        "~ change series acme/rocket: status: 'DEVELOPMENT' -> 'FROZEN'",
        "~ change archive acme/~alice/tools: relative_build_score: 0 -> 100",
        "~ change builder bob: url: 'http://127.0.0.1:8221/' -> 'http://127.0.0.1:9000/'",
        "Plan: 0 to create, 3 to change, 0 to retire, 4 left alone.",
        "Dry run: nothing applied.",
    ]
    assert empty_cli("apply", write(farm_dir, changed, "changed.toml")).status == 0
    assert "Nothing to do" in empty_cli("apply", str(farm_dir / "changed.toml")).out


def test_what_the_file_no_longer_names_is_listed_and_retired_only_with_prune(
        empty_cli, farm_dir, session):
    empty_cli("apply", str(farm_dir / "farm.toml"))
    smaller = EXAMPLE.split("[[archive]]")[0]
    path = write(farm_dir, smaller, "smaller.toml")
    listed = empty_cli("apply", path)
    assert listed.out.splitlines()[:3] == [
        "? archive acme/~alice/tools is not in the file (--prune would retire it (disabled))",
        "? builder bob is not in the file (--prune would retire it (disabled))",
        "Plan: 0 to create, 0 to change, 0 to retire, 5 left alone.",
    ]
    pruned = empty_cli("apply", "--prune", path)
    assert "- retire archive acme/~alice/tools: disabled" in pruned.out
    assert "- retire builder bob: disabled" in pruned.out
    assert session.scalars(sa.select(Archive.enabled).filter_by(name="tools")).one() is False
    # Nothing was deleted: the archive and the builder are still there.
    assert session.scalars(sa.select(Builder.name)).all() == ["bob"]
    assert "Nothing to do" in empty_cli("apply", "--prune", path).out


def test_a_series_and_a_builder_retired_with_prune(empty_cli, farm_dir, session):
    empty_cli("apply", str(farm_dir / "farm.toml"))
    without = EXAMPLE.split("[[distribution.series]]")[0] + "[[person]]" + \
        EXAMPLE.split("[[person]]")[1].split("[[builder]]")[0]
    pruned = empty_cli("apply", "--prune", write(farm_dir, without, "without.toml"))
    assert pruned.status == 0, pruned.err
    assert "- retire series acme/rocket: made OBSOLETE" in pruned.out
    assert "- retire builder bob: disabled" in pruned.out
    assert session.scalars(sa.select(DistroSeries.status)).one().name == "OBSOLETE"
    bob = session.scalars(sa.select(Builder)).one()
    assert (bob.builderok, bob.active) == (False, True)


BAD = [
    ("[[processor]\nname = 'x'", "farm.toml: not TOML: "),
    ('[[processor]]\nname = "amd64"\ncolour = "red"',
     "farm.toml: [[processor]] amd64: colour: unknown key"),
    ('[[processor]]\nname = "amd64"\n[[builder]]\nname = "bob"\nurl = "http://x:1/"\n'
     'processor = "amd64"\nvirtualized = "yes"',
     "farm.toml: [[builder]] bob: virtualized: must be true or false, not 'yes'"),
    ('[[builder]]\nname = "bob"\nurl = "http://x:1/"\nprocessor = "sparc"',
     "farm.toml: [[builder]] bob: processor: no processor 'sparc' in the file"),
    ('[[archive]]\nreference = "partner"\ndistribution = "nowhere"',
     "farm.toml: [[archive]] partner: distribution: no distribution 'nowhere' in the file"),
    ('[[processor]]\nname = "amd64"\n[[processor]]\nname = "amd64"',
     "farm.toml: [[processor]] amd64: defined twice"),
    ('[[processor]]\nname = "AMD64"',
     "farm.toml: [[processor]] AMD64: name: 'AMD64' is no valid name"),
    ('[[distribution]]\nname = "acme"\n[[distribution.series]]\nname = "r"\nversion = "1"\n'
     'status = "DEVELOPMENT"\narchitectures = {}\nnominated_arch_indep = "amd64"',
     "farm.toml: [[distribution.series]] acme/r: nominated_arch_indep: 'amd64' is not among"),
    ('[[distribution]]\nname = "acme"\n[[distribution.series]]\nname = "r"\nversion = "1"\n'
     'status = "DEVELOPMENT"\narchitectures = {}\nexternal_dependencies = ["http://x bookworm"]',
     "farm.toml: [[distribution.series]] acme/r: external_dependencies: 'http://x bookworm' "
     "is not a sources.list line"),
    ('[[distribution]]\nname = "acme"\n[[distribution.series]]\nname = "r"\nversion = "1"\n'
     'status = "BROKEN"\narchitectures = {}',
     "farm.toml: [[distribution.series]] acme/r: status: no status 'BROKEN'"),
    ('[[person]]\nname = "alice"\nopenpgp_keys = ["missing.asc"]',
     "farm.toml: [[person]] alice: openpgp_keys: missing.asc: cannot be read"),
    ('[[person]]\nname = "alice"\nopenpgp_keys = ["farm.toml"]',
     "farm.toml: [[person]] alice: openpgp_keys: farm.toml: no ASCII-armoured OpenPGP "
     "public key"),
    ('[[person]]\nname = "alice"\nssh_keys = ["ssh-ed25519 AAAABWEta2V5"]',
     "farm.toml: [[person]] alice: ssh_keys: the key data is of type 'a-key', not "
     "'ssh-ed25519'"),
    ('[[archive]]\nreference = "~nobody/ppa"\ndistribution = "acme"\n'
     '[[distribution]]\nname = "acme"',
     "farm.toml: [[archive]] ~nobody/ppa: reference: no person 'nobody' in the file"),
    ('[[machine]]\nname = "x"', "farm.toml: unknown table or key 'machine'"),
]


@pytest.mark.parametrize("text, line", BAD, ids=[line.split(": ", 2)[-1][:40]
                                                  for _, line in BAD])
def test_bad_input_is_one_line_exit_2_and_nothing_applied(empty_cli, tmp_path, session,
                                                          text, line):
    result = empty_cli("apply", write(tmp_path, text))
    assert result.status == 2
    errors = result.err.splitlines()
    assert len(errors) == 1, result.err
    assert errors[0].startswith("buildmaster: error: " + line.replace(
        "farm.toml", str(tmp_path / "farm.toml"), 1)), errors[0]
    assert farm_rows(session) == [[]] * 6


def test_every_problem_of_a_file_is_told_at_once(empty_cli, tmp_path):
    text = ('[[processor]]\nname = "Bad"\n[[builder]]\nname = "b"\nurl = "ftp://x"\n'
            'processor = "amd64"\ncolour = 1')
    result = empty_cli("apply", write(tmp_path, text))
    assert result.status == 2
    assert [line.split(": ", 5)[3:] for line in result.err.splitlines()] == [
        ["[[processor]] Bad", "name", "'Bad' is no valid name (lower-case letters, digits "
                              "and '+-.', starting with a letter or digit; at most 64 "
                              "characters)"],
        ["[[builder]] b", "colour", "unknown key (known: manual, name, processor, title, "
                                    "url, virtualized)"],
        ["[[builder]] b", "url", "'ftp://x' is no http(s) URL"],
        ["[[builder]] b", "processor", "no processor 'amd64' in the file"]]


def test_changes_that_would_strand_work_are_refused(cli, session, sample, tmp_path):
    exported = cli("export").out
    # Build 8 runs on bob (i386 in hoary), the sample world says.
    assert session.get(Build, 8).buildstate == BuildStatus.BUILDING
    moved = exported.replace('processor = "386"\n\n[[builder]]', 'processor = "amd64"\n\n'
                             '[[builder]]', 1)
    assert moved != exported
    result = cli("apply", write(tmp_path, moved))
    assert result.status == 2
    assert "builder bob: cannot change its processor while it builds build 8" in result.err
    hoary_gone = exported.replace(
        'name = "hoary"\nversion = "5.04"\nstatus = "DEVELOPMENT"\n'
        'architectures = { i386 = "386" }\nnominated_arch_indep = "i386"',
        'name = "hoary"\nversion = "5.04"\nstatus = "DEVELOPMENT"\narchitectures = {}')
    assert hoary_gone != exported
    result = cli("apply", write(tmp_path, hoary_gone))
    assert result.status == 2
    assert ("series ubuntu/hoary: cannot remove architecture i386: "
            in result.err), result.err
    assert session.scalars(sa.select(BuildQueue.builder_id).where(
        BuildQueue.build_id == 8)).one() is not None


def _mutations():
    lines = EXAMPLE.splitlines()
    return st.lists(st.tuples(st.integers(0, len(lines) - 1),
                              st.sampled_from(["drop", "dup", "garble", "swap-quote"])),
                    min_size=1, max_size=3)


def _mutate(text, mutations):
    lines = text.splitlines()
    for index, how in mutations:
        index %= len(lines)
        if how == "drop":
            del lines[index]
        elif how == "dup":
            lines.insert(index, lines[index])
        elif how == "garble":
            lines[index] = lines[index][::-1]
        else:
            lines[index] = lines[index].replace('"', "'", 1)
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=_mutations())
def test_a_mutated_file_is_applied_whole_or_not_at_all(empty_cli, farm_dir, db, session,
                                                       mutations):
    session.rollback()
    db.empty()
    before = farm_rows(session)
    text = _mutate(EXAMPLE, mutations)
    result = empty_cli("apply", write(farm_dir, text, "mutated.toml"))
    if result.status != 0:
        assert result.status == 2 and "Traceback" not in result.err, result.err
        assert farm_rows(session) == before
        return
    # Applied: the database is what the file says, to the letter.
    again = empty_cli("apply", str(farm_dir / "mutated.toml"))
    assert "Nothing to do" in again.out, (text, again.out, again.err)


def test_a_builder_retired_by_prune_comes_back_when_named_again(empty_cli, farm_dir,
                                                               session):
    path = str(farm_dir / "farm.toml")
    empty_cli("apply", path)
    empty_cli("apply", "--prune", write(farm_dir, EXAMPLE.split("[[builder]]")[0], "b.toml"))
    assert session.scalars(sa.select(Builder.builderok)).one() is False
    back = empty_cli("apply", path)
    assert "~ change builder bob: retired -> back in use" in back.out, back.out
    assert session.scalars(sa.select(Builder.builderok)).one() is True


def test_a_builder_an_operator_disabled_stays_disabled(empty_cli, farm_dir, session):
    path = str(farm_dir / "farm.toml")
    empty_cli("apply", path)
    assert empty_cli("builder", "disable", "bob", "--reason", "new disk").status == 0
    assert "Nothing to do" in empty_cli("apply", path).out
    assert session.scalars(sa.select(Builder.builderok)).one() is False


def test_the_queue_says_when_a_series_has_sources_but_no_chroot(empty_cli, farm_dir, session):
    from buildmaster.model import Distribution, DistroSeries as Series, Person
    from buildmaster.model import rows
    empty_cli("apply", str(farm_dir / "farm.toml"))
    assert "has no chroot" not in empty_cli("queue").out
    alice = session.scalars(sa.select(Person)).one()
    rocket = session.scalars(sa.select(Series)).one()
    acme = session.scalars(sa.select(Distribution)).one()
    release = rows.source_release(session, "hello", "1.0", alice, architecturehintlist="any")
    rows.publish_source(session, release, acme.main_archive, rocket)
    session.commit()
    assert empty_cli("queue").out.splitlines() == [
        "No pending jobs.",
        "note: acme/rocket/amd64 has no chroot: its sources get no build there until "
        "'buildmaster chroot make acme/rocket/amd64'"]
