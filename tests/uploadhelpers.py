"""A farm taking uploads from anywhere, for the tests that send them with a
real client (tests/test_uploads_dput.py with Debian's dput,
tests/test_uploads_dputng.py with dput-ng): acme/rocket for this host's
architecture with a chroot, Alice's PPAs, Alice's and Mallory's keys, and
the daemon's HTTP and SFTP upload servers in this process on loopback.
Each upload is processed by the ``process_uploads`` job's own function,
and mail goes to the test's SMTP server.
"""

import os
import subprocess

import pytest
import sqlalchemy as sa
from twisted.internet import reactor

from buildmaster.context import FarmContext
from buildmaster.farm import changes as farm_changes, reader, state
from buildmaster.farm.plan import make_plan
from buildmaster.model import DistroArchSeries, Upload
from buildmaster.testing.debpackages import make_chroot_tarball
from buildmaster.testing.dput import signed_source
from buildmaster.testing.gpgkeys import throwaway_keys  # noqa: F401
from buildmaster.uploads import httpserver, intake, sftpserver

FARM = '''\
[[processor]]
name = "{arch}"

[[distribution]]
name = "acme"
components = ["main", "contrib"]

[[distribution.series]]
name = "rocket"
version = "1.0"
status = "DEVELOPMENT"
architectures = {{ {arch} = "{arch}" }}

[[person]]
name = "alice"
email = "alice@example.org"
openpgp_keys = ["alice.asc"]
ssh_keys = ["{ssh_key}"]

[[person]]
name = "mallory"
email = "mallory@example.org"
openpgp_keys = ["mallory.asc"]

[[archive]]
reference = "~alice/tools"
distribution = "acme"

[[archive]]
reference = "~alice/more"
distribution = "acme"
'''


@pytest.fixture
def people(tmp_path, throwaway_keys):  # noqa: F811
    """Alice and Mallory's OpenPGP keys, Alice's SSH key, and an outsider's key."""
    alice = throwaway_keys.make("Alice <alice@example.org>")
    mallory = throwaway_keys.make("Mallory <mallory@example.org>")
    outsider = throwaway_keys.make("Eve <eve@example.org>")
    throwaway_keys.export(tmp_path / "alice.asc", alice, armor=True)
    throwaway_keys.export(tmp_path / "mallory.asc", mallory, armor=True)
    identity = tmp_path / "alice_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(identity)],
                   check=True)
    return {"keys": throwaway_keys, "alice": alice, "mallory": mallory,
            "outsider": outsider, "identity": identity,
            "ssh_key": (tmp_path / "alice_ed25519.pub").read_text().strip()}


@pytest.fixture
def farm(tmp_path, people, farm_config, session, librarian, db):
    """acme/rocket for this host's architecture, with a chroot so uploads
    get builds; Alice's PPA; and a context whose mail goes to the test's
    SMTP server."""
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    text = FARM.format(arch=arch, ssh_key=people["ssh_key"])
    desired = reader.read(text, "farm.toml", str(tmp_path))
    plan = make_plan(state.current(session), desired)
    farm_changes.apply_plan(session, plan, desired, str(tmp_path))
    das = session.scalars(sa.select(DistroArchSeries)).one()
    tarball = make_chroot_tarball(str(tmp_path / "chroot.tar.gz"))
    das.addOrUpdateChroot(librarian.add_path(session, "chroot.tar.gz", tarball))
    session.commit()
    farm_config.upload.incomplete_timeout = 3600
    context = FarmContext(farm_config, engine=db.engine)
    yield context
    context.db.stop()


@pytest.fixture
def http_port(farm):
    port = reactor.listenTCP(0, httpserver.make_site(farm), interface="127.0.0.1")
    yield port.getHost().port
    port.stopListening()


@pytest.fixture
def sftp_port(farm):
    port = reactor.listenTCP(0, sftpserver.make_factory(farm), interface="127.0.0.1")
    yield port.getHost().port
    port.stopListening()


def readable(changes):
    """Make the files beside ``changes`` mode 0644, as dpkg-buildpackage
    leaves them with the usual umask (the SFTP server refuses a chmod)."""
    directory = os.path.dirname(str(changes))
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            os.chmod(path, 0o644)


async def process(context, smtp_server):
    """How many uploads one run of the job processed, its mail sent."""
    done = await intake.process_uploads(context)
    await context.mailer.flush()
    return done


def uploads(session):
    session.rollback()
    return session.scalars(sa.select(Upload).order_by(Upload.id)).all()


def source(tmp_path, people, signer="alice", **kwargs):
    """The _source.changes of a new source package in a directory of its
    own, signed by ``signer`` (buildmaster.testing.dput.signed_source)."""
    directory = tmp_path / f"src-{len(os.listdir(tmp_path))}"
    directory.mkdir()
    return signed_source(directory, people["keys"], people[signer], **kwargs)
