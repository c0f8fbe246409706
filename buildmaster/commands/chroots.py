"""``buildmaster chroot set|make DISTRIBUTION/SERIES/ARCH ...``.

``set`` stores a tarball the operator has; ``make`` makes one with
mmdebstrap first (buildmaster.archive.chroots), then registers it the same way.
"""

import json
import lzma
import os
import tarfile
import zlib

from buildmaster.archive import chroots
from buildmaster.operators import lookup
from buildmaster.commands.registry import CommandError
from buildmaster.commands.common import Group, arg, farm_session, json_option

CHROOT_MIMETYPE = "application/x-gtar"
TARGET = arg("target", metavar="DISTRIBUTION/SERIES/ARCH", help="e.g. ubuntu/hoary/i386")
JSON = json_option("print a JSON object instead of a sentence")

def package_list(text):
    """An argparse type: 'foo,bar' -> ('foo', 'bar')."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise ValueError(text)
    return names


chroot = Group("chroot")


@chroot.subcommand(
    "set", "store a tarball in the librarian as an architecture's chroot",
    TARGET,
    arg("tarball", help="the chroot tarball (.tar, .tar.gz, .tar.bz2, .tar.xz)"),
    JSON)
def set_chroot(context, args):
    report(register_chroot(context, args.target, args.tarball), args.json)


@chroot.subcommand(
    "make", "make a buildd chroot tarball with mmdebstrap and set it as an "
    "architecture's chroot",
    TARGET,
    arg("--suite", help="the Debian suite it holds, e.g. bookworm (default: the "
        "series' chroot_suite in the farm file)"),
    arg("--mirror", metavar="URL",
        help="the Debian mirror to take it from (default: the series' chroot_mirror in "
             "the farm file, else this host's apt sources)"),
    arg("--include", metavar="PKG,...", type=package_list, default=(),
        help="more packages to install (build-essential and "
             f"{', '.join(chroots.DEFAULT_INCLUDE)} always are)"),
    arg("--output", metavar="TARBALL",
        help="where to write it (default: <builddmaster root>/chroots/"
             "chroot-DISTRIBUTION-SERIES-ARCH.tar.gz); kept there, and reused while "
             "the same suite, mirror and packages are asked for"),
    arg("--fresh", action="store_true",
        help="make it again even when the tarball there was made the same way"),
    JSON)
def make_chroot(context, args):
    with farm_session(context) as session:
        arch = lookup.distroarchseries(session, args.target)
        series = arch.distroseries
        names = (series.distribution.name, series.name, arch.architecturetag)
        suite = args.suite or series.chroot_suite
        mirror = args.mirror or series.chroot_mirror
    if not suite:
        raise CommandError(f"give --suite: the farm file gives {names[0]}/{names[1]} no "
                           "chroot_suite")
    output = args.output or os.path.join(
        context.config.builddmaster.root, "chroots", "chroot-{}-{}-{}.tar.gz".format(*names))
    if os.path.exists(output) and not (args.fresh or chroots.made_by_mmdebstrap(output)):
        raise CommandError(f"{output} exists and was not made by `buildmaster chroot make`: "
                           "register it with `chroot set`, or replace it with --fresh")
    include = chroots.DEFAULT_INCLUDE + tuple(
        name for name in args.include if name not in chroots.DEFAULT_INCLUDE)
    try:
        tarball, made = chroots.ensure_buildd_chroot(
            suite, names[2], mirror, include, target=output, fresh=args.fresh)
    except chroots.ChrootError as error:
        raise CommandError(str(error)) from None
    with open(chroots.record_path(tarball), encoding="utf-8") as handle:
        command = json.load(handle)["command"]
    registered = register_chroot(context, args.target, tarball)
    registered.update(tarball=os.path.abspath(tarball), made=made, suite=suite,
                      mirror=mirror, include=list(include), mmdebstrap=command)
    if not args.json:
        how = "Made" if made else "Reused (made earlier the same way)"
        print(f"{how} {tarball}: {command}")
    report(registered, args.json)


def register_chroot(context, target, tarball):
    """Check ``tarball`` and store it as the chroot of ``target``; the JSON
    object saying what changed.  Raises CommandError."""
    check_tarball(tarball)
    with farm_session(context) as session:
        arch = lookup.distroarchseries(session, target)
        previous = arch.chroot
        alias = context.librarian.add_path(
            session, os.path.basename(tarball), tarball, mimetype=CHROOT_MIMETYPE)
        arch.addOrUpdateChroot(alias)
        series = arch.distroseries
        return {"distribution": series.distribution.name, "series": series.name,
                "arch": arch.architecturetag, "chroot": _file_object(alias),
                "previous": _file_object(previous) if previous is not None else None}


def _file_object(alias):
    return {"id": alias.id, "filename": alias.filename, "size": alias.content.filesize,
            "sha1": alias.content.sha1}


def report(registered, as_json):
    """Print what register_chroot did: as JSON, or as one sentence."""
    if as_json:
        print(json.dumps(registered, indent=2))
        return
    new, old = registered["chroot"], registered["previous"]
    replaced = (f"; it was librarian file {old['id']} ({old['filename']})"
                if old is not None else "")
    print(f"Chroot of {registered['distribution']} {registered['series']} "
          f"{registered['arch']} is now librarian file {new['id']} ({new['filename']}, "
          f"{new['size']} bytes, sha1 {new['sha1']}){replaced}.")


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
