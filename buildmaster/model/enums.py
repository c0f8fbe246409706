"""The enumerations of the data model, with the titles the seeds print."""

from buildmaster.model.base import TitledEnum


class BuildStatus(TitledEnum):
    NEEDSBUILD = (0, "Needs building")
    FULLYBUILT = (1, "Successfully built")
    FAILEDTOBUILD = (2, "Failed to build")
    MANUALDEPWAIT = (3, "Dependency wait")
    CHROOTWAIT = (4, "Chroot problem")
    SUPERSEDED = (5, "Build for superseded Source")
    BUILDING = (6, "Currently building")
    FAILEDTOUPLOAD = (7, "Failed to upload")
    CANCELLED = (8, "Cancelled build")


class DistroSeriesStatus(TitledEnum):
    EXPERIMENTAL = (1, "Experimental")
    DEVELOPMENT = (2, "Active Development")
    FROZEN = (3, "Pre-release Freeze")
    CURRENT = (4, "Current Stable Release")
    SUPPORTED = (5, "Supported")
    OBSOLETE = (6, "Obsolete")
    FUTURE = (7, "Future")


class ArchivePurpose(TitledEnum):
    PRIMARY = (1, "Primary Archive")
    PARTNER = (4, "Partner Archive")
    PPA = (2, "Personal Package Archive")
    COPY = (6, "Copy Archive")


class PackagePublishingPocket(TitledEnum):
    RELEASE = (0, "Release")
    SECURITY = (10, "Security")
    UPDATES = (20, "Updates")
    PROPOSED = (30, "Proposed")
    BACKPORTS = (40, "Backports")


class PackagePublishingStatus(TitledEnum):
    PENDING = (1, "Pending")
    PUBLISHED = (2, "Published")
    SUPERSEDED = (3, "Superseded")
    DELETED = (4, "Deleted")
    OBSOLETE = (5, "Obsolete")


class SourcePackageUrgency(TitledEnum):
    LOW = (1, "Low Urgency")
    MEDIUM = (2, "Medium Urgency")
    HIGH = (3, "Very Urgent")
    EMERGENCY = (4, "Emergency")


class SourcePackageFileType(TitledEnum):
    DSC = (1, "DSC File")
    ORIG_TARBALL = (2, "Orig Tarball")
    DIFF = (3, "Diff File")
    NATIVE_TARBALL = (4, "Native Tarball")
    DEBIAN_TARBALL = (5, "Debian Tarball")
    COMPONENT_ORIG_TARBALL = (6, "Component Orig Tarball")
    ORIG_TARBALL_SIGNATURE = (7, "Orig Tarball Signature")
    COMPONENT_ORIG_TARBALL_SIGNATURE = (8, "Component Orig Tarball Signature")


class BinaryPackageFileType(TitledEnum):
    DEB = (1, "DEB Format")
    UDEB = (2, "UDEB Format")
    DDEB = (3, "DDEB Format")
