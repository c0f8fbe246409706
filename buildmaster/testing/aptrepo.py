"""Small real apt repositories for tests, indexed by apt-ftparchive.

``AptRepository(directory).publish(suite, debs)`` lays out::

    pool/main/<name>_<version>_<arch>.deb
    dists/<suite>/main/binary-<arch>/Packages{,.gz}
    dists/<suite>/Release

which a chroot reaches with ``deb [trusted=yes] <url> <suite> main``
once the directory is served over HTTP.  ``make_binary_package`` makes
the .deb files to put in one.
"""

import gzip
import os
import shutil
import subprocess


def make_binary_package(directory, name, version, arch="all", depends=None,
                        provides=None):
    """Build a tiny real .deb with dpkg-deb; return its path."""
    root = os.path.join(directory, f"{name}_{version}_{arch}")
    os.makedirs(os.path.join(root, "DEBIAN"))
    doc = os.path.join(root, "usr", "share", "doc", name)
    os.makedirs(doc)
    with open(os.path.join(doc, "README"), "w", encoding="utf-8") as f:
        f.write(f"{name} {version}, a package made by the build farm's tests\n")
    fields = [f"Package: {name}", f"Version: {version}", f"Architecture: {arch}",
              "Maintainer: Build Farm Tests <tests@example.invalid>",
              "Section: misc", "Priority: optional"]
    if depends:
        fields.append(f"Depends: {depends}")
    if provides:
        fields.append(f"Provides: {provides}")
    fields.append(f"Description: {name} for the build farm's tests")
    with open(os.path.join(root, "DEBIAN", "control"), "w", encoding="utf-8") as f:
        f.write("\n".join(fields) + "\n")
    deb = os.path.join(directory, f"{name}_{version}_{arch}.deb")
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", root, deb],
                   check=True, capture_output=True)
    shutil.rmtree(root)
    return deb


class AptRepository:
    """An apt repository in ``directory`` with one component, main."""

    def __init__(self, directory):
        self.directory = str(directory)

    def publish(self, suite, debs, architectures=("amd64",)):
        """Copy ``debs`` into the pool and write the suite's indexes."""
        pool = os.path.join(self.directory, "pool", "main")
        os.makedirs(pool, exist_ok=True)
        for deb in debs:
            shutil.copy(deb, pool)
        dist = os.path.join(self.directory, "dists", suite)
        for arch in architectures:
            binary = os.path.join(dist, "main", f"binary-{arch}")
            os.makedirs(binary, exist_ok=True)
            packages = subprocess.run(
                ["apt-ftparchive", "--arch", arch, "packages", "pool"],
                cwd=self.directory, check=True, capture_output=True).stdout
            with open(os.path.join(binary, "Packages"), "wb") as f:
                f.write(packages)
            with gzip.open(os.path.join(binary, "Packages.gz"), "wb") as f:
                f.write(packages)
        release = subprocess.run(
            ["apt-ftparchive", "-o", f"APT::FTPArchive::Release::Suite={suite}",
             "-o", f"APT::FTPArchive::Release::Codename={suite}",
             "-o", "APT::FTPArchive::Release::Components=main",
             "-o", "APT::FTPArchive::Release::Architectures=" + " ".join(architectures),
             "release", "."], cwd=dist, check=True, capture_output=True).stdout
        with open(os.path.join(dist, "Release"), "wb") as f:
            f.write(release)
        return self

    @staticmethod
    def line(url, suite):
        """The sources.list line of ``suite`` served at ``url``."""
        return f"deb [trusted=yes] {url.rstrip('/')} {suite} main"
