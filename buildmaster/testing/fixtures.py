"""pytest fixtures shared by the unit tests and the doctests.

``session`` gives a SQLAlchemy session on a clean database; ``sample``
loads the seeds' world into it; ``farm_config`` is a configuration whose
directories live in the test's temporary directory; ``slave_proc`` is a
real slave, ``good_dsc`` and its kin real source packages.

The helpers these use (slaveprocess.py, debpackages.py) import no pytest:
``make run``'s demo uses them and installs no test tools.
"""

import logging
import os
import signal
import sys

import pytest

from buildmaster.slaves import registry
from buildmaster import config as configmodule
from buildmaster.seeds import sampledata
from buildmaster.db.engine import Transaction, make_session_factory
from buildmaster.context import FarmContext
from buildmaster.librarian.storage import LibrarianStorage
from buildmaster.testing import children
from buildmaster.testing.database import TestDatabase
from buildmaster.testing.debpackages import make_chroot_tarball, make_source_package
from buildmaster.testing.slaveprocess import (
    SlaveProcess, free_port, processes_in, serve_directory)
from buildmaster.testing.smtp import LoopbackSMTPServer

# A throwaway archive signing key (ed25519, no passphrase), for tests only:
# the test farm signs its archives with it, as a real farm would with its own.
TEST_SIGNING_KEY = os.path.join(os.path.dirname(__file__), "archive-signing-key.asc")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "end_to_end: the whole farm as real processes (select with -m end_to_end)")
    children.install()


@pytest.fixture(autouse=True)
def no_daemon_outlives_its_test():
    """Stop the daemons a test (or doctest) started and left running:
    buildmaster.testing.children."""
    before = children.running()
    yield
    children.stop_started_since(before)


@pytest.fixture(scope="session")
def test_database():
    database = TestDatabase()
    yield database
    database.drop()


@pytest.fixture
def db(test_database):
    """A clean database for this test (and no builder talking to a mock
    slave a previous test gave it)."""
    test_database.empty()
    yield test_database
    test_database.engine.dispose()
    registry.clear_overrides()


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback; ``.messages`` is what it received."""
    server = LoopbackSMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_clock():
    """The clock of ``build_mailer``'s retries, for a test to advance."""
    from twisted.internet import task
    return task.Clock()


@pytest.fixture
def build_mailer(farm_config, mail_clock):
    """A BuildMailer sending to ``smtp_server``, retrying on ``mail_clock``;
    what it has queued is delivered before the server goes away."""
    import pytest_twisted
    from buildmaster.mail.mailer import BuildMailer
    mailer = BuildMailer(farm_config, clock=mail_clock)
    yield mailer
    pytest_twisted.blockon(mailer.flush())
    mailer.stop()


@pytest.fixture
def farm_config(db, tmp_path, smtp_server):
    """A checked configuration using this test's database and directories,
    mailing through ``smtp_server``; its archives are signed with the
    test key (TEST_SIGNING_KEY)."""
    path = tmp_path / "buildmaster.conf"
    path.write_text(
        "[database]\n"
        f"url = {db.url}\n"
        "[builddmaster]\n"
        f"root = {tmp_path / 'builddmaster'}\n"
        "[librarian]\n"
        f"storage = {tmp_path / 'librarian'}\n"
        "[archives]\n"
        f"root = {tmp_path / 'archives'}\n"
        f"signing_key = {TEST_SIGNING_KEY}\n"
        "[mail]\n"
        f"smtp_host = {smtp_server.host}\n"
        f"smtp_port = {smtp_server.port}\n"
        f"buildd_admins = {', '.join(sampledata.BUILDD_ADMINS)}\n"
        # The daemon serves the web on a port of its own.
        f"[web]\nport = {free_port()}\n")
    return configmodule.load(str(path))


@pytest.fixture
def session(db):
    session = make_session_factory(db.engine)()
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def transaction(session):
    return Transaction(session)


@pytest.fixture
def librarian(farm_config):
    return LibrarianStorage(farm_config.librarian.storage)


@pytest.fixture
def farm_context(farm_config, db):
    """A FarmContext on this test's configuration and database engine."""
    return FarmContext(farm_config, engine=db.engine)


@pytest.fixture
def mailing_context(sample, farm_config, db, build_mailer):
    """A FarmContext on the sample farm that mails through ``build_mailer``;
    its database threads stopped afterwards (scan and dispatch passes)."""
    context = FarmContext(farm_config, engine=db.engine)
    context.mailer = build_mailer
    yield context
    context.db.stop()


@pytest.fixture
def librarian_servers(farm_context):
    """Both librarian HTTP servers on loopback; ``farm_config``'s
    public_url and restricted_url point at them."""
    from buildmaster.testing.librarian import RunningLibrarian
    servers = RunningLibrarian(farm_context)
    yield servers
    servers.stop()


@pytest.fixture
def sample(session, librarian):
    """The seeds' sample world, committed."""
    world = sampledata.load(session, librarian)
    session.commit()
    return world


@pytest.fixture
def hoary_amd64(sample, session):
    """A second hoary architecture with the sample chroot, so 'any' means
    two; i386 stays the series' nominated arch-indep one."""
    from buildmaster.model import DistroArchSeries
    arch = DistroArchSeries(distroseries=sample.hoary, processor=sample.amd64,
                            architecturetag="amd64", chroot=sample.chroot)
    session.add(arch)
    session.flush()
    return arch


@pytest.fixture
def served_dir(tmp_path):
    """A directory served over HTTP on loopback: (directory, base URL)."""
    directory = tmp_path / "served"
    directory.mkdir()
    port, url = serve_directory(directory)
    yield directory, url
    port.stopListening()


@pytest.fixture
def slave_proc(tmp_path):
    """A real slave process on a free loopback port; no build outlives it."""
    process = SlaveProcess(tmp_path / "slave").start()
    yield process
    process.stop()
    for pid in processes_in(process.workdir):
        os.kill(pid, signal.SIGKILL)


def _dsc_fixture(kind):
    @pytest.fixture
    def fixture(tmp_path):
        directory = tmp_path / f"src-{kind}"
        directory.mkdir()
        return make_source_package(str(directory), kind=kind)
    fixture.__doc__ = f"The .dsc path of a '{kind}' source package (debpackages.py)."
    return fixture


good_dsc = _dsc_fixture("good")
fail_dsc = _dsc_fixture("fail")
depwait_dsc = _dsc_fixture("depwait")
slow_dsc = _dsc_fixture("slow")
all_dsc = _dsc_fixture("all")
mixed_dsc = _dsc_fixture("mixed")


@pytest.fixture
def chroot_tarball(tmp_path):
    """The path of a small valid chroot .tar.gz."""
    return make_chroot_tarball(str(tmp_path / "chroot.tar.gz"))


class CurrentStdoutHandler(logging.Handler):
    """Writes records to whatever ``sys.stdout`` is at the time.

    doctest swaps sys.stdout per example; a plain StreamHandler would keep
    writing to the stream it was created with.
    """

    def emit(self, record):
        sys.stdout.write(self.format(record) + "\n")


@pytest.fixture
def printed_log():
    """Root logger records at WARNING and above, printed as the seeds show them:
    ``WARNING:root:Builder 'x' rescued from ...``."""
    root = logging.getLogger()
    handler = CurrentStdoutHandler(level=logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    yield root
    root.removeHandler(handler)
    root.setLevel(old_level)
