"""``buildmaster upload`` takes every source format dpkg-source unpacks.

Real files only: source packages downloaded from Debian as users get
them (``apt-get source --download-only``, cached), and packages made
here by dpkg-source in each format, compression and shape, their
upstream tarballs signed by a throwaway key.  Each is uploaded with the
command and must be stored whole, every file typed as the format says
and all of them sent to the slave; what dpkg-source would refuse is
refused with one line naming the file, and nothing is recorded.
"""

import hashlib
import os
import re

import pytest
import sqlalchemy as sa

from buildmaster.dispatch import dispatcher
from buildmaster.queue import queuebuilder
from buildmaster.model import (
    Build, SourcePackageFileType as T, SourcePackageName, SourcePackageRelease)
from buildmaster.testing.debiansources import copy_source, debian_sources  # noqa: F401
from buildmaster.testing.debpackages import Upstream, make_source_package, source_files
from buildmaster.testing.gpgkeys import throwaway_keys  # noqa: F401
from tests.clihelpers import cli  # noqa: F401

HOARY = ("--distribution", "ubuntu", "--series", "hoary")


def release_named(session, name):
    return session.scalars(sa.select(SourcePackageRelease).join(SourcePackageName)
                           .where(SourcePackageName.name == name)).one_or_none()


def stored_types(release):
    return {each.libraryfile.filename: each.filetype for each in release.files}


def assert_stored_whole(release, dsc):
    """Every file of the source package is in the librarian, byte for byte."""
    for path in source_files(dsc):
        with open(path, "rb") as handle:
            sha256 = hashlib.sha256(handle.read()).hexdigest()
        (stored,) = [each.libraryfile for each in release.files
                     if each.libraryfile.filename == os.path.basename(path)]
        assert stored.content.sha256 == sha256, path


def refused(cli, dsc, *more):
    return cli("upload", str(dsc), *HOARY, *more).error_line().removeprefix(
        "buildmaster: error: ")


# -- Real Debian source packages -----------------------------------------------

REAL = {
    # hello: 3.0 (quilt), the orig tarball signed upstream.
    "hello": ("3.0 (quilt)", {".orig.tar.gz": T.ORIG_TARBALL,
                              ".orig.tar.gz.asc": T.ORIG_TARBALL_SIGNATURE,
                              ".debian.tar.xz": T.DEBIAN_TARBALL}),
    # cowsay: 3.0 (quilt), Architecture: all.
    "cowsay": ("3.0 (quilt)", {".orig.tar.gz": T.ORIG_TARBALL,
                               ".debian.tar.xz": T.DEBIAN_TARBALL}),
    # mbw: 1.0 with an orig tarball and a .diff.gz.
    "mbw": ("1.0", {".orig.tar.gz": T.ORIG_TARBALL, ".diff.gz": T.DIFF}),
    # memstat: 1.0 native.
    "memstat": ("1.0", {".tar.gz": T.NATIVE_TARBALL}),
}


def by_suffix(types):
    """{'.orig.tar.gz': type, ...}: file names without their stem."""
    return {re.sub(r"^[^_]+_[^_]*?(?=\.(orig|debian|tar|diff))", "", name): kind
            for name, kind in types.items() if kind != T.DSC}


@pytest.mark.parametrize("package", sorted(REAL))
def test_a_source_package_as_debian_publishes_it_is_taken_whole(
        cli, session, debian_sources, package):
    dsc = debian_sources.dsc(package)
    result = cli("upload", dsc, *HOARY)
    assert result.status == 0, result.err
    release = release_named(session, package)
    source_format, suffixes = REAL[package]
    assert release.dsc_format == source_format
    assert by_suffix(stored_types(release)) == suffixes
    assert stored_types(release)[os.path.basename(dsc)] == T.DSC
    assert_stored_whole(release, dsc)
    assert release.signing_key_fingerprint is None, "no keyring: nobody checked"


def test_the_slave_is_sent_every_file_of_the_package(
        cli, session, sample, farm_config, debian_sources):
    dsc = debian_sources.dsc("hello")
    assert cli("upload", dsc, *HOARY).status == 0
    queuebuilder.create_missing_builds(session)  # unless the upload queued it
    session.commit()
    (build,) = session.scalars(sa.select(Build).where(
        Build.sourcepackagerelease_id == release_named(session, "hello").id)).all()
    fetches, (manager, _, filemap, _) = dispatcher.build_request(
        farm_config, build.buildqueue_record)
    assert manager == "binarypackage"
    expected = {}
    for path in source_files(dsc):
        with open(path, "rb") as handle:
            expected[os.path.basename(path)] = hashlib.sha1(handle.read()).hexdigest()
    assert filemap == expected
    assert set(expected.values()) <= {sha1 for sha1, *_ in fetches}


# -- Every format, compression and shape, made by dpkg-source -------------------

SHAPES = {
    "1.0 native": ("1.0", "1.0", None, {".tar.gz": T.NATIVE_TARBALL}),
    "1.0 orig and diff": ("1.0", "1.0-1", Upstream("gz"),
                          {".orig.tar.gz": T.ORIG_TARBALL, ".diff.gz": T.DIFF}),
    "1.0 signed orig": ("1.0", "1.0-1", Upstream("gz", sign=True),
                        {".orig.tar.gz": T.ORIG_TARBALL, ".diff.gz": T.DIFF,
                         ".orig.tar.gz.asc": T.ORIG_TARBALL_SIGNATURE}),
    "2.0": ("2.0", "1.0-1", Upstream("bz2"),
            {".orig.tar.bz2": T.ORIG_TARBALL, ".debian.tar.xz": T.DEBIAN_TARBALL}),
    "3.0 (native)": ("3.0 (native)", "1.0", None, {".tar.xz": T.NATIVE_TARBALL}),
    **{f"3.0 (quilt) {compression}": (
        "3.0 (quilt)", "1.0-1", Upstream(compression),
        {f".orig.tar.{compression}": T.ORIG_TARBALL, ".debian.tar.xz": T.DEBIAN_TARBALL})
       for compression in ("gz", "bz2", "xz", "lzma")},
    "3.0 (quilt) with an epoch, signed": (
        "3.0 (quilt)", "1:1.0-1", Upstream("xz", sign=True),
        {".orig.tar.xz": T.ORIG_TARBALL, ".orig.tar.xz.asc": T.ORIG_TARBALL_SIGNATURE,
         ".debian.tar.xz": T.DEBIAN_TARBALL}),
    "3.0 (quilt) with signed components": (
        "3.0 (quilt)", "1.0-1", Upstream("xz", components=("docs", "extra-data"),
                                         sign=True),
        {".orig.tar.xz": T.ORIG_TARBALL, ".orig.tar.xz.asc": T.ORIG_TARBALL_SIGNATURE,
         ".orig-docs.tar.xz": T.COMPONENT_ORIG_TARBALL,
         ".orig-docs.tar.xz.asc": T.COMPONENT_ORIG_TARBALL_SIGNATURE,
         ".orig-extra-data.tar.xz": T.COMPONENT_ORIG_TARBALL,
         ".orig-extra-data.tar.xz.asc": T.COMPONENT_ORIG_TARBALL_SIGNATURE,
         ".debian.tar.xz": T.DEBIAN_TARBALL}),
}


def made(tmp_path, keys, shape, name="shaped"):
    """The .dsc of a package of ``shape`` (a SHAPES key) made by dpkg-source."""
    source_format, version, upstream, _ = SHAPES[shape]
    if upstream is not None and upstream.sign:
        upstream_key = keys.make("Upstream Author <upstream@example.org>")
        upstream = Upstream(upstream.compression, upstream.components,
                            lambda path: keys.detach_sign(path, upstream_key))
    directory = tmp_path / re.sub(r"\W+", "-", shape)
    directory.mkdir()
    return make_source_package(str(directory), name=name, version=version,
                               source_format=source_format, upstream=upstream)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_format_and_shape_dpkg_source_makes_is_taken(
        cli, session, tmp_path, throwaway_keys, shape):
    dsc = made(tmp_path, throwaway_keys, shape)
    result = cli("upload", dsc, *HOARY)
    assert result.status == 0, result.err
    release = release_named(session, "shaped")
    source_format, version, _, suffixes = SHAPES[shape]
    assert (release.dsc_format, release.version) == (source_format, version)
    assert by_suffix(stored_types(release)) == suffixes
    assert_stored_whole(release, dsc)


# -- Refusals --------------------------------------------------------------------

def rewrite(dsc, change):
    """Apply ``change`` (text -> text) to the .dsc."""
    with open(dsc, encoding="utf-8") as handle:
        text = handle.read()
    with open(dsc, "w", encoding="utf-8") as handle:
        handle.write(change(text))


def list_also(name, size=10):
    """A change listing ``name`` in Files and both Checksums fields."""
    def change(text):
        for field, digest in (("Files", "0" * 32), ("Checksums-Sha1", "0" * 40),
                              ("Checksums-Sha256", "0" * 64)):
            text = text.replace(f"{field}:\n", f"{field}:\n {digest} {size} {name}\n")
        return text
    return change


def unlist(name):
    """A change dropping ``name`` from every file field."""
    return lambda text: "".join(line for line in text.splitlines(keepends=True)
                                if not line.rstrip().endswith(" " + name))


def nothing_recorded(session, name):
    session.rollback()
    return release_named(session, name) is None and session.scalar(
        sa.select(sa.func.count()).select_from(SourcePackageName)
        .where(SourcePackageName.name == name)) == 0


@pytest.mark.parametrize("source_format", ["3.0 (git)", "3.0 (bzr)", "3.0 (custom)",
                                           "4.0", "1.0 (quilt)"])
def test_a_format_the_farm_cannot_unpack_is_refused_naming_it(
        cli, session, tmp_path, throwaway_keys, source_format):
    dsc = made(tmp_path, throwaway_keys, "3.0 (native)")
    rewrite(dsc, lambda text: text.replace("Format: 3.0 (native)",
                                           f"Format: {source_format}"))
    assert refused(cli, dsc) == (
        f"shaped_1.0.dsc: Format '{source_format}' is not one the farm builds (it "
        "builds 1.0, 2.0, 3.0 (quilt), 3.0 (native))")
    assert nothing_recorded(session, "shaped")


def test_a_file_the_format_does_not_have_is_refused_naming_it(
        cli, session, debian_sources, tmp_path):
    dsc = copy_source(debian_sources.dsc("hello"), tmp_path / "hello")
    rewrite(dsc, list_also("hello_2.10.orig.tar.zst"))
    assert refused(cli, dsc) == (
        "hello_2.10-3.dsc: hello_2.10.orig.tar.zst: not a file of a 3.0 (quilt) "
        "source package hello 2.10-3")
    assert nothing_recorded(session, "hello")


@pytest.mark.parametrize("shape, change, problem", [
    ("3.0 (native)", list_also("shaped_1.0.orig.tar.gz"),
     "shaped_1.0.orig.tar.gz: not a file of a 3.0 (native) source package shaped 1.0"),
    ("1.0 native", list_also("shaped_1.0.tar.bz2"),
     "shaped_1.0.tar.bz2: not a file of a 1.0 source package shaped 1.0"),
    ("3.0 (quilt) gz", list_also("shaped_1.0.orig.tar.xz"),
     "shaped_1.0.orig.tar.gz: the package already has shaped_1.0.orig.tar.xz"),
    ("3.0 (quilt) gz", unlist("shaped_1.0.orig.tar.gz"),
     "a 3.0 (quilt) source package needs its orig tarball, which the .dsc does not "
     "list"),
    ("3.0 (quilt) with signed components", unlist("shaped_1.0.orig-docs.tar.xz"),
     "shaped_1.0.orig-docs.tar.xz.asc: signs shaped_1.0.orig-docs.tar.xz, which the "
     ".dsc does not list"),
    ("1.0 orig and diff", list_also("shaped_1.0-1.tar.gz"),
     "a 1.0 source package has one tarball, this one 2"),
])
def test_files_the_format_does_not_allow_are_refused(
        cli, session, tmp_path, throwaway_keys, shape, change, problem):
    dsc = made(tmp_path, throwaway_keys, shape)
    rewrite(dsc, change)
    assert refused(cli, dsc) == f"{os.path.basename(dsc)}: {problem}"
    assert nothing_recorded(session, "shaped")


def test_every_checksum_field_must_list_every_file(cli, session, tmp_path, throwaway_keys):
    dsc = made(tmp_path, throwaway_keys, "3.0 (quilt) xz")
    with open(dsc, encoding="utf-8") as handle:
        text = handle.read()
    field = re.search(r"^Checksums-Sha256:\n((?: .*\n)+)", text, re.M).group(1)
    (line,) = [each for each in field.splitlines() if each.endswith(" shaped_1.0.orig.tar.xz")]
    rewrite(dsc, lambda text: text.replace(line + "\n", ""))
    assert refused(cli, dsc) == \
        "shaped_1.0-1.dsc: Checksums-Sha256 does not list shaped_1.0.orig.tar.xz"
    rewrite(dsc, lambda text: text + "Checksums-Md4:\n 00 10 shaped_1.0.orig.tar.xz\n")
    assert refused(cli, dsc) == "shaped_1.0-1.dsc: unknown checksum field Checksums-Md4"
    assert nothing_recorded(session, "shaped")


def test_a_file_listed_twice_is_refused(cli, session, tmp_path, throwaway_keys):
    dsc = made(tmp_path, throwaway_keys, "3.0 (native)")
    with open(dsc, encoding="utf-8") as handle:
        (entry,) = re.findall(r"^Files:\n( .*\n)", handle.read(), re.M)
    rewrite(dsc, lambda text: text.replace(entry, entry * 2))
    assert refused(cli, dsc) == "shaped_1.0.dsc: Files lists shaped_1.0.tar.xz twice"
    assert nothing_recorded(session, "shaped")


def test_a_wrong_sha512_is_caught(cli, session, tmp_path, throwaway_keys):
    """A Checksums-Sha512 field, which dpkg may write, is checked too."""
    dsc = made(tmp_path, throwaway_keys, "3.0 (native)")
    tarball = os.path.join(os.path.dirname(dsc), "shaped_1.0.tar.xz")
    with open(tarball, "rb") as handle:
        data = handle.read()
    real = hashlib.sha512(data).hexdigest()
    rewrite(dsc, lambda text: text + f"Checksums-Sha512:\n {'0' * 128} {len(data)} "
                                     "shaped_1.0.tar.xz\n")
    assert refused(cli, dsc) == (
        f"shaped_1.0.tar.xz: sha512 {real}, shaped_1.0.dsc says {'0' * 128}")
    rewrite(dsc, lambda text: text.replace("0" * 128, real))
    assert cli("upload", dsc, *HOARY).status == 0


def test_text_outside_the_signature_is_refused(cli, session, debian_sources, tmp_path):
    """What follows a signed .dsc was not signed: no tool may read it."""
    dsc = copy_source(debian_sources.dsc("hello"), tmp_path / "hello")
    rewrite(dsc, lambda text: text + "\nBuild-Depends: something-else\n")
    assert refused(cli, dsc) == \
        "hello_2.10-3.dsc: has text outside its OpenPGP signature"
    assert nothing_recorded(session, "hello")


def changes_listing(tmp_path, dsc, *names):
    """A source .changes carrying the .dsc and ``names`` (the sums of
    those beside the .dsc, made up for others)."""
    lines = []
    for name in (os.path.basename(dsc), *names):
        lines.append(f" {'0' * 32} 10 devel optional {name}")
    path = tmp_path / "upload_source.changes"
    path.write_text("Format: 1.8\nSource: hello\nVersion: 2.10-3\nUrgency: low\n"
                    "Files:\n" + "\n".join(lines) + "\n")
    return str(path)


def test_a_changes_may_carry_only_the_dscs_files(cli, session, debian_sources, tmp_path):
    dsc = debian_sources.dsc("hello")
    stray = changes_listing(tmp_path, dsc, "hello_2.10.orig.tar.gz",
                            "hello_2.10-3.debian.tar.xz", "hello_2.10-3.patch")
    assert refused(cli, dsc, "--changes", stray) == \
        "upload_source.changes: carries hello_2.10-3.patch, which hello_2.10-3.dsc " \
        "does not list"
    binary = changes_listing(tmp_path, dsc, "hello_2.10-3_amd64.deb")
    assert refused(cli, dsc, "--changes", binary) == (
        "upload_source.changes: carries the binary package hello_2.10-3_amd64.deb; "
        "the farm builds binaries itself, upload the source only")
    assert nothing_recorded(session, "hello")
    whole = changes_listing(tmp_path, dsc, "hello_2.10.orig.tar.gz",
                            "hello_2.10.orig.tar.gz.asc", "hello_2.10-3.debian.tar.xz",
                            "hello_2.10-3_amd64.buildinfo")
    assert cli("upload", dsc, *HOARY, "--changes", whole).status == 0
    assert release_named(session, "hello").section == "devel"
