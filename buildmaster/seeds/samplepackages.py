"""Real packages for the sample world: foobar 1.0, as source and as an i386 .deb.

The seeds' foobar is published in warty and built there (build 6, whose
binary is published too), so the publisher hands its .dsc and its .deb
to apt-ftparchive, which reads both into warty's Sources and Packages:
they have to be what their names say.  The source is a Debian format
3.0 (native) package, a .dsc and its .tar.xz written here (a .dsc is
text: its checksums are the tarball's); the binary is built by dpkg-deb
from a tree of one README.  ``dpkg-source -x`` unpacks the one and
``dpkg-deb --info`` reads the other (tests/test_sample_packages.py).

Each is made once per process and is the same bytes every time in it
(every member's time is RELEASE_EPOCH), so loading the sample world
costs one dpkg-deb run per process, whatever the number of loads.
"""

import functools
import hashlib
import io
import os
import subprocess
import tarfile
import tempfile

NAME, VERSION, ARCH, SECTION = "foobar", "1.0", "i386", "devel"
MAINTAINER = "Mark Shuttleworth <mark@example.com>"
RELEASE_EPOCH = 1104566400  # 2005-01-01, the sample world's release
DSC_NAME = f"{NAME}_{VERSION}.dsc"
TARBALL_NAME = f"{NAME}_{VERSION}.tar.xz"
DEB_NAME = f"{NAME}_{VERSION}_{ARCH}.deb"

_CONTROL = f"""\
Source: {NAME}
Section: {SECTION}
Priority: optional
Maintainer: {MAINTAINER}
Standards-Version: 4.6.2

Package: {NAME}
Architecture: any
Description: foobar utility
 The sample world's package.
"""

_CHANGELOG = f"""\
{NAME} ({VERSION}) warty; urgency=low

  * The sample world's release.

 -- {MAINTAINER}  Sat, 01 Jan 2005 08:00:00 +0000
"""

_RULES = f"""\
#!/usr/bin/make -f
build: build-arch build-indep
build-arch build-indep:

clean:
\trm -rf debian/tmp debian/files

binary: binary-arch binary-indep
binary-indep:
binary-arch:
\trm -rf debian/tmp
\tmkdir -p debian/tmp/DEBIAN debian/tmp/usr/share/doc/{NAME}
\techo '{NAME} {VERSION}' > debian/tmp/usr/share/doc/{NAME}/README
\tdpkg-gencontrol -p{NAME} -Pdebian/tmp
\tdpkg-deb --build debian/tmp ..

.PHONY: build build-arch build-indep clean binary binary-arch binary-indep
"""

_DEB_CONTROL = f"""\
Package: {NAME}
Version: {VERSION}
Architecture: {ARCH}
Maintainer: {MAINTAINER}
Installed-Size: 1
Section: {SECTION}
Priority: optional
Description: foobar utility
 The sample world's package.
"""


@functools.cache
def source():
    """{file name: bytes} of foobar's source: its .dsc and its tarball."""
    tree = f"{NAME}-{VERSION}"
    members = {f"{tree}/debian/control": (_CONTROL, 0o644),
               f"{tree}/debian/changelog": (_CHANGELOG, 0o644),
               f"{tree}/debian/rules": (_RULES, 0o755),
               f"{tree}/debian/source/format": ("3.0 (native)\n", 0o644)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz", format=tarfile.GNU_FORMAT) as tar:
        for directory in (tree, f"{tree}/debian", f"{tree}/debian/source"):
            tar.addfile(_info(directory + "/", 0, 0o755, tarfile.DIRTYPE))
        for path, (text, mode) in sorted(members.items()):
            data = text.encode("utf-8")
            tar.addfile(_info(path, len(data), mode), io.BytesIO(data))
    tarball = buffer.getvalue()
    return {DSC_NAME: _dsc(tarball).encode("utf-8"), TARBALL_NAME: tarball}


def _info(path, size, mode, kind=tarfile.REGTYPE):
    info = tarfile.TarInfo(path)
    info.size, info.mode, info.type, info.mtime = size, mode, kind, RELEASE_EPOCH
    return info


def _dsc(tarball):
    def listed(algorithm):
        return f" {hashlib.new(algorithm, tarball).hexdigest()} {len(tarball)} {TARBALL_NAME}"
    return (f"Format: 3.0 (native)\nSource: {NAME}\nBinary: {NAME}\nArchitecture: any\n"
            f"Version: {VERSION}\nMaintainer: {MAINTAINER}\nStandards-Version: 4.6.2\n"
            f"Package-List:\n {NAME} deb {SECTION} optional arch=any\n"
            f"Checksums-Sha1:\n{listed('sha1')}\nChecksums-Sha256:\n{listed('sha256')}\n"
            f"Files:\n{listed('md5')}\n")


@functools.cache
def binary():
    """The bytes of foobar's i386 .deb, built by dpkg-deb."""
    with tempfile.TemporaryDirectory(prefix="sample-deb-") as work:
        tree = os.path.join(work, "tree")
        doc = os.path.join(tree, "usr", "share", "doc", NAME)
        os.makedirs(doc)
        os.makedirs(os.path.join(tree, "DEBIAN"))
        _write(os.path.join(doc, "README"), f"{NAME} {VERSION}\n")
        _write(os.path.join(tree, "DEBIAN", "control"), _DEB_CONTROL)
        for directory, names, files in os.walk(tree):
            for name in names + files:
                os.utime(os.path.join(directory, name), (RELEASE_EPOCH, RELEASE_EPOCH))
        deb = os.path.join(work, DEB_NAME)
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", tree, deb],
                       check=True, capture_output=True,
                       env=dict(os.environ, SOURCE_DATE_EPOCH=str(RELEASE_EPOCH)))
        with open(deb, "rb") as handle:
            return handle.read()


def _write(path, text):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
