"""ApiToken: a bearer token for the web API's write actions.

Only the token's SHA-256 is stored: the token itself is printed once,
by ``buildmaster token create NAME``, and never written anywhere.
``rights`` is a comma-separated subset of RIGHTS: ``write`` lets it
POST actions (retry, rescore, cancel, enable and disable builders);
``private`` lets it see private archives' builds, logs and names.
``date_expires``, when set (``token create --expires``), is the moment
from which the web refuses the token as it refuses an unknown one.
"""

import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from buildmaster.model.base import Base, utcnow

WRITE, PRIVATE = "write", "private"
RIGHTS = (WRITE, PRIVATE)


class ApiToken(Base):
    __tablename__ = "apitoken"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    token_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    rights: Mapped[str] = mapped_column(sa.String(64))
    date_created: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    date_last_used: Mapped[Optional[datetime.datetime]]
    revoked: Mapped[bool] = mapped_column(default=False)
    date_expires: Mapped[Optional[datetime.datetime]]

    def expired(self, now):
        """Whether the token has expired at ``now`` (never without an expiry)."""
        return self.date_expires is not None and now >= self.date_expires

    @property
    def right_set(self):
        return frozenset(right for right in self.rights.split(",") if right)

    def can(self, right):
        return not self.revoked and right in self.right_set
