"""The archives' HTTP server on a free loopback port, for tests."""

from buildmaster.publisher.serving import ArchiveResource, mounts
from twisted.web import server


class RunningArchives:
    """``context``'s archives served on 127.0.0.1, with primary_url,
    ppa_url and private_ppa_url pointed at it (``/primary``, ``/ppa``,
    ``/private``), so the sources.list lines the dispatcher writes lead
    here."""

    def __init__(self, context, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.resource = ArchiveResource(context.config, context.sessions)
        self._port = reactor.listenTCP(0, server.Site(self.resource), interface="127.0.0.1")
        self.url = f"http://127.0.0.1:{self._port.getHost().port}"
        settings = context.config.archives
        settings.primary_url = f"{self.url}/primary"
        settings.ppa_url = f"{self.url}/ppa"
        settings.private_ppa_url = f"{self.url}/private"
        self.resource.mounts = mounts(context.config)

    def stop(self):
        """Stop listening; a Deferred."""
        return self._port.stopListening()
