"""The services ``buildmaster.tac`` starts, as one MultiService."""

from twisted.application import service
from twisted.logger import Logger

log = Logger()


class StartupLogService(service.Service):
    """Says, in the log, which configuration and database the master runs on."""

    def __init__(self, config):
        self.config = config

    def startService(self):
        super().startService()
        log.info("buildmaster starting with configuration {path} on {url}",
                 path=self.config.path or "<defaults>",
                 url=_safe_url(self.config.database.url))


def _safe_url(url):
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


def make_application(config):
    top = service.MultiService()
    StartupLogService(config).setServiceParent(top)
    return top
