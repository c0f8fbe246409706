"""The slave as a Twisted service: directories, state restore, listener."""

import os

from twisted.application import internet, service

from slave.binarypackage import BinaryPackageManager
from slave.builder import Builder
from slave.config import ConfigError
from slave.filecache import FileCache
from slave.web import make_site

MANAGERS = {"binarypackage": BinaryPackageManager}


class SlaveService(service.MultiService):
    """Owns the Builder; gives a running build back when stopped."""

    def __init__(self, config, reactor):
        super().__init__()
        self.config = config
        self.builder = Builder(config, FileCache(config.filecache, reactor))
        site = make_site(self.builder, MANAGERS, reactor)
        internet.TCPServer(config.bindport, site,
                           interface=config.bindhost).setServiceParent(self)

    def startService(self):
        self.builder.remove_discarded()
        self.builder.restore()
        super().startService()

    def stopService(self):
        self.builder.shutdown()
        return super().stopService()


def make_service(config, reactor=None):
    """Check the directories and build the service; raise ConfigError."""
    if reactor is None:
        from twisted.internet import reactor
    for key in ("filecache", "workdir"):
        _ensure_directory(config, key)
    return SlaveService(config, reactor)


def _ensure_directory(config, key):
    path = getattr(config, key)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{config.path}: [slave] {key}: cannot create"
                          f" {path}: {e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{config.path}: [slave] {key}: {path} is not writable")
