"""What applying a farm file would change: a plan, shown before it is made.

``make_plan(current, desired, prune)`` compares two canonical farms
(spec.py) and lists, kind by kind in the order they depend on each
other, every object to create, every field to change with its old and
new value, and every object the file no longer names: retired with
``prune`` (a series made OBSOLETE, an archive disabled, a builder
disabled), else only listed.  Processors, people and distributions are
never retired: apply never deletes history.
"""

import dataclasses

from buildmaster.farm.spec import KINDS

CREATE, CHANGE, RETIRE, ABSENT = "create", "change", "retire", "absent"
RETIRABLE = {"series": "made OBSOLETE", "archive": "disabled", "builder": "disabled"}
MARKS = {CREATE: "+", CHANGE: "~", RETIRE: "-", ABSENT: "?"}


@dataclasses.dataclass
class Change:
    action: str
    kind: str
    key: str
    # create: the new object's fields; change: {field: (old, new)}.
    fields: dict = dataclasses.field(default_factory=dict)

    def line(self):
        mark = MARKS[self.action]
        if self.action == CREATE:
            return f"{mark} create {self.kind} {self.key}{_summary(self.kind, self.fields)}"
        if self.action == CHANGE:
            changed = "; ".join(f"{_label(field)}{_shown(field, old)} -> {_shown(field, new)}"
                                for field, (old, new) in self.fields.items())
            return f"{mark} change {self.kind} {self.key}: {changed}"
        if self.action == RETIRE:
            return f"{mark} retire {self.kind} {self.key}: {RETIRABLE[self.kind]}"
        how = (f"--prune would retire it ({RETIRABLE[self.kind]})"
               if self.kind in RETIRABLE else f"kept: apply never deletes a {self.kind}")
        return f"{mark} {self.kind} {self.key} is not in the file ({how})"


@dataclasses.dataclass
class Plan:
    changes: list
    unchanged: int

    @property
    def writes(self):
        """The changes apply makes (listing what the file lacks writes nothing)."""
        return [change for change in self.changes if change.action != ABSENT]

    def lines(self):
        counts = {action: sum(1 for c in self.changes if c.action == action)
                  for action in (CREATE, CHANGE, RETIRE)}
        tail = (f"{counts[CREATE]} to create, {counts[CHANGE]} to change, "
                f"{counts[RETIRE]} to retire, {self.unchanged} left alone")
        return [change.line() for change in self.changes] + [f"Plan: {tail}."]


def make_plan(current, desired, prune=False):
    """The Plan that makes ``current`` into ``desired``."""
    changes, unchanged = [], 0
    for kind in KINDS:
        have, want = current[kind], desired[kind]
        for key, fields in want.items():
            if key not in have:
                changes.append(Change(CREATE, kind, key, fields))
                continue
            differing = {field: (have[key].get(field), value)
                         for field, value in fields.items()
                         if have[key].get(field) != value}
            if differing:
                changes.append(Change(CHANGE, kind, key, differing))
            else:
                unchanged += 1
        for key, fields in have.items():
            if key in want or _retired(kind, fields):
                continue
            retire = prune and kind in RETIRABLE
            changes.append(Change(RETIRE if retire else ABSENT, kind, key))
    return Plan(changes, unchanged)


def _retired(kind, fields):
    """Already out of use: a retired object the file leaves out is no news."""
    if kind == "series":
        return fields["status"] == "OBSOLETE"
    if kind == "archive":
        return not fields["enabled"]
    if kind == "builder":
        return fields.get("_retired", False)
    return False


def _summary(kind, fields):
    if kind == "series":
        archs = ", ".join(f"{tag} ({processor})"
                          for tag, processor in fields["architectures"].items())
        return f": {fields['version']} {fields['status']}, {archs or 'no architectures'}"
    if kind == "archive":
        return " (private; its buildd secret stays in the database)" \
            if fields["private"] else ""
    if kind == "builder":
        return f": {fields['url']} ({fields['processor']})"
    if kind == "person" and fields.get("email"):
        return f" <{fields['email']}>"
    return ""


def _label(field):
    """How the plan names a field: a private one by what it means."""
    return {"_retired": "", "_fingerprints": "OpenPGP keys: "}.get(field, f"{field}: ")


def _shown(field, value):
    if field == "_retired":
        return "retired" if value else "back in use"
    if field == "_fingerprints":
        return "[" + ", ".join(fingerprint[-16:] for fingerprint in value or []) + "]"
    return repr(value) if isinstance(value, str) else str(value)
