"""The librarian's rows: stored file contents and the aliases naming them."""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from buildmaster.model.base import Base, utcnow


class LibraryFileContent(Base):
    """One stored blob, identified by its checksums; shared by aliases."""

    __tablename__ = "libraryfilecontent"
    __table_args__ = (
        sa.UniqueConstraint("sha1", "filesize", name="libraryfilecontent__sha1_size__key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    datecreated: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    filesize: Mapped[int] = mapped_column(sa.BigInteger)
    sha1: Mapped[str] = mapped_column(sa.String(40))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    md5: Mapped[str] = mapped_column(sa.String(32))

    @property
    def size(self):
        return self.filesize


class LibraryFileAlias(Base):
    """A named, typed handle on a LibraryFileContent; what URLs point at."""

    __tablename__ = "libraryfilealias"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_id: Mapped[int] = mapped_column(
        sa.ForeignKey("libraryfilecontent.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    mimetype: Mapped[str] = mapped_column(sa.String(255))
    restricted: Mapped[bool] = mapped_column(default=False)
    date_created: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    expires: Mapped[Optional[datetime.datetime]]

    content: Mapped[LibraryFileContent] = relationship()

    def __repr__(self):
        return f"<LibraryFileAlias {self.id} {self.filename}>"
