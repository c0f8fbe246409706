"""``make run``: a whole build farm on this machine, building real packages.

Under ``var/demo/`` it writes a configuration (SQLite, the librarian on
free loopback ports), creates the database with the sample data, starts
two real slaves (``slave/``) on free loopback ports and points the sample
builders bob and frog at them, makes two small real source packages and
uploads them with ``buildmaster upload``, then runs ``twistd -n -y
buildmaster.tac`` in the foreground: its log shows the builds go from
queued to built.  Ctrl-C (SIGINT) or SIGTERM stops the master and the
slaves.  A second run reuses the database and uploads nothing new.

The slaves build natively (dpkg-buildpackage on this machine, no real
chroot), so builds must be for this machine's architecture: the demo
adds it to hoary (with the sample chroot), moves bob and frog to it and
takes the chroot away from hoary's other architectures, so the queue
builder only creates builds the slaves can make.
"""

import os
import signal
import subprocess
import sys

import sqlalchemy as sa

from buildmaster.model import (
    BuildStatus, Builder, DistroArchSeries, Processor)

# dpkg's name for an architecture -> the farm's processor name, where they differ.
PROCESSOR_NAMES = {"i386": "386"}


def host_architecture():
    """This machine's Debian architecture, e.g. 'amd64'."""
    return subprocess.run(["dpkg", "--print-architecture"], check=True,
                          capture_output=True, text=True).stdout.strip()


def native_processor(session, arch):
    """The Processor builds for ``arch`` run on, created when missing."""
    name = PROCESSOR_NAMES.get(arch, arch)
    processor = session.scalars(sa.select(Processor).where(Processor.name == name)).first()
    if processor is None:
        processor = Processor(name=name, title=arch, description=f"{arch} processors")
        session.add(processor)
    return processor


def build_natively(session, series, arch, chroot):
    """Make ``series`` build for ``arch`` only: its DistroArchSeries (created
    when missing) gets ``chroot`` and becomes the arch-indep one; the
    series' other architectures lose theirs."""
    found = None
    for each in series.architectures:
        if each.architecturetag == arch:
            found = each
        else:
            each.chroot = None
    if found is None:
        found = DistroArchSeries(distroseries=series, architecturetag=arch, official=True,
                                 processor=native_processor(session, arch))
        session.add(found)
    found.chroot = chroot
    series.nominatedarchindep = found
    return found


def point_builder(session, builder, url, processor):
    """Send ``builder`` to the slave at ``url``; a job it had on its old
    slave goes back to the queue."""
    builder.url = url
    builder.processor = processor
    builder.builderok = True
    builder.active = True
    entry = builder.currentjob
    if entry is not None:
        entry.build.buildstate = BuildStatus.NEEDSBUILD
        entry.build.builder = None
        entry.reset()
    return builder


def builder_named(session, name):
    return session.scalars(sa.select(Builder).where(Builder.name == name)).one()
