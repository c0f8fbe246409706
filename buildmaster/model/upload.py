"""Source uploads: what came in, from whom, for which archive, and what
became of it (the upload queue's record, buildmaster/uploads/intake.py)."""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from buildmaster.model.archive import Archive
from buildmaster.model.base import Base, utcnow
from buildmaster.model.person import Person

ACCEPTED, REJECTED, FAILED = "ACCEPTED", "REJECTED", "FAILED"


class Upload(Base):
    __tablename__ = "upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The queue directory's name; None for an operator's 'buildmaster upload'.
    queue_id: Mapped[Optional[str]] = mapped_column(sa.String(64), unique=True)
    date_received: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    target: Mapped[str] = mapped_column(sa.String(255))
    changes_name: Mapped[Optional[str]] = mapped_column(sa.String(255))
    signer_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    fingerprint: Mapped[Optional[str]] = mapped_column(sa.String(64))
    source: Mapped[Optional[str]] = mapped_column(sa.String(255))
    version: Mapped[Optional[str]] = mapped_column(sa.String(255))
    archive_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("archive.id"))
    state: Mapped[str] = mapped_column(sa.String(16))
    reasons: Mapped[list] = mapped_column(sa.JSON, default=list)
    builds: Mapped[list] = mapped_column(sa.JSON, default=list)

    signer: Mapped[Optional[Person]] = relationship()
    archive: Mapped[Optional[Archive]] = relationship()
