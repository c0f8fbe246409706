"""People: uploaders, archive owners, builder owners, and the keys they sign
and log in with."""

from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from buildmaster.model.base import Base


class Person(Base):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    displayname: Mapped[str] = mapped_column(sa.String(255))
    preferred_email: Mapped[Optional[str]] = mapped_column(sa.String(255))

    openpgp_keys: Mapped[list["OpenPGPKey"]] = relationship(
        back_populates="owner", order_by="OpenPGPKey.id", cascade="all, delete-orphan")
    ssh_keys: Mapped[list["SSHKey"]] = relationship(
        back_populates="owner", order_by="SSHKey.id", cascade="all, delete-orphan")


class OpenPGPKey(Base):
    """A public key whose signatures are this person's (uploads)."""

    __tablename__ = "openpgpkey"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("person.id"))
    fingerprint: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The file the farm file named it by, relative to the farm file.
    filename: Mapped[str] = mapped_column(sa.String(255))
    armored: Mapped[str] = mapped_column(sa.Text)

    owner: Mapped[Person] = relationship(back_populates="openpgp_keys")


class SSHKey(Base):
    """A public key this person logs in to the upload server with."""

    __tablename__ = "sshkey"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("person.id"))
    # The whole authorized_keys line: type, base64 blob, comment.
    line: Mapped[str] = mapped_column(sa.Text)

    owner: Mapped[Person] = relationship(back_populates="ssh_keys")
