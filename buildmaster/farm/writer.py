"""Writing the farm back out: ``buildmaster export``.

The canonical farm becomes the file an operator would have written:
series inside their distribution, every key left out whose value is the
default the reader fills in (so the export stays short), no field that
starts with ``_`` and never a secret.  ``read(write(farm))`` is ``farm``.

Every object is a ``[[table]]`` and every value fits on its line
(``architectures = { amd64 = "amd64" }``), as an operator writes the
file: the layout is this module's, the values are plain TOML.
"""

import json
import re

from buildmaster.farm.spec import DEFAULTS

HEADER = ("# The farm, as `buildmaster export` wrote it: apply it with "
          "`buildmaster apply FILE`.\n\n")


def write(farm):
    """The farm file's text for the canonical ``farm``."""
    document = {}
    document["processor"] = [_trimmed("processor", fields, {"title": fields["name"]})
                             for fields in farm["processor"].values()]
    document["distribution"] = [_distribution(farm, fields)
                                for fields in farm["distribution"].values()]
    document["person"] = [_trimmed("person", fields, {"display_name": fields["name"]})
                          for fields in farm["person"].values()]
    document["archive"] = [_trimmed("archive", fields, {}, keep=("reference", "distribution"))
                           for fields in farm["archive"].values()
                           if not _bare_primary(fields)]
    document["builder"] = [_trimmed("builder", fields, {"title": fields["name"]})
                           for fields in farm["builder"].values()]
    blocks = []
    for kind, tables in document.items():
        for table in tables:
            nested = table.pop("series", [])
            blocks.append(_block(kind, table))
            blocks.extend(_block(f"{kind}.series", series) for series in nested)
    return HEADER + "\n".join(blocks)


def _block(name, table):
    return f"[[{name}]]\n" + "".join(f"{_key(key)} = {_value(value)}\n"
                                      for key, value in table.items())


def _key(key):
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _value(value):
    """One TOML value on one line (JSON's string escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"


def _distribution(farm, fields):
    title = fields["title"]
    table = _trimmed("distribution", fields, {"title": fields["name"], "displayname": title})
    series = [_trimmed("series", each, {"displayname": each["name"].capitalize()},
                       drop=("distribution",))
              for each in farm["series"].values() if each["distribution"] == fields["name"]]
    if series:
        table["series"] = series
    return table


def _trimmed(kind, fields, derived, keep=(), drop=()):
    """``fields`` without defaults (the reader's, or ``derived`` from other
    fields), private fields or None values."""
    table = {}
    for key, value in fields.items():
        if key.startswith("_") or key in drop or value is None:
            continue
        if key not in keep and (DEFAULTS[kind].get(key, object()) == value
                                or derived.get(key, object()) == value):
            continue
        table[key] = value
    return table


def _bare_primary(fields):
    """A primary archive with nothing but defaults exists by itself."""
    return fields["reference"] == "primary" and all(
        fields[key] == value for key, value in DEFAULTS["archive"].items())
