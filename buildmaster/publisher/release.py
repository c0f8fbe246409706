"""A suite's Release file, its signatures, and the switch to the new suite.

A suite is written whole into a staging directory beside the live one,
``dists/.<suite>.<serial>/``: indexes, then ``Release`` (by
``apt-ftparchive release``, with the checksums of every index), then
``Release.gpg`` and ``InRelease`` when the farm signs.  Only then does
``dists/<suite>``, a symbolic link, change to point at it, with one
rename(2): a client sees the old suite or the new one, and a publisher
killed half way leaves only a staging directory that the next run
removes.

A client that read the old InRelease just before the switch asks for
indexes that have changed since; so Release says ``Acquire-By-Hash:
yes``, every index is also under ``by-hash/<algorithm>/<its hash>``
(apt-ftparchive makes those links), and the new suite keeps the by-hash
files of the previous BY_HASH_KEEP generations: apt fetches by hash and
finds what its InRelease listed, old or new.
"""

import datetime
import os
import shutil
import subprocess

from buildmaster.publisher.indexes import IndexFailure

STAGING_PREFIX = "."
BY_HASH_KEEP = 3


def staging_directory(dists, suite, now):
    """A new, empty staging directory for ``suite`` under ``dists``."""
    os.makedirs(dists, exist_ok=True)
    serial = now.strftime("%Y%m%dT%H%M%S%f")
    path = os.path.join(dists, f"{STAGING_PREFIX}{suite}.{serial}")
    if os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)
    return path


def release_fields(origin, label, suite, components, architectures, description):
    """The Release header fields apt-ftparchive writes."""
    return {"Origin": origin, "Label": label, "Suite": suite, "Codename": suite,
            "Components": " ".join(components),
            "Architectures": " ".join(architectures), "Description": description}


def write_release(stage, fields, now):
    """Write ``stage``/Release, dated ``now``, with the checksums of every
    index in ``stage``; returns its path.  Raises IndexFailure."""
    options = []
    for key, value in fields.items():
        options += ["-o", f"APT::FTPArchive::Release::{key}={value}"]
    date = now.astimezone(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S UTC")
    options += ["-o", f"APT::FTPArchive::Release::Date={date}",
                "-o", "APT::FTPArchive::Release::Acquire-By-Hash=yes",
                "-o", "APT::FTPArchive::DoByHash=true"]
    done = subprocess.run(["apt-ftparchive", "-q=2", *options, "release", "."],
                          cwd=stage, capture_output=True)
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise IndexFailure(f"apt-ftparchive release {stage} failed: "
                           f"{lines[-1] if lines else done.returncode}")
    path = os.path.join(stage, "Release")
    temporary = os.path.join(os.path.dirname(stage), f"{os.path.basename(stage)}.Release")
    with open(temporary, "wb") as handle:
        handle.write(done.stdout)
    os.replace(temporary, path)
    return path


def carry_by_hash(previous, stage, keep=BY_HASH_KEEP):
    """Link the by-hash files of the suite directory ``previous`` into
    ``stage``; each by-hash directory keeps the files of the newest
    ``keep`` generations (the newest files, ``keep`` times as many as the
    new generation has there)."""
    for directory, _, names in os.walk(previous):
        if os.path.basename(os.path.dirname(directory)) != "by-hash":
            continue
        target = os.path.join(stage, os.path.relpath(directory, previous))
        os.makedirs(target, exist_ok=True)
        fresh = len(os.listdir(target)) or 1
        for name in names:
            if not os.path.lexists(os.path.join(target, name)):
                os.link(os.path.join(directory, name), os.path.join(target, name))
        kept = sorted(os.listdir(target),
                      key=lambda name: os.stat(os.path.join(target, name)).st_mtime_ns,
                      reverse=True)
        for name in kept[fresh * keep:]:
            os.unlink(os.path.join(target, name))


def activate(dists, suite, stage):
    """Point ``dists/<suite>`` at ``stage`` atomically (after carrying the
    previous generations' by-hash files over); remove the suite directory
    it pointed at before, and stale staging directories."""
    link = os.path.join(dists, suite)
    previous = os.path.realpath(link) if os.path.islink(link) else None
    if previous and os.path.isdir(previous):
        carry_by_hash(previous, stage)
    temporary = os.path.join(dists, f"{STAGING_PREFIX}{suite}.link")
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(os.path.basename(stage), temporary)
    if os.path.isdir(link) and not os.path.islink(link):
        shutil.rmtree(link)  # a suite written by hand or an older layout
    os.replace(temporary, link)
    keep = os.path.realpath(stage)
    for name in os.listdir(dists):
        path = os.path.join(dists, name)
        if name.startswith(f"{STAGING_PREFIX}{suite}.") and os.path.isdir(path) \
                and not os.path.islink(path) and os.path.realpath(path) != keep:
            shutil.rmtree(path, ignore_errors=True)
    if previous and previous != keep and os.path.isdir(previous):
        shutil.rmtree(previous, ignore_errors=True)


def discard(stage):
    shutil.rmtree(stage, ignore_errors=True)
