"""The web on a real loopback port, for the API and page tests."""

import json

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor

from buildmaster.web import auth
from buildmaster.web.metrics import FarmMetrics
from buildmaster.web.resources import make_site


class RunningWeb:
    """The dashboard's Site listening on 127.0.0.1; ``get``, ``post`` and
    ``json`` are coroutines for ``pytest_twisted.ensureDeferred`` tests."""

    def __init__(self, context):
        self.context = context
        self.metrics = FarmMetrics(context)
        self.port = reactor.listenTCP(0, make_site(context, self.metrics),
                                      interface="127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port.getHost().port}"

    async def request(self, method, path, token=None, headers=None, **options):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = await treq.request(method, self.url + path, headers=headers,
                                      allow_redirects=False, **options)
        response.body = await treq.content(response)
        return response

    async def get(self, path, **options):
        return await self.request("GET", path, **options)

    async def post(self, path, **options):
        return await self.request("POST", path, **options)

    async def json(self, path, code=200, **options):
        """The JSON answer of a GET (POST with ``data``), checking its status."""
        method = "POST" if "data" in options or "json" in options else "GET"
        response = await self.request(method, path, **options)
        assert response.code == code, (response.code, response.body)
        assert response.headers.getRawHeaders("content-type") == ["application/json"]
        return json.loads(response.body)

    def stop(self):
        pytest_twisted.blockon(self.port.stopListening())


@pytest.fixture
def web(farm_context):
    running = RunningWeb(farm_context)
    yield running
    running.stop()


def make_token(session, name="ops", rights=(auth.WRITE,)):
    """A token of ``rights``, committed."""
    token = auth.create(session, name, rights)
    session.commit()
    return token
