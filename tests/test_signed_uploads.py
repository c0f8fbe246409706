"""Signed uploads: with ``[upload] keyring`` set, only a .dsc clearsigned by
a key in the keyring is taken, as dak and Launchpad take them.

The keys are real and thrown away: made by gpg in a GnuPG home of the
test's own (an expired one made in 2020 with a two-day life, a revoked
one revoked with its own certificate), exported into keyrings the farm
reads with gpgv.  The packages are real too: made by dpkg-source and
signed as debsign signs them, and Debian's own hello as apt-get source
gives it, signed by a Debian developer whose key the farm has not got,
then signed again by a throwaway key.
"""

import pytest
import sqlalchemy as sa

from buildmaster import config as configmodule
from buildmaster.uploads import signatures
from buildmaster.config import ConfigError
from buildmaster.model import Person, SourcePackageName, SourcePackageRelease
from buildmaster.testing.debiansources import copy_source, debian_sources  # noqa: F401
from buildmaster.testing.gpgkeys import throwaway_keys  # noqa: F401
from tests.clihelpers import cli  # noqa: F401

HOARY = ("--distribution", "ubuntu", "--series", "hoary")
UPLOADER = "Ursula Uploader <ursula@example.org>"


def release_named(session, name):
    return session.scalars(sa.select(SourcePackageRelease).join(SourcePackageName)
                           .where(SourcePackageName.name == name)).one_or_none()


@pytest.fixture
def keyring(farm_config, tmp_path, throwaway_keys):
    """Ursula's key, in the keyring the farm's configuration names; her
    fingerprint."""
    fingerprint = throwaway_keys.make(UPLOADER)
    path = throwaway_keys.export(tmp_path / "uploaders.gpg", fingerprint)
    use_keyring(farm_config, path)
    return fingerprint


def use_keyring(farm_config, path):
    with open(farm_config.path, "a", encoding="utf-8") as handle:
        handle.write(f"[upload]\nkeyring = {path}\n")


def refused(cli, dsc):
    return cli("upload", str(dsc), *HOARY).error_line().removeprefix(
        "buildmaster: error: ")


def nothing_recorded(session, name):
    session.rollback()
    return release_named(session, name) is None


def test_a_dsc_signed_by_a_key_in_the_keyring_is_taken_and_its_signer_recorded(
        cli, session, keyring, throwaway_keys, good_dsc):
    throwaway_keys.clearsign(good_dsc, keyring)
    result = cli("upload", good_dsc, *HOARY)
    assert result.status == 0, result.err
    release = release_named(session, "hello-bm")
    assert (release.signing_key_fingerprint, release.signing_key_uid) == (keyring, UPLOADER)
    creator = release.creator
    assert (creator.displayname, creator.preferred_email, creator.name) == (
        "Ursula Uploader", "ursula@example.org", "ursula")
    assert release.maintainer.preferred_email == "tests@example.invalid"
    assert result.out.splitlines()[1] == (
        f"Signed by {UPLOADER}, key {keyring}; creator ursula.")


def test_a_signer_the_farm_knows_is_the_creator(
        cli, session, sample, farm_config, tmp_path, throwaway_keys, good_dsc):
    fingerprint = throwaway_keys.make("Celso Providelo <celso.providelo@canonical.com>")
    use_keyring(farm_config, throwaway_keys.export(tmp_path / "k.gpg", fingerprint))
    throwaway_keys.clearsign(good_dsc, fingerprint)
    assert cli("upload", good_dsc, *HOARY).status == 0
    assert release_named(session, "hello-bm").creator.name == "cprov"
    assert session.scalar(sa.select(sa.func.count()).select_from(Person).where(
        sa.func.lower(Person.preferred_email) == "celso.providelo@canonical.com")) == 1


def test_an_armoured_keyring_serves_as_well(
        cli, session, farm_config, tmp_path, throwaway_keys, good_dsc):
    fingerprint = throwaway_keys.make(UPLOADER)
    use_keyring(farm_config, throwaway_keys.export(tmp_path / "uploaders.asc", fingerprint,
                                                   armor=True))
    throwaway_keys.clearsign(good_dsc, fingerprint)
    assert cli("upload", good_dsc, *HOARY).status == 0
    assert release_named(session, "hello-bm").signing_key_fingerprint == fingerprint


def test_an_unsigned_dsc_is_refused(cli, session, keyring, good_dsc):
    assert refused(cli, good_dsc) == (
        "hello-bm_1.0.dsc: not signed, and the farm's keyring requires an OpenPGP "
        "signature")
    assert nothing_recorded(session, "hello-bm")


def test_a_dsc_changed_after_signing_is_refused(
        cli, session, keyring, throwaway_keys, good_dsc):
    throwaway_keys.clearsign(good_dsc, keyring)
    with open(good_dsc, encoding="utf-8") as handle:
        text = handle.read()
    with open(good_dsc, "w", encoding="utf-8") as handle:
        handle.write(text.replace("Architecture: any", "Architecture: all"))
    assert refused(cli, good_dsc) == (
        "hello-bm_1.0.dsc: a bad signature (the text was changed after signing): "
        f"key {keyring[-16:]} ({UPLOADER})")
    assert nothing_recorded(session, "hello-bm")


def test_a_key_not_in_the_keyring_is_refused(
        cli, session, keyring, throwaway_keys, good_dsc, tmp_path):
    stranger = throwaway_keys.make("Stranger <stranger@example.net>")
    throwaway_keys.clearsign(good_dsc, stranger)
    assert refused(cli, good_dsc) == (
        f"hello-bm_1.0.dsc: signed by key {stranger}, which is not in the keyring "
        f"{tmp_path / 'uploaders.gpg'}")
    assert nothing_recorded(session, "hello-bm")


def test_an_expired_key_is_refused(cli, session, farm_config, tmp_path, throwaway_keys,
                                   good_dsc):
    old = throwaway_keys.make("Old Key <old@example.org>", expired=True)
    use_keyring(farm_config, throwaway_keys.export(tmp_path / "k.gpg", old))
    throwaway_keys.clearsign(good_dsc, old)
    assert refused(cli, good_dsc) == (
        f"hello-bm_1.0.dsc: a signature by an expired key: key {old[-16:]} "
        "(Old Key <old@example.org>)")
    assert nothing_recorded(session, "hello-bm")


def test_a_revoked_key_is_refused(cli, session, farm_config, tmp_path, throwaway_keys,
                                  good_dsc):
    fingerprint = throwaway_keys.make(UPLOADER)
    throwaway_keys.clearsign(good_dsc, fingerprint)
    throwaway_keys.revoke(fingerprint)
    use_keyring(farm_config, throwaway_keys.export(tmp_path / "k.gpg", fingerprint))
    assert refused(cli, good_dsc) == (
        f"hello-bm_1.0.dsc: a signature by a revoked key: key {fingerprint[-16:]} "
        f"({UPLOADER})")


def test_debians_own_signature_needs_the_key_in_the_keyring(
        cli, session, keyring, throwaway_keys, debian_sources, tmp_path):
    """hello as Debian publishes it is signed by a Debian developer;
    re-signed by a key of the keyring, as a sponsor does, it is taken."""
    dsc = copy_source(debian_sources.dsc("hello"), tmp_path / "hello")
    line = refused(cli, dsc)
    assert line.startswith("hello_2.10-3.dsc: signed by key ")
    assert line.endswith(", which is not in the keyring " + str(tmp_path / "uploaders.gpg"))

    with open(dsc, "rb") as handle:
        signed_by_debian = handle.read()
    unsigned = tmp_path / "hello" / "unsigned.dsc"
    unsigned.write_bytes(_signed_text(signed_by_debian))
    throwaway_keys.clearsign(unsigned, keyring, output=dsc)
    result = cli("upload", dsc, *HOARY)
    assert result.status == 0, result.err
    release = release_named(session, "hello")
    assert (release.signing_key_fingerprint, release.creator.preferred_email) == (
        keyring, "ursula@example.org")
    assert release.maintainer.preferred_email == "sanvila@debian.org"
    assert len(release.files) == 4


def _signed_text(clearsigned):
    """The text of a clearsigned message (dash-escaping undone)."""
    body = clearsigned.split(b"\n\n", 1)[1].split(signatures.BEGIN_SIGNATURE)[0]
    return b"".join(line[2:] if line.startswith(b"- ") else line
                    for line in body.splitlines(keepends=True))


def test_without_a_keyring_the_operator_is_trusted(
        cli, session, throwaway_keys, debian_sources, good_dsc):
    """As before keyrings: any upload, signed or not, by anybody."""
    assert cli("upload", debian_sources.dsc("hello"), *HOARY).status == 0
    stranger = throwaway_keys.make("Stranger <stranger@example.net>")
    throwaway_keys.clearsign(good_dsc, stranger)
    assert cli("upload", good_dsc, *HOARY).status == 0
    for name in ("hello", "hello-bm"):
        release = release_named(session, name)
        assert release.signing_key_fingerprint is None
        assert release.creator is release.maintainer


def test_a_file_that_is_no_keyring_is_one_line(
        cli, session, farm_config, tmp_path, throwaway_keys, good_dsc):
    junk = tmp_path / "junk.gpg"
    junk.write_bytes(b"this is not a keyring\n")
    use_keyring(farm_config, junk)
    throwaway_keys.clearsign(good_dsc, throwaway_keys.make(UPLOADER))
    assert refused(cli, good_dsc) == \
        f"[upload] keyring {junk} holds no OpenPGP public key"


def test_a_missing_keyring_is_one_line(cli, farm_config, tmp_path, good_dsc):
    use_keyring(farm_config, tmp_path / "nowhere.gpg")
    assert refused(cli, good_dsc) == (
        f"[upload] keyring {tmp_path / 'nowhere.gpg'}: cannot read: "
        "No such file or directory")


def test_the_daemon_will_not_start_on_a_keyring_it_cannot_read(farm_config, tmp_path):
    use_keyring(farm_config, tmp_path / "nowhere.gpg")
    with pytest.raises(ConfigError) as raised:
        configmodule.load(farm_config.path)
    assert str(raised.value) == (
        f"{farm_config.path}: [upload] keyring: cannot read {tmp_path / 'nowhere.gpg'}")


@pytest.mark.parametrize("status, refusal", [
    ("", signatures.Unsigned),
    ("[GNUPG:] NEWSIG\n[GNUPG:] NEWSIG\n", signatures.BadSignature),
    ("[GNUPG:] NEWSIG\n[GNUPG:] EXPSIG 0123456789ABCDEF Someone <s@example.org>\n",
     signatures.ExpiredSignature),
    ("[GNUPG:] NEWSIG\n[GNUPG:] ERRSIG 0123456789ABCDEF 22 8 01 1796153782 4 -\n",
     signatures.BadSignature),
    ("[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG 0123456789ABCDEF Someone <s@example.org>\n",
     signatures.BadSignature),
])
def test_gpgv_status_lines_without_one_good_signature_are_refused(status, refusal):
    with pytest.raises(refusal):
        signatures.judge(status, "/keyring.gpg")


def test_a_subkeys_signature_records_the_primary_key():
    status = ("[GNUPG:] NEWSIG\n"
              "[GNUPG:] GOODSIG 89ABCDEF01234567 Some One <one@example.org>\n"
              f"[GNUPG:] VALIDSIG {'A' * 40} 2026-12-01 1796153782 0 4 0 22 8 01 {'B' * 40}\n")
    signer = signatures.judge(status, "/keyring.gpg")
    assert (signer.fingerprint, signer.uid, signer.address) == (
        "B" * 40, "Some One <one@example.org>", "one@example.org")
