"""Which build-dependencies keep a build waiting.

When apt cannot install a source's build-dependencies, the build either
waits for a dependency (DEPFAIL, the master's MANUALDEPWAIT) or failed.
Only direct build-dependencies can be waited on: a relation none of
whose alternatives any archive offers in a version that satisfies it.
If every direct relation could be met, the failure lies deeper (an
indirect dependency, a conflict) and the build fails instead, since a
wait for the wrong thing would never end.

The relations are python-debian's parsed form
(``PkgRelation.parse_relations``); what the archives offer is read from
``apt-cache dumpavail`` output.  This module only decides; it runs
nothing.
"""

from debian import deb822
from debian.debian_support import Version

_OPERATORS = {
    "<<": lambda have, want: have < want,
    "<=": lambda have, want: have <= want,
    "=": lambda have, want: have == want,
    ">=": lambda have, want: have >= want,
    ">>": lambda have, want: have > want,
}


def build_relations(dsc, arch_indep):
    """The parsed build-dependencies of a .dsc (a deb822 mapping) for an
    arch-dependent build, plus Build-Depends-Indep when ``arch_indep``."""
    fields = ["Build-Depends", "Build-Depends-Arch"]
    if arch_indep:
        fields.append("Build-Depends-Indep")
    relations = []
    for field in fields:
        if dsc.get(field):
            relations.extend(deb822.PkgRelation.parse_relations(dsc[field]))
    return relations


def available_packages(dumpavail):
    """{package name: set of versions (None for a virtual package)} from
    the text of ``apt-cache dumpavail``, Provides included."""
    available = {}
    for stanza in deb822.Packages.iter_paragraphs(dumpavail.splitlines(True),
                                                 use_apt_pkg=False):
        name, version = stanza.get("Package"), stanza.get("Version")
        if not name:
            continue
        available.setdefault(name, set()).add(version)
        for provided in stanza.relations.get("provides", []):
            for alternative in provided:
                provided_version = alternative.get("version")
                available.setdefault(alternative["name"], set()).add(
                    provided_version[1] if provided_version else None)
    return available


def waiting_on(relations, available, arch):
    """The relation string the build waits on (e.g. 'libfoo-dev (>= 1.2)'),
    or None when every direct relation could be met on ``arch``."""
    unmet = [alternatives for alternatives in relations
             if not any(_satisfied(relation, available, arch)
                        for relation in alternatives)]
    if not unmet:
        return None
    return deb822.PkgRelation.str([[_plain(relation) for relation in alternatives]
                                   for alternatives in unmet])


def _satisfied(relation, available, arch):
    """True when ``relation`` is met, or does not apply on ``arch`` or
    without build profiles."""
    if not _applies_on(relation.get("arch"), arch):
        return True
    restrictions = relation.get("restrictions")
    if restrictions and all(any(term.enabled for term in group)
                            for group in restrictions):
        # Every group needs a profile enabled; a plain build enables none.
        return True
    versions = available.get(relation["name"])
    if not versions:
        return False
    wanted = relation.get("version")
    if wanted is None:
        return True
    operator, version = wanted
    compare = _OPERATORS[operator]
    return any(have is not None and compare(Version(have), Version(version))
               for have in versions)


def _applies_on(arch_list, arch):
    """Whether an architecture list like [amd64 !i386] includes ``arch``."""
    if not arch_list:
        return True
    positive = [term.arch for term in arch_list if term.enabled]
    negative = [term.arch for term in arch_list if not term.enabled]
    if positive:
        return any(_arch_matches(arch, wildcard) for wildcard in positive)
    return not any(_arch_matches(arch, wildcard) for wildcard in negative)


def _arch_matches(arch, wildcard):
    """dpkg's architecture wildcards for Linux: 'any', 'linux-any',
    'any-<cpu>', or the name itself."""
    return wildcard in ("any", "linux-any", arch, f"any-{arch}", f"linux-{arch}")


def _plain(relation):
    """The relation without architecture lists, qualifiers or profiles:
    what the master stores and later checks against published packages."""
    return dict(relation, arch=None, archqual=None, restrictions=None)
