"""Real .deb files made in memory, thousands a second, for benchmarks and
publisher tests.

A .deb is an ar archive of ``debian-binary``, ``control.tar.gz`` and
``data.tar.gz``; ``deb_bytes`` writes one with the standard library,
where ``dpkg-deb --build`` would cost a process per package.  dpkg,
apt-ftparchive and python-debian read them like any other.  Every
timestamp inside is MTIME, so the same arguments give the same bytes.
"""

import gzip
import io
import tarfile

AR_MAGIC = b"!<arch>\n"
MTIME = 1704067200  # 2024-01-01 00:00:00 UTC


def deb_bytes(package, version, arch="amd64", depends=None, provides=None,
              section="misc", priority="optional", description=None):
    """The bytes of a .deb of ``package`` holding one README."""
    fields = [("Package", package), ("Version", version), ("Architecture", arch),
              ("Maintainer", "Build Farm Tests <tests@example.invalid>"),
              ("Installed-Size", "1"), ("Section", section), ("Priority", priority)]
    if depends:
        fields.append(("Depends", depends))
    if provides:
        fields.append(("Provides", provides))
    summary = description or f"{package}, a package made by the build farm's tests"
    fields.append(("Description", f"{summary}\n Made in memory for the tests."))
    control = "".join(f"{key}: {value}\n" for key, value in fields).encode("utf-8")
    readme = f"{package} {version}\n".encode("utf-8")
    members = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", _targz({"./control": control})),
        ("data.tar.gz", _targz({f"./usr/share/doc/{package}/README": readme})),
    ]
    return _ar(members)


def _targz(files):
    buffer = io.BytesIO()
    now = MTIME
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        directories = set()
        for path in files:
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directories.add("/".join(parts[:depth]))
        for directory in sorted(directories):
            info = tarfile.TarInfo(directory + "/")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, now
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), compresslevel=6, mtime=MTIME)


def _ar(members):
    out = [AR_MAGIC]
    now = MTIME
    for name, data in members:
        header = (f"{name + '/':<16}{now:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n")
        out.append(header.encode("ascii"))
        out.append(data)
        if len(data) % 2:
            out.append(b"\n")
    return b"".join(out)
