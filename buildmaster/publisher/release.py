"""A suite's Release file, its signatures, and the switch to the new suite.

A suite is written whole into a staging directory beside the live one,
``dists/.<suite>.<serial>/``: indexes, then ``Release`` (by
``apt-ftparchive release``, with the checksums of every index), then
``Release.gpg`` and ``InRelease`` when the farm signs.  Only then does
``dists/<suite>``, a symbolic link, change to point at it, with one
rename(2): a client sees the old suite or the new one, never a mix, and
a publisher killed half way leaves only a staging directory that the
next run removes.
"""

import datetime
import os
import shutil
import subprocess

from buildmaster.publisher.indexes import IndexFailure

STAGING_PREFIX = "."


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
    options += ["-o", f"APT::FTPArchive::Release::Date={date}"]
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


def activate(dists, suite, stage):
    """Point ``dists/<suite>`` at ``stage`` atomically; remove the suite
    directory it pointed at before, and stale staging directories."""
    link = os.path.join(dists, suite)
    previous = os.path.realpath(link) if os.path.islink(link) else None
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
