"""Which SlaveClient talks to which builder.

A SlaveRegistry keeps one client per builder URL, made with the
configured timeouts on its reactor.  The running farm's registry is
``FarmContext.slaves``; the seeds' API (``Builder.slave``, see
buildmaster.seeds.builder) and the seeds' scanner use the registry of
this module through ``slave_of``, configured with ``configure``.

Tests swap a builder's slave for a mock with ``Builder.setSlaveForTesting``
(or ``override``); that seam is kept here, by builder id, so it survives
the builder row being loaded again in another session, and every
registry answers with the mock first.
"""

from buildmaster.model import Builder
from buildmaster.slaves.client import SlaveClient

DEFAULT_TIMEOUTS = {"timeout": 30.0, "download_timeout": 600.0}
_overrides = {}


class SlaveRegistry:
    """SlaveClients by URL, with ``config``'s timeouts, on ``reactor``."""

    def __init__(self, config=None, reactor=None):
        self.reactor = reactor
        self.settings = dict(DEFAULT_TIMEOUTS)
        self._clients = {}
        if config is not None:
            self.configure(config)

    def configure(self, config):
        """Take the slave timeouts from a loaded configuration.

        Cheap to call on every pass: the clients are only dropped when a
        timeout actually changes."""
        wanted = {"timeout": config.builddmaster.socket_timeout,
                  "download_timeout": config.builddmaster.download_timeout}
        if wanted != self.settings:
            self.settings = wanted
            self._clients.clear()

    def slave_for(self, builder):
        """The SlaveClient for ``builder`` (anything with ``id`` and
        ``url``): its test override, else its URL's."""
        if builder.id in _overrides:
            return _overrides[builder.id]
        client = self._clients.get(builder.url)
        if client is None:
            client = self._clients[builder.url] = SlaveClient(
                builder.url, timeout=self.settings["timeout"], reactor=self.reactor,
                download_timeout=self.settings["download_timeout"])
        return client


_registry = SlaveRegistry()


def slave_of(builder):
    """The SlaveClient of ``builder``: a Builder row's from this module's
    registry (its test override first); the seeds' MockBuilder, which is
    no row, carries its own."""
    if isinstance(builder, Builder):
        return _registry.slave_for(builder)
    return builder.slave


def configure(config):
    """Configure the seeds' registry (``Builder.slave``)."""
    _registry.configure(config)


def override(builder, proxy):
    """Make ``builder`` talk to ``proxy`` (a mock slave) instead of its URL."""
    _overrides[builder.id] = SlaveClient(builder.url, timeout=_registry.settings["timeout"],
                                         proxy=proxy)


def clear_overrides():
    _overrides.clear()
