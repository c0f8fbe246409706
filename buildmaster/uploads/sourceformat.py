"""Which files a source package of each format has, as dpkg-source sees them.

``classify(source, version, source_format, names)`` takes what a .dsc
says (its Source, Version and Format fields and the file names its Files
field lists) and returns each file's SourcePackageFileType, or raises
SourceFormatError naming the first file or field that dpkg-source -x
would refuse.  It decides only; it reads no file.

The rules are dpkg-source's (``Dpkg::Source::Package::V1``, ``V2`` and
``V3::Native``), with ``base`` = ``<source>_<upstream version>`` and
``full`` = ``<source>_<version without epoch>``:

=================  ==========================================================
format             files
=================  ==========================================================
1.0                one tarball, ``base.orig.tar.gz`` or (native)
                   ``full.tar.gz``; ``base.orig.tar.gz.asc``; ``full.diff.gz``
2.0, 3.0 (quilt)   ``base.orig.tar.C`` and ``full.debian.tar.C`` (required);
                   ``base.orig-NAME.tar.C`` (upstream components); each orig
                   tarball's ``.asc``
3.0 (native)       one ``full.tar.C``
=================  ==========================================================

where C is one of gz, bz2, lzma or xz (1.0 knows gzip only).  Each
``.asc`` must sign a tarball the package has, and no file may come twice
in two compressions.  The other formats dpkg-source knows, 3.0 (git),
3.0 (bzr) and 3.0 (custom), need tools a buildd chroot lacks or cannot
be unpacked at all, so the farm refuses them.
"""

import re

from debian.debian_support import Version

from buildmaster.model.enums import SourcePackageFileType as FileType

COMPRESSIONS = ("gz", "bz2", "lzma", "xz")
FORMATS = ("1.0", "2.0", "3.0 (quilt)", "3.0 (native)")
_ANY = "(?:" + "|".join(COMPRESSIONS) + ")"


class SourceFormatError(ValueError):
    """The .dsc's format or files are not a source package dpkg-source
    unpacks; str() says which file or field, in one line."""


def base_names(source, version):
    """(``source_upstream``, ``source_version-without-epoch``), the two
    stems every file name of the package starts with."""
    try:
        parsed = Version(version)
    except ValueError:
        raise SourceFormatError(f"Version {version!r} is not a Debian version") from None
    full = parsed.full_version.split(":", 1)[-1] if parsed.epoch else parsed.full_version
    return f"{source}_{parsed.upstream_version}", f"{source}_{full}"


def _patterns(source_format, base, full):
    """[(compiled pattern, file type)] for ``source_format``; a pattern's
    group 'stem' names what the file stands for (to find duplicates and
    signatures' tarballs)."""
    b, f = re.escape(base), re.escape(full)
    if source_format == "1.0":
        return [
            (rf"(?P<stem>{b}\.orig\.tar)\.gz", FileType.ORIG_TARBALL),
            (rf"(?P<stem>{f}\.tar)\.gz", FileType.NATIVE_TARBALL),
            (rf"(?P<stem>{b}\.orig\.tar)\.gz\.asc", FileType.ORIG_TARBALL_SIGNATURE),
            (rf"(?P<stem>{f}\.diff)\.gz", FileType.DIFF),
        ]
    if source_format == "3.0 (native)":
        return [(rf"(?P<stem>{f}\.tar)\.{_ANY}", FileType.NATIVE_TARBALL)]
    return [
        (rf"(?P<stem>{b}\.orig\.tar)\.{_ANY}", FileType.ORIG_TARBALL),
        (rf"(?P<stem>{b}\.orig\.tar)\.{_ANY}\.asc", FileType.ORIG_TARBALL_SIGNATURE),
        (rf"(?P<stem>{b}\.orig-[A-Za-z0-9-]+\.tar)\.{_ANY}",
         FileType.COMPONENT_ORIG_TARBALL),
        (rf"(?P<stem>{b}\.orig-[A-Za-z0-9-]+\.tar)\.{_ANY}\.asc",
         FileType.COMPONENT_ORIG_TARBALL_SIGNATURE),
        (rf"(?P<stem>{f}\.debian\.tar)\.{_ANY}", FileType.DEBIAN_TARBALL),
    ]


SIGNATURES = {FileType.ORIG_TARBALL_SIGNATURE: FileType.ORIG_TARBALL,
              FileType.COMPONENT_ORIG_TARBALL_SIGNATURE: FileType.COMPONENT_ORIG_TARBALL}


def classify(source, version, source_format, names):
    """{file name: SourcePackageFileType} for the files a .dsc lists (the
    .dsc itself not among them); raises SourceFormatError."""
    source_format = " ".join(source_format.split())
    if source_format not in FORMATS:
        raise SourceFormatError(
            f"Format {source_format!r} is not one the farm builds "
            f"(it builds {', '.join(FORMATS)})")
    base, full = base_names(source, version)
    patterns = [(re.compile(pattern), kind)
                for pattern, kind in _patterns(source_format, base, full)]
    found, stems = {}, {}
    for name in names:
        match, kind = next(((m, kind) for pattern, kind in patterns
                            if (m := pattern.fullmatch(name))), (None, None))
        if match is None:
            raise SourceFormatError(
                f"{name}: not a file of a {source_format} source package "
                f"{full.replace('_', ' ')}")
        key = (match["stem"], kind)
        if key in stems:
            raise SourceFormatError(f"{name}: the package already has {stems[key]}")
        stems[key] = name
        found[name] = kind
    _check_complete(source_format, found, stems)
    return found


def _check_complete(source_format, found, stems):
    kinds = list(found.values())
    tarballs = [kind for kind in kinds
                if kind in (FileType.ORIG_TARBALL, FileType.NATIVE_TARBALL)]
    if source_format in ("1.0", "3.0 (native)") and len(tarballs) != 1:
        raise SourceFormatError(
            f"a {source_format} source package has one tarball, this one "
            f"{len(tarballs)}")
    if source_format in ("2.0", "3.0 (quilt)"):
        for needed in (FileType.ORIG_TARBALL, FileType.DEBIAN_TARBALL):
            if needed not in kinds:
                raise SourceFormatError(
                    f"a {source_format} source package needs its "
                    f"{needed.title.lower()}, which the .dsc does not list")
    for name, kind in found.items():
        signed = SIGNATURES.get(kind)
        if signed is not None and found.get(name[:-len(".asc")]) != signed:
            raise SourceFormatError(
                f"{name}: signs {name[:-len('.asc')]}, which the .dsc does not list")
