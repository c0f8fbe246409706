"""Upload processing: a WAITING/OK build's files become binaries, or the
build fails to upload with a log saying which file was wrong and why."""

import gzip
import hashlib
import os

import pytest
import pytest_twisted
import sqlalchemy as sa

from buildmaster.model import (
    BinaryPackagePublishingHistory, BinaryPackageRelease, Build, BuildStatus,
    PackagePublishingStatus)
from buildmaster.testing.debpackages import build_binaries, make_source_package
from buildmaster.testing.debfiles import deb_bytes
from buildmaster.testing.deferreds import wait
from buildmaster.testing.mockslaves import WaitingSlave
from buildmaster.testing.uploads import binary_upload, changes_text, make_deb
from buildmaster.uploads.processor import LOCK_NAME, UploadLocked, UploadProcessor, _lock
from scannerhelpers import delivered, make_group, start_job

CHANGES = "foobar_1.0_i386.changes"
DEB = "foobar_1.0_i386.deb"


@pytest.fixture(scope="module")
def good_files():
    return binary_upload("foobar", "1.0", "i386")


@pytest.fixture
def group(sample, transaction, farm_config, librarian, build_mailer):
    return make_group(transaction, farm_config, librarian, build_mailer)


def collect(group, session, files, build_id=9):
    """Build ``build_id`` WAITING/OK on bob with ``files``; updateBuild it."""
    build = session.get(Build, build_id)
    entry = start_job(build, _bob(session), WaitingSlave("BuildStatus.OK", files=files))
    session.commit()
    wait(group.updateBuild(entry))
    return session.get(Build, build_id)


def _bob(session):
    from buildmaster.model import Builder
    return session.scalars(sa.select(Builder).where(Builder.name == "bob")).one()


async def mailed_upload_logs(group, smtp_server):
    """The upload log in each failure message received, with its build state."""
    return [(message["X-Launchpad-Build-State"],
             message.get_content().split("Upload log:\n", 1)[1])
            for _, message in await delivered(group.mailer, smtp_server)]


def root_dir(farm_config, name):
    path = os.path.join(farm_config.builddmaster.root, name)
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


@pytest_twisted.ensureDeferred
async def test_good_upload_records_binaries(group, session, good_files, farm_config,
                                            librarian, smtp_server):
    build = collect(group, session, good_files)
    assert build.buildstate == BuildStatus.FULLYBUILT
    assert build.upload_log is None
    assert await delivered(group.mailer, smtp_server) == []
    (release,) = session.scalars(sa.select(BinaryPackageRelease).where(
        BinaryPackageRelease.build_id == build.id)).all()
    assert (release.name, release.version, release.architecturespecific) == (
        "foobar", "1.0", True)
    assert release.summary == "foobar, a tiny test package"
    (bpf,) = release.files
    with librarian.open(bpf.libraryfile) as stored:
        assert stored.read() == good_files[DEB]
    (publication,) = session.scalars(sa.select(BinaryPackagePublishingHistory).where(
        BinaryPackagePublishingHistory.binarypackagerelease_id == release.id)).all()
    assert publication.status == PackagePublishingStatus.PENDING
    assert (publication.archive, publication.pocket, publication.distroarchseries) == (
        build.archive, build.pocket, build.distroarchseries)
    # The upload left only its log behind, under accepted/.
    assert root_dir(farm_config, "incoming") == []
    (accepted,) = root_dir(farm_config, "accepted")
    assert accepted.endswith(f"-{build.id}-2")
    files = os.listdir(os.path.join(farm_config.builddmaster.root, "accepted", accepted))
    assert files == ["uploader.log"]
    assert not os.path.exists(os.path.join(farm_config.builddmaster.root, LOCK_NAME))


def corrupt(files, name, data):
    changed = dict(files)
    changed[name] = data
    return changed


def relisted(files, **changes_args):
    """Files with a .changes rewritten (e.g. another version)."""
    debs = {name: data for name, data in files.items() if name.endswith(".deb")}
    args = dict(source="foobar", version="1.0", arch="i386")
    args.update(changes_args)
    changed = dict(debs)
    changed[CHANGES] = changes_text(args["source"], args["version"], args["arch"],
                                    debs).encode()
    return changed


def only_buildinfo():
    files = {"foobar_1.0_i386.buildinfo": b"info\n"}
    files[CHANGES] = changes_text("foobar", "1.0", "i386", files).encode()
    return files


def flip_last_byte(data):
    return data[:-1] + bytes([data[-1] ^ 1])


FAILURES = {
    "size": (lambda f: corrupt(f, DEB, f[DEB] + b"x"),
             f"{DEB} has {{size}} bytes, the .changes says"),
    "md5": (lambda f: corrupt(f, DEB, flip_last_byte(f[DEB])), f"{DEB} has md5 "),
    "missing": (lambda f: {CHANGES: f[CHANGES]},
                f"{DEB} is listed in the .changes but was not uploaded"),
    "no changes": (lambda f: {DEB: f[DEB]}, "no .changes file (files: " + DEB),
    "two changes": (lambda f: corrupt(f, "other.changes", f[CHANGES]),
                    "more than one .changes file"),
    "source": (lambda f: relisted(f, source="barfoo"),
               "has Source 'barfoo', but build 9 is of foobar 1.0"),
    "version": (lambda f: relisted(f, version="2.0"),
                "has Version '2.0', but build 9 is of foobar 1.0"),
    "arch": (lambda f: relisted(f, arch="amd64"),
             "has Architecture 'amd64', but build 9 is for i386"),
    "bad deb": (lambda f: relisted({"foobar_1.0_i386.deb": b"not a deb"}),
                f"{DEB} is not a valid Debian package"),
    "no binaries": (lambda f: only_buildinfo(), f"{CHANGES} lists no binary packages"),
    # A slave's word goes into pool paths and indexes: Debian policy's names only.
    "package name": (lambda f: relisted({DEB: deb_bytes("'><b>xss", "1.0", "i386")}),
                     f"{DEB}: Package \"'><b>xss\" is not a Debian package name"),
    "package version": (lambda f: relisted({DEB: deb_bytes("foobar", "1.0-", "i386")}),
                        f"{DEB}: Version '1.0-' is not a Debian version"),
    "binary name": (lambda f: corrupt(f, CHANGES, f[CHANGES].replace(
        b"Binary: foobar", b"Binary: foobar Evil_Name")),
        f"{CHANGES}: Binary 'Evil_Name' is not a Debian package name"),
    "garbage": (lambda f: {CHANGES: b"\xff\xfe\x00garbage"}, f"{CHANGES} "),
}


@pytest.mark.parametrize("kind", sorted(FAILURES))
@pytest_twisted.ensureDeferred
async def test_bad_upload_fails_to_upload(kind, group, session, good_files, farm_config,
                                          smtp_server):
    make_files, message = FAILURES[kind]
    files = make_files(good_files)
    build = collect(group, session, files)
    assert build.buildstate == BuildStatus.FAILEDTOUPLOAD
    assert build.binarypackages == []
    expected = message.format(size=len(files.get(DEB, b"")))
    upload_log = gzip.decompress(_read_alias(group, build.upload_log)).decode()
    assert expected in upload_log
    assert upload_log.startswith("INFO    creating lockfile\n")
    assert "DEBUG   Rolling back any remaining transactions.\n" in upload_log
    # The creator and both buildd admins are told, each with the upload log.
    assert await mailed_upload_logs(group, smtp_server) == [
        ("FAILEDTOUPLOAD", upload_log)] * 3
    (failed,) = root_dir(farm_config, "failed")
    kept = os.path.join(farm_config.builddmaster.root, "failed", failed)
    assert sorted(os.listdir(kept)) == sorted(list(files) + ["uploader.log"])
    with open(os.path.join(kept, "uploader.log")) as f:
        assert f.read() == upload_log


def _read_alias(group, alias):
    with group.librarian.open(alias) as f:
        return f.read()


@pytest_twisted.ensureDeferred
async def test_sha256_mismatch_is_caught(group, session, good_files, smtp_server):
    deb = good_files[DEB]
    text = good_files[CHANGES].decode()
    real = hashlib.sha256(deb).hexdigest()
    files = corrupt(good_files, CHANGES, text.replace(real, "0" * 64).encode())
    build = collect(group, session, files)
    assert build.buildstate == BuildStatus.FAILEDTOUPLOAD
    (_, upload_log), *_ = await mailed_upload_logs(group, smtp_server)
    assert f"{DEB} has sha256 {real}, the .changes says {'0' * 64}" in upload_log


@pytest_twisted.ensureDeferred
async def test_refused_file_names_fail_the_upload(group, session, good_files, smtp_server):
    build = collect(group, session, corrupt(good_files, "../evil", b"x"))
    assert build.buildstate == BuildStatus.FAILEDTOUPLOAD
    (_, upload_log), *_ = await mailed_upload_logs(group, smtp_server)
    assert "the slave offered files named ['../evil']" in upload_log


def test_nothing_recorded_when_a_later_binary_is_bad(group, session):
    files = {"foobar_1.0_i386.deb": make_deb("foobar", "1.0", "i386"),
             "foobar-doc_1.0_i386.deb": b"not a deb at all"}
    files[CHANGES] = changes_text("foobar", "1.0", "i386", files).encode()
    build = collect(group, session, files)
    assert build.buildstate == BuildStatus.FAILEDTOUPLOAD
    assert session.scalar(sa.select(sa.func.count()).select_from(
        BinaryPackageRelease).where(BinaryPackageRelease.build_id == 9)) == 0


def test_private_archive_upload_log_is_restricted(group, session, sample):
    sample.primary.private = True
    build = collect(group, session, {})
    assert build.buildstate == BuildStatus.FAILEDTOUPLOAD
    assert build.upload_log.restricted and build.buildlog.restricted


def test_private_archive_binaries_are_restricted(group, session, sample, good_files):
    sample.primary.private = True
    build = collect(group, session, good_files)
    assert build.buildstate == BuildStatus.FULLYBUILT
    assert all(f.libraryfile.restricted for f in build.binarypackages[0].files)


def test_busy_lock_leaves_everything_alone(sample, session, farm_config, librarian):
    os.makedirs(farm_config.builddmaster.root, exist_ok=True)
    lock_path = os.path.join(farm_config.builddmaster.root, LOCK_NAME)
    processor = UploadProcessor(farm_config, session, librarian)
    directory = os.path.join(farm_config.builddmaster.root, "incoming", "x")
    os.makedirs(directory)
    with _lock(lock_path):
        with pytest.raises(UploadLocked):
            processor.process(session.get(Build, 9), directory)
    assert os.listdir(directory) == []
    assert not os.path.exists(lock_path)


# -- Arch-independent packages: built once, on the nominated architecture -------

@pytest.fixture(scope="module")
def foobar_dsc(tmp_path_factory):
    """Real foobar 1.0 sources (build 9's): 'all' has one Architecture: all
    package, 'mixed' foobar (any) and foobar-doc (all)."""
    return {kind: make_source_package(str(tmp_path_factory.mktemp(kind)), name="foobar",
                                      kind=kind)
            for kind in ("all", "mixed")}


@pytest.fixture
def nominate_amd64(sample, session, hoary_amd64):
    """hoary's arch-indep builds move to amd64, so build 9 (i386) is no
    longer the one that builds them."""
    sample.hoary.nominatedarchindep = hoary_amd64
    session.flush()
    return hoary_amd64


def upload_log_of(group, build):
    return gzip.decompress(_read_alias(group, build.upload_log)).decode()


def binaries_of(build):
    return sorted((release.name, release.architecturespecific)
                  for release in build.binarypackages)


def test_arch_all_only_source_is_fully_built_on_the_nominated_architecture(
        group, session, foobar_dsc):
    files = build_binaries(foobar_dsc["all"], "i386", arch_indep=True)
    assert "Architecture: all\n" in files[CHANGES].decode()
    build = collect(group, session, files)
    assert build.arch_indep
    assert build.buildstate == BuildStatus.FULLYBUILT
    assert binaries_of(build) == [("foobar", False)]
    assert build.binarypackages[0].files[0].libraryfile.filename == "foobar_1.0_all.deb"


def test_nominated_build_uploads_arch_dependent_and_independent_packages(
        group, session, foobar_dsc):
    files = build_binaries(foobar_dsc["mixed"], "i386", arch_indep=True)
    build = collect(group, session, files)
    assert build.buildstate == BuildStatus.FULLYBUILT
    assert binaries_of(build) == [("foobar", True), ("foobar-doc", False)]


def test_other_architectures_upload_arch_dependent_packages_only(
        group, session, foobar_dsc, nominate_amd64):
    build = collect(group, session, build_binaries(foobar_dsc["mixed"], "i386",
                                                   arch_indep=False))
    assert not build.arch_indep
    assert build.buildstate == BuildStatus.FULLYBUILT
    assert binaries_of(build) == [("foobar", True)]


@pytest_twisted.ensureDeferred
async def test_other_architectures_may_not_upload_arch_all(
        group, session, foobar_dsc, nominate_amd64, smtp_server):
    build = collect(group, session, build_binaries(foobar_dsc["mixed"], "i386",
                                                   arch_indep=True))
    assert build.buildstate == BuildStatus.FAILEDTOUPLOAD
    assert build.binarypackages == []
    upload_log = upload_log_of(group, build)
    assert (f"failed: {CHANGES} has Architecture 'all i386', but build 9 (i386) must not upload "
            "arch-independent packages: hoary's arch-indep builds are on amd64\n"
            ) in upload_log
    assert [state for state, _ in await mailed_upload_logs(group, smtp_server)] == [
        "FAILEDTOUPLOAD"] * 3


def test_an_arch_all_deb_is_refused_even_when_the_changes_hides_it(
        group, session, foobar_dsc, nominate_amd64):
    build = collect(group, session, relisted(build_binaries(foobar_dsc["mixed"], "i386",
                                                           arch_indep=True)))
    assert build.buildstate == BuildStatus.FAILEDTOUPLOAD
    assert ("foobar-doc_1.0_all.deb is Architecture: all, but build 9 (i386) must not "
            "upload arch-independent packages: hoary's arch-indep builds are on amd64"
            ) in upload_log_of(group, build)


def test_no_arch_indep_builds_where_the_series_nominates_none(
        group, session, sample, foobar_dsc):
    sample.hoary.nominatedarchindep = None
    build = collect(group, session, build_binaries(foobar_dsc["all"], "i386",
                                                   arch_indep=True))
    assert build.buildstate == BuildStatus.FAILEDTOUPLOAD
    assert ("has Architecture 'all', but build 9 (i386) must not upload "
            "arch-independent packages: hoary has no arch-indep architecture"
            ) in upload_log_of(group, build)


def test_a_deb_for_another_architecture_is_refused(group, session, foobar_dsc):
    build = collect(group, session, relisted(build_binaries(foobar_dsc["mixed"], "amd64",
                                                           arch_indep=False)))
    assert build.buildstate == BuildStatus.FAILEDTOUPLOAD
    assert ("foobar_1.0_amd64.deb is Architecture: amd64, but build 9 is for i386 and all"
            in upload_log_of(group, build))

