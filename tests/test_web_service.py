"""The daemon serves the web on ``[web] host:port``, or not at all with
port 0."""

import logging

import pytest_twisted
import treq

from buildmaster.context import FarmContext
from buildmaster.daemon import make_application
from buildmaster.testing.slaveprocess import free_port
from buildmaster.web.service import dashboard_url, web_service


@pytest_twisted.inlineCallbacks
def test_the_daemon_serves_the_dashboard_and_says_where(farm_config, db, sample, caplog):
    farm_config.jobs = []
    # The librarian's default ports lie among the ephemeral ones, where any
    # connection of the run may hold them.
    farm_config.librarian.public_port = free_port()
    farm_config.librarian.restricted_port = free_port()
    context = FarmContext(farm_config, engine=db.engine)
    top = make_application(farm_config, context=context)
    url = dashboard_url(farm_config)
    assert url == f"http://127.0.0.1:{farm_config.web.port}/"
    with caplog.at_level(logging.INFO, logger="buildmaster.web"):
        top.startService()
    try:
        response = yield treq.get(url + "api/1.0/builders")
        assert response.code == 200
        assert [b["name"] for b in (yield response.json())["entries"]] == ["bob", "frog"]
        health = yield treq.get(url + "healthz")
        assert health.code == 200
    finally:
        yield top.stopService()
    assert f"web: the dashboard, /api/1.0/, /metrics and /healthz on {url}" in caplog.messages


def test_port_0_serves_no_web(farm_config, db):
    farm_config.web.port = 0
    assert web_service(FarmContext(farm_config, engine=db.engine)) is None
