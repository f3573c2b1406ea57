"""Users, groups and roles (authorisation is enforced by the API layer)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from proseo.model.base import ID_TYPE, Base, pk, utc_now


def _link(name: str, left: str, right: str) -> Table:
    return Table(
        name,
        Base.metadata,
        Column(
            f"{left}_id", ID_TYPE, ForeignKey(f"{left}.id", ondelete="CASCADE"), primary_key=True
        ),
        Column(
            f"{right}_id", ID_TYPE, ForeignKey(f"{right}.id", ondelete="CASCADE"), primary_key=True
        ),
    )


user_group_member = _link("group_member", "users", "user_group")
user_role = _link("user_role", "users", "role")
group_role = _link("group_role", "user_group", "role")
user_mission = _link("user_mission", "users", "mission")


class Role(Base):
    """A named permission set, e.g. ``ORDER_APPROVER``, ``PRODUCT_INGESTOR``."""

    __tablename__ = "role"

    id: Mapped[int] = pk()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)


class User(Base):
    """A user account; ``password_hash`` is a salted hash, never the password."""

    __tablename__ = "users"

    id: Mapped[int] = pk()
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(default=True)
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    roles: Mapped[list[Role]] = relationship(secondary=user_role)
    groups: Mapped[list[UserGroup]] = relationship(
        secondary=user_group_member, back_populates="members"
    )


class UserGroup(Base):
    """A group of users sharing roles."""

    __tablename__ = "user_group"

    id: Mapped[int] = pk()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)

    members: Mapped[list[User]] = relationship(secondary=user_group_member, back_populates="groups")
    roles: Mapped[list[Role]] = relationship(secondary=group_role)
