"""The demo's farm file: ``farm.toml.example`` with this run's values filled in.

``make run`` defines its farm as an operator does, with the farm file the
repository ships beside buildmaster.conf.example, ``farm.toml.example``,
applied by ``buildmaster apply``.  What only this run knows is filled
into a copy, ``var/demo/farm.toml``, which is the file applied:

* this machine's architecture (buildmaster.archive.chroots.host_architecture)
  in place of the example's: every series builds for it alone, natively,
  on the processor of that name (added when the example has none);
* the builders bob and frog, pointed at the demo's two slaves on
  loopback and building for that processor; the example's other
  builders are left out, since no slave answers for them here.

Why a filled-in copy rather than the example plus a small second file: a
farm file is the whole farm, every reference resolved within the one file
apply reads (a builder names its processor, a series its architectures'
processors), so a second file would repeat the processors; and applying
the example's own builders first would send bob and frog to hosts that do
not exist and back again at every run, where one file leaves a second run
with nothing to change but the slaves' new ports.  The copy is made from
the example as read (buildmaster.farm.reader, which also stops the demo
with its own lines if the example has a mistake), changed as data and
written back by buildmaster.farm.writer in the form ``buildmaster export``
prints, so nothing is patched as text; the comments stay in the example.
"""

import copy
import os

from buildmaster.farm import reader, writer
from buildmaster.farm.spec import DEFAULTS, IMPLIED, REQUIRED

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(REPOSITORY, "farm.toml.example")
BUILDERS = ("bob", "frog")
HEADER = ("# Written by 'make run' (buildmaster/demo/farmfile.py) at every start: "
          "farm.toml.example\n# with this machine's architecture, {arch}, and bob and "
          "frog sent to the demo's slaves.\n# Edit farm.toml.example, not this file.\n\n")
# Uploads go to the first series the file has in one of these states.
OPEN = ("DEVELOPMENT", "EXPERIMENTAL", "FROZEN")


def read_example(path=EXAMPLE):
    """The canonical farm ``path`` describes; raises reader.FarmFileError."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return reader.read(text, os.path.basename(path), os.path.dirname(os.path.abspath(path)))


def filled_in(farm, arch, slave_urls, base=REPOSITORY):
    """A copy of the canonical ``farm`` building for ``arch`` on the
    builders of ``slave_urls`` ({name: URL}); key files named relative to
    ``base`` are named by their absolute paths."""
    farm = copy.deepcopy(farm)
    if arch not in farm["processor"]:
        farm["processor"][arch] = {"name": arch, "title": arch,
                                   "description": f"{arch} processors"}
    for series in farm["series"].values():
        series["architectures"] = {arch: arch}
        if series["nominated_arch_indep"] is not None:
            series["nominated_arch_indep"] = arch
    for person in farm["person"].values():
        person["openpgp_keys"] = [os.path.join(base, name) for name in person["openpgp_keys"]]
    builders = {}
    for name, url in slave_urls.items():
        fields = farm["builder"].get(name) or dict(
            DEFAULTS["builder"], title=name, name=name, **IMPLIED["builder"])
        builders[name] = dict(fields, url=url, processor=arch)
    farm["builder"] = builders
    return {kind: {key: _in_file_order(kind, fields) for key, fields in objects.items()}
            for kind, objects in farm.items()}


def _in_file_order(kind, fields):
    """``fields`` with the keys an object must have first, as one writes them."""
    first = {key: fields[key] for key in REQUIRED[kind] if key in fields}
    return {**first, **fields}


def upload_target(farm):
    """(distribution, series, chroot_suite) of the first series that takes
    uploads; ValueError when there is none."""
    for series in farm["series"].values():
        if series["status"] in OPEN:
            return series["distribution"], series["name"], series["chroot_suite"]
    raise ValueError(f"{os.path.basename(EXAMPLE)} has no series in state "
                     f"{', '.join(OPEN)} to upload to")


def write_farm_file(directory, arch, slave_urls, example=EXAMPLE):
    """Write ``directory``/farm.toml, the example filled in for this run;
    (its path, the farm it holds)."""
    farm = filled_in(read_example(example), arch, slave_urls,
                     base=os.path.dirname(os.path.abspath(example)))
    path = os.path.join(directory, "farm.toml")
    text = HEADER.format(arch=arch) + writer.write(farm).removeprefix(writer.HEADER)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path, farm
