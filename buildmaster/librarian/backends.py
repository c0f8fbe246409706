"""The librarian store ``[librarian] backend`` names: disk or swift."""

from buildmaster.librarian.storage import LibrarianStorage


def make_storage(settings):
    """The store for ``settings`` (a configuration's [librarian] section):
    LibrarianStorage under ``storage`` for disk, SwiftStorage for swift
    (reading from the disk store what Swift lacks, with disk_fallback)."""
    if settings.backend == "swift":
        from buildmaster.librarian.swift import SwiftStorage
        fallback = LibrarianStorage(settings.storage) if settings.disk_fallback else None
        return SwiftStorage(settings, fallback)
    return LibrarianStorage(settings.storage)
