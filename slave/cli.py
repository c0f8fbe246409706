"""``buildmaster-slave --config FILE``: the slave in the foreground."""

import argparse
import sys

from twisted.internet import reactor
from twisted.internet.error import CannotListenError
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver

from slave.config import ConfigError, load_config
from slave.service import make_service

log = Logger()


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="buildmaster-slave",
        description="Run a build slave (launchpad-buildd protocol 1.0).")
    parser.add_argument("--config", required=True,
                        help="the slave's ini file ([slave] section)")
    options = parser.parse_args(argv)
    try:
        slave = make_service(load_config(options.config))
    except ConfigError as e:
        print(f"buildmaster-slave: {e}", file=sys.stderr)
        return 2
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    outcome = {"status": 0}
    reactor.callWhenRunning(_start, slave, outcome)
    reactor.addSystemEventTrigger("before", "shutdown", slave.stopService)
    reactor.run()
    return outcome["status"]


def _start(slave, outcome):
    """Start listening; a port in use stops the reactor with status 1."""
    try:
        slave.startService()
    except CannotListenError as e:
        log.error("cannot listen: {e}", e=e)
        outcome["status"] = 1
        reactor.stop()
