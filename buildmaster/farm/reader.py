"""Reading a farm file: TOML in, the canonical farm out, or every problem.

``read(text, filename, base)`` parses with the standard library's
``tomllib`` and checks the whole file before anything is applied: each
problem is one line naming the file, the table, the object and the key
("farm.toml: [[archive]] ~alice/tools: distribution: no distribution
'acme2' in the file").  References are resolved within the file, which is
the whole farm: a primary archive is the one exception, since every
distribution has one by itself.  Key files are read relative to ``base``.
"""

import re
import tomllib

from buildmaster.farm import keys
from buildmaster.farm.spec import (
    DEFAULTS, IMPLIED, MAX_NAME, NAME_RULE, REQUIRED, TABLES, archive_key, empty_farm,
    is_valid_name, series_key)
from buildmaster.model.enums import DistroSeriesStatus, PackagePublishingPocket

TOP_LEVEL = {"processor", "distribution", "person", "archive", "builder"}
# One sources.list line, one-line style: type, options, URI, suite, components.
SOURCES_LINE = re.compile(
    r"deb(-src)?\s+(\[[^\]]*\]\s+)?(https?|file|ftp|copy|mirror\+https?)://\S+\s+\S+(\s+\S+)*\s*\Z")
URL = re.compile(r"https?://[^\s/]+(/\S*)?\Z")
STATUSES = {status.name for status in DistroSeriesStatus}
POCKETS = {pocket.name for pocket in PackagePublishingPocket}


class FarmFileError(Exception):
    """The farm file cannot be applied; ``problems`` has one line each."""

    def __init__(self, problems):
        super().__init__("\n".join(problems))
        self.problems = problems


def read(text, filename, base):
    """The canonical farm the file describes; raises FarmFileError."""
    reader = _Reader(filename, base)
    farm = reader.read(text)
    if reader.problems:
        raise FarmFileError(reader.problems)
    return farm


class _Reader:

    def __init__(self, filename, base):
        self.filename = filename
        self.base = base
        self.problems = []
        self.farm = empty_farm()

    def problem(self, table, name, key, message):
        where = f"{TABLES[table]} {name}" if name else TABLES[table]
        self.problems.append(f"{self.filename}: {where}: {key + ': ' if key else ''}{message}")

    def read(self, text):
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            self.problems.append(f"{self.filename}: not TOML: {error}")
            return self.farm
        for key in sorted(set(data) - TOP_LEVEL):
            self.problems.append(f"{self.filename}: unknown table or key '{key}' (the farm "
                                 f"file has {', '.join(sorted(TOP_LEVEL))})")
        for kind in ("processor", "person", "distribution", "archive", "builder"):
            for entry in self._tables(data.get(kind, []), kind):
                getattr(self, f"_{kind}")(entry)
        self._primary_archives()
        self._check_references()
        if not self.problems:
            self._parents_first()
        return self.farm

    def _parents_first(self):
        """Series in an order where each parent comes before its children."""
        series = self.farm["series"]

        def depth(key, seen=()):
            parent = series[key]["parent"]
            if parent is None or key in seen:
                return 0
            parent_key = parent if "/" in parent else series_key(
                series[key]["distribution"], parent)
            return 1 + depth(parent_key, seen + (key,))
        self.farm["series"] = dict(sorted(series.items(), key=lambda item: depth(item[0])))

    def _primary_archives(self):
        """Every distribution has its primary archive, named in the file or not."""
        primaries = {}
        for name in self.farm["distribution"]:
            key = archive_key(name, "primary")
            fields = self.farm["archive"].pop(key, None)
            if fields is None:
                fields = {k: _copy(v) for k, v in DEFAULTS["archive"].items()}
                fields.update(reference="primary", distribution=name)
            primaries[key] = fields
        self.farm["archive"] = {**primaries, **self.farm["archive"]}

    def _tables(self, value, kind):
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(kind, None, None, f"must be an array of tables ({TABLES[kind]})")
            return []
        return value

    # -- Each kind's fields ------------------------------------------------------

    def _fields(self, kind, entry, identity_key="name", extra=()):
        """The entry with defaults filled, or None when its identity is unusable;
        unknown keys, missing keys and wrong types are reported."""
        name = entry.get(identity_key)
        label = name if isinstance(name, str) else None
        allowed = set(DEFAULTS[kind]) | set(REQUIRED[kind]) | set(extra)
        for key in sorted(set(entry) - allowed):
            self.problem(kind, label, key, f"unknown key (known: {', '.join(sorted(allowed))})")
        for key in REQUIRED[kind]:
            if key not in entry:
                self.problem(kind, label, key, "missing")
        if not isinstance(name, str):
            if identity_key in entry:
                self.problem(kind, None, identity_key, f"must be a string, not {name!r}")
            return None
        fields = {key: _copy(value) for key, value in DEFAULTS[kind].items()}
        for key, value in entry.items():
            if key in allowed and key not in extra:
                default = DEFAULTS[kind].get(key)
                if not self._typed(kind, name, key, value, default):
                    continue
                fields[key] = value
        return fields

    def _typed(self, kind, name, key, value, default):
        """Whether ``value`` has the type the key takes; reported if not."""
        wanted = {bool: bool, int: int, list: list, dict: dict}.get(type(default), str)
        if isinstance(value, bool) and wanted is int:
            ok = False
        else:
            ok = isinstance(value, wanted)
        if key in ("architectures", "component_uploaders"):
            ok = isinstance(value, dict)
        if not ok:
            self.problem(kind, name, key, f"must be {_TYPE_NAMES[wanted]}, not {value!r}")
        return ok

    def _name(self, kind, name, key="name"):
        if not is_valid_name(name):
            self.problem(kind, name, key, f"'{name}' is no valid name ({NAME_RULE}; at most "
                                          f"{MAX_NAME} characters)")
            return False
        return True

    def _add(self, kind, identity, fields, label):
        if identity in self.farm[kind]:
            self.problem(kind, label, None, "defined twice")
            return
        self.farm[kind][identity] = fields

    def _string_list(self, kind, name, key, values):
        if not all(isinstance(value, str) for value in values):
            self.problem(kind, name, key, "must be a list of strings")
            return False
        return True

    def _processor(self, entry):
        fields = self._fields("processor", entry)
        if fields is None or not self._name("processor", fields["name"]):
            return
        fields["title"] = fields["title"] or fields["name"]
        self._add("processor", fields["name"], fields, fields["name"])

    def _person(self, entry):
        fields = self._fields("person", entry)
        if fields is None or not self._name("person", fields["name"]):
            return
        name = fields["name"]
        fields["display_name"] = fields["display_name"] or name
        email = fields["email"]
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
            self.problem("person", name, "email", f"'{email}' is no email address")
        if self._string_list("person", name, "openpgp_keys", fields["openpgp_keys"]):
            fields["_fingerprints"] = self._openpgp_keys(name, fields["openpgp_keys"])
        if self._string_list("person", name, "ssh_keys", fields["ssh_keys"]):
            for line in fields["ssh_keys"]:
                error = keys.ssh_key_problem(line)
                if error:
                    self.problem("person", name, "ssh_keys", error)
        self._add("person", name, fields, name)

    def _openpgp_keys(self, name, filenames):
        fingerprints = []
        for filename in filenames:
            try:
                fingerprints.append(keys.read_public_key(self.base, filename).fingerprint)
            except keys.KeyFileError as error:
                self.problem("person", name, "openpgp_keys", str(error))
        return fingerprints

    def _distribution(self, entry):
        fields = self._fields("distribution", entry, extra=("series",))
        if fields is None or not self._name("distribution", fields["name"]):
            return
        name = fields["name"]
        fields["title"] = fields["title"] or name
        fields["displayname"] = fields["displayname"] or fields["title"]
        if self._string_list("distribution", name, "components", fields["components"]):
            for component in fields["components"]:
                self._name("distribution", component, "components")
            if not fields["components"]:
                self.problem("distribution", name, "components", "names no component")
        if self._string_list("distribution", name, "upload_pockets", fields["upload_pockets"]):
            for pocket in fields["upload_pockets"]:
                if pocket not in POCKETS:
                    self.problem("distribution", name, "upload_pockets",
                                 f"no pocket '{pocket}' (pockets: {', '.join(sorted(POCKETS))})")
        self._add("distribution", name, fields, name)
        for series in self._tables(entry.get("series", []), "series"):
            self._series(name, series)

    def _series(self, distribution, entry):
        fields = self._fields("series", entry)
        if fields is None or not self._name("series", fields["name"]):
            return
        key = series_key(distribution, fields["name"])
        fields["distribution"] = distribution
        fields["displayname"] = fields["displayname"] or fields["name"].capitalize()
        if fields.get("status") not in STATUSES:
            self.problem("series", key, "status", f"no status '{fields.get('status')}' "
                                                  f"(statuses: {', '.join(sorted(STATUSES))})")
        architectures = fields.get("architectures")
        if isinstance(architectures, dict):
            for tag, processor in architectures.items():
                self._name("series", tag, "architectures")
                if not isinstance(processor, str):
                    self.problem("series", key, "architectures",
                                 f"{tag} must name a processor, not {processor!r}")
            nominated = fields["nominated_arch_indep"]
            if nominated is not None and nominated not in architectures:
                self.problem("series", key, "nominated_arch_indep",
                             f"'{nominated}' is not among the series' architectures "
                             f"({', '.join(sorted(architectures)) or 'none'})")
        self._sources_lines("series", key, fields["external_dependencies"])
        if fields["chroot_mirror"] is not None and not URL.match(fields["chroot_mirror"]):
            self.problem("series", key, "chroot_mirror",
                         f"'{fields['chroot_mirror']}' is no http(s) URL")
        self._add("series", key, fields, key)

    def _sources_lines(self, kind, name, lines):
        if not self._string_list(kind, name, "external_dependencies", lines):
            return
        for line in lines:
            if not SOURCES_LINE.match(line.replace("%(series)s", "SERIES")):
                self.problem(kind, name, "external_dependencies",
                             f"'{line}' is not a sources.list line "
                             "('deb [options] URI SUITE [COMPONENT...]')")

    def _archive(self, entry):
        fields = self._fields("archive", entry, identity_key="reference")
        if fields is None or not isinstance(fields.get("distribution"), str):
            return
        reference = fields["reference"]
        if reference not in ("primary", "partner"):
            owner, _, ppa = reference[1:].partition("/")
            if not (reference.startswith("~") and is_valid_name(owner) and is_valid_name(ppa)):
                self.problem("archive", reference, "reference",
                             "must be 'primary', 'partner' or '~owner/name' with valid names")
                return
        self._sources_lines("archive", reference, fields["external_dependencies"])
        if self._string_list("archive", reference, "uploaders", fields["uploaders"]):
            fields["uploaders"] = sorted(set(fields["uploaders"]))
        fields["component_uploaders"] = {
            component: sorted(set(people)) if isinstance(people, list) else people
            for component, people in sorted(fields["component_uploaders"].items())}
        for dependency in fields["dependencies"]:
            self._dependency(reference, dependency)
        self._add("archive", archive_key(fields["distribution"], reference), fields, reference)

    def _dependency(self, reference, dependency):
        if not isinstance(dependency, dict) or not isinstance(dependency.get("archive"), str):
            self.problem("archive", reference, "dependencies",
                         "each must be a table with 'archive' (and 'pocket', 'component', "
                         "'distribution')")
            return
        unknown = set(dependency) - {"archive", "pocket", "component", "distribution"}
        if unknown:
            self.problem("archive", reference, "dependencies",
                         f"unknown key(s) {', '.join(sorted(unknown))}")
        dependency.setdefault("pocket", "RELEASE")
        if dependency["pocket"] not in POCKETS:
            self.problem("archive", reference, "dependencies",
                         f"no pocket '{dependency['pocket']}'")

    def _builder(self, entry):
        fields = self._fields("builder", entry)
        if fields is None or not self._name("builder", fields["name"]):
            return
        fields["title"] = fields["title"] or fields["name"]
        fields.update(IMPLIED["builder"])
        if isinstance(fields.get("url"), str) and not URL.match(fields["url"]):
            self.problem("builder", fields["name"], "url", f"'{fields['url']}' is no http(s) URL")
        self._add("builder", fields["name"], fields, fields["name"])

    # -- References --------------------------------------------------------------

    def _check_references(self):
        farm = self.farm
        for key, series in farm["series"].items():
            architectures = series.get("architectures")
            for tag, processor in (architectures if isinstance(architectures, dict)
                                   else {}).items():
                if processor not in farm["processor"]:
                    self.problem("series", key, "architectures",
                                 f"{tag}: no processor '{processor}' in the file")
            parent = series["parent"]
            if parent is not None:
                parent_key = parent if "/" in parent else series_key(series["distribution"],
                                                                     parent)
                if parent_key not in farm["series"] or parent_key == key:
                    self.problem("series", key, "parent", f"no other series '{parent}' in "
                                                          "the file")
        for key, archive in farm["archive"].items():
            self._archive_references(key, archive)
        for name, builder in farm["builder"].items():
            if "processor" in builder and builder["processor"] not in farm["processor"]:
                self.problem("builder", name, "processor",
                             f"no processor '{builder['processor']}' in the file")

    def _archive_references(self, key, archive):
        farm = self.farm
        reference, distribution = archive["reference"], archive["distribution"]
        if distribution not in farm["distribution"]:
            self.problem("archive", reference, "distribution",
                         f"no distribution '{distribution}' in the file")
            return
        components = farm["distribution"][distribution]["components"]
        if reference.startswith("~"):
            owner = reference[1:].partition("/")[0]
            if owner not in farm["person"]:
                self.problem("archive", reference, "reference", f"no person '{owner}' in "
                                                                "the file")
        for person in archive["uploaders"]:
            if person not in farm["person"]:
                self.problem("archive", reference, "uploaders",
                             f"no person '{person}' in the file")
        for component, people in archive["component_uploaders"].items():
            if reference != "primary":
                self.problem("archive", reference, "component_uploaders",
                             "only a primary archive has uploaders per component")
                break
            if component not in components:
                self.problem("archive", reference, "component_uploaders",
                             f"no component '{component}' in {distribution}")
            if not isinstance(people, list) or any(p not in farm["person"] for p in people):
                self.problem("archive", reference, "component_uploaders",
                             f"{component}: must list people of the file")
        for dependency in archive["dependencies"]:
            target = archive_key(dependency.get("distribution", distribution),
                                 dependency["archive"])
            if target == key:
                self.problem("archive", reference, "dependencies", "an archive cannot "
                                                                   "depend on itself")
            elif target not in farm["archive"] and dependency["archive"] != "primary":
                self.problem("archive", reference, "dependencies",
                             f"no archive '{dependency['archive']}' in the file")
            component = dependency.get("component")
            target_components = farm["distribution"].get(
                dependency.get("distribution", distribution), {}).get("components", [])
            if component is not None and component not in target_components:
                self.problem("archive", reference, "dependencies",
                             f"no component '{component}' in "
                             f"{dependency.get('distribution', distribution)}")


_TYPE_NAMES = {bool: "true or false", int: "a whole number", list: "a list",
               dict: "a table", str: "a string"}


def _copy(value):
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value
