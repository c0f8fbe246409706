"""``buildmaster builder add|list|enable|disable`` against the sample farm."""

import sqlalchemy as sa

from buildmaster.model import Builder
from tests.clihelpers import cli  # noqa: F401

BUILDER_KEYS = {"name", "title", "url", "processor", "virtualized", "manual",
                "builderok", "failnotes", "failure_count", "current_build"}


def builder(session, name):
    return session.scalars(sa.select(Builder).filter_by(name=name)).one()


def test_list_is_a_table_by_default(cli):
    result = cli("builder", "list")
    assert result.status == 0
    header, bob, frog = result.out.splitlines()
    assert header.split() == ["NAME", "URL", "PROCESSOR", "VIRT", "MANUAL", "OK",
                              "BUILD", "FAILNOTES"]
    assert bob.split() == ["bob", "http://localhost:8221/", "386", "no", "no", "yes",
                           "8", "-"]
    assert frog.split()[0] == "frog"
    # Columns line up: every row's URL starts where the header's does.
    assert bob.index("http") == frog.index("http") == header.index("URL")


def test_list_as_json(cli):
    bob, frog = cli("--json", "builder", "list").json()
    assert set(bob) == BUILDER_KEYS
    assert bob == {
        "name": "bob", "title": "Bob The Builder", "url": "http://localhost:8221/",
        "processor": "386", "virtualized": False, "manual": False, "builderok": True,
        "failnotes": None, "failure_count": 0, "current_build": 8}
    assert (frog["name"], frog["current_build"]) == ("frog", None)
    # The flag may follow the subcommand too.
    assert cli("builder", "list", "--json").json() == [bob, frog]


def test_add_registers_a_builder(cli, session):
    result = cli("builder", "add", "zebra", "http://zebra.example:8221/",
                 "--processor", "amd64", "--virtualized", "--manual",
                 "--title", "Zebra the builder")
    assert result.status == 0, result.err
    assert result.out == ("Builder zebra added: http://zebra.example:8221/, "
                          "processor amd64, virtualized, manual.\n")
    zebra = builder(session, "zebra")
    assert (zebra.title, zebra.url, zebra.processor.name) == (
        "Zebra the builder", "http://zebra.example:8221/", "amd64")
    assert (zebra.virtualized, zebra.manual, zebra.builderok) == (True, True, True)
    listed = {each["name"]: each for each in cli("--json", "builder", "list").json()}
    assert listed["zebra"]["virtualized"] is True
    assert listed["zebra"]["manual"] is True


def test_add_defaults_title_and_flags(cli, session):
    assert cli("builder", "add", "plain", "http://plain:8221/",
               "--processor", "386").status == 0
    plain = builder(session, "plain")
    assert (plain.title, plain.virtualized, plain.manual) == ("plain", False, False)


def test_add_refuses_bad_input_in_one_line(cli, session):
    def refused(*argv):
        return cli("builder", "add", *argv).error_line()

    assert refused("bob", "http://other:8221/", "--processor", "386") == \
        "buildmaster: error: a builder named 'bob' already exists"
    assert refused("new", "http://new:8221/", "--processor", "sparc") == \
        "buildmaster: error: no processor named 'sparc' (known: 386, amd64)"
    assert refused("new", "ftp://new/", "--processor", "386") == \
        "buildmaster: error: 'ftp://new/' is not an http:// or https:// URL"
    assert "is not a builder name" in refused("New Builder", "http://new/",
                                              "--processor", "386")
    assert session.scalar(sa.select(sa.func.count()).select_from(Builder)) == 2


def test_disable_then_enable(cli, session):
    result = cli("builder", "disable", "frog", "--reason", "disk full on /build")
    assert (result.status, result.out) == (
        0, "Builder frog disabled: disk full on /build\n")
    frog = builder(session, "frog")
    assert (frog.builderok, frog.failnotes) == (False, "disk full on /build")
    listed = {each["name"]: each for each in cli("--json", "builder", "list").json()}
    assert (listed["frog"]["builderok"], listed["frog"]["failnotes"]) == (
        False, "disk full on /build")

    frog = builder(session, "frog")
    frog.failure_count = 4
    session.commit()
    result = cli("builder", "enable", "frog")
    assert (result.status, result.out) == (0, "Builder frog enabled.\n")
    frog = builder(session, "frog")
    assert (frog.builderok, frog.failnotes, frog.failure_count) == (True, None, 0)


def test_disable_without_reason_says_an_operator_did_it(cli, session):
    assert cli("builder", "disable", "bob").status == 0
    assert builder(session, "bob").failnotes == "Disabled by an operator."


def test_unknown_builder_is_one_line(cli):
    for action in ("enable", "disable"):
        assert cli("builder", action, "nobody").error_line() == \
            "buildmaster: error: no builder named 'nobody'"


def test_as_a_real_process(cli, session):
    added = cli.process("builder", "add", "yak", "http://yak:8221/", "--processor", "386")
    assert added.status == 0, added.err
    names = [each["name"] for each in cli.process("builder", "list", "--json").json()]
    assert names == ["bob", "frog", "yak"]
    missing = cli.process("builder", "enable", "nobody")
    assert missing.error_line() == "buildmaster: error: no builder named 'nobody'"
    usage = cli.process("builder", "frobnicate")
    assert usage.status == 2 and "invalid choice: 'frobnicate'" in usage.err
