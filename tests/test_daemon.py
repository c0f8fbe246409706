"""The daemon: its services in process, and ``twistd -n -y buildmaster.tac``
as a real process (refusals with one line and exit 2, a clean SIGTERM)."""

import logging
import signal
import socket
import threading

import pytest
import pytest_twisted
import sqlalchemy as sa
import treq
from twisted.internet import defer, reactor, task
from twisted.logger import globalLogPublisher

from buildmaster import schema
from buildmaster.context import FarmContext
from buildmaster.daemon import DaemonError, make_application
from buildmaster.librarian.urls import http_url
from buildmaster.testing.masterprocess import MasterProcess
from buildmaster.testing.slaveprocess import free_port


@pytest.fixture
def daemon_config(farm_config):
    """The test farm's configuration on free ports, with one quick job."""
    from buildmaster.config import JobConfig
    farm_config.librarian.public_port = free_port()
    farm_config.librarian.restricted_port = free_port()
    farm_config.librarian.public_url = f"http://127.0.0.1:{farm_config.librarian.public_port}"
    farm_config.web.port = free_port()
    farm_config.jobs = [JobConfig(name="hello", command="echo hello", callable="",
                                  mindelay=1, alwayslog=True, timeout=60)]
    return farm_config


@pytest.fixture
def log_events():
    events = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


async def _logged_eventually(events, text):
    for _ in range(300):
        if text in texts(events):
            return
        await task.deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"never logged {text!r}: {texts(events)}")


def logged_eventually(events, text):
    return defer.ensureDeferred(_logged_eventually(events, text))


def texts(events):
    from twisted.logger import formatEvent
    return [formatEvent(event) for event in events]


def test_an_unmigrated_database_is_refused(tmp_path, daemon_config):
    daemon_config.database.url = f"sqlite:///{tmp_path}/empty.db"
    with pytest.raises(DaemonError) as raised:
        make_application(daemon_config)
    assert str(raised.value) == (
        f"database sqlite:///{tmp_path}/empty.db has schema revision none, not "
        f"{schema.head_revision()}: run 'buildmaster upgrade'")


def test_an_unreachable_database_is_refused(daemon_config):
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    daemon_config.database.url = url
    with pytest.raises(DaemonError) as raised:
        make_application(daemon_config)
    assert str(raised.value).startswith(f"database {url}: ")
    assert "Connection refused" in str(raised.value)


@pytest_twisted.inlineCallbacks
def test_the_services_start_serve_and_stop(daemon_config, db, session, librarian,
                                           log_events):
    alias = librarian.add_bytes(session, "hello.txt", b"hello\n", mimetype="text/plain")
    session.commit()
    top = make_application(daemon_config, context=FarmContext(daemon_config,
                                                              engine=db.engine))
    sequencer = top.getServiceNamed("sequencer")
    top.startService()
    try:
        response = yield treq.get(http_url(daemon_config, alias))
        assert (yield treq.content(response)) == b"hello\n"
        yield logged_eventually(log_events, "Job output was:\nhello\n\n")
        logging.getLogger("buildmaster.scanner").info("Build 1 is now FULLYBUILT")
    finally:
        yield top.stopService()
    logged = texts(log_events)
    assert "Build 1 is now FULLYBUILT" in logged
    assert "Sequencer starting with 1 jobs" in logged
    assert logged.index("Sequencer stopped") < logged.index("buildmaster stopped")
    assert not sequencer.running
    settings = daemon_config.librarian
    assert (f"librarian: public files (advertised as {settings.public_url}): listening on "
            f"127.0.0.1:{settings.public_port}") in logged
    assert (f"librarian: restricted files, by token (advertised as "
            f"{settings.restricted_url}): listening on "
            f"127.0.0.1:{settings.restricted_port}") in logged
    # (the test's own HTTP client may say its factory starts)
    assert [text for text in logged if "factory <" in text and "Site" in text] == []


JOB_STARTED, JOB_MAY_GO_ON, JOB_GOT = threading.Event(), threading.Event(), []


def database_job(context):
    """A job of two database calls: the first waits for the test's word."""
    def first(session):
        JOB_STARTED.set()
        JOB_MAY_GO_ON.wait(5)
        return session.execute(sa.text("SELECT 1")).scalar()

    async def run():
        await context.db.run_in_thread(first)
        second = await context.db.run_in_thread(
            lambda session: session.execute(sa.text("SELECT 2")).scalar())
        JOB_GOT.append(second)
    return defer.ensureDeferred(run())


@pytest_twisted.inlineCallbacks
def test_a_stop_lets_the_running_job_use_the_database_to_its_end(daemon_config, db,
                                                                 log_events):
    """The sequencer stops first and lets its job finish; the database goes
    after (it was closed at once, and the job's next call failed)."""
    from buildmaster.config import JobConfig
    daemon_config.jobs = [JobConfig(name="database", command="",
                                    callable=f"{__name__}:database_job", mindelay=1,
                                    alwayslog=True, timeout=60)]
    JOB_STARTED.clear()
    JOB_MAY_GO_ON.clear()
    JOB_GOT.clear()
    top = make_application(daemon_config, context=FarmContext(daemon_config,
                                                              engine=db.engine))
    top.startService()
    for _ in range(200):
        if JOB_STARTED.is_set():
            break
        yield task.deferLater(reactor, 0.05, lambda: None)
    stopping = top.stopService()
    JOB_MAY_GO_ON.set()
    yield stopping
    assert JOB_GOT == [2]
    assert [text for text in texts(log_events) if "AlreadyQuit" in text] == []


@pytest_twisted.inlineCallbacks
def test_external_dependency_sections_still_work_with_one_deprecation_line(
        daemon_config, db, log_events):
    daemon_config.external_dependencies = {
        "series": {"ubuntu/hoary": ["deb http://mirror.example/debian bookworm main"]},
        "archive": {}}
    top = make_application(daemon_config, context=FarmContext(daemon_config,
                                                              engine=db.engine))
    top.startService()
    yield top.stopService()
    deprecated = [text for text in texts(log_events) if "deprecated" in text]
    assert deprecated == [
        f"{daemon_config.path}: [external_dependencies.series] still work but are "
        "deprecated: give the lines to the series or archive in the farm file "
        "(external_dependencies = [...]) and buildmaster apply it"]


def test_a_loopback_librarian_is_refused_for_builders_on_other_hosts(
        daemon_config, db, session, sample):
    from buildmaster.model import Builder
    frog = session.get(Builder, 2)
    frog.url = "http://frog.example:9221/"
    session.commit()
    with pytest.raises(DaemonError) as raised:
        make_application(daemon_config, context=FarmContext(daemon_config,
                                                            engine=db.engine))
    assert str(raised.value).startswith(
        f"[librarian] public_url {daemon_config.librarian.public_url} is a loopback "
        "address, but builder frog (http://frog.example:9221/) is on another host")
    daemon_config.librarian.public_url = "http://farm.example:58000"
    daemon_config.librarian.restricted_url = "http://farm.example:58005"
    make_application(daemon_config, context=FarmContext(daemon_config, engine=db.engine))


@pytest.mark.parametrize("key", ["public_port", "restricted_port"])
def test_a_port_in_use_is_refused_naming_its_key(daemon_config, db, key):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    setattr(daemon_config.librarian, key, port)
    try:
        with pytest.raises(DaemonError) as raised:
            make_application(daemon_config, context=FarmContext(daemon_config,
                                                                engine=db.engine))
    finally:
        taken.close()
    assert str(raised.value) == (
        f"[librarian] {key}: cannot listen on 127.0.0.1:{port}: Address already in use")


@pytest.fixture
def master(daemon_config, tmp_path):
    """A MasterProcess on a config file for the test farm."""
    path = tmp_path / "master.conf"
    path.write_text(
        f"[database]\nurl = {daemon_config.database.url}\n"
        f"[builddmaster]\nroot = {tmp_path / 'root'}\n"
        f"[librarian]\nstorage = {daemon_config.librarian.storage}\n"
        f"public_port = {daemon_config.librarian.public_port}\n"
        f"restricted_port = {daemon_config.librarian.restricted_port}\n"
        f"[web]\nport = {daemon_config.web.port}\n"
        "[sequencer]\nshutdown_timeout = 30\n"
        "[sequencer.job.hello]\ncommand = echo hello from a job\nmindelay = 1\n"
        "alwayslog = true\n")
    process = MasterProcess(path, tmp_path / "master.log")
    yield process
    process.stop(signal.SIGKILL)


def one_error_line(master):
    lines = [line for line in master.read_log().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_the_daemon_refuses_a_bad_configuration(master):
    with open(master.config_path, "a") as f:
        f.write("[sequencer.job.hello]\nmindelay = soon\n")
    assert master.run_to_exit() == 2
    assert one_error_line(master).startswith(f"buildmaster: error: {master.config_path}: ")


def test_the_daemon_refuses_an_unknown_job_function(master):
    with open(master.config_path, "a") as f:
        f.write("[sequencer.job.broken]\ncallable = buildmaster.jobs:nothing\nmindelay = 5\n")
    assert master.run_to_exit() == 2
    assert one_error_line(master) == (
        f"buildmaster: error: {master.config_path}: [sequencer.job.broken] callable: "
        f"buildmaster.jobs has no function 'nothing'")


def test_the_daemon_refuses_an_unmigrated_database(master, tmp_path):
    text = open(master.config_path).read().replace(
        "[database]\n", f"[database]\nurl = sqlite:///{tmp_path}/empty.db\n#", 1)
    with open(master.config_path, "w") as f:
        f.write(text)
    assert master.run_to_exit() == 2
    line = one_error_line(master)
    assert line.startswith(f"buildmaster: error: database sqlite:///{tmp_path}/empty.db ")
    assert line.endswith("run 'buildmaster upgrade'")


def test_the_daemon_refuses_a_port_in_use_in_one_line(master, daemon_config):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", daemon_config.librarian.public_port))
        taken.listen()
        assert master.run_to_exit() == 2
    assert one_error_line(master) == (
        f"buildmaster: error: [librarian] public_port: cannot listen on "
        f"127.0.0.1:{daemon_config.librarian.public_port}: Address already in use")


def test_the_daemon_runs_jobs_and_stops_cleanly_on_sigterm(master):
    master.start()
    master.wait_for("hello from a job")
    # twistd ends a clean shutdown by re-raising the signal that asked for it.
    assert master.stop(signal.SIGTERM) == -signal.SIGTERM
    log = master.read_log()
    assert "Sequencer stopped" in log
    assert "buildmaster stopped" in log
    assert "Server Shut Down." in log
    assert "Traceback" not in log
