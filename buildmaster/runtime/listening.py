"""The daemon's HTTP servers: named when they start, their ports checked
before anything starts.

A port another process holds stops the daemon with one line naming the
configuration key and the address (``check_ports``), not the reactor's
traceback halfway through start-up.  Each server says on one line what
it serves and where, and its factory stays quiet: a slave fetching a
chroot or an SMTP session is no event in the operators' log.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from twisted.application import internet
from twisted.logger import Logger

log = Logger(namespace="buildmaster.daemon")


class PortInUse(Exception):
    """A configured port cannot be listened on; the text names its key."""


class NamedServer(internet.TCPServer):
    """A TCPServer that logs ``what`` it serves and where when it starts."""

    def __init__(self, what, port, factory, interface):
        factory.noisy = False
        super().__init__(port, factory, interface=interface)
        self.what = what

    def startService(self):
        super().startService()
        address = self._port.getHost()
        log.info("{what}: listening on {host}:{port}", what=self.what,
                 host=address.host, port=address.port)


def configured_ports(config):
    """{port: '[section] key'} of the ports the configuration names."""
    keys = {config.librarian.public_port: "[librarian] public_port",
            config.librarian.restricted_port: "[librarian] restricted_port",
            config.archives.http_port: "[archives] http_port",
            config.upload.http_port: "[upload] http_port",
            config.upload.sftp_port: "[upload] sftp_port"}
    web = getattr(config, "web", None)
    if web is not None:
        keys[web.port] = "[web] port"
    keys.pop(0, None)
    return keys


def tcp_servers(parent):
    """Every TCPServer under the service ``parent``, in start order."""
    for child in parent:
        if isinstance(child, internet.TCPServer):
            yield child
        elif hasattr(child, "__iter__"):
            yield from tcp_servers(child)


def quiet_factories(parent):
    """No 'Starting factory' lines from any server under ``parent``."""
    for server in tcp_servers(parent):
        server.args[1].noisy = False


def check_ports(config, parent):
    """Raise PortInUse for the first server under ``parent`` whose port
    cannot be bound now (bound as Twisted will, then let go)."""
    keys = configured_ports(config)
    for server in tcp_servers(parent):
        port, host = server.args[0], server.kwargs.get("interface", "")
        if not port:
            continue
        probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        except OSError as error:
            key = keys.get(port, f"port {port}")
            raise PortInUse(f"{key}: cannot listen on {host or '*'}:{port}: "
                            f"{error.strerror}") from None
        finally:
            probe.close()


def is_loopback(host):
    """Whether ``host`` (a name or an address) is this machine's loopback."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "ip6-localhost") or host.endswith(".localhost")


def url_on_loopback(url):
    """Whether ``url`` names this machine's loopback."""
    return is_loopback(urlsplit(url).hostname or "")
