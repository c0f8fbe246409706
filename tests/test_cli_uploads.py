"""``buildmaster upload``: a real source package registered for building."""

import hashlib
import os

import pytest
import sqlalchemy as sa

from buildmaster.model import (
    Build, PackagePublishingPocket, PackagePublishingStatus, SourcePackageFileType,
    SourcePackageName, SourcePackagePublishingHistory, SourcePackageRelease,
    SourcePackageUrgency)
from buildmaster.uploads import sources
from buildmaster.testing.debpackages import source_files
from tests.clihelpers import cli  # noqa: F401

HOARY = ("--distribution", "ubuntu", "--series", "hoary")


def release_named(session, name):
    return session.scalars(sa.select(SourcePackageRelease).join(SourcePackageName)
                           .where(SourcePackageName.name == name)).one_or_none()


def publications(session, release):
    return session.scalars(sa.select(SourcePackagePublishingHistory).where(
        SourcePackagePublishingHistory.sourcepackagerelease_id == release.id)
        .order_by(SourcePackagePublishingHistory.id)).all()


def sums(path):
    with open(path, "rb") as handle:
        data = handle.read()
    return (len(data), hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(),
            hashlib.sha256(data).hexdigest())


def test_upload_registers_the_release_its_files_and_a_pending_publication(
        cli, session, librarian, good_dsc):
    result = cli("upload", good_dsc, *HOARY)
    assert result.status == 0, result.err
    release = release_named(session, "hello-bm")
    (publication,) = publications(session, release)
    assert result.out.splitlines()[0] == (
        f"Registered hello-bm 1.0 in ubuntu hoary RELEASE, archive primary, component "
        f"main: source release {release.id}, publication {publication.id} PENDING.")
    assert (release.version, release.component.name, release.section,
            release.urgency) == ("1.0", "main", "misc", SourcePackageUrgency.LOW)
    assert (release.architecturehintlist, release.builddepends, release.dsc_format) == (
        "any", "", "3.0 (native)")
    assert release.upload_distroseries.name == "hoary"
    maintainer = release.maintainer
    assert (maintainer.displayname, maintainer.preferred_email, maintainer.name) == (
        "Build Farm Tests", "tests@example.invalid", "tests")
    assert release.creator is maintainer
    assert (publication.archive.reference, publication.distroseries.name,
            publication.pocket, publication.status, publication.component.name) == (
        "primary", "hoary", PackagePublishingPocket.RELEASE,
        PackagePublishingStatus.PENDING, "main")

    expected = {os.path.basename(path): sums(path) for path in source_files(good_dsc)}
    stored = {each.libraryfile.filename: each for each in release.files}
    assert set(stored) == set(expected) == {"hello-bm_1.0.dsc", "hello-bm_1.0.tar.xz"}
    for name, (size, md5, sha1, sha256) in expected.items():
        content = stored[name].libraryfile.content
        assert (content.filesize, content.md5, content.sha1, content.sha256) == (
            size, md5, sha1, sha256)
        assert not stored[name].libraryfile.restricted
        with librarian.open(stored[name].libraryfile) as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == sha256
        assert name in result.out and sha256 in result.out
    assert stored["hello-bm_1.0.dsc"].filetype == SourcePackageFileType.DSC
    assert stored["hello-bm_1.0.tar.xz"].filetype == SourcePackageFileType.NATIVE_TARBALL


def test_build_depends_come_from_the_dsc(cli, session, depwait_dsc):
    assert cli("upload", depwait_dsc, *HOARY).status == 0
    assert release_named(session, "hello-bm").builddepends == "baz (>= 1.0.1)"


def test_the_same_version_twice_into_one_archive_is_refused(cli, session, good_dsc):
    assert cli("upload", good_dsc, *HOARY).status == 0
    assert cli("upload", good_dsc, *HOARY).error_line() == (
        "buildmaster: error: hello-bm 1.0 is already uploaded to primary; "
        "upload a new version")
    # Another archive takes the same files as the same release.
    result = cli("upload", good_dsc, *HOARY, "--archive", "~cprov/ppa")
    assert result.status == 0, result.err
    release = release_named(session, "hello-bm")
    assert [each.archive.reference for each in publications(session, release)] == [
        "primary", "~cprov/ppa"]
    assert len(release.files) == 2


def test_different_files_under_a_registered_version_are_refused(
        cli, session, good_dsc):
    assert cli("upload", good_dsc, *HOARY).status == 0
    with open(good_dsc, "a", encoding="utf-8") as handle:
        handle.write("Homepage: https://example.invalid/\n")
    assert cli("upload", good_dsc, *HOARY, "--archive", "partner").error_line() == (
        "buildmaster: error: hello-bm 1.0 is already registered with a different "
        ".dsc; a version names one set of files")


def test_private_archives_get_restricted_files(cli, session, sample, good_dsc):
    sample.cprov_ppa.private = True
    session.commit()
    assert cli("upload", good_dsc, *HOARY, "--archive", "~cprov/ppa").status == 0
    files = release_named(session, "hello-bm").files
    assert [each.libraryfile.restricted for each in files] == [True, True]


def tarball_of(dsc_path):
    return os.path.join(os.path.dirname(dsc_path), "hello-bm_1.0.tar.xz")


def flip_last_byte(path):
    with open(path, "r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 0xFF]))


@pytest.mark.parametrize("damage, problem", [
    (flip_last_byte, "md5"),
    (lambda path: open(path, "ab").write(b"junk"), "size"),
    (os.unlink, "listed in hello-bm_1.0.dsc but not beside it"),
])
def test_a_damaged_file_is_refused_naming_it(cli, session, good_dsc, damage, problem):
    damage(tarball_of(good_dsc))
    line = cli("upload", good_dsc, *HOARY).error_line()
    assert line.startswith("buildmaster: error: hello-bm_1.0.tar.xz: " + problem)
    assert release_named(session, "hello-bm") is None
    assert session.scalar(sa.select(sa.func.count()).select_from(SourcePackageName)
                          .where(SourcePackageName.name == "hello-bm")) == 0


def test_a_wrong_sha256_alone_is_caught(cli, good_dsc):
    """The .dsc's SHA-256 is checked even when its MD5 and SHA-1 agree."""
    with open(good_dsc, encoding="utf-8") as handle:
        text = handle.read()
    size, _, _, sha256 = sums(tarball_of(good_dsc))
    forged = "0" * 64
    with open(good_dsc, "w", encoding="utf-8") as handle:
        handle.write(text.replace(sha256, forged))
    assert cli("upload", good_dsc, *HOARY).error_line() == (
        f"buildmaster: error: hello-bm_1.0.tar.xz: sha256 {sha256}, "
        f"hello-bm_1.0.dsc says {forged}")


def test_a_known_maintainer_is_reused(cli, session, sample, good_dsc):
    with open(good_dsc, encoding="utf-8") as handle:
        text = handle.read()
    with open(good_dsc, "w", encoding="utf-8") as handle:
        handle.write(text.replace("Build Farm Tests <tests@example.invalid>",
                                  "Celso <Celso.Providelo@canonical.com>"))
    assert cli("upload", good_dsc, *HOARY).status == 0
    assert release_named(session, "hello-bm").maintainer.name == "cprov"


def test_section_and_urgency_come_from_the_changes(cli, session, good_dsc, tmp_path):
    size, md5, _, _ = sums(good_dsc)
    changes = tmp_path / "hello-bm_1.0_source.changes"
    changes.write_text(
        "Format: 1.8\nSource: hello-bm\nVersion: 1.0\nUrgency: medium\n"
        f"Files:\n {md5} {size} devel optional hello-bm_1.0.dsc\n")
    assert cli("upload", good_dsc, *HOARY, "--changes", str(changes)).status == 0
    release = release_named(session, "hello-bm")
    assert (release.section, release.urgency) == ("devel", SourcePackageUrgency.MEDIUM)


def test_released_series_take_uploads_only_after_release(cli, session, good_dsc):
    warty = ("--distribution", "ubuntu", "--series", "warty")
    assert cli("upload", good_dsc, *warty).error_line() == (
        "buildmaster: error: ubuntu warty is Current Stable Release: its RELEASE "
        "pocket takes no uploads to primary")
    assert cli("upload", good_dsc, *warty, "--pocket", "updates").status == 0
    (publication,) = publications(session, release_named(session, "hello-bm"))
    assert publication.pocket == PackagePublishingPocket.UPDATES


def test_bad_targets_and_files_are_one_line(cli, good_dsc, tmp_path):
    def refused(*argv):
        return cli("upload", *argv).error_line().removeprefix("buildmaster: error: ")

    assert refused(good_dsc, *HOARY, "--archive", "~nobody/ppa") == \
        "ubuntu has no archive '~nobody/ppa'"
    assert refused(good_dsc, *HOARY, "--archive", "ppa") == \
        "'ppa' is not an archive reference: use primary, partner or '~owner/name' " \
        "(quoted, or the shell makes a home directory of ~owner)"
    assert refused(good_dsc, "--distribution", "ubuntu", "--series", "grumpy") == \
        "ubuntu has no series named 'grumpy' (known: hoary, warty)"
    assert refused(good_dsc, *HOARY, "--component", "contrib").startswith(
        "no component named 'contrib'")
    assert refused(good_dsc, *HOARY, "--pocket", "later").startswith(
        "no pocket named 'later'")
    missing = tmp_path / "nothing.dsc"
    assert refused(str(missing), *HOARY) == \
        f"{missing}: cannot read: No such file or directory"
    not_dsc = tmp_path / "notes.dsc"
    not_dsc.write_text("Hello: world\n")
    assert refused(str(not_dsc), *HOARY) == (
        "notes.dsc: not a .dsc: missing field(s) Format, Source, Version, Maintainer, "
        "Architecture, Files")


def test_as_a_real_process(cli, session, good_dsc):
    result = cli.process("upload", good_dsc, *HOARY, "--archive", "partner",
                         "--component", "partner")
    assert result.status == 0, result.err
    assert "archive partner, component partner" in result.out
    (publication,) = publications(session, release_named(session, "hello-bm"))
    assert publication.archive.reference == "partner"


def test_an_upload_queues_its_builds_at_once(cli, session, good_dsc):
    """The upload makes its build and job itself, which ``buildmaster
    queue`` then lists; the queue builder finds nothing left to do."""
    from buildmaster.queue import queuebuilder
    result = cli("upload", good_dsc, *HOARY)
    assert result.status == 0, result.err
    (build_id,) = session.scalars(sa.select(Build.id).join(
        SourcePackageRelease, SourcePackageRelease.id == Build.sourcepackagerelease_id)
        .where(SourcePackageRelease.id == release_named(session, "hello-bm").id)).all()
    assert f"Build {build_id} (i386) queued as job" in result.out
    assert queuebuilder.create_missing_builds(session) == []
    build = session.get(Build, build_id)
    assert build.title == "i386 build of hello-bm 1.0 in ubuntu hoary RELEASE"
    queued = [job for job in cli("queue", "--json").json() if job["build_id"] == build.id]
    assert [(job["source"], job["archive"]) for job in queued] == [("hello-bm", "primary")]


def list_as_empty(dsc_path):
    """Make the .dsc list its tarball as an empty file."""
    size, *old = sums(tarball_of(dsc_path))
    empty = [hashlib.new(name, b"").hexdigest() for name in ("md5", "sha1", "sha256")]
    with open(dsc_path, encoding="utf-8") as handle:
        text = handle.read()
    for was, now in zip(old, empty):
        assert f" {was} {size} " in text
        text = text.replace(f" {was} {size} ", f" {now} 0 ")
    with open(dsc_path, "w", encoding="utf-8") as handle:
        handle.write(text)


def test_a_listed_file_that_is_a_symlink_is_refused_though_its_checksums_match(
        cli, session, good_dsc, tmp_path):
    """What a link points at (a host file, /etc/debian_version) is never
    stored and published in its place."""
    tarball = tarball_of(good_dsc)
    elsewhere = tmp_path / "a-file-of-the-host"
    os.rename(tarball, elsewhere)
    os.symlink(elsewhere, tarball)
    assert cli("upload", good_dsc, *HOARY).error_line() == (
        "buildmaster: error: hello-bm_1.0.tar.xz: a symbolic link; upload the file itself")
    assert release_named(session, "hello-bm") is None


@pytest.mark.parametrize("make, problem", [
    (lambda path: os.symlink("/dev/zero", path), "a symbolic link"),
    (os.mkfifo, "not a regular file"),
])
def test_a_device_or_a_pipe_is_refused_not_read_forever(cli, good_dsc, make, problem):
    """Listed as empty, /dev/zero would be read without end and a pipe
    waited on for ever (a real process, so a hang is a failure)."""
    list_as_empty(good_dsc)
    os.unlink(tarball_of(good_dsc))
    make(tarball_of(good_dsc))
    result = cli.process("upload", good_dsc, *HOARY)
    assert result.status != 0
    assert f"hello-bm_1.0.tar.xz: {problem}" in result.err


def test_the_dsc_and_changes_are_regular_files_of_a_sane_size(cli, good_dsc, tmp_path):
    def refused(*argv):
        return cli("upload", *argv).error_line().removeprefix("buildmaster: error: ")

    link = tmp_path / "link.dsc"
    os.symlink(good_dsc, link)
    assert refused(str(link), *HOARY) == "link.dsc: a symbolic link; upload the file itself"
    huge = tmp_path / "huge.dsc"
    huge.write_bytes(b"Format: 1.0\n" + b"X-Padding: " + b"x" * sources.MAX_CONTROL_SIZE)
    assert refused(str(huge), *HOARY) == \
        f"huge.dsc: larger than {sources.MAX_CONTROL_SIZE} bytes"
    changes = tmp_path / "hello-bm_1.0_source.changes"
    os.symlink("/dev/zero", changes)
    assert refused(good_dsc, *HOARY, "--changes", str(changes)) == \
        "hello-bm_1.0_source.changes: a symbolic link; upload the file itself"


def renamed(dsc_path, field, value):
    """The .dsc with ``field`` set to ``value``, its tarball renamed to
    match when the field is Source or Version (as an attacker would)."""
    with open(dsc_path, encoding="utf-8") as handle:
        text = handle.read()
    old = {"Source": "hello-bm", "Version": "1.0", "Binary": "hello-bm"}[field]
    text = text.replace(f"\n{field}: {old}\n", f"\n{field}: {value}\n")
    if field in ("Source", "Version"):
        source, version = (value, "1.0") if field == "Source" else ("hello-bm", value)
        tarball = f"{source}_{version}.tar.xz"
        os.rename(tarball_of(dsc_path), os.path.join(os.path.dirname(dsc_path), tarball))
        text = text.replace("hello-bm_1.0.tar.xz", tarball)
    with open(dsc_path, "w", encoding="utf-8") as handle:
        handle.write(text)


@pytest.mark.parametrize("field, value, problem", [
    ("Source", "\"'><b>xss<i>", "is not a Debian package name"),
    ("Source", "Hello", "is not a Debian package name"),
    ("Version", "a1.0", "is not a Debian version"),
    ("Version", "1.0:1", "is not a Debian version"),
    ("Binary", "hello-bm, Evil_Binary", "is not a Debian package name"),
])
def test_names_and_versions_are_debian_policys(cli, session, good_dsc, field, value,
                                               problem):
    def releases():
        return session.scalar(sa.select(sa.func.count()).select_from(SourcePackageRelease))

    renamed(good_dsc, field, value)
    before = releases()
    line = cli("upload", good_dsc, *HOARY).error_line()
    wrong = value.split(", ")[-1]
    assert line.startswith(f"buildmaster: error: hello-bm_1.0.dsc: {field} {wrong!r} "
                           f"{problem}"), line
    assert releases() == before


@pytest.mark.parametrize("field, value", [("Source", "other"), ("Version", "2.0")])
def test_the_changes_names_the_package_of_the_dsc(cli, session, good_dsc, tmp_path,
                                                  field, value):
    size, md5, _, _ = sums(good_dsc)
    own = {"Source": "hello-bm", "Version": "1.0"}
    given = dict(own, **{field: value})
    changes = tmp_path / "hello-bm_1.0_source.changes"
    changes.write_text(
        f"Format: 1.8\nSource: {given['Source']}\nVersion: {given['Version']}\n"
        f"Files:\n {md5} {size} devel optional hello-bm_1.0.dsc\n")
    assert cli("upload", good_dsc, *HOARY, "--changes", str(changes)).error_line() == (
        f"buildmaster: error: hello-bm_1.0_source.changes: {field} {value!r} is not "
        f"the hello-bm_1.0.dsc's {own[field]!r}")
    assert release_named(session, "hello-bm") is None
