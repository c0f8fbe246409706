"""The farm's archive signing key: Release signatures, and the public key
builds are told to trust.

``[archives] signing_key`` names an ASCII-armoured OpenPGP secret key
without a passphrase.  With one, the publisher signs every Release
(``Release.gpg`` and ``InRelease``) and the dispatcher sends the public
key, base64-encoded as launchpad-buildd takes it, in the ``trusted_keys``
build argument; the slave installs it in the chroot's
``/etc/apt/trusted.gpg.d/``.  Without one nothing is signed and the
farm's own sources.list lines carry ``[trusted=yes]``: the test-farm mode.

Signing runs gpg on a GNUPGHOME of its own, made for one publisher run
and removed (its gpg-agent stopped) at the end; the public key is read
the same way once per process and key file.
"""

import base64
import functools
import os
import shutil
import subprocess
import tempfile

GPG = "gpg"


class SigningError(Exception):
    """gpg could not read the key or sign; the text says which and why."""


def _gpg(argv, what, **options):
    try:
        done = subprocess.run([GPG, "--batch", "--no-tty", *argv], capture_output=True,
                              **options)
    except FileNotFoundError:
        raise SigningError("gpg is not installed (apt-get install gnupg)") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SigningError(f"gpg {what}: {lines[-1] if lines else done.returncode}")
    return done.stdout


def public_key(key_path):
    """The binary OpenPGP public key of the secret key file ``key_path``."""
    stat = os.stat(key_path)
    return _public_key(key_path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _public_key(key_path, mtime_ns, size):
    home = _import_into_new_home(key_path)
    try:
        exported = _gpg(["--homedir", home, "--export"], f"exporting {key_path}")
    finally:
        _remove_home(home)
    if not exported:
        raise SigningError(f"{key_path} holds no OpenPGP key")
    return exported


def _import_into_new_home(key_path):
    """A new GNUPGHOME (short, under the temporary directory, for the
    agent's socket) holding the key of ``key_path``."""
    home = tempfile.mkdtemp(prefix="bm-gnupg-")
    try:
        _gpg(["--homedir", home, "--import", key_path], f"importing {key_path}")
    except SigningError:
        _remove_home(home)
        raise
    return home


def _remove_home(home):
    """Stop the gpg-agent a GNUPGHOME started and remove it."""
    subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


def fingerprint(key_path):
    """The fingerprint of the (first) key in ``key_path``."""
    with tempfile.TemporaryDirectory(prefix="bm-gpg-") as home:
        listing = _gpg(["--homedir", home, "--with-colons", "--show-keys", key_path],
                       f"reading {key_path}").decode("ascii", "replace")
    for line in listing.splitlines():
        if line.startswith("fpr:"):
            return line.split(":")[9]
    raise SigningError(f"{key_path} holds no OpenPGP key")


def trusted_keys(config):
    """The ``trusted_keys`` build argument: [base64 public key], or []
    when the farm signs nothing."""
    key_path = config.archives.signing_key
    if not key_path:
        return []
    return [base64.b64encode(public_key(key_path)).decode("ascii")]


class ReleaseSigner:
    """Signs Release files with the key in ``key_path``; ``close()`` when done."""

    def __init__(self, key_path):
        self.key_path = key_path
        self.home = _import_into_new_home(key_path)
        try:
            self.fingerprint = fingerprint(key_path)
        except SigningError:
            self.close()
            raise

    def sign(self, release_path):
        """Write ``Release.gpg`` and ``InRelease`` beside ``release_path``."""
        directory = os.path.dirname(release_path)
        common = ["--homedir", self.home, "--local-user", self.fingerprint,
                  "--digest-algo", "SHA512", "--yes"]
        _gpg([*common, "--armor", "--detach-sign", "--output",
              os.path.join(directory, "Release.gpg"), release_path],
             f"signing {release_path}")
        _gpg([*common, "--clearsign", "--output",
              os.path.join(directory, "InRelease"), release_path],
             f"signing {release_path}")

    def close(self):
        if self.home is not None:
            _remove_home(self.home)
            self.home = None
