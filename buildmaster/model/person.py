"""People: uploaders, archive owners, builder owners."""

from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from buildmaster.model.base import Base


class Person(Base):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    displayname: Mapped[str] = mapped_column(sa.String(255))
    preferred_email: Mapped[Optional[str]] = mapped_column(sa.String(255))
