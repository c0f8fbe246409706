"""SlaveClient against launchpad-buildd 206, the protocol's reference peer.

launchpad-buildd runs from its own venv (``make lpbuildd``):
LAUNCHPAD_BUILDD_PYTHON names its interpreter, by default this checkout's
``.venv-lpbuildd/bin/python``.  These tests never skip by themselves: when
the reference slave cannot run, they fail and say why.  Only
BUILDMASTER_WITHOUT_LPBUILDD=1 skips them, for a run that asks to go
without it (``make test``, and so ``.ci/run``, unset it).

No real build runs (that needs sbuild and a chroot): a fake ``in-target``
in the buildd's share dir makes the chroot unpack step a long sleep, so
the buildd is BUILDING and abort() has something to kill.
"""

import json
import os
import subprocess

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from buildmaster.dispatch import dispatcher
from buildmaster.slaves.callbacks import ARG, add_to_args, base_url
from buildmaster.model import BuildQueue
from buildmaster.slaves.client import SlaveClient
from buildmaster.testing.debpackages import (
    make_chroot_tarball, make_source_package, source_files)
from buildmaster.testing.slaveprocess import (
    SlaveProcess, send_files, wait_for_state)

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = (os.environ.get("LAUNCHPAD_BUILDD_PYTHON")
          or os.path.join(CHECKOUT, ".venv-lpbuildd", "bin", "python"))
WITHOUT = "BUILDMASTER_WITHOUT_LPBUILDD"

CONFIG = """\
[builder]
architecturetag = amd64
filecache = {filecache}
bindhost = 127.0.0.1
bindport = {port}
sharepath = {sharepath}
"""

FAKE_IN_TARGET = """\
#!/bin/sh
# Stands in for launchpad-buildd's in-target: unpacking the chroot sleeps
# until scan-for-processes (run on abort) kills the sleeper.
share=$(dirname "$0")/..
case "$1" in
    unpack-chroot) echo $$ > "$share/sleeper.pid"; exec sleep 600 ;;
    scan-for-processes)
        if [ -f "$share/sleeper.pid" ]; then
            kill "$(cat "$share/sleeper.pid")"; rm -f "$share/sleeper.pid"
        fi ;;
esac
exit 0
"""

def reference_python():
    """The reference slave's interpreter; a failure saying why there is
    none, or a skip when the run asked to go without it."""
    if os.environ.get(WITHOUT) == "1":
        pytest.skip(f"{WITHOUT}=1: this run goes without the reference slave, as asked")
    if not os.path.exists(PYTHON):
        pytest.fail(f"no launchpad-buildd interpreter at {PYTHON}: run `make lpbuildd`, "
                    f"or set LAUNCHPAD_BUILDD_PYTHON ({WITHOUT}=1 skips these tests)",
                    pytrace=False)
    return PYTHON


def lpbuildd_tac():
    """The path of lpbuildd's buildd-slave.tac; a failure saying why not."""
    probe = subprocess.run(
        [reference_python(), "-c", "import apt, lpbuildd, os;"
         " print(os.path.dirname(lpbuildd.__file__))"],
        capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(f"{PYTHON} cannot import lpbuildd and apt: "
                    f"{(probe.stderr.strip().splitlines() or ['(no error)'])[-1]}",
                    pytrace=False)
    return os.path.join(probe.stdout.strip(), "buildd-slave.tac")


class LaunchpadBuildd(SlaveProcess):
    """launchpad-buildd under twistd, with a fake in-target."""

    def __init__(self, directory, tac):
        self.tac = tac
        self.sharepath = os.path.join(str(directory), "share")
        super().__init__(directory)
        os.makedirs(os.path.join(self.sharepath, "bin"))
        os.makedirs(self.filecache)
        for name, text in (("in-target", FAKE_IN_TARGET),
                           ("builder-prep", "#!/bin/sh\nexit 0\n")):
            path = os.path.join(self.sharepath, "bin", name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(path, 0o755)

    def config_text(self):
        return CONFIG.format(filecache=self.filecache, port=self.port,
                             sharepath=self.sharepath)

    def environment(self):
        return dict(os.environ, BUILDD_SLAVE_CONFIG=self.config_path,
                    HOME=self.directory)

    def command(self):
        run = "from twisted.scripts.twistd import run; run()"
        return [PYTHON, "-c", run, "-n", "--pidfile=", "-y", self.tac]


@pytest.fixture
def buildd(tmp_path):
    process = LaunchpadBuildd(tmp_path / "buildd", lpbuildd_tac())
    try:
        process.start()
    except RuntimeError as e:
        last_line = str(e).strip().splitlines()[-1]
        pytest.fail(f"launchpad-buildd did not start: {last_line}", pytrace=False)
    yield process
    process.stop()


@pytest.fixture
def master_args(sample, session, farm_config):
    """The build() arguments our dispatcher sends for the sample's foobar
    build in hoary i386, the series' arch-indep architecture, with the
    call-back URL the dispatch pass offers (launchpad-buildd ignores it)."""
    _, request = dispatcher.build_request(farm_config, session.get(BuildQueue, 2))
    _, _, _, args = add_to_args(request, f"{base_url(farm_config)}/token")
    assert args[ARG].startswith("http://127.0.0.1:")
    assert args["arch_indep"] is True
    assert args["archives"] and args["suite"] == "hoary" and args["ogrecomponent"] == "main"
    return args


PROBE = """\
import json, sys
import apt, lpbuildd, twisted, zope.interface
print(json.dumps({"prefix": sys.prefix, "path": sys.path, "modules": {
    module.__name__: module.__file__ for module in (lpbuildd, twisted, zope.interface)}}))
"""


def test_the_reference_slave_runs_on_its_own_python_packages():
    """Debian's Python packages on the host (python3-zope.interface, whose
    .pth file claims the zope namespace) cannot shadow the venv's own:
    the host's site-packages are not on its path at all."""
    probe = subprocess.run([reference_python(), "-c", PROBE], capture_output=True,
                           text=True)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    venv = found["prefix"] + os.sep
    assert {name: path.startswith(venv) for name, path in found["modules"].items()} == {
        "lpbuildd": True, "twisted": True, "zope.interface": True}, found["modules"]
    assert [entry for entry in found["path"] if "-packages" in entry and
            not entry.startswith(venv)] == []


async def sleeper_started(buildd, polls=300, interval=0.1):
    """Wait until the fake in-target is sleeping in the chroot unpack step."""
    pid_file = os.path.join(buildd.sharepath, "sleeper.pid")
    for _ in range(polls):
        if os.path.exists(pid_file):
            return
        await task.deferLater(reactor, interval, lambda: None)
    raise AssertionError("launchpad-buildd never reached the chroot unpack step")


@pytest_twisted.ensureDeferred
async def test_protocol_calls_against_launchpad_buildd(buildd, served_dir, master_args):
    client = SlaveClient(buildd.url, timeout=20)
    assert await client.echo("hello", 1) == ["hello", 1]
    version, arch, managers = await client.info()
    assert (version, arch) == ("1.0", "amd64")
    assert "binarypackage" in managers
    status = await client.status()
    assert status["builder_status"] == "BuilderStatus.IDLE"
    assert status["build_id"] == ""

    directory, url = served_dir
    dsc = make_source_package(str(directory), kind="good")
    chroot = make_chroot_tarball(str(directory / "chroot.tar.gz"))
    filemap = await send_files(client, url, source_files(dsc))
    (chroot_sha1,) = (await send_files(client, url, [chroot])).values()
    present, info = await client.ensurepresent("0" * 40, url + "chroot.tar.gz")
    assert present is False

    assert await client.build("1-1", "binarypackage", chroot_sha1, filemap,
                              master_args) == ("BuilderStatus.BUILDING", "1-1")
    building = await wait_for_state(client, "BuilderStatus.BUILDING")
    assert building["build_id"] == "1-1"
    # Abort only once the build has reached its (fake) chroot unpacking:
    # an abort before that finds nothing to kill, and the sleeper started
    # afterwards would keep the buildd ABORTING for ten minutes.
    await sleeper_started(buildd)
    await client.abort()
    status = await wait_for_state(client, "BuilderStatus.WAITING")
    assert status["build_status"] == "BuildStatus.ABORTED"
    assert await client.clean() == "BuilderStatus.IDLE"
    assert (await client.status())["builder_status"] == "BuilderStatus.IDLE"
