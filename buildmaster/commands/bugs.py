"""``buildmaster checkwatches``."""

import logging
import sys

from buildmaster import checkwatches
from buildmaster.cli import CommandError, require_schema
from buildmaster.commands.common import operator_command

# As the seed's cron script printed its log: "INFO    creating lockfile".
LOG_FORMAT = "%(levelname)-7s %(message)s"


@operator_command("checkwatches",
                  "check the due watches on external bug trackers once; log on stderr")
def check_watches(context, args):
    require_schema(context)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        checkwatches.run(context)
    except checkwatches.AlreadyRunning as error:
        raise CommandError(str(error)) from None
    finally:
        root.removeHandler(handler)

