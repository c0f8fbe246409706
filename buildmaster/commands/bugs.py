"""``buildmaster checkwatches`` and ``buildmaster bug link BUILD URL``."""

import logging
import sys

from buildmaster.bugs import checkwatches, upstream
from buildmaster.operators import lookup
from buildmaster.commands.common import (
    Group, arg, farm_session, operator_command, require_schema)
from buildmaster.commands.registry import CommandError

# As the seed's cron script printed its log: "INFO    creating lockfile".
LOG_FORMAT = "%(levelname)-7s %(message)s"


@operator_command("checkwatches")
def check_watches(context, args):
    require_schema(context)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        checkwatches.check_watches(context)
    except checkwatches.AlreadyRunning as error:
        raise CommandError(str(error)) from None
    finally:
        root.removeHandler(handler)


bug = Group("bug")


@bug.subcommand(
    "link", "make a FAILEDTOBUILD build wait on an upstream bug; checkwatches "
            "retries it when that bug is fixed",
    arg("build_id", type=int, metavar="BUILD"),
    arg("url", metavar="URL",
        help="the upstream bug's address: Roundup .../issueN, Trac .../ticket/N, "
             "Bugzilla .../show_bug.cgi?id=N, debbugs .../cgi-bin/bugreport.cgi?bug=N"))
def link(context, args):
    with farm_session(context) as session:
        build = lookup.build(session, args.build_id)
        try:
            made = upstream.link_build(session, build, args.url)
        except upstream.LinkRefused as error:
            raise CommandError(str(error)) from None
        tracker = (f"new tracker {made.tracker.name}" if made.new_tracker
                   else f"tracker {made.tracker.name}")
        what = "now waits on" if made.new_watch else "already waits on"
        message = (f"Build {build.id} ({build.title}) {what} bug "
                   f"{made.watch.remotebug} of {tracker} ({made.tracker.baseurl}), "
                   f"as our bug {made.bug.id}; checkwatches retries it when that bug "
                   "is fixed.")
    print(message)
