"""ArchiveUsage: how many builder-seconds an archive's builds used lately.

One row per archive that has ever had a build end on a builder, holding
its usage decayed to ``stamp``: ``seconds`` builder-seconds as they
stood at ``stamp``.  The value at a later time t is
``seconds * 2 ** -((t - stamp) / half_life)`` (buildmaster.queue.fairshare);
a row is only rewritten when a build of the archive ends, in the
transaction that ends it.  An owner's usage is the sum over their
archives (read with the archives' owners, fairshare.load); ``owner_id``
notes whose archive it was when last charged.
"""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from buildmaster.model.base import Base


class ArchiveUsage(Base):
    __tablename__ = "archive_usage"

    archive_id: Mapped[int] = mapped_column(sa.ForeignKey("archive.id"), primary_key=True)
    owner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("person.id"))
    seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)
    stamp: Mapped[datetime.datetime]
