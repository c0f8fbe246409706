"""Which SlaveClient talks to which builder.

One client per builder URL, made with the configured timeouts.  Tests
swap a builder's slave for a mock with ``Builder.setSlaveForTesting``;
the override is kept here, by builder id, so it survives the builder
row being loaded again in another session.
"""

from buildmaster.slaveclient import SlaveClient

settings = {"timeout": 30.0, "download_timeout": 600.0}
_clients = {}
_overrides = {}


def configure(config):
    """Take the slave timeouts from a loaded configuration.

    Cheap to call on every job: the cached clients are only dropped when
    a timeout actually changes."""
    wanted = {"timeout": config.builddmaster.socket_timeout,
              "download_timeout": config.builddmaster.download_timeout}
    if wanted != settings:
        settings.update(wanted)
        _clients.clear()


def slave_for(builder):
    """The SlaveClient for ``builder``: its test override, else its URL's."""
    if builder.id in _overrides:
        return _overrides[builder.id]
    client = _clients.get(builder.url)
    if client is None:
        client = _clients[builder.url] = SlaveClient(
            builder.url, timeout=settings["timeout"],
            download_timeout=settings["download_timeout"])
    return client


def override(builder, proxy):
    """Make ``builder`` talk to ``proxy`` (a mock slave) instead of its URL."""
    _overrides[builder.id] = SlaveClient(builder.url, timeout=settings["timeout"],
                                         proxy=proxy)


def clear_overrides():
    _overrides.clear()
