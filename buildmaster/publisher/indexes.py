"""A suite's Packages and Sources, written by apt-ftparchive.

The publisher says which pool files belong in which index; apt-ftparchive
reads each .deb and .dsc and writes the stanzas (and their .gz) exactly as
Debian's archive does, with the section and priority of the publication
given through override files.  Its cache database (one per archive, under
the publisher's work directory) remembers what it read, so writing the
indexes again after one more upload does not read every package again.

apt-ftparchive leaves a package it cannot read out of its index, says so
on stderr, and still exits 0.  So what it wrote is read back
(``left_out``): every pool file the plan lists is in its Packages or
Sources, or the publisher counts an error (publisher/run.py).
"""

import dataclasses
import itertools
import os
import shutil
import subprocess

APT_FTPARCHIVE = "apt-ftparchive"


class IndexFailure(Exception):
    """apt-ftparchive could not write the indexes; the text says why."""


@dataclasses.dataclass
class IndexPlan:
    """What goes into one suite's indexes.

    ``sources`` maps a component to [(pool path of a .dsc, source name,
    section)]; ``binaries`` maps (component, arch) to [(pool path of a
    .deb, package name, priority, section)].  Every component and arch
    named in ``components`` and ``architectures`` gets its indexes, empty
    or not.  ``owners`` maps a pool path to what the publisher calls the
    publication it stands for, to name it when it is left out.
    """

    components: list
    architectures: list
    sources: dict = dataclasses.field(default_factory=dict)
    binaries: dict = dataclasses.field(default_factory=dict)
    owners: dict = dataclasses.field(default_factory=dict)


def index_paths(plan):
    """The index files a plan makes, relative to the suite directory."""
    paths = []
    for component in plan.components:
        paths += [f"{component}/source/Sources", f"{component}/source/Sources.gz"]
        for arch in plan.architectures:
            paths += [f"{component}/binary-{arch}/Packages",
                      f"{component}/binary-{arch}/Packages.gz"]
    return paths


def write_indexes(tree, work, staged):
    """Write the indexes of every (staging directory, IndexPlan) of
    ``staged`` (directories in the tree's dists/) with one run of
    apt-ftparchive, using ``work`` for file lists and the cache; returns
    the warnings it printed (a package it could not read is left out of
    its index, and said so).  Raises IndexFailure."""
    lists = os.path.join(work, "lists")
    shutil.rmtree(lists, ignore_errors=True)
    os.makedirs(lists)
    sections = []
    for stage, plan in staged:
        sections += _sections(tree, stage, plan, lists, os.path.join(work, "packages.db"))
    config = _write(work, "apt-ftparchive.conf", [
        f'Dir {{ ArchiveDir "{tree}"; CacheDir "{work}"; }};\n',
        'Default { Packages::Compress ". gzip"; Sources::Compress ". gzip"; };\n',
        *sections])
    return _run([APT_FTPARCHIVE, "-q=2", "--no-contents",
                 "-o", "APT::FTPArchive::AlwaysStat=true", "generate", config])


def _sections(tree, stage, plan, lists, cache_db):
    """The generate configuration's sections for one suite.  In a
    BinDirectory, FileList names the files of its Packages or Sources."""
    stage_rel = os.path.relpath(stage, tree)
    prefix = os.path.basename(stage).lstrip(".")
    sections = []
    for component in plan.components:
        out = f"{stage_rel}/{component}/source"
        os.makedirs(os.path.join(tree, out), exist_ok=True)
        entries = plan.sources.get(component, [])
        file_list = _write(lists, f"{prefix}.{component}.sources",
                           (f"{path}\n" for path, _, _ in entries))
        override = _write(lists, f"{prefix}.{component}.src-override",
                          (f"{name} {section}\n" for _, name, section in entries))
        sections.append(
            f'BinDirectory "{out}" {{\n  Sources "{out}/Sources";\n'
            f'  FileList "{file_list}";\n  SrcOverride "{override}";\n}};\n')
        for arch in plan.architectures:
            out = f"{stage_rel}/{component}/binary-{arch}"
            os.makedirs(os.path.join(tree, out), exist_ok=True)
            entries = plan.binaries.get((component, arch), [])
            file_list = _write(lists, f"{prefix}.{component}.{arch}.packages",
                               (f"{path}\n" for path, _, _, _ in entries))
            override = _write(lists, f"{prefix}.{component}.{arch}.override",
                              (f"{name} {priority} {section}\n"
                               for _, name, priority, section in entries))
            sections.append(
                f'BinDirectory "{out}" {{\n  Packages "{out}/Packages";\n'
                f'  FileList "{file_list}";\n  BinOverride "{override}";\n'
                f'  BinCacheDB "{cache_db}";\n}};\n')
    return sections


def left_out(stage, plan):
    """The pool paths ``plan`` lists that the indexes written in ``stage``
    (a suite's directory) do not, each once, in the plan's order."""
    missing = []
    for component in plan.components:
        listed = _listed_sources(os.path.join(stage, component, "source", "Sources"))
        missing += [path for path, _, _ in plan.sources.get(component, [])
                    if path not in listed]
        for arch in plan.architectures:
            listed = _listed_packages(
                os.path.join(stage, component, f"binary-{arch}", "Packages"))
            missing += [path for path, *_ in plan.binaries.get((component, arch), [])
                        if path not in listed]
    return list(dict.fromkeys(missing))


def _listed_packages(path):
    """The Filename of every stanza of a Packages file."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return {line.partition(":")[2].strip() for line in handle
                if line.startswith("Filename:")}


def _listed_sources(path):
    """The pool path of every .dsc a Sources file lists (its stanza's
    Directory and the .dsc named in its file lists), read line by line."""
    listed, directory, names = set(), "", []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in itertools.chain(handle, ["\n"]):
            if not line.strip():
                listed.update(f"{directory}/{name}" for name in names)
                directory, names = "", []
            elif line.startswith("Directory:"):
                directory = line.partition(":")[2].strip()
            elif line[:1] in " \t" and line.rstrip().endswith(".dsc"):
                names.append(line.split()[-1])
    return listed


def _run(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True)
    except FileNotFoundError:
        raise IndexFailure(f"{argv[0]} is not installed (apt-get install apt-utils)") \
            from None
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    if done.returncode != 0:
        raise IndexFailure(f"{' '.join(argv[:1] + argv[-2:])} failed with status "
                           f"{done.returncode}: {lines[-1] if lines else 'no output'}")
    return lines


def _write(directory, name, chunks):
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(chunks)
    return path
