"""Real Roundup and Trac trackers on loopback ports, for integration tests.

``RoundupTracker`` is a tracker made by ``roundup-admin install`` (the
classic template, SQLite) and ``initialise``, served by Roundup's own
``roundup-server``; issues are made and changed with ``roundup-admin``.

``TracEnvironment`` is an environment made by ``trac-admin initenv``
(SQLite), served by ``tracd``; anonymous users may create and change
tickets (TICKET_ADMIN), and tickets are created and closed through
Trac's own web forms, as a person would.

Every step is bounded by a timeout.  A tracker that cannot be made or
started raises TrackerFailed with its log, so the test fails: these
trackers are test dependencies (setup.py's test extras), never skipped.
"""

import html.parser
import http.cookiejar
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from buildmaster.testing import children
from buildmaster.testing.slaveprocess import free_port

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
COMMAND_TIMEOUT = 120.0
HTTP_TIMEOUT = 30.0


class TrackerFailed(RuntimeError):
    """A tracker could not be made, started or driven."""


def script(name):
    """A console script installed next to this interpreter."""
    return os.path.join(os.path.dirname(sys.executable), name)


def run(argv, cwd=None):
    """Run a tracker's admin command; its output, or TrackerFailed."""
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise TrackerFailed(f"{' '.join(argv)} took more than {COMMAND_TIMEOUT}s") from None
    if done.returncode != 0:
        raise TrackerFailed(f"{' '.join(argv)} exited {done.returncode}:\n"
                            f"{done.stdout}{done.stderr}")
    return done.stdout


class ServerProcess:
    """A tracker's web server: started, paused, resumed and stopped."""

    def __init__(self, directory):
        self.directory = str(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.port = free_port()
        self.log_path = os.path.join(self.directory, "server.log")
        self.popen = None

    def command(self):
        raise NotImplementedError

    def start(self):
        """Start the server and wait (bounded) until it answers HTTP."""
        with open(self.log_path, "ab") as log:
            self.popen = children.spawn(self.command(), cwd=self.directory, stdout=log,
                                        stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.popen.poll() is not None:
                raise TrackerFailed(f"{self.command()[0]} exited with "
                                    f"{self.popen.returncode}:\n{self.read_log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TrackerFailed(f"{self.command()[0]} did not answer within "
                                    f"{START_TIMEOUT}s:\n{self.read_log()}")
            time.sleep(0.1)
        return self

    def _answers(self):
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def pause(self):
        """SIGSTOP: the port still takes connections, nothing answers."""
        self.popen.send_signal(signal.SIGSTOP)

    def resume(self):
        self.popen.send_signal(signal.SIGCONT)

    def stop(self):
        """SIGCONT (in case it is paused), SIGTERM, then SIGKILL."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGCONT)
        self.popen.terminate()
        try:
            self.popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(STOP_TIMEOUT)

    def read_log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


class RoundupTracker(ServerProcess):
    """A classic Roundup tracker called 'upstream' at ``url``."""

    NAME = "upstream"

    def __init__(self, directory):
        super().__init__(directory)
        self.home = os.path.join(self.directory, "tracker")
        self.url = f"http://127.0.0.1:{self.port}/{self.NAME}/"

    def install(self):
        self.admin("install", "classic", "sqlite",
                   f"tracker_web={self.url},mail_domain=localhost")
        self.admin("initialise", "admin-secret")
        return self

    def copy(self, directory):
        """A tracker like this one (made once per test run) in ``directory``,
        on a port of its own."""
        other = type(self)(directory)
        shutil.copytree(self.home, other.home, ignore=shutil.ignore_patterns("*.pyc"))
        config = os.path.join(other.home, "config.ini")
        with open(config, encoding="utf-8") as handle:
            text = handle.read()
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(re.sub(r"^web = .*$", f"web = {other.url}", text, flags=re.M))
        return other

    def command(self):
        argv = [script("roundup-server"), "-n", "127.0.0.1", "-p", str(self.port),
                "-t", "none"]
        if os.getuid() == 0:
            # roundup-server refuses to run as root unless told to.
            argv += ["-u", "0"]
        return argv + [f"{self.NAME}={self.home}"]

    def admin(self, *args):
        return run([script("roundup-admin"), "-i", self.home, *args])

    def create_issue(self, title, status="unread"):
        """A new issue; its id as text."""
        return self.admin("create", "issue", f"title={title}", f"status={status}").strip()

    def set_status(self, issue, status):
        self.admin("set", f"issue{issue}", f"status={status}")

    def bug_url(self, issue):
        return f"{self.url}issue{issue}"


class _Form(html.parser.HTMLParser):
    """The hidden inputs of a page's forms."""

    def __init__(self):
        super().__init__()
        self.hidden = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden" and attrs.get("name"):
            self.hidden[attrs["name"]] = attrs.get("value") or ""


class TracEnvironment(ServerProcess):
    """A Trac environment served alone (``tracd -s``) at ``url``."""

    def __init__(self, directory):
        super().__init__(directory)
        self.env = os.path.join(self.directory, "env")
        self.url = f"http://127.0.0.1:{self.port}"
        self._browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def install(self):
        self.admin("initenv", "Upstream", "sqlite:db/trac.db")
        self.admin("permission", "add", "anonymous", "TICKET_ADMIN")
        return self

    def copy(self, directory):
        """An environment like this one (made once per test run) in
        ``directory``, on a port of its own."""
        other = type(self)(directory)
        shutil.copytree(self.env, other.env, ignore=shutil.ignore_patterns("*.pyc"))
        return other

    def command(self):
        return [script("tracd"), "-s", "-b", "127.0.0.1", "-p", str(self.port), self.env]

    def admin(self, *args):
        return run([script("trac-admin"), self.env, *args])

    def _form(self, path):
        with self._browser.open(self.url + path, timeout=HTTP_TIMEOUT) as page:
            form = _Form()
            form.feed(page.read().decode("utf-8", "replace"))
        if "__FORM_TOKEN" not in form.hidden:
            raise TrackerFailed(f"no form token on {self.url}{path}")
        return form.hidden

    def _post(self, path, fields):
        data = urllib.parse.urlencode(fields).encode()
        with self._browser.open(self.url + path, data, timeout=HTTP_TIMEOUT) as answer:
            return answer.geturl()

    def create_ticket(self, summary):
        """A new ticket, made with the 'New Ticket' form; its id as text."""
        hidden = self._form("/newticket")
        landed = self._post("/newticket", {
            "__FORM_TOKEN": hidden["__FORM_TOKEN"], "field_summary": summary,
            "field_description": summary, "field_reporter": "buildmaster-tests",
            "field_type": "defect", "submit": "Create ticket"})
        path = urllib.parse.urlsplit(landed).path
        if "/ticket/" not in path:
            raise TrackerFailed(f"creating a ticket landed on {landed}")
        return path.rsplit("/", 1)[1]

    def resolve(self, ticket, resolution="fixed"):
        """Close ``ticket`` with ``resolution`` through its page's form."""
        hidden = self._form(f"/ticket/{ticket}")
        self._post(f"/ticket/{ticket}", {
            "__FORM_TOKEN": hidden["__FORM_TOKEN"], "start_time": hidden["start_time"],
            "view_time": hidden["view_time"], "action": "resolve",
            "action_resolve_resolve_resolution": resolution, "submit": "Submit changes"})

    def bug_url(self, ticket):
        return f"{self.url}/ticket/{ticket}"


@pytest.fixture(scope="session")
def roundup_template(tmp_path_factory):
    """A Roundup tracker installed once per test run, never served."""
    return RoundupTracker(tmp_path_factory.mktemp("roundup-template")).install()


@pytest.fixture(scope="session")
def trac_template(tmp_path_factory):
    """A Trac environment made once per test run, never served."""
    return TracEnvironment(tmp_path_factory.mktemp("trac-template")).install()


@pytest.fixture
def roundup_tracker(tmp_path, roundup_template):
    """A running Roundup tracker of its own; stopped (resumed first) afterwards."""
    tracker = roundup_template.copy(tmp_path / "roundup").start()
    yield tracker
    tracker.stop()


@pytest.fixture
def trac_env(tmp_path, trac_template):
    """A running Trac environment of its own; stopped afterwards."""
    trac = trac_template.copy(tmp_path / "trac").start()
    yield trac
    trac.stop()
