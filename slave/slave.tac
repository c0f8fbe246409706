# Run the build slave:  BUILDMASTER_SLAVE_CONFIG=slave.ini twistd -n -y slave/slave.tac
import os
import sys

from twisted.application import service

from slave.config import ConfigError, load_config
from slave.service import make_service

_path = os.environ.get("BUILDMASTER_SLAVE_CONFIG")
try:
    _slave = make_service(load_config(_path))
except ConfigError as _error:
    sys.stderr.write(f"buildmaster-slave: {_error}\n")
    sys.exit(2)

application = service.Application("buildmaster-slave")
_slave.setServiceParent(application)
