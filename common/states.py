"""The state strings of the launchpad-buildd wire protocol, version '1.0'."""


class BuilderStatus:
    """What the slave as a whole is doing."""

    IDLE = "BuilderStatus.IDLE"
    BUILDING = "BuilderStatus.BUILDING"
    WAITING = "BuilderStatus.WAITING"
    ABORTING = "BuilderStatus.ABORTING"
    # Only older slaves report ABORTED; build() answers the next two.
    ABORTED = "BuilderStatus.ABORTED"
    UNKNOWNSUM = "BuilderStatus.UNKNOWNSUM"
    UNKNOWNBUILDER = "BuilderStatus.UNKNOWNBUILDER"


class BuildStatus:
    """How the last build ended, reported while WAITING."""

    OK = "BuildStatus.OK"
    PACKAGEFAIL = "BuildStatus.PACKAGEFAIL"
    DEPFAIL = "BuildStatus.DEPFAIL"
    CHROOTFAIL = "BuildStatus.CHROOTFAIL"
    BUILDERFAIL = "BuildStatus.BUILDERFAIL"
    GIVENBACK = "BuildStatus.GIVENBACK"
    ABORTED = "BuildStatus.ABORTED"


PROTOCOL_VERSION = "1.0"
