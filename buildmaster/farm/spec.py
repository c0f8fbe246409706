"""The farm's canonical form: plain dicts and lists, every default filled in.

Both sides of a plan come in this form: the file as read (reader.py) and
the database as it stands (state.py).  Each object is a dict of its
fields; each kind is a dict of objects by their identity.  Fields whose
name starts with ``_`` are compared but never written out (a key file's
fingerprints, say).
"""

import re

# Debian's rule for package names, which the farm's names follow.
NAME = re.compile(r"[a-z0-9][a-z0-9+.-]*\Z")
NAME_RULE = "lower-case letters, digits and '+-.', starting with a letter or digit"
MAX_NAME = 64

RETIRED_NOTES = "retired: no longer in the farm file (buildmaster apply --prune)"

KINDS = ("processor", "person", "distribution", "series", "archive", "builder")
# What each kind is called in the file, and the noun the plan uses.
TABLES = {"processor": "[[processor]]", "person": "[[person]]",
          "distribution": "[[distribution]]", "series": "[[distribution.series]]",
          "archive": "[[archive]]", "builder": "[[builder]]"}

DEFAULTS = {
    "processor": {"title": None, "description": ""},
    "distribution": {"title": None, "displayname": None, "components": ["main"],
                     "upload_pockets": ["RELEASE"]},
    "series": {"displayname": None, "parent": None, "nominated_arch_indep": None,
               "external_dependencies": [], "chroot_suite": None, "chroot_mirror": None},
    "person": {"display_name": None, "email": None, "openpgp_keys": [], "ssh_keys": []},
    "archive": {"description": "", "private": False, "require_virtualized": False,
                "relative_build_score": 0, "enabled": True, "dependencies": [],
                "uploaders": [], "component_uploaders": {}, "external_dependencies": []},
    "builder": {"title": None, "virtualized": False, "manual": False},
}
# Fields the reader sets that the file never holds: a builder the file
# names is not one apply retired.
IMPLIED = {"builder": {"_retired": False}}
# The keys each kind must have, beyond its defaults.
REQUIRED = {
    "processor": ("name",),
    "distribution": ("name",),
    "series": ("name", "version", "status", "architectures"),
    "person": ("name",),
    "archive": ("reference", "distribution"),
    "builder": ("name", "url", "processor"),
}


def empty_farm():
    """A farm with nothing in it: {kind: {identity: fields}}."""
    return {kind: {} for kind in KINDS}


def series_key(distribution, series):
    return f"{distribution}/{series}"


def archive_key(distribution, reference):
    return f"{distribution}/{reference}"


def is_valid_name(name):
    return isinstance(name, str) and len(name) <= MAX_NAME and bool(NAME.match(name))
