# twistd -n -y buildmaster.tac     (configuration from BUILDMASTER_CONFIG)
"""The buildmaster daemon as a twistd application.

A configuration or database problem is one line on stderr and exit
status 2, before anything starts.
"""

import sys

from twisted.application import service

from buildmaster import config as configmodule
from buildmaster.daemon import DaemonError, make_application

try:
    config = configmodule.load(configmodule.config_path_from_environment())
    farm = make_application(config)
except (configmodule.ConfigError, DaemonError) as error:
    print(f"buildmaster: error: {error}", file=sys.stderr)
    sys.exit(2)

application = service.Application("buildmaster")
farm.setServiceParent(application)
