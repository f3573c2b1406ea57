"""Users, groups, roles and API tokens of the secured service.

A user belongs to one mission (prosEO's convention; ``mission_id`` is ``None`` only for
installation-wide administrators holding ROOT). A user's roles are its own plus those of its
groups. Role names are those of :class:`proseo.enums.UserRole`; the services check them
(:mod:`proseo.security`), the REST API enforces them on every route.

Passwords are kept only as Argon2 hashes (``password_hash``); API tokens only as SHA-256
digests of a 256-bit random secret (``token_digest``): a token is looked up by its digest,
which a slow hash would not allow, and its entropy makes a fast digest safe.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from proseo.model.base import ID_TYPE, Base, fk, pk, utc_now


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


class Role(Base):
    """A named permission, e.g. ``ORDER_APPROVER`` (names from :class:`proseo.enums.UserRole`)."""

    __tablename__ = "role"

    id: Mapped[int] = pk()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)


class User(Base):
    """A user account of a mission.

    ``password_hash`` is an Argon2 hash, never the password. ``expires_at`` ends the account,
    ``password_expires_at`` the password (UTC; ``None``: never). ``failed_logins`` counts
    wrong passwords since the last good one; at the configured limit the account is locked
    until ``locked_until``.
    """

    __tablename__ = "users"

    id: Mapped[int] = pk()
    username: Mapped[str] = mapped_column(String(100), unique=True)
    mission_id: Mapped[int | None] = fk("mission.id", nullable=True, ondelete="CASCADE")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(default=True)
    expires_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]
    password_expires_at: Mapped[datetime | None]
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    roles: Mapped[list[Role]] = relationship(secondary=user_role)
    groups: Mapped[list[UserGroup]] = relationship(
        secondary=user_group_member, back_populates="members"
    )


class UserGroup(Base):
    """A group of users of one mission sharing roles (names unique per mission)."""

    __tablename__ = "user_group"
    __table_args__ = (UniqueConstraint("mission_id", "name"),)

    id: Mapped[int] = pk()
    name: Mapped[str] = mapped_column(String(100))
    mission_id: Mapped[int | None] = fk("mission.id", nullable=True, ondelete="CASCADE")
    description: Mapped[str | None] = mapped_column(Text)

    members: Mapped[list[User]] = relationship(secondary=user_group_member, back_populates="groups")
    roles: Mapped[list[Role]] = relationship(secondary=group_role)


class ApiToken(Base):
    """An API token of a user for scripts and the remote CLI.

    Only ``token_digest`` (hex SHA-256 of the secret) is stored; the secret is shown once,
    when the token is made. ``prefix`` (the secret's first characters) lets an operator
    recognise a token in a list. ``expires_at``/``revoked_at``/``last_used_at`` are UTC.
    """

    __tablename__ = "api_token"

    id: Mapped[int] = pk()
    user_id: Mapped[int] = fk("users.id", ondelete="CASCADE")
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
