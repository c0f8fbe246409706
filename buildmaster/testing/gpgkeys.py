"""Throwaway OpenPGP keys made by gpg in a GNUPGHOME of the test's own.

``Keys()`` keeps a private GnuPG home in a short temporary directory
(gpg-agent's socket lives there, and socket paths are short), so neither
the user's keys nor their agent are touched; ``remove()`` stops that
home's agent and deletes it.  Every key is an ed25519 signing key
without a passphrase, made in a fraction of a second.
A key made ``expired`` was made (and signs) in 2020 with a life of two
days, which is how a key that has since expired looks to gpgv today.
"""

import os
import shutil
import subprocess
import tempfile

import pytest

# When expired keys are made and sign, and how long they lived.
PAST = "20200101T000000"
PAST_SIGNING = "20200101T120000"
PAST_LIFETIME = "2d"


class Keys:
    """gpg with a home of its own."""

    def __init__(self):
        self.home = tempfile.mkdtemp(prefix="bm-gnupg-")
        self.expired = set()

    def gpg(self, *args, faked_time=None):
        """Run gpg in batch mode; its stdout (bytes).  Raises
        CalledProcessError with gpg's stderr."""
        argv = ["gpg", "--homedir", self.home, "--batch", "--quiet", "--yes",
                "--pinentry-mode", "loopback", "--passphrase", ""]
        if faked_time:
            argv += ["--faked-system-time", faked_time]
        done = subprocess.run(argv + list(args), capture_output=True)
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, argv + list(args),
                                                done.stdout, done.stderr)
        return done.stdout

    def make(self, uid, expired=False):
        """A new key for ``uid`` ('Name <address>'); its fingerprint."""
        if expired:
            self.gpg("--quick-gen-key", uid, "ed25519", "sign", PAST_LIFETIME,
                     faked_time=PAST)
        else:
            self.gpg("--quick-gen-key", uid, "ed25519", "sign", "1y")
        listing = self.gpg("--with-colons", "--list-keys", "=" + uid).decode()
        fingerprint = [line.split(":")[9] for line in listing.splitlines()
                       if line.startswith("fpr:")][0]
        if expired:
            self.expired.add(fingerprint)
        return fingerprint

    def export(self, path, *fingerprints, armor=False):
        """Write the public keys to ``path`` as a keyring gpgv reads."""
        data = self.gpg(*(["--armor"] if armor else []), "--export", *fingerprints)
        with open(path, "wb") as handle:
            handle.write(data)
        return str(path)

    def clearsign(self, path, fingerprint, output=None):
        """Clearsign ``path`` with the key (in place unless ``output``)."""
        faked = PAST_SIGNING if fingerprint in self.expired else None
        target = str(output or path)
        temporary = target + ".signing"
        self.gpg("--local-user", fingerprint, "--clearsign", "--output", temporary,
                 str(path), faked_time=faked)
        os.replace(temporary, target)
        return target

    def detach_sign(self, path, fingerprint):
        """``path``.asc, an armoured detached signature (as upstreams sign
        their release tarballs)."""
        faked = PAST_SIGNING if fingerprint in self.expired else None
        self.gpg("--local-user", fingerprint, "--armor", "--detach-sign", "--output",
                 f"{path}.asc", str(path), faked_time=faked)
        return f"{path}.asc"

    def revoke(self, fingerprint):
        """Revoke the key with the certificate gpg made with it."""
        certificate = os.path.join(self.home, "openpgp-revocs.d", f"{fingerprint}.rev")
        with open(certificate, encoding="ascii") as handle:
            text = handle.read().replace(":-----BEGIN PGP PUBLIC KEY BLOCK-----",
                                         "-----BEGIN PGP PUBLIC KEY BLOCK-----")
        usable = certificate + ".asc"
        with open(usable, "w", encoding="ascii") as handle:
            handle.write(text)
        self.gpg("--import", usable)

    def remove(self):
        """Stop this home's gpg-agent and delete the home."""
        subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "all"],
                       capture_output=True)
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture
def throwaway_keys():
    """Keys in a GnuPG home of the test's own, removed after it."""
    keys = Keys()
    yield keys
    keys.remove()
