"""Both librarian HTTP servers on free loopback ports, for tests."""

from twisted.internet import defer

from buildmaster.librarian.web import make_sites


class RunningLibrarian:
    """The public and restricted sites of ``context`` listening on
    127.0.0.1, with the configuration's public_url and restricted_url
    pointed at them so URLs the code hands out lead here."""

    def __init__(self, context, clock=None, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.public_site, self.restricted_site = make_sites(context, clock)
        self._ports = [reactor.listenTCP(0, site, interface="127.0.0.1")
                       for site in (self.public_site, self.restricted_site)]
        public_port, restricted_port = (port.getHost().port for port in self._ports)
        self.public_url = f"http://127.0.0.1:{public_port}"
        self.restricted_url = f"http://127.0.0.1:{restricted_port}"
        context.config.librarian.public_url = self.public_url
        context.config.librarian.restricted_url = self.restricted_url

    def stop(self):
        """Stop listening; a Deferred."""
        return defer.gatherResults([port.stopListening() for port in self._ports])
