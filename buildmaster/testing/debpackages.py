"""Tiny real Debian source packages and a chroot tarball, for slave tests.

The packages use a hand-written ``debian/rules`` (plain make, dpkg-deb and
dpkg-gencontrol) so ``dpkg-buildpackage -b -us -uc -rfakeroot`` works
without debhelper. The ``kind`` decides what the build target does:

- ``good``: prints a line and succeeds;
- ``fail``: prints a line and exits 1 (a PACKAGEFAIL);
- ``depwait``: declares ``Build-Depends: baz (>= 1.0.1)``, never installed;
- ``slow``: prints a line and sleeps for ten minutes (for abort tests);
- ``escape``: tries to write to /etc, /root and /tmp while building, and
  succeeds whatever came of it (the chroot must keep the host untouched);
- ``all``: one ``Architecture: all`` binary package, made by the
  arch-independent targets only (so ``dpkg-buildpackage -B`` makes
  nothing);
- ``mixed``: an ``Architecture: any`` package and its ``Architecture:
  all`` ``-doc`` package: ``-b`` makes both, ``-B`` the first only;
- ``options``: prints the DEB_BUILD_OPTIONS it was built with, the
  dpkg options in the chroot (``dpkg options: force-unsafe-io``) and what
  fsync of a descriptor that is not open returns (x86-64 only):
  ``fsync of no file: 0`` where fsync is a no-op, else -1; and its
  CCACHE_DIR, where it leaves ``touched-by-the-build`` when it has one.

``build_binaries`` builds one on this host as a slave would, for upload
tests that need a real .changes.
"""

import dataclasses
import glob
import io
import os
import shutil
import subprocess
import tarfile
import tempfile

KINDS = ("good", "fail", "depwait", "slow", "all", "mixed", "escape", "options")

DEPWAIT_DEPENDS = "baz (>= 1.0.1)"

_BUILD_COMMANDS = {
    "good": ["@echo 'building the good package'"],
    "depwait": ["@echo 'building the depwait package'"],
    "fail": ["@echo 'this build is going to fail'", "exit 1"],
    "slow": ["@echo 'a slow build starts'", "sleep 600"],
    "all": ["@echo 'building the arch-independent package'"],
    "mixed": ["@echo 'building the mixed package'"],
    "options": ["@echo \"DEB_BUILD_OPTIONS=[$$DEB_BUILD_OPTIONS]\"",
                "@cat /etc/dpkg/dpkg.cfg.d/* | sed 's/^/dpkg options: /'",
                # fsync(9999) on x86-64: -1 (EBADF), or 0 where a filter eats it.
                "@perl -e 'printf \"fsync of no file: %d\\n\", syscall(74, 9999)'",
                "@echo \"CCACHE_DIR=[$$CCACHE_DIR]\"",
                "@if [ -n \"$$CCACHE_DIR\" ]; then touch \"$$CCACHE_DIR/touched-by-the-build\"; fi"],
    # Tries to write outside its build tree; the chroot keeps the host safe.
    "escape": ["-echo escaped > /etc/buildmaster-escape",
               "-echo escaped > /root/buildmaster-escape",
               "-echo escaped > /tmp/buildmaster-escape",
               "@echo 'the escape attempt is over'"],
}

# The binary packages of each kind: (name suffix, Architecture).
_BINARIES = {kind: [("", "any")] for kind in KINDS}
_BINARIES["all"] = [("", "all")]
_BINARIES["mixed"] = [("", "any"), ("-doc", "all")]

_RULES = """\
#!/usr/bin/make -f
build: build-arch build-indep
build-arch:
{arch_build}
build-indep:
{indep_build}

clean:
\trm -rf debian/tmp-* debian/files

binary: binary-arch binary-indep
binary-arch: build-arch
{arch_binaries}
binary-indep: build-indep
{indep_binaries}

.PHONY: build build-arch build-indep clean binary binary-arch binary-indep
"""

# Makes the .deb of one binary package (dpkg-gencontrol names it in
# debian/files, where dpkg-genchanges finds it).
_BINARY_COMMANDS = [
    "rm -rf debian/tmp-{package}",
    "mkdir -p debian/tmp-{package}/DEBIAN debian/tmp-{package}/usr/share/doc/{package}",
    "echo 'hello from {package}' > debian/tmp-{package}/usr/share/doc/{package}/README",
    "dpkg-gencontrol -p{package} -Pdebian/tmp-{package}",
    "dpkg-deb --build debian/tmp-{package} ..",
]

_CONTROL = """\
Source: {name}
Section: misc
Priority: optional
Maintainer: Build Farm Tests <tests@example.invalid>
Standards-Version: 4.6.2
{build_depends_line}"""

_CONTROL_BINARY = """
Package: {package}
Architecture: {arch}
Description: tiny test package for the build farm
 A package built by the buildmaster slave tests.
"""

_CHANGELOG = """\
{name} ({version}) unstable; urgency=low

  * Test upload.

 -- Build Farm Tests <tests@example.invalid>  Mon, 01 Jan 2024 00:00:00 +0000
"""


def _recipe(lines):
    return "\n".join(f"\t{line}" for line in lines)


def _rules(name, kind):
    """debian/rules: the kind's build commands in the target of its first
    package's kind, one .deb per package in binary-arch or binary-indep."""
    packages = {"any": [], "all": []}
    for suffix, arch in _BINARIES[kind]:
        packages[arch].append(name + suffix)
    binaries = {arch: _recipe([line.format(package=package)
                               for package in names for line in _BINARY_COMMANDS])
                for arch, names in packages.items()}
    builds = {"any": "", "all": ""}
    builds[_BINARIES[kind][0][1]] = _recipe(_BUILD_COMMANDS[kind])
    return _RULES.format(arch_build=builds["any"], indep_build=builds["all"],
                         arch_binaries=binaries["any"], indep_binaries=binaries["all"])


@dataclasses.dataclass
class Upstream:
    """The upstream tarballs of a non-native source package: the orig
    tarball compressed with ``compression`` (gz, bz2, lzma or xz), one
    ``.orig-NAME`` tarball per name in ``components``, and, when
    ``sign`` is given, each one's ``.asc`` made by ``sign(path)``."""

    compression: str = "gz"
    components: tuple = ()
    sign: object = None


# The tar compression option and the program that makes each suffix.
_COMPRESSORS = {"gz": ["gzip", "-n"], "bz2": ["bzip2"], "xz": ["xz"],
                "lzma": ["xz", "--format=lzma"]}


def _upstream_tarballs(dirpath, tree, name, version, upstream):
    """Write the orig (and component) tarballs of ``tree`` beside it,
    each signed when asked; the tree keeps the components' directories."""
    upstream_version = version.split(":", 1)[-1].rsplit("-", 1)[0]
    stem = f"{name}_{upstream_version}.orig"
    _write(os.path.join(tree, "README"), f"upstream {name} {upstream_version}\n")
    for component in upstream.components:
        os.makedirs(os.path.join(tree, component))
        _write(os.path.join(tree, component, "NOTES"), f"component {component}\n")
    made = [(f"{stem}.tar.{upstream.compression}",
             [f"--exclude=./{component}" for component in upstream.components], tree)]
    made += [(f"{stem}-{component}.tar.{upstream.compression}", [],
              os.path.join(tree, component)) for component in upstream.components]
    for tarball, excludes, source in made:
        path = os.path.join(dirpath, tarball)
        tar = subprocess.run(["tar", "--sort=name", "--owner=0", "--group=0",
                              "-cf", "-", *excludes, "-C", source, "."],
                             check=True, capture_output=True).stdout
        with open(path, "wb") as handle:
            subprocess.run(_COMPRESSORS[upstream.compression], input=tar, check=True,
                           stdout=handle)
        if upstream.sign is not None:
            upstream.sign(path)


def make_source_package(dirpath, name="hello-bm", version="1.0",
                        kind="good", build_depends=None,
                        source_format="3.0 (native)", upstream=None):
    """Build a source package in ``dirpath`` and return its .dsc path.

    ``upstream`` (an Upstream) makes it non-native: ``version`` then has
    a Debian revision and ``source_format`` is 1.0 (orig.tar.gz and a
    .diff.gz), 2.0 or 3.0 (quilt)."""
    if kind not in KINDS:
        raise ValueError(f"unknown package kind {kind!r}, not in {KINDS}")
    if build_depends is None and kind == "depwait":
        build_depends = DEPWAIT_DEPENDS
    tree = os.path.join(dirpath, f"{name}-{version.split(':', 1)[-1]}")
    debian = os.path.join(tree, "debian")
    os.makedirs(tree)
    if upstream is not None:
        _upstream_tarballs(dirpath, tree, name, version, upstream)
    os.makedirs(os.path.join(debian, "source"))
    depends_line = (f"Build-Depends: {build_depends}\n"
                    if build_depends else "")
    control = _CONTROL.format(name=name, build_depends_line=depends_line)
    control += "".join(_CONTROL_BINARY.format(package=name + suffix, arch=arch)
                       for suffix, arch in _BINARIES[kind])
    _write(os.path.join(debian, "control"), control)
    _write(os.path.join(debian, "changelog"),
           _CHANGELOG.format(name=name, version=version))
    _write(os.path.join(debian, "rules"), _rules(name, kind))
    os.chmod(os.path.join(debian, "rules"), 0o755)
    _write(os.path.join(debian, "source", "format"), source_format + "\n")
    subprocess.run(["dpkg-source", "-b", os.path.basename(tree)],
                   cwd=dirpath, check=True, capture_output=True)
    return os.path.join(dirpath, f"{name}_{version.split(':', 1)[-1]}.dsc")


def build_binaries(dsc_path, arch, arch_indep):
    """Build the source package on this host as a slave builds it for
    ``arch`` (``dpkg-buildpackage -b`` with ``arch_indep``, else ``-B``;
    cross-built with ``-a``, which these packages allow); {file name:
    bytes} of the .changes and every file it lists.  Raises
    CalledProcessError with dpkg's output when the build fails."""
    with tempfile.TemporaryDirectory() as work:
        tree = os.path.join(work, "tree")
        subprocess.run(["dpkg-source", "-x", os.path.abspath(dsc_path), tree],
                       check=True, capture_output=True, cwd=work)
        subprocess.run(["dpkg-buildpackage", "-b" if arch_indep else "-B", "-a", arch,
                        "-d", "-us", "-uc", "-rfakeroot"],
                       check=True, capture_output=True, text=True, cwd=tree)
        shutil.rmtree(tree)
        found = {}
        for path in glob.glob(os.path.join(work, "*")):
            with open(path, "rb") as f:
                found[os.path.basename(path)] = f.read()
        return found


def make_chroot_tarball(path):
    """Write a small valid .tar.gz standing in for a chroot; return path."""
    with tarfile.open(path, "w:gz") as tar:
        payload = b"Debian GNU/Linux 12 (test chroot)\n"
        info = tarfile.TarInfo("chroot-autobuild/etc/debian_version")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return path


def source_files(dsc_path):
    """The files of a source package: the .dsc and the files it lists."""
    from debian.deb822 import Dsc

    with open(dsc_path, encoding="utf-8") as f:
        dsc = Dsc(f)
    directory = os.path.dirname(dsc_path)
    names = [os.path.basename(dsc_path)]
    names += [entry["name"] for entry in dsc["Files"]]
    return [os.path.join(directory, name) for name in names]


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
