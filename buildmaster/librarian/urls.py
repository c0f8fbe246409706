"""Where a librarian file can be fetched: its public or restricted URL."""

import time
from urllib.parse import quote

from buildmaster.librarian.tokens import load_secret, make_token


def _path(alias):
    return f"/{alias.id}/{quote(alias.filename, safe='')}"


def http_url(config, alias):
    """``<public_url>/<alias id>/<filename>``: served to anyone, unless the
    file is restricted."""
    return config.librarian.public_url + _path(alias)


def restricted_url(config, alias, now=None):
    """The file's URL on the restricted librarian with a token valid for
    ``token_lifetime`` seconds from ``now`` (epoch seconds, default the
    current time)."""
    now = time.time() if now is None else now
    expires = int(now) + config.librarian.token_lifetime
    token = make_token(load_secret(config.librarian.storage), alias.id, expires)
    return f"{config.librarian.restricted_url}{_path(alias)}?token={token}"
