"""People's public keys, checked as the farm file names them.

An OpenPGP key is an ASCII-armoured file beside the farm file; gpg reads
it (``--show-keys``, in a keyring of its own that is thrown away) and
gives its fingerprint, so a file that holds no public key, a secret key
or garbage is refused by name.  An SSH key is one authorized_keys line.
"""

import base64
import binascii
import dataclasses
import os
import struct
import subprocess
import tempfile

SSH_KEY_TYPES = {"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                 "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
                 "sk-ecdsa-sha2-nistp256@openssh.com"}
MAX_KEY_FILE = 1024 * 1024


class KeyFileError(Exception):
    """A key file the farm file names cannot be used; the text says why."""


@dataclasses.dataclass(frozen=True)
class PublicKey:
    fingerprint: str
    armored: str


def read_public_key(base, filename):
    """The PublicKey in ``filename`` (relative to ``base``); KeyFileError."""
    if os.path.isabs(filename) or ".." in filename.split("/"):
        raise KeyFileError(f"{filename}: name a file beside the farm file")
    path = os.path.join(base, filename)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_FILE + 1)
    except OSError as error:
        raise KeyFileError(f"{filename}: cannot be read: {error.strerror}") from None
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError(f"{filename}: over {MAX_KEY_FILE} bytes, no public key")
    text = data.decode("ascii", "replace")
    if "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in text:
        raise KeyFileError(f"{filename}: no ASCII-armoured OpenPGP public key")
    fingerprints = _fingerprints(data)
    if len(fingerprints) != 1:
        raise KeyFileError(f"{filename}: holds {len(fingerprints)} OpenPGP public keys, "
                           "not one")
    return PublicKey(fingerprints[0], text)


def _fingerprints(data):
    """The primary keys' fingerprints gpg finds in ``data``."""
    with tempfile.TemporaryDirectory(prefix="buildmaster-gpg-") as home:
        result = subprocess.run(
            ["gpg", "--homedir", home, "--batch", "--no-tty", "--with-colons",
             "--show-keys"], input=data, capture_output=True, timeout=60)
    if result.returncode != 0:
        return []
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    found = []
    for previous, line in zip(lines, lines[1:]):
        if previous.startswith("pub:") and line.startswith("fpr:"):
            found.append(line.split(":")[9])
    return found


def ssh_key_problem(line):
    """Why ``line`` is no SSH public key line, or None."""
    parts = line.split()
    if len(parts) < 2:
        return f"'{line[:40]}' is no SSH public key ('TYPE BASE64 [COMMENT]')"
    kind, blob = parts[0], parts[1]
    if kind not in SSH_KEY_TYPES:
        return f"'{kind}' is no SSH key type ({', '.join(sorted(SSH_KEY_TYPES))})"
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        named = raw[4:4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError):
        return f"the {kind} key '{blob[:20]}...' is not valid base64 key data"
    if named != kind:
        return f"the key data is of type '{named}', not '{kind}'"
    return None
