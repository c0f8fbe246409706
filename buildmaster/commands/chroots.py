"""``buildmaster chroot set DISTRIBUTION/SERIES/ARCH TARBALL``."""

import lzma
import os
import tarfile
import zlib

from buildmaster import lookup
from buildmaster.cli import CommandError
from buildmaster.commands.common import Group, arg, farm_session

CHROOT_MIMETYPE = "application/x-gtar"

chroot = Group("chroot", "manage the chroot tarballs builds run in")


@chroot.subcommand(
    "set", "store a tarball in the librarian as an architecture's chroot",
    arg("target", metavar="DISTRIBUTION/SERIES/ARCH", help="e.g. ubuntu/hoary/i386"),
    arg("tarball", help="the chroot tarball (.tar, .tar.gz, .tar.bz2, .tar.xz)"))
def set_chroot(context, args):
    check_tarball(args.tarball)
    with farm_session(context) as session:
        arch = lookup.distroarchseries(session, args.target)
        previous = arch.chroot
        alias = context.librarian.add_path(
            session, os.path.basename(args.tarball), args.tarball,
            mimetype=CHROOT_MIMETYPE)
        arch.addOrUpdateChroot(alias)
        replaced = (f"; it was librarian file {previous.id} ({previous.filename})"
                    if previous is not None else "")
        print(f"Chroot of {arch.displayname} is now librarian file {alias.id} "
              f"({alias.filename}, {alias.content.filesize} bytes, "
              f"sha1 {alias.content.sha1}){replaced}.")


def check_tarball(path):
    """Read every member header of the tarball (decompressing it whole, as a
    slave will), so a truncated or mislabelled file is refused here."""
    try:
        with tarfile.open(path, "r|*") as tar:
            members = sum(1 for _ in tar)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as error:
        raise CommandError(f"{path}: not a readable tarball: {error}") from None
    if not members:
        raise CommandError(f"{path}: an empty tarball is no chroot")
