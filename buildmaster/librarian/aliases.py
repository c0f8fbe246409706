"""What the librarian's front ends need to know about one alias.

Read in one indexed query and handed over as a plain frozen value, so it
can be fetched in a worker thread and used on the reactor thread without
sharing an ORM session between them.
"""

import dataclasses
import datetime
from typing import Optional

import sqlalchemy as sa

from buildmaster.model import LibraryFileAlias, LibraryFileContent


@dataclasses.dataclass(frozen=True)
class StoredFile:
    id: int
    filename: str
    mimetype: str
    restricted: bool
    expires: Optional[datetime.datetime]
    sha1: str
    size: int
    sha256: str

    def expired(self, now):
        """True once ``now`` (an aware datetime) is past the expiry date."""
        return self.expires is not None and self.expires <= now


def find_stored_file(sessions, alias_id):
    """The StoredFile for ``alias_id``, or None; opens and closes its own
    short session from the ``sessions`` factory."""
    query = (
        sa.select(LibraryFileAlias.id, LibraryFileAlias.filename, LibraryFileAlias.mimetype,
                  LibraryFileAlias.restricted, LibraryFileAlias.expires,
                  LibraryFileContent.sha1, LibraryFileContent.filesize,
                  LibraryFileContent.sha256)
        .join(LibraryFileContent, LibraryFileAlias.content_id == LibraryFileContent.id)
        .where(LibraryFileAlias.id == alias_id))
    with sessions() as session:
        row = session.execute(query).first()
    return None if row is None else StoredFile(*row)
