"""Real binary uploads (.deb files and their .changes) for scanner tests.

``binary_upload(source, version, arch)`` returns {file name: bytes} as a
slave offers them after a good build: give it to
``WaitingSlave('BuildStatus.OK', files=...)`` or serve it from a fake
slave.  The .deb files are made by dpkg-deb, the .changes lists them
with their sizes and md5/sha1/sha256 sums.
"""

import hashlib
import os
import subprocess
import tempfile

CONTROL = """\
Package: {package}
Version: {version}
Architecture: {arch}
Maintainer: Build Farm Tests <tests@example.invalid>
Installed-Size: 12
Section: {section}
Priority: optional
Description: {package}, a tiny test package
 Made by the buildmaster tests.
"""

CHANGES = """\
Format: 1.8
Date: Mon, 01 Jan 2024 00:00:00 +0000
Source: {source}
Binary: {binaries}
Architecture: {arch}
Version: {version}
Distribution: unstable
Urgency: low
Maintainer: Build Farm Tests <tests@example.invalid>
Changed-By: Build Farm Tests <tests@example.invalid>
Description:
{descriptions}
Changes:
 {source} ({version}) unstable; urgency=low
 .
   * Test upload.
Checksums-Sha1:
{sha1}
Checksums-Sha256:
{sha256}
Files:
{md5}
"""


def make_deb(package, version, arch, section="misc"):
    """The bytes of a real .deb holding one README."""
    with tempfile.TemporaryDirectory() as tree:
        os.makedirs(os.path.join(tree, "DEBIAN"))
        doc = os.path.join(tree, "usr", "share", "doc", package)
        os.makedirs(doc)
        with open(os.path.join(doc, "README"), "w") as f:
            f.write(f"hello from {package}\n")
        with open(os.path.join(tree, "DEBIAN", "control"), "w") as f:
            f.write(CONTROL.format(package=package, version=version, arch=arch,
                                   section=section))
        output = tree + ".deb"
        try:
            subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build",
                            tree, output], check=True, capture_output=True)
            with open(output, "rb") as f:
                return f.read()
        finally:
            if os.path.exists(output):
                os.unlink(output)


def changes_text(source, version, arch, files, section="misc"):
    """A .changes for ``files`` {name: bytes}."""
    def lines(algorithm, with_section):
        out = []
        for name, data in sorted(files.items()):
            digest = hashlib.new(algorithm, data).hexdigest()
            middle = f" {section} optional" if with_section else ""
            out.append(f" {digest} {len(data)}{middle} {name}")
        return "\n".join(out)
    binaries = sorted(name.split("_")[0] for name in files if name.endswith(".deb"))
    return CHANGES.format(
        source=source, version=version, arch=arch, binaries=" ".join(binaries),
        descriptions="\n".join(f" {b} - a tiny test package" for b in binaries)
        or " (no binary packages)",
        sha1=lines("sha1", False), sha256=lines("sha256", False),
        md5=lines("md5", True))


def binary_upload(source, version, arch, packages=None):
    """{name: bytes}: one .deb per package (default: the source's name)
    and the .changes listing them."""
    files = {f"{package}_{version}_{arch}.deb": make_deb(package, version, arch)
             for package in (packages or [source])}
    changes = changes_text(source, version, arch, files)
    files[f"{source}_{version}_{arch}.changes"] = changes.encode("utf-8")
    return files
