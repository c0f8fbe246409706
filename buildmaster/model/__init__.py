"""The data model: one module per aggregate, all re-exported here."""

from buildmaster.model.apitoken import ApiToken
from buildmaster.model.archive import Archive, ArchiveDependency, ArchiveUploader
from buildmaster.model.base import UTC, Base, utcnow
from buildmaster.model.bug import Bug, BugSet
from buildmaster.model.bugtracker import (
    BugStatus, BugTracker, BugTrackerSet, BugTrackerType, BugWatch, BugWatchErrorType)
from buildmaster.model.build import Build
from buildmaster.model.builder import Builder
from buildmaster.model.buildevent import BuildEvent
from buildmaster.model.buildqueue import BuildQueue
from buildmaster.model.distribution import (
    Component, Distribution, DistroArchSeries, DistroSeries, Processor)
from buildmaster.model.health import BuilderHealth, BuildOutcome, StatusReport
from buildmaster.model.enums import (
    ArchivePurpose, BinaryPackageFileType, BuildStatus, DistroSeriesStatus,
    PackagePublishingPocket, PackagePublishingStatus, SourcePackageFileType,
    SourcePackageUrgency)
from buildmaster.model.librarian import LibraryFileAlias, LibraryFileContent
from buildmaster.model.package import (
    BinaryPackageFile, BinaryPackageName, BinaryPackageRelease, SourcePackageName,
    SourcePackageRelease, SourcePackageReleaseFile)
from buildmaster.model.operatoraction import OperatorAction
from buildmaster.model.person import OpenPGPKey, Person, SSHKey
from buildmaster.model.upload import Upload
from buildmaster.model.usage import ArchiveUsage
from buildmaster.model.publishing import (
    BinaryPackagePublishingHistory, SourcePackagePublishingHistory)

__all__ = [
    "ApiToken", "Archive", "ArchiveUsage", "ArchiveDependency", "ArchiveUploader", "ArchivePurpose", "Base", "BinaryPackageFile",
    "BinaryPackageFileType", "BinaryPackageName", "BinaryPackagePublishingHistory",
    "BinaryPackageRelease", "Bug", "BugSet", "BugStatus", "BugTracker",
    "BugTrackerSet", "BugTrackerType", "BugWatch", "BugWatchErrorType", "Build", "BuildEvent", "BuildOutcome", "BuildQueue", "BuildStatus", "Builder", "BuilderHealth",
    "Component", "Distribution", "DistroArchSeries", "DistroSeries",
    "DistroSeriesStatus", "LibraryFileAlias", "LibraryFileContent", "OpenPGPKey",
    "OperatorAction", "SSHKey",
    "PackagePublishingPocket", "PackagePublishingStatus", "Person", "Processor",
    "SourcePackageFileType", "SourcePackageName", "SourcePackagePublishingHistory",
    "SourcePackageRelease", "SourcePackageReleaseFile", "SourcePackageUrgency",
    "StatusReport", "Upload",
    "UTC", "utcnow",
]
