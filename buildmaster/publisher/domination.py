"""Which live publications a newer one supersedes (Launchpad's dominator).

In one suite, a package has one live version: when a publication of a
source (by name) or of a binary (by name and architecture, 'all' for an
architecture-independent one) is published, every other live publication
of the same package with a lower version, or the same version published
earlier, is superseded and leaves the indexes.  Versions compare as
Debian's do (python-debian).  Only packages that got a new publication
in this run are looked at: a suite nobody uploaded to keeps what it has.
"""

from debian.debian_support import Version


def source_key(row):
    return row.name


def binary_key(row):
    return (row.name, row.arch if row.arch_specific else "all")


def dominated(live_rows, new_ids, key):
    """The rows of ``live_rows`` that lose to a newer publication of the
    same package; only packages with a row in ``new_ids`` compete."""
    groups = {}
    for row in live_rows:
        groups.setdefault(key(row), []).append(row)
    losers = []
    for rows in groups.values():
        if len(rows) < 2 or not any(row.id in new_ids for row in rows):
            continue
        winner = max(rows, key=lambda row: (Version(row.version), row.id))
        losers += [row for row in rows if row is not winner]
    return sorted(losers, key=lambda row: row.id)
