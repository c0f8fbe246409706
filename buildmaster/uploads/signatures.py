"""OpenPGP-signed uploads checked against the farm's keyring with gpgv.

dak and Launchpad take an upload only when it carries a valid signature
by a key they know; so does the farm once ``[upload] keyring`` names a
keyring.  ``verify(path, keyring)`` runs ``gpgv`` (GnuPG's verifier: no
trust database, no key fetching, only the keys in the keyring given) on
the clearsigned file and returns the Signer with the signed text as gpgv
printed it, which is what the caller must parse: text outside the
signature is never read.  A ``Keyring`` made once serves any number of
checks, and remembers each answer.

``judge(status)`` turns gpgv's machine-readable status lines into that
Signer or one of the refusals below; it is a pure function of the lines.
gpgv exits 0 for a signature by an expired key, so the status decides,
never the exit code alone.  Each refusal is one line naming the file and
the key:

    Unsigned           the file carries no OpenPGP signature
    BadSignature       the signature does not match the text (or cannot
                       be checked, or there is more than one)
    UnknownKey         the signing key is not in the keyring
    ExpiredKey         the signing key has expired
    RevokedKey         the signing key was revoked
    ExpiredSignature   the signature itself has expired

KeyringUnusable says the operator's keyring cannot be read as one.
"""

import dataclasses
import email.utils
import os
import subprocess
import tempfile
from urllib.parse import unquote

GPGV = "gpgv"
GPG = "gpg"
STATUS_PREFIX = "[GNUPG:] "
BEGIN_SIGNED = b"-----BEGIN PGP SIGNED MESSAGE-----"
BEGIN_SIGNATURE = b"-----BEGIN PGP SIGNATURE-----"
END_SIGNATURE = b"-----END PGP SIGNATURE-----"
ARMOURED_KEYS = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
# gpgv's ERRSIG return code for a key it does not have.
ERRSIG_NO_PUBKEY = "9"
TIMEOUT = 60
OUTSIDE = "has text outside its OpenPGP signature"


class SignatureError(ValueError):
    """The signature cannot be accepted; str() says why in one line."""


class Unsigned(SignatureError):
    pass


class BadSignature(SignatureError):
    pass


class UnknownKey(SignatureError):
    pass


class ExpiredKey(SignatureError):
    pass


class RevokedKey(SignatureError):
    pass


class ExpiredSignature(SignatureError):
    pass


class KeyringUnusable(SignatureError):
    pass


@dataclasses.dataclass
class Signer:
    """Who signed: the primary key's fingerprint and its user id
    ('Name <address>'), with the text they signed (bytes)."""

    fingerprint: str
    uid: str
    signed_text: bytes = b""

    @property
    def address(self):
        return email.utils.parseaddr(self.uid)[1]


def is_clearsigned(data):
    """True for an OpenPGP clearsigned message, False for plain text;
    raises BadSignature for text outside the signed message or a
    signature of another kind."""
    stripped = data.strip()
    if not stripped.startswith(b"-----BEGIN PGP"):
        if BEGIN_SIGNED in data or BEGIN_SIGNATURE in data:
            raise BadSignature(OUTSIDE)
        return False
    if not stripped.startswith(BEGIN_SIGNED):
        raise BadSignature("not a clearsigned text: sign it with 'gpg --clearsign' "
                           "(debsign does)")
    if not stripped.endswith(END_SIGNATURE) or stripped.count(BEGIN_SIGNED) != 1:
        raise BadSignature(OUTSIDE)
    return True


class Keyring:
    """A keyring made ready for gpgv once, for any number of checks: its
    keys listed (a file holding none is refused: gpgv would find no key
    in it and every signer would look unknown) and, when ASCII-armoured,
    de-armoured into ``home`` (gpgv reads binary keyrings only).  str() is
    the keyring's own path, for messages.

    ``check(path)`` is ``verify`` remembered: a file checked ahead (the
    upload job checks the files of the uploads waiting in parallel, while
    it processes the one before) is not checked again."""

    def __init__(self, keyring, home):
        self.name = keyring
        self.path = _usable_keyring(keyring, home)
        self._checked = {}

    def __str__(self):
        return self.name

    def check(self, path, gpgv=GPGV):
        """The Signer of ``path``, or its SignatureError raised; the same
        answer for every check of the same path."""
        if path not in self._checked:
            try:
                with tempfile.TemporaryDirectory(prefix="buildmaster-gpgv-") as home:
                    os.chmod(home, 0o700)
                    self._checked[path] = _gpgv(path, self, home, gpgv)
            except SignatureError as error:
                self._checked[path] = error
        found = self._checked[path]
        if isinstance(found, SignatureError):
            raise found
        return found


def verify(path, keyring, gpgv=GPGV):
    """The Signer of the clearsigned file ``path``, by a key in
    ``keyring`` (a Keyring, or the path of a binary or ASCII-armoured
    OpenPGP keyring); raises a SignatureError naming the file, or
    KeyringUnusable naming the keyring."""
    if isinstance(keyring, Keyring):
        return keyring.check(path, gpgv)
    with tempfile.TemporaryDirectory(prefix="buildmaster-gpgv-") as home:
        os.chmod(home, 0o700)
        return _gpgv(path, Keyring(keyring, home), home, gpgv)


def _gpgv(path, keyring, home, gpgv):
    name = os.path.basename(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if not is_clearsigned(data):
            raise Unsigned("not signed, and the farm's keyring requires an OpenPGP "
                           "signature")
    except SignatureError as error:
        raise type(error)(f"{name}: {error}") from None
    output = os.path.join(home, "signed-text")
    done = subprocess.run(
        [gpgv, "--homedir", home, "--status-fd", "1", "--keyring", keyring.path,
         "--output", output, os.path.abspath(path)],
        capture_output=True, text=True, timeout=TIMEOUT,
        env=dict(os.environ, LANG="C", LC_ALL="C"))
    try:
        signer = judge(done.stdout, keyring)
    except SignatureError as error:
        raise type(error)(f"{name}: {error}") from None
    if done.returncode != 0:
        raise BadSignature(f"{name}: gpgv failed: {_last_line(done.stderr)}")
    with open(output, "rb") as handle:
        signer.signed_text = handle.read()
    return signer


def _usable_keyring(keyring, home):
    """The path gpgv reads for ``keyring``: itself, or a binary copy in
    ``home`` when it is ASCII-armoured."""
    try:
        with open(keyring, "rb") as handle:
            head = handle.read(len(ARMOURED_KEYS) + 64).lstrip()
    except OSError as error:
        raise KeyringUnusable(f"keyring {keyring}: cannot read: {error.strerror}") \
            from None
    listed = _gpg(home, "--with-colons", "--show-keys", os.path.abspath(keyring))
    if not any(line.startswith("pub:") for line in listed.stdout.splitlines()):
        raise KeyringUnusable(f"keyring {keyring} holds no OpenPGP public key")
    if not head.startswith(ARMOURED_KEYS):
        return os.path.abspath(keyring)
    binary = os.path.join(home, "keyring.gpg")
    done = _gpg(home, "--dearmor", "--output", binary, os.path.abspath(keyring))
    if done.returncode != 0:
        raise KeyringUnusable(f"keyring {keyring}: {_last_line(done.stderr)}")
    return binary


def _gpg(home, *args):
    return subprocess.run([GPG, "--homedir", home, "--batch", "--yes", *args],
                          capture_output=True, text=True, timeout=TIMEOUT,
                          env=dict(os.environ, LANG="C", LC_ALL="C"))


def _last_line(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _status(text):
    """gpgv's status lines as [keyword, arg, ...]."""
    return [line[len(STATUS_PREFIX):].split(" ") for line in text.splitlines()
            if line.startswith(STATUS_PREFIX)]


def judge(status, keyring):
    """The Signer (no text) the status lines of one gpgv run show, or the
    SignatureError saying why there is none."""
    lines = _status(status)
    keywords = [line[0] for line in lines]
    by_keyword = {line[0]: line[1:] for line in lines}
    if "ERROR" in by_keyword and by_keyword["ERROR"][0] in (
            "keydb_search", "add_keyblock_resource"):
        raise KeyringUnusable(f"keyring {keyring} cannot be read as an OpenPGP keyring")
    signatures = keywords.count("NEWSIG")
    if signatures == 0:
        raise Unsigned("carries no OpenPGP signature gpgv can read")
    if signatures > 1:
        raise BadSignature(f"carries {signatures} signatures; one is wanted")
    for keyword, refusal, what in (
            ("BADSIG", BadSignature, "a bad signature (the text was changed after "
                                     "signing)"),
            ("EXPKEYSIG", ExpiredKey, "a signature by an expired key"),
            ("REVKEYSIG", RevokedKey, "a signature by a revoked key"),
            ("EXPSIG", ExpiredSignature, "an expired signature")):
        if keyword in by_keyword:
            keyid, uid = _key_and_uid(by_keyword[keyword])
            raise refusal(f"{what}: key {keyid} ({uid})")
    if "ERRSIG" in by_keyword:
        fields = by_keyword["ERRSIG"]
        keyid = fields[6] if len(fields) > 6 and fields[6] != "-" else fields[0]
        if len(fields) > 5 and fields[5] == ERRSIG_NO_PUBKEY:
            raise UnknownKey(f"signed by key {keyid}, which is not in the keyring "
                             f"{keyring}")
        raise BadSignature(f"the signature by key {keyid} cannot be checked")
    if "GOODSIG" not in by_keyword or "VALIDSIG" not in by_keyword:
        raise BadSignature("no good signature")
    _, uid = _key_and_uid(by_keyword["GOODSIG"])
    valid = by_keyword["VALIDSIG"]
    # The primary key's fingerprint comes last when a subkey signed.
    fingerprint = valid[9] if len(valid) > 9 else valid[0]
    return Signer(fingerprint=fingerprint.upper(), uid=uid)


def _key_and_uid(fields):
    return fields[0], unquote(" ".join(fields[1:]))
