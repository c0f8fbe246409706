"""The slave's state machine and the manager's failure mapping, in-process."""

import errno

import pytest
from twisted.internet import task
from twisted.python.failure import Failure

from common.states import BuilderStatus, BuildStatus
from slave.binarypackage import BinaryPackageManager
from slave.builder import Builder, WrongState
from slave.config import SlaveConfig
from slave.filecache import FileCache
from slave.speed import own_parallel


@pytest.fixture
def builder(tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "work").mkdir()
    config = SlaveConfig("127.0.0.1", 0, "amd64", str(tmp_path / "cache"),
                         str(tmp_path / "work"), 60)
    return Builder(config, FileCache(config.filecache, task.Clock()))


def building(builder):
    manager = BinaryPackageManager(builder, task.Clock())
    builder.start("1-1", manager)
    return manager


def test_full_disk_gives_the_build_back(builder):
    manager = building(builder)
    manager._failed(Failure(OSError(errno.ENOSPC, "No space left")))
    assert builder.status()["build_status"] == BuildStatus.GIVENBACK
    assert "giving back" in builder.buildlog.tail().decode()


def test_internal_error_is_builderfail(builder):
    manager = building(builder)
    manager._failed(Failure(KeyError("oops")))
    assert builder.state == BuilderStatus.WAITING
    assert builder.build_status == BuildStatus.BUILDERFAIL
    assert "internal slave error" in builder.buildlog.tail().decode()


def test_waiting_state_is_restored_after_restart(builder):
    building(builder)
    builder.finish(BuildStatus.DEPFAIL, {}, "baz (>= 1.0.1)")
    again = Builder(builder.config, builder.cache)
    again.restore()
    assert again.status() == builder.status()
    again.clean()
    assert again.status() == {"builder_status": BuilderStatus.IDLE,
                              "parallel": own_parallel(builder.config)}
    third = Builder(builder.config, builder.cache)
    third.restore()
    assert third.state == BuilderStatus.IDLE


def test_state_rules(builder):
    with pytest.raises(WrongState):
        builder.clean()
    with pytest.raises(WrongState):
        builder.abort()
    building(builder)
    with pytest.raises(WrongState):
        builder.start("2-2", None)
