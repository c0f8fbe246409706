"""Time-limited tokens for the restricted librarian.

A token says "alias N may be read until time T" and is the pair
``<T>-<HMAC-SHA256(secret, "N:T")>``.  Anyone holding the storage
directory's secret can make one, and checking needs neither the database
nor any state beyond that secret, so the restricted server and whoever
hands out URLs (the mailer, the dispatcher) agree without talking.

The secret is 32 random bytes in ``<storage>/.token-secret``, created
mode 0600 on first use.  It is written to a temporary file and linked
into place, so two processes racing to create it end up sharing
whichever landed first.
"""

import hashlib
import hmac
import os
import secrets
import tempfile

SECRET_NAME = ".token-secret"
SECRET_BYTES = 32


class TokenError(Exception):
    """A token that does not grant access; the message says why."""


def load_secret(storage_root):
    """The storage directory's token secret, created if missing."""
    path = os.path.join(storage_root, SECRET_NAME)
    if not os.path.exists(path):
        _create_secret(storage_root, path)
    with open(path, "rb") as handle:
        secret = handle.read()
    if len(secret) != SECRET_BYTES:
        raise TokenError(f"{path} is damaged: expected {SECRET_BYTES} bytes, "
                         f"found {len(secret)}")
    return secret


def _create_secret(storage_root, path):
    os.makedirs(storage_root, exist_ok=True)
    descriptor, temp_path = tempfile.mkstemp(dir=storage_root, prefix=".token-secret-")
    try:
        with os.fdopen(descriptor, "wb") as handle:  # mkstemp makes it 0600
            handle.write(secrets.token_bytes(SECRET_BYTES))
        try:
            os.link(temp_path, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temp_path)


def _signature(secret, alias_id, expires):
    message = f"{alias_id}:{expires}".encode("ascii")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def make_token(secret, alias_id, expires):
    """A token granting alias ``alias_id`` until ``expires`` (epoch seconds)."""
    expires = int(expires)
    return f"{expires}-{_signature(secret, alias_id, expires)}"


def check_token(secret, alias_id, token, now):
    """Return quietly if ``token`` grants ``alias_id`` at ``now``; else
    raise TokenError saying what is wrong with it."""
    expires_text, _, signature = token.partition("-")
    if not expires_text.isdigit() or not signature:
        raise TokenError("malformed token")
    expected = _signature(secret, alias_id, int(expires_text))
    if not hmac.compare_digest(signature.encode("utf-8"), expected.encode("ascii")):
        raise TokenError(f"token is not valid for file {alias_id}")
    if int(expires_text) < now:
        raise TokenError("token has expired")
