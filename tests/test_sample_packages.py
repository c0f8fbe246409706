"""The sample world's foobar is a real package: dpkg unpacks its source
and reads its .deb, and the publisher indexes both in warty."""

import logging
import os
import subprocess

from debian.deb822 import Packages, Sources

from buildmaster.publisher import layout
from buildmaster.publisher.run import publish


def stored(librarian, alias, directory):
    """Copy the librarian file ``alias`` into ``directory``; its path."""
    path = os.path.join(directory, alias.filename)
    with librarian.open(alias) as source, open(path, "wb") as target:
        target.write(source.read())
    return path


def test_foobars_source_unpacks_and_its_deb_is_read(sample, librarian, tmp_path):
    for alias in (sample.foobar_dsc, sample.foobar_tarball, sample.foobar_deb):
        stored(librarian, alias, tmp_path)
    assert [alias.id for alias in (sample.foobar_tarball, sample.foobar_dsc,
                                   sample.foobar_deb)] == [2, 5, 6]
    subprocess.run(["dpkg-source", "-x", "foobar_1.0.dsc", "tree"], cwd=tmp_path,
                   check=True, capture_output=True)
    assert (tmp_path / "tree" / "debian" / "source" / "format").read_text() == \
        "3.0 (native)\n"
    fields = subprocess.run(
        ["dpkg-deb", "--field", str(tmp_path / "foobar_1.0_i386.deb"),
         "Package", "Version", "Architecture"],
        check=True, capture_output=True, text=True).stdout
    assert fields == "Package: foobar\nVersion: 1.0\nArchitecture: i386\n"


def test_the_publisher_indexes_foobar_in_warty(farm_context, sample, session, caplog):
    with caplog.at_level(logging.WARNING, logger="buildmaster.publisher"):
        report = publish(farm_context)
    assert not report.errors
    assert not [line for line in caplog.messages if "apt-ftparchive" in line]
    suite = os.path.join(layout.tree_path(farm_context.config.archives.root, sample.primary),
                         "dists", "warty", "main")
    with open(os.path.join(suite, "binary-i386", "Packages"), encoding="utf-8") as handle:
        (package,) = Packages.iter_paragraphs(handle, use_apt_pkg=False)
    assert (package["Package"], package["Version"], package["Architecture"]) == (
        "foobar", "1.0", "i386")
    assert package["Filename"] == "pool/main/f/foobar/foobar_1.0_i386.deb"
    with open(os.path.join(suite, "source", "Sources"), encoding="utf-8") as handle:
        (source,) = Sources.iter_paragraphs(handle, use_apt_pkg=False)
    assert source["Package"] == "foobar" and source["Format"] == "3.0 (native)"
    assert sorted(entry["name"] for entry in source["Files"]) == [
        "foobar_1.0.dsc", "foobar_1.0.tar.xz"]
