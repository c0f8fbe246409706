"""The chroot's apt sources: the master's ``archives`` lines made safe.

The master sends one sources.list line per archive and pocket, e.g.
``deb http://buildd:secret@private-ppa.example/owner/ppa/ubuntu hoary main``.
Credentials never go into sources.list (apt would print them in every
log line naming the URL): each is moved to apt's auth.conf, keyed by
scheme, host and path, and the line keeps the bare URL.  Options in brackets
(``deb [trusted=yes] URL ...``) pass through unchanged.
"""

import base64
import binascii
import dataclasses
from urllib.parse import urlsplit, urlunsplit

TYPES = ("deb", "deb-src")


class BadArchives(ValueError):
    """An ``archives`` line apt could not read; str() names it."""


@dataclasses.dataclass(frozen=True)
class AptSources:
    """What the slave writes into the chroot for one build."""

    lines: list        # sources.list lines, without credentials
    auth: list         # (machine, login, password) for auth.conf
    keys: list         # (file name, bytes) for /etc/apt/trusted.gpg.d/

    def sources_list(self):
        return "".join(line + "\n" for line in self.lines)

    def auth_conf(self):
        return "".join(f"machine {machine} login {login} password {password}\n"
                       for machine, login, password in self.auth)


def apt_sources(archives, trusted_keys=()):
    """The AptSources for ``archives`` (sources.list lines) and
    ``trusted_keys`` (base64 OpenPGP keys, armored or binary); raises
    BadArchives for a line or key that is not one."""
    if not isinstance(archives, (list, tuple)) or not archives:
        raise BadArchives("archives: expected a non-empty list of sources.list lines")
    lines, auth = [], []
    for line in archives:
        bare, credentials = _split_line(line)
        lines.append(bare)
        if credentials and credentials not in auth:
            auth.append(credentials)
    return AptSources(lines=lines, auth=auth, keys=_keys(trusted_keys or ()))


def _split_line(line):
    """(the line without credentials, (machine, login, password) or None)."""
    if not isinstance(line, str) or "\n" in line:
        raise BadArchives(f"archives: not a single line: {line!r}")
    words = line.split()
    if len(words) < 3 or words[0] not in TYPES:
        raise BadArchives(f"archives: not a sources.list line: {line!r}")
    at = 1
    if words[1].startswith("["):
        while at < len(words) and not words[at].endswith("]"):
            at += 1
        at += 1
    if at + 1 >= len(words):
        raise BadArchives(f"archives: no URL and suite in {line!r}")
    parts = urlsplit(words[at])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadArchives(f"archives: not an http(s) URL in {mask(line)!r}")
    if parts.username is None:
        return " ".join(words), None
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    words[at] = urlunsplit(parts._replace(netloc=netloc))
    # apt uses credentials for a plain-http URL only when the machine
    # names the scheme, so it always does.
    machine = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
    return " ".join(words), (machine, parts.username, parts.password or "")


def mask(line):
    """``line`` with any password in a URL replaced by '********'."""
    words = []
    for word in line.split():
        parts = urlsplit(word) if "://" in word else None
        if parts is not None and parts.password is not None:
            netloc = f"{parts.username}:********@{parts.netloc.rsplit('@', 1)[1]}"
            word = urlunsplit(parts._replace(netloc=netloc))
        words.append(word)
    return " ".join(words)


def _keys(trusted_keys):
    keys = []
    for number, encoded in enumerate(trusted_keys, start=1):
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise BadArchives(f"trusted_keys: key {number} is not base64") from None
        armored = data.lstrip().startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
        if not armored and (not data or not data[0] & 0x80):
            raise BadArchives(f"trusted_keys: key {number} is not an OpenPGP key")
        keys.append((f"buildd-archive-{number}.{'asc' if armored else 'gpg'}", data))
    return keys
