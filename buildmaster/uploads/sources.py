"""Registering a real source package from its .dsc: what the queue builder builds.

``register_source`` reads the .dsc with python-debian and takes what
dpkg-source takes: every format it unpacks (``sourceformat``: 1.0, 2.0,
3.0 (quilt) with any orig compression, upstream signatures and component
tarballs, 3.0 (native)), clearsigned or not.  With a keyring (``[upload]
keyring``) the .dsc must be signed by a key in it (``signatures``, gpgv);
only the text gpgv verified is read, its signer is recorded on the
release and becomes its creator.  Every file the .dsc lists must lie
beside it with the size and every checksum the .dsc gives (Files and each
Checksums-* field, which must all list the same files); a .changes, when
given, may carry no file the .dsc does not list.  Only then are the files
stored in the librarian and the release and its publication recorded.
The .dsc's Source, Version and Binary names must be what Debian policy
allows (policy.py), and a .changes' Source and Version the .dsc's.
Any problem is one SourceUploadError naming the file or field at fault;
nothing is recorded then (the caller rolls back).

Every file is read as what it is, never through a symlink: a listed file
that is a link (to /etc/debian_version, with its checksums) would be
stored and published, and one to a device or a pipe (/dev/zero) would
never end.  ``open_regular`` opens without following a link and without
blocking, and takes only a regular file; the .dsc and .changes are read
up to MAX_CONTROL_SIZE, each listed file up to the size the .dsc gives,
and what is stored is checked to be what was checked.

The publication is PENDING: that is what an accepted upload is until a
publisher puts it on the mirrors, and the farm builds every *active*
publication (PENDING or PUBLISHED, ``publishing.ACTIVE_STATUSES``), as
Launchpad's queue builder did, so the upload builds without a publisher.
"""

import dataclasses
import email.utils
import errno
import hashlib
import mimetypes
import os
import re
import stat

import sqlalchemy as sa
from debian.deb822 import Changes, Dsc

from buildmaster.operators import lookup
from buildmaster.model import rows
from buildmaster.uploads import policy, signatures
from buildmaster.model import (
    PackagePublishingStatus, Person, SourcePackageFileType, SourcePackageName,
    SourcePackagePublishingHistory, SourcePackageRelease, SourcePackageUrgency)
from buildmaster.archive.pockets import can_build_for_pocket
from buildmaster.uploads.sourceformat import SourceFormatError, classify

CHUNK_SIZE = 64 * 1024
# The most a .dsc or .changes may hold: a few KiB in practice.
MAX_CONTROL_SIZE = 1024 * 1024
REQUIRED_FIELDS = ("Format", "Source", "Version", "Maintainer", "Architecture", "Files")
# .dsc field -> (the key naming the checksum in its entries, our name for it)
CHECKSUM_FIELDS = {
    "Files": ("md5sum", "md5"),
    "Checksums-Sha1": ("sha1", "sha1"),
    "Checksums-Sha256": ("sha256", "sha256"),
    "Checksums-Sha512": ("sha512", "sha512"),
}
# What a .changes may carry besides the source package's own files.
CHANGES_EXTRAS = (".buildinfo",)
BINARY_SUFFIXES = (".deb", ".udeb", ".ddeb")


class SourceUploadError(ValueError):
    """The source package or where it should go is wrong; one line says how."""


@dataclasses.dataclass
class ListedFile:
    """A file the .dsc lists, with what the .dsc says about it."""

    name: str
    size: int
    sums: dict  # 'md5'/'sha1'/'sha256'/'sha512' -> hex digest
    filetype: SourcePackageFileType = None


def register_source(session, librarian, dsc_path, distribution, series,
                    pocket="RELEASE", archive_ref="primary", component="main",
                    changes_path=None, keyring=None):
    """Check and record the source package of ``dsc_path``; return its
    pending SourcePackagePublishingHistory (flushed, not committed).

    With ``keyring`` (an OpenPGP keyring file) the .dsc must be signed
    by a key in it; its signer is recorded and is the release's creator."""
    try:
        target_series = lookup.series(session, distribution, series)
        target_archive = lookup.archive(session, target_series.distribution, archive_ref)
        target_pocket = lookup.pocket(pocket)
        target_component = lookup.component(session, component)
    except lookup.NotFound as error:
        raise SourceUploadError(str(error)) from None
    _check_target(target_series, target_archive, target_pocket)
    dsc_name = os.path.basename(dsc_path)
    dsc, signer = read_dsc(dsc_path, keyring)
    listed = listed_files(dsc, dsc_name)
    directory = os.path.dirname(os.path.abspath(dsc_path))
    for entry in listed:
        check_file(directory, dsc_name, entry)
    section, urgency = _section_and_urgency(dsc, dsc_name, changes_path, listed)
    release = _existing_release(session, dsc, dsc_path, target_archive)
    if release is None:
        release = _new_release(
            session, librarian, dsc, dsc_path, listed, target_series, target_archive,
            target_component, section, urgency, signer)
    return rows.publish_source(
        session, release, target_archive, target_series, pocket=target_pocket,
        status=PackagePublishingStatus.PENDING, component_name=target_component.name)


def _check_target(series, archive, pocket):
    if not archive.enabled:
        raise SourceUploadError(f"archive {archive.reference} is disabled")
    if not can_build_for_pocket(series.status, pocket, archive.purpose):
        raise SourceUploadError(
            f"{series.distribution.name} {series.name} is {series.status.title}: "
            f"its {pocket.name} pocket takes no uploads to {archive.reference}")


def read_dsc(dsc_path, keyring=None):
    """(the parsed .dsc, with every field the farm needs present; its
    signatures.Signer, or None without ``keyring``).  With ``keyring``
    only the text gpgv verified is parsed."""
    name = os.path.basename(dsc_path)
    data = read_control(dsc_path)
    signer = None
    try:
        if keyring:
            signer = signatures.verify(dsc_path, keyring)
            data = signer.signed_text
        else:
            signatures.is_clearsigned(data)  # refuses text outside a signature
    except signatures.KeyringUnusable as error:
        raise SourceUploadError(f"[upload] {error}") from None
    except signatures.SignatureError as error:
        message = str(error)
        raise SourceUploadError(message if message.startswith(name) else
                                f"{name}: {message}") from None
    try:
        dsc = Dsc(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SourceUploadError(f"{name}: not UTF-8 text") from None
    missing = [field for field in REQUIRED_FIELDS if not dsc.get(field)]
    if missing:
        raise SourceUploadError(
            f"{name}: not a .dsc: missing field(s) {', '.join(missing)}")
    problem = policy.first_problem(
        policy.name_problem("Source", dsc["Source"]),
        policy.version_problem("Version", dsc["Version"]),
        *(policy.name_problem("Binary", binary)
          for binary in policy.listed_names(dsc.get("Binary"))))
    if problem is not None:
        raise SourceUploadError(f"{name}: {problem}")
    return dsc, signer


def listed_files(dsc, dsc_name):
    """The files the .dsc lists, each with its size, every checksum given
    and its file type in the .dsc's format.

    Every checksum field must list the same files with the same sizes."""
    files = {}
    for field in dsc:
        if field.lower().startswith("checksums-") and field.title() not in CHECKSUM_FIELDS:
            raise SourceUploadError(f"{dsc_name}: unknown checksum field {field}")
    for field, (key, sum_name) in CHECKSUM_FIELDS.items():
        entries = dsc.get(field)
        if entries is None:
            continue
        names = set()
        for entry in entries:
            name, size = entry["name"], _size(dsc_name, field, entry)
            if name in names:
                raise SourceUploadError(f"{dsc_name}: {field} lists {name} twice")
            if field == "Files":
                _check_listed_name(dsc_name, name)
                files[name] = ListedFile(name, size, {})
            elif name not in files or files[name].size != size:
                raise SourceUploadError(
                    f"{dsc_name}: {field} lists {name} (size {size}) "
                    "which Files does not list with that size")
            if not entry.get(key):
                raise SourceUploadError(f"{dsc_name}: {field}: no {sum_name} for {name}")
            files[name].sums[sum_name] = entry[key].lower()
            names.add(name)
        if names != set(files):
            missing = sorted(set(files) - names)[0]
            raise SourceUploadError(f"{dsc_name}: {field} does not list {missing}")
    try:
        types = classify(dsc["Source"], dsc["Version"], dsc["Format"], list(files))
    except SourceFormatError as error:
        raise SourceUploadError(f"{dsc_name}: {error}") from None
    for name, entry in files.items():
        entry.filetype = types[name]
    return list(files.values())


def _size(dsc_name, field, entry):
    try:
        return int(entry["size"])
    except (KeyError, ValueError):
        raise SourceUploadError(f"{dsc_name}: {field}: bad size for {entry.get('name')}") \
            from None


def _check_listed_name(dsc_name, name):
    if not name or "/" in name or name in (".", ".."):
        raise SourceUploadError(f"{dsc_name}: lists a file named {name!r}")


def open_regular(path):
    """A binary file object on the regular file ``path``, opened without
    following a symlink and without blocking (a pipe); FileNotFoundError
    when there is none, SourceUploadError naming it for a symlink, a
    device, a pipe, a directory or a file that cannot be read."""
    name = os.path.basename(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise SourceUploadError(f"{name}: a symbolic link; upload the file itself") \
                from None
        raise SourceUploadError(f"{name}: cannot read: {error.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SourceUploadError(f"{name}: not a regular file")
    return os.fdopen(fd, "rb")


def read_control(path):
    """The bytes of the .dsc or .changes ``path``, a regular file of at
    most MAX_CONTROL_SIZE bytes; SourceUploadError otherwise."""
    try:
        with open_regular(path) as handle:
            data = handle.read(MAX_CONTROL_SIZE + 1)
    except OSError as error:  # there is none, or it cannot be read
        raise SourceUploadError(f"{path}: cannot read: {error.strerror}") from None
    if len(data) > MAX_CONTROL_SIZE:
        raise SourceUploadError(f"{os.path.basename(path)}: larger than "
                                f"{MAX_CONTROL_SIZE} bytes")
    return data


def check_file(directory, dsc_name, entry):
    """The file beside the .dsc is a regular file with the size and
    checksums the .dsc gives (no more of it read than that size)."""
    path = os.path.join(directory, entry.name)
    try:
        handle = open_regular(path)
    except FileNotFoundError:
        raise SourceUploadError(f"{entry.name}: listed in {dsc_name} but not beside it") \
            from None
    with handle:
        actual_size = os.fstat(handle.fileno()).st_size
        if actual_size != entry.size:
            raise SourceUploadError(
                f"{entry.name}: size {actual_size}, {dsc_name} says {entry.size}")
        actual = _sums(handle, entry.sums, entry.size)
    for sum_name, expected in sorted(entry.sums.items()):
        if actual[sum_name] != expected:
            raise SourceUploadError(
                f"{entry.name}: {sum_name} {actual[sum_name]}, {dsc_name} says {expected}")


def file_sums(path, names=("md5", "sha1", "sha256")):
    """{'md5': ..., 'sha1': ..., ...} of the regular file ``path``, one for
    each of ``names``, read in chunks; SourceUploadError for anything but
    a regular file."""
    with open_regular(path) as handle:
        return _sums(handle, names)


def _sums(handle, names, limit=None):
    """The digests of what ``handle`` holds, read up to ``limit`` bytes."""
    digests = {name: hashlib.new(name) for name in names}
    left = limit
    while left is None or left > 0:
        chunk = handle.read(CHUNK_SIZE if left is None else min(CHUNK_SIZE, left))
        if not chunk:
            break
        if left is not None:
            left -= len(chunk)
        for digest in digests.values():
            digest.update(chunk)
    return {name: digest.hexdigest() for name, digest in digests.items()}


def _section_and_urgency(dsc, dsc_name, changes_path, listed):
    """From the .changes when there is one, else 'misc' and LOW.  The
    .changes may carry the .dsc, the files it lists and a .buildinfo,
    nothing else."""
    if changes_path is None:
        return dsc.get("Section") or "misc", SourcePackageUrgency.LOW
    changes_name = os.path.basename(changes_path)
    try:
        changes = Changes(read_control(changes_path).decode("utf-8"))
    except UnicodeDecodeError as error:
        raise SourceUploadError(f"{changes_path}: cannot read: {error}") from None
    for field in ("Source", "Version"):
        # The .changes names what the upload is (the upload's record, the
        # version rule): it must be the package itself.
        given = changes.get(field)
        if given is not None and given != dsc[field]:
            raise SourceUploadError(
                f"{changes_name}: {field} {given!r} is not the {dsc_name}'s "
                f"{dsc[field]!r}")
    carried = changes.get("Files") or ()
    entry = next((each for each in carried if each["name"] == dsc_name), None)
    if entry is None:
        raise SourceUploadError(f"{changes_name}: does not list {dsc_name}")
    known = {dsc_name} | {each.name for each in listed}
    for each in carried:
        name = each["name"]
        if name.endswith(BINARY_SUFFIXES):
            raise SourceUploadError(
                f"{changes_name}: carries the binary package {name}; the farm "
                "builds binaries itself, upload the source only")
        if name not in known and not name.endswith(CHANGES_EXTRAS):
            raise SourceUploadError(
                f"{changes_name}: carries {name}, which {dsc_name} does not list")
    urgency_name = (changes.get("Urgency") or "low").split()[0].upper()
    try:
        urgency = SourcePackageUrgency[urgency_name]
    except KeyError:
        raise SourceUploadError(
            f"{changes_name}: unknown urgency {urgency_name.lower()!r}") from None
    return entry.get("section") or "misc", urgency


def _existing_release(session, dsc, dsc_path, archive):
    """The release of this name and version if it is already registered.

    A name and version stand for one set of files everywhere, so the same
    .dsc may go to a second archive, but never twice to one archive, and
    different files never get an existing version."""
    name, version = dsc["Source"], dsc["Version"]
    release = session.scalars(
        sa.select(SourcePackageRelease).join(SourcePackageName).where(
            SourcePackageName.name == name,
            SourcePackageRelease.version == version)).first()
    if release is None:
        return None
    published = session.scalar(sa.select(sa.func.count()).where(
        SourcePackagePublishingHistory.sourcepackagerelease_id == release.id,
        SourcePackagePublishingHistory.archive_id == archive.id))
    if published:
        raise SourceUploadError(
            f"{name} {version} is already uploaded to {archive.reference}; "
            "upload a new version")
    registered = [each.libraryfile.content.sha1 for each in release.files
                  if each.filetype == SourcePackageFileType.DSC]
    if registered != [file_sums(dsc_path)["sha1"]]:
        raise SourceUploadError(
            f"{name} {version} is already registered with a different .dsc; "
            "a version names one set of files")
    return release


def _new_release(session, librarian, dsc, dsc_path, listed, series, archive,
                 component, section, urgency, signer):
    directory = os.path.dirname(os.path.abspath(dsc_path))
    dsc_name = os.path.basename(dsc_path)
    maintainer = person_for(session, dsc["Maintainer"], f"{dsc_name}: Maintainer")
    creator, signed = maintainer, {}
    if signer is not None:
        creator = person_for(session, signer.uid,
                             f"{dsc_name}: the signer's user id (key {signer.fingerprint})")
        signed = {"signing_key_fingerprint": signer.fingerprint,
                  "signing_key_uid": signer.uid}
    stored = [(_store(session, librarian, dsc_path, archive), SourcePackageFileType.DSC)]
    for entry in listed:
        alias = _store(session, librarian, os.path.join(directory, entry.name), archive,
                       entry)
        stored.append((alias, entry.filetype))
    return rows.source_release(
        session, dsc["Source"], dsc["Version"], creator, maintainer=maintainer,
        component_name=component.name, files=stored, section=section, urgency=urgency,
        architecturehintlist=" ".join(dsc["Architecture"].split()),
        builddepends=" ".join(dsc.get("Build-Depends", "").split()),
        dsc_format=" ".join(dsc["Format"].split()), upload_distroseries=series, **signed)


def _store(session, librarian, path, archive, entry=None):
    """The new alias of the regular file ``path``; with ``entry`` (its
    ListedFile) what was stored must be what check_file checked."""
    name = os.path.basename(path)
    mimetype = "text/plain" if name.endswith(".dsc") else (
        mimetypes.guess_type(name)[0] or "application/octet-stream")
    with open_regular(path) as handle:
        alias = librarian.add_file(session, name, handle, mimetype=mimetype,
                                   restricted=archive.private)
    content = alias.content
    if entry is not None and (content.filesize != entry.size or any(
            getattr(content, sum_name, expected) != expected
            for sum_name, expected in entry.sums.items())):
        raise SourceUploadError(f"{name}: changed while it was being registered")
    return alias


def person_for(session, name_and_address, what):
    """The Person whose preferred email is the one in ``name_and_address``
    ('Name <address>'), made if new; ``what`` names it in the error."""
    displayname, address = email.utils.parseaddr(name_and_address)
    if "@" not in address:
        raise SourceUploadError(f"{what} {name_and_address!r} has no email address")
    person = session.scalars(sa.select(Person).where(
        sa.func.lower(Person.preferred_email) == address.lower())).first()
    if person is None:
        person = Person(name=_free_person_name(session, address),
                        displayname=displayname or address, preferred_email=address)
        session.add(person)
        session.flush()
    return person


def _free_person_name(session, address):
    """A person name made from the address's local part, unused so far."""
    base = re.sub(r"[^a-z0-9+.-]+", "-", address.split("@")[0].lower()).strip("-.+")
    base = base or "maintainer"
    taken = set(session.scalars(sa.select(Person.name).where(Person.name.like(f"{base}%"))))
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    return name
