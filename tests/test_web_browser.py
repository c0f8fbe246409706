"""The dashboard in a real browser: Debian's chromium, headless, driven by
Playwright, against a real ``twistd`` master with two real slaves
building in the real buildd chroot.

The story: with both builders disabled (through the API, with a token),
a good and a failing package are uploaded; the dashboard lists their
builds as NEEDSBUILD and the queue page says why each job waits,
among them the sample's i386 job: "no builder for processor 386".  The
builders are enabled, and without a reload the dashboard shows the
good build go BUILDING and then FULLYBUILT while its build page follows
the log tail; its build log opens from the librarian.  The failed build
is retried from its page: 401 without a token, requeued with one.

Screenshots of every page go to ``<the test's tmp_path>/screenshots/``.
Chromium is ``/usr/bin/chromium`` (BUILDMASTER_CHROMIUM overrides);
``make test`` installs it.  When it cannot start, the test fails and
says why: it never skips.
"""

import configparser
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from playwright.sync_api import expect, sync_playwright

import sqlalchemy as sa

from buildmaster.archive.chroots import host_architecture
from buildmaster.demo.farm import native_series, point_builder
from buildmaster.model import Build, BuildStatus, SourcePackageName, SourcePackageRelease
from buildmaster.testing.debpackages import make_source_package
from buildmaster.testing.masterprocess import MasterProcess
from buildmaster.testing.slaveprocess import SlaveProcess, free_port, processes_in

pytestmark = pytest.mark.end_to_end

SERIES = "zesty"
CHROMIUM = os.environ.get("BUILDMASTER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# Long enough for a build in a fresh chroot on a busy machine.
BUILD_TIMEOUT = 600_000  # milliseconds


JOBS = {"slave_scanner": "scan", "queue_builder": "build_queue",
        "dispatcher": "dispatch", "publisher": "publish"}
STARTED = f"Sequencer starting with {len(JOBS)} jobs"


@pytest.fixture
def farm(farm_config, tmp_path, sample, session, buildd_chroot):
    """A master's configuration (the test farm's, every server on a free
    loopback port, the jobs every second) with bob and frog sent to two
    real slaves building natively in the buildd chroot, in series zesty;
    (its path, the dashboard's URL, the MasterProcess)."""
    arch = host_architecture()
    slaves = [SlaveProcess(tmp_path / name, arch=arch).start() for name in ("bob", "frog")]
    (tarball,) = sample.librarian.add_paths(
        session, [("bookworm-buildd.tar.gz", buildd_chroot, "application/x-gtar", False)])
    _, native = native_series(session, sample.ubuntu, SERIES, "5.10", tarball)
    for builder, slave in zip((sample.bob, sample.frog), slaves):
        point_builder(session, builder, slave.url, native.processor)
    session.commit()
    config = configparser.ConfigParser(interpolation=None)
    config.read(farm_config.path)
    public, restricted, archives = free_port(), free_port(), free_port()
    config["librarian"].update({
        "public_port": str(public), "restricted_port": str(restricted),
        "public_url": f"http://127.0.0.1:{public}",
        "restricted_url": f"http://127.0.0.1:{restricted}"})
    config["archives"].update({"http_port": str(archives), "signing_key": "",
                               "primary_url": f"http://127.0.0.1:{archives}"})
    config["builddmaster"]["socket_timeout"] = "10"
    for name, function in JOBS.items():
        config[f"sequencer.job.{name}"] = {"callable": f"buildmaster.jobs:{function}",
                                           "mindelay": "1", "timeout": "300"}
    path = tmp_path / "master.conf"
    with open(path, "w", encoding="utf-8") as handle:
        config.write(handle)
    master = MasterProcess(path, tmp_path / "master.log")
    yield path, f"http://127.0.0.1:{farm_config.web.port}", master
    master.stop()
    for slave in slaves:
        slave.stop()
        for pid in processes_in(slave.workdir):
            os.kill(pid, signal.SIGKILL)


def upload(config_path, directory, name, kind):
    """Make a source package and ``buildmaster upload`` it into zesty."""
    dsc = make_source_package(str(directory / name), name=name, version="1.0", kind=kind)
    cli(config_path, "upload", dsc, "--distribution", "ubuntu", "--series", SERIES)


def cli(config_path, *args):
    done = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "buildmaster"),
         "--config", str(config_path), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def api_post(url, token, data=None):
    """POST an action to the API; its JSON answer."""
    request = urllib.request.Request(
        url, data=json.dumps(data or {}).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def builds_of(session, name):
    """The builds of source ``name``, fresh from the database."""
    session.rollback()
    found = session.execute(
        sa.select(Build.id, Build.buildstate).join(SourcePackageRelease)
        .join(SourcePackageName).where(SourcePackageName.name == name)
        .order_by(Build.id)).all()
    session.rollback()
    return found


def build_id_of(session, name, master, timeout=120):
    """The id of the build the queue builder made for ``name``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        builds = builds_of(session, name)
        if builds:
            return builds[0].id
        time.sleep(0.2)
    raise AssertionError(f"no build of {name}; master log:\n{master.read_log()[-5000:]}")


def launch(playwright):
    """Chromium, or an AssertionError saying why it cannot start."""
    try:
        return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as error:
        raise AssertionError(
            f"chromium ({CHROMIUM}) cannot start: {str(error).splitlines()[0]}; "
            "'make test' installs Debian's chromium package") from None


def in_a_thread(function, *args):
    """Run the browser side in a thread of its own (Playwright's sync API
    keeps its own event loop there), re-raising what it raised."""
    outcome = {}

    def run():
        try:
            outcome["result"] = function(*args)
        except BaseException as error:  # noqa: B902 - handed back to the test
            outcome["error"] = error
    thread = threading.Thread(target=run, name="browser")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


def test_the_dashboard_follows_builds_explains_waits_and_retries_with_a_token(
        farm, session, tmp_path):
    config_path, url, master = farm
    token = cli(config_path, "token", "create", "browser-test").strip()
    master.start()
    master.wait_for(STARTED)
    for name in ("bob", "frog"):
        api_post(f"{url}/api/1.0/builders/{name}/disable", token,
                 {"reason": "held back by the browser test"})
    for name, kind in (("hello-web", "good"), ("broken-web", "fail")):
        (tmp_path / "sources" / name).mkdir(parents=True)
        upload(config_path, tmp_path / "sources", name, kind)
    good = build_id_of(session, "hello-web", master)
    failing = build_id_of(session, "broken-web", master)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    in_a_thread(browse, url, token, good, failing, shots)
    assert dict(builds_of(session, "hello-web"))[good] == BuildStatus.FULLYBUILT
    print(f"screenshots in {shots}")


def browse(url, token, good, failing, shots):
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            _story(browser, url, token, good, failing, shots)
        finally:
            browser.close()


def _story(browser, url, token, good, failing, shots):
    dashboard = browser.new_page(viewport={"width": 1280, "height": 1000})
    dashboard.goto(url + "/")
    expect(dashboard.locator("h1")).to_have_text("The farm at a glance")
    row = dashboard.locator(f'#recent tr[data-build="{good}"] .state')
    expect(row).to_have_text("NEEDSBUILD")
    expect(dashboard.locator('#builders-now tr[data-builder="bob"] .builder-state')
           ).to_have_text("disabled")
    dashboard.evaluate("window.notReloaded = true")
    dashboard.screenshot(path=str(shots / "farm-queued.png"), full_page=True)

    queue = browser.new_page(viewport={"width": 1280, "height": 900})
    queue.goto(url + "/queue")
    expect(queue.locator('tr[data-build="9"] .reason')).to_have_text(
        "no builder for processor 386")
    expect(queue.locator(f'tr[data-build="{good}"] .reason')).to_contain_text(
        "every builder that could take it is out of use: bob (disabled: held back by "
        "the browser test)")
    queue.screenshot(path=str(shots / "queue.png"), full_page=True)

    follow = browser.new_page(viewport={"width": 1280, "height": 1000})
    follow.goto(f"{url}/builds/{good}")
    expect(follow.locator("#summary .state")).to_have_text("NEEDSBUILD")
    expect(follow.locator("pre.logtail")).to_have_count(0)
    follow.evaluate("window.notReloaded = true")

    for name in ("bob", "frog"):
        api_post(f"{url}/api/1.0/builders/{name}/enable", token)

    expect(row).to_have_text("BUILDING", timeout=BUILD_TIMEOUT)
    dashboard.screenshot(path=str(shots / "farm-building.png"), full_page=True)
    tail = follow.locator("pre.logtail")
    expect(tail).not_to_be_empty(timeout=BUILD_TIMEOUT)
    expect(follow.locator("#summary .state")).to_have_text("BUILDING")
    follow.screenshot(path=str(shots / "build-building.png"), full_page=True)
    expect(row).to_have_text("FULLYBUILT", timeout=BUILD_TIMEOUT)
    expect(follow.locator("#summary .state")).to_have_text("FULLYBUILT",
                                                          timeout=BUILD_TIMEOUT)
    assert dashboard.evaluate("window.notReloaded") is True
    assert follow.evaluate("window.notReloaded") is True
    dashboard.screenshot(path=str(shots / "farm-built.png"), full_page=True)
    follow.screenshot(path=str(shots / "build-built.png"), full_page=True)
    expect(follow.locator("#history")).to_contain_text("BUILDING")

    follow.locator("a.buildlog").click()
    expect(follow.locator("body")).to_contain_text("building the good package")
    follow.screenshot(path=str(shots / "build-log.png"))

    failed = browser.new_page(viewport={"width": 1280, "height": 1000})
    failed.goto(f"{url}/builds/{failing}")
    expect(failed.locator("#summary .state")).to_have_text("FAILEDTOBUILD",
                                                          timeout=BUILD_TIMEOUT)
    failed.goto(f"{url}/builds/{failing}")  # its page, with the retry form
    failed.screenshot(path=str(shots / "build-failed.png"), full_page=True)
    failed.locator('button[name="retry"]').click()
    expect(failed.locator("h1")).to_have_text("A token is needed")
    assert failed.evaluate("document.title").startswith("401")
    failed.screenshot(path=str(shots / "retry-401.png"))
    failed.goto(f"{url}/builds/{failing}")
    failed.locator('input[name="token"]').fill(token)
    failed.locator('button[name="retry"]').click()
    expect(failed.locator("p.done")).to_contain_text(
        f"build {failing} was FAILEDTOBUILD; now NEEDSBUILD")
    expect(failed.locator("#history")).to_contain_text("FAILEDTOBUILD")
    failed.screenshot(path=str(shots / "build-retried.png"), full_page=True)

    for path, name in (("/builders", "builders"), ("/builders/bob", "builder"),
                       ("/builds?state=FULLYBUILT", "builds"), ("/login", "login")):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url + path)
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        page.close()
