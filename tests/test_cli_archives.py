"""``buildmaster publish``, ``publications`` and ``archive show``."""

import fcntl
import os

from buildmaster.model import Distribution, PackagePublishingStatus
from buildmaster.publisher import layout
from buildmaster.publisher.run import LOCK_NAME
from buildmaster.testing.archives import binary_publication
from tests.clihelpers import cli  # noqa: F401


def pending_binary(session, sample, librarian, name="foo", version="1.0"):
    publication = binary_publication(session, librarian, sample.primary,
                                     sample.hoary["i386"], name, version)
    session.commit()
    return publication


def test_publish_publishes_and_says_what_it_did(cli, session, sample, librarian):
    publication = pending_binary(session, sample, librarian)
    result = cli.process("publish")
    assert result.status == 0, result.err
    assert result.out.startswith("Publisher finished; 1 publication(s) published, ")
    assert "10 suite(s) written" in result.out
    assert "PENDING -> PUBLISHED" in result.err, "the job's log lines on stderr"
    session.refresh(publication)
    assert publication.status == PackagePublishingStatus.PUBLISHED
    again = cli.process("publish")
    assert "0 publication(s) published" in again.out and "0 suite(s)" in again.out


def test_publish_refuses_while_another_publisher_runs(cli, session, sample, farm_config):
    path = os.path.join(farm_config.archives.root, layout.WORK, LOCK_NAME)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = cli.process("publish")
    assert result.status == 2
    assert result.err.splitlines()[-1] == ("buildmaster: error: another publisher is "
                                           "running; try again when it is done")


def test_publications_lists_the_newest_first_and_filters(cli, session, sample, librarian):
    pending_binary(session, sample, librarian, "foo", "1.0")
    pending_binary(session, sample, librarian, "bar", "2.0")
    listed = cli("--json", "publications", "--state", "pending").json()
    assert [(p["kind"], p["name"], p["version"], p["state"], p["suite"]) for p in listed] \
        == [("binary", "bar", "2.0", "PENDING", "hoary"),
            ("binary", "foo", "1.0", "PENDING", "hoary")]
    ppa = cli("--json", "publications", "--archive", "~cprov/ppa").json()
    assert {(p["kind"], p["name"], p["archive"]) for p in ppa} == {
        ("source", "evolution", "~cprov/ppa")}
    table = cli("publications", "--state", "PENDING")
    assert table.out.splitlines()[0].split() == [
        "KIND", "ID", "NAME", "VERSION", "ARCH", "ARCHIVE", "SUITE", "COMPONENT",
        "STATE", "PUBLISHED"]
    assert cli("publications", "--state", "OBSOLETE").out == "No publications.\n"


def test_publications_names_what_is_wrong(cli, session, sample):
    assert cli("publications", "--state", "gone").error_line() == (
        "buildmaster: error: no publication state named 'gone' (known: PENDING, "
        "PUBLISHED, SUPERSEDED, DELETED, OBSOLETE)")
    assert cli("publications", "--archive", "~nobody/ppa").error_line() == (
        "buildmaster: error: ubuntu has no archive '~nobody/ppa'")
    session.add(Distribution(name="debian", displayname="Debian", title="Debian"))
    session.commit()
    assert cli("publications", "--archive", "primary").error_line() == (
        "buildmaster: error: give --distribution (the farm has: ubuntu, debian)")
    assert cli("publications", "--archive", "primary",
               "--distribution", "debian").error_line() == (
        "buildmaster: error: debian has no archive 'primary'")


def test_archive_show_tells_where_an_archive_lives(cli, session, sample, librarian,
                                                   farm_config):
    pending_binary(session, sample, librarian)
    assert cli.process("publish").status == 0
    shown = cli("--json", "archive", "show", "primary").json()
    assert shown["url"] == "http://ftpmaster.internal/ubuntu"
    assert shown["tree"] == os.path.join(farm_config.archives.root, "primary", "ubuntu")
    assert shown["signed"] is True
    assert "hoary-updates" in shown["suites"]
    assert shown["publications"]["PUBLISHED"]["binaries"] == 2
    private = sample.cprov_ppa
    private.private, private.buildd_secret = True, "not-shown"
    session.commit()
    text = cli("archive", "show", "~cprov/ppa").out
    assert "url:          http://private-ppa.launchpad.dev/cprov/ppa/ubuntu" in text
    assert "credentials:  buildd:<buildd_secret>" in text
    assert "not-shown" not in text
    assert cli("archive", "show", "nonsense").error_line() == (
        "buildmaster: error: 'nonsense' is not an archive reference: use primary, "
        "partner or '~owner/name' (quoted, or the shell makes a home directory of "
        "~owner)")
