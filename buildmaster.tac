# twistd -n -y buildmaster.tac     (configuration from BUILDMASTER_CONFIG)
"""The buildmaster daemon as a twistd application."""

import sys

from twisted.application import service

from buildmaster import config as configmodule
from buildmaster.daemon import make_application

try:
    config = configmodule.load(configmodule.config_path_from_environment())
except configmodule.ConfigError as error:
    print(f"buildmaster: error: {error}", file=sys.stderr)
    sys.exit(2)

application = service.Application("buildmaster")
make_application(config).setServiceParent(application)
