"""The web as a daemon service: the Site on ``[web] host:port`` and the
reactor-lag probe the metrics read; nothing at all when ``port`` is 0."""

import logging

from twisted.application import internet, service

from buildmaster.web.metrics import FarmMetrics, ReactorLag
from buildmaster.web.resources import make_site


logger = logging.getLogger("buildmaster.web")


class Announcement(service.Service):
    """Says once, at start, where the web is served."""

    def __init__(self, url):
        self.url = url

    def startService(self):
        super().startService()
        logger.info(f"web: the dashboard, /api/1.0/, /metrics and /healthz on {self.url}")


def dashboard_url(config):
    """Where people open the dashboard: http://host:port/."""
    host = config.web.host
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{config.web.port}/"


def web_service(context, reactor=None):
    """A MultiService serving the dashboard, the API, /metrics and
    /healthz for ``context``; None when ``[web] port`` is 0."""
    settings = context.config.web
    if not settings.port:
        return None
    if reactor is None:
        from twisted.internet import reactor
    metrics = FarmMetrics(context)
    top = service.MultiService()
    ReactorLag(metrics.lag, reactor).setServiceParent(top)
    internet.TCPServer(settings.port, make_site(context, metrics, reactor),
                       interface=settings.host).setServiceParent(top)
    Announcement(dashboard_url(context.config)).setServiceParent(top)
    return top
