"""The librarian store ``[librarian] backend`` names: disk or swift."""

from buildmaster.librarian.storage import LibrarianStorage


def make_storage(settings):
    """The store for ``settings`` (a configuration's [librarian] section):
    LibrarianStorage under ``storage`` for disk, SwiftStorage for swift."""
    if settings.backend == "swift":
        from buildmaster.librarian.swift import SwiftStorage
        return SwiftStorage(settings)
    return LibrarianStorage(settings.storage)
