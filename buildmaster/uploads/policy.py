"""What Debian policy lets a package's name and version be.

A name or version goes into pool paths, index stanzas, file names, mail
and pages; apt-ftparchive leaves a package it cannot parse out of the
indexes (a source called ``"'><b>xss<i>`` never reached Sources).  So
every name and version is checked where it comes in, a developer's or
operator's .dsc and .changes (sources.py) and a slave's binary packages
(buildchecks.py), against Debian policy:

* a source (5.6.1) or binary (5.6.7) package name: lower case letters,
  digits, ``+``, ``-`` and ``.``, at least two characters, the first a
  letter or a digit;
* a version (5.6.12): ``[epoch:]upstream_version[-debian_revision]``, the
  epoch a number, the upstream version starting with a digit and made of
  letters, digits and ``. + ~ -`` (a hyphen only when there is a
  revision, which is what follows the last one), the revision letters,
  digits and ``. + ~``.

Each ``*_problem`` function returns None for a good value and otherwise
one sentence naming the field, for the caller to prefix with its file;
``first_problem`` the first of several, or None.
"""

import re

NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
EPOCH = re.compile(r"[0-9]+")
UPSTREAM = re.compile(r"[0-9][A-Za-z0-9.+~-]*")
REVISION = re.compile(r"[A-Za-z0-9.+~]+")

NAME_RULE = ("Debian policy 5.6.1, 5.6.7: lower case letters, digits, '+', '-' and "
             "'.', at least two, the first a letter or a digit")
VERSION_RULE = "[epoch:]upstream_version[-debian_revision], Debian policy 5.6.12"


def name_problem(field, value):
    """Why ``value``, the package name in ``field`` (Source, Package,
    Binary), is not one; None when it is."""
    if isinstance(value, str) and NAME.fullmatch(value):
        return None
    return f"{field} {value!r} is not a Debian package name ({NAME_RULE})"


def version_problem(field, value):
    """Why ``value``, the version in ``field``, is not a Debian version;
    None when it is."""
    if not isinstance(value, str) or not value:
        return f"{field} {value!r} is not a Debian version ({VERSION_RULE})"
    epoch, colon, rest = value.partition(":") if ":" in value else ("", "", value)
    upstream, hyphen, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    if colon and not EPOCH.fullmatch(epoch):
        why = f"the epoch {epoch!r} is not a number"
    elif not UPSTREAM.fullmatch(upstream):
        why = (f"the upstream version {upstream!r} does not start with a digit or has "
               "a character other than letters, digits and '. + ~ -'")
    elif hyphen and not REVISION.fullmatch(revision):
        why = (f"the revision {revision!r} is empty or has a character other than "
               "letters, digits and '. + ~'")
    else:
        return None
    return f"{field} {value!r} is not a Debian version ({VERSION_RULE}): {why}"


def first_problem(*problems):
    """The first of ``problems`` that is not None, or None."""
    return next((problem for problem in problems if problem is not None), None)


def listed_names(text):
    """The names of a comma-separated field (Binary), folded lines and all."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]
