"""Real Debian source packages, downloaded as users do and kept for later runs.

``DebianSources().dsc("hello")`` is the path of bookworm's hello .dsc,
with the files it lists beside it, exactly as ``apt-get source
--download-only hello`` leaves them.  The mirror is this host's own: the
deb-src line is made at run time from the host's apt sources (the first
``deb`` entry for the suite, with its Signed-By), so no mirror is named
in the tree.  apt runs with every configuration, state and cache path in
a directory of its own (``hostapt.HostApt``), so the host's apt is
neither read nor changed.

Downloads are kept under ``<cache_dir()>/sources/<suite>/<package>/``
(``~/.cache/buildmaster`` or ``$BUILDMASTER_CACHE``), outside the
checkout: later runs need no network.  A download lands in a partial
directory renamed into place, and a lock keeps two runs from
downloading at once.
"""

import fcntl
import glob
import os
import re
import shutil

import pytest
from debian.deb822 import Deb822

from buildmaster.archive.chroots import cache_dir
from buildmaster.testing.hostapt import HostApt

APT_SOURCES = "/etc/apt/sources.list"
APT_SOURCE_PARTS = "/etc/apt/sources.list.d"
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class NoDebianMirror(RuntimeError):
    """This host's apt sources name no Debian mirror for the suite."""


class DownloadFailed(RuntimeError):
    """apt could not download a source package; str() has apt's reason."""


def host_entries(sources=APT_SOURCES, parts=APT_SOURCE_PARTS):
    """This host's apt sources as dicts: types, uris, suites, components,
    signed_by; from sources.list, ``*.list`` and deb822 ``*.sources``."""
    entries = []
    paths = [sources] + sorted(glob.glob(os.path.join(parts, "*.list")))
    for path in paths:
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                entries += [entry for line in handle
                            if (entry := _one_line_entry(line)) is not None]
    for path in sorted(glob.glob(os.path.join(parts, "*.sources"))):
        with open(path, encoding="utf-8") as handle:
            for paragraph in Deb822.iter_paragraphs(handle):
                if paragraph.get("Enabled", "yes").strip().lower() == "no":
                    continue
                entries.append({
                    "types": paragraph.get("Types", "").split(),
                    "uris": paragraph.get("URIs", "").split(),
                    "suites": paragraph.get("Suites", "").split(),
                    "components": paragraph.get("Components", "").split(),
                    "signed_by": (paragraph.get("Signed-By") or "").strip() or None})
    return entries


def _one_line_entry(line):
    match = re.match(r"^\s*(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$",
                     line.split("#", 1)[0])
    if match is None:
        return None
    kind, options, uri, suite, components = match.groups()
    signed_by = next((option.split("=", 1)[1] for option in (options or "").split()
                      if option.startswith("signed-by=")), None)
    return {"types": [kind], "uris": [uri], "suites": [suite],
            "components": components.split(), "signed_by": signed_by}


def host_mirror(suite, entries=None):
    """(URI, keyring or None) of this host's first ``deb`` entry for
    ``suite`` with the main component; raises NoDebianMirror."""
    for entry in host_entries() if entries is None else entries:
        if "deb" in entry["types"] and suite in entry["suites"] \
                and "main" in entry["components"] and entry["uris"]:
            signed_by = entry["signed_by"]
            if signed_by is None and os.path.isfile(DEBIAN_KEYRING):
                signed_by = DEBIAN_KEYRING
            return entry["uris"][0].rstrip("/"), signed_by
    raise NoDebianMirror(f"this host's apt sources have no 'deb' entry for {suite} main")


def mirror_line(kind, suite, component="main"):
    """A sources.list line of ``kind`` (deb, deb-src) for ``suite`` on
    this host's mirror."""
    uri, signed_by = host_mirror(suite)
    options = f"[signed-by={signed_by}] " if signed_by else ""
    return f"{kind} {options}{uri} {suite} {component}"


class DebianSources:
    """Source packages of ``suite``, downloaded once into the cache."""

    def __init__(self, suite="bookworm", cache=None):
        self.suite = suite
        self.directory = os.path.join(cache or os.path.join(cache_dir(), "sources"), suite)
        self._updated = False

    def dsc(self, package):
        """The path of ``package``'s .dsc, downloaded when not yet kept;
        raises DownloadFailed."""
        kept = self._kept(package)
        if kept:
            return kept
        os.makedirs(self.directory, exist_ok=True)
        with open(os.path.join(self.directory, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self._kept(package) or self._download(package)

    def _kept(self, package):
        found = glob.glob(os.path.join(self.directory, package, "*.dsc"))
        return found[0] if len(found) == 1 else None

    def _apt(self):
        return HostApt(os.path.join(self.directory, ".apt"),
                       [mirror_line("deb-src", self.suite)])

    def _download(self, package):
        apt = self._apt()
        if not self._updated:
            _check(apt.update(), f"apt-get update for {self.suite}'s sources")
            self._updated = True
        partial = os.path.join(self.directory, f".partial-{os.getpid()}-{package}")
        shutil.rmtree(partial, ignore_errors=True)
        os.makedirs(partial)
        try:
            _check(apt.run("apt-get", "source", "--download-only", "--only-source",
                           f"{package}/{self.suite}", cwd=partial),
                   f"apt-get source {package}")
            os.rename(partial, os.path.join(self.directory, package))
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return self._kept(package)


def _check(done, what):
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines()
                 if line.startswith("E: ")] or (done.stderr or done.stdout).splitlines()
        raise DownloadFailed(f"{what} failed: {lines[0] if lines else done.returncode}")


def copy_source(dsc, directory):
    """Copy the .dsc and every file beside it that it lists into
    ``directory`` (made if missing); the copy's .dsc path."""
    from buildmaster.testing.debpackages import source_files
    os.makedirs(directory, exist_ok=True)
    for path in source_files(str(dsc)):
        shutil.copy(path, directory)
    return os.path.join(str(directory), os.path.basename(str(dsc)))


@pytest.fixture(scope="session")
def debian_sources():
    """Bookworm's source packages, downloaded once and kept (DebianSources)."""
    return DebianSources("bookworm")
