"""Who is acting, with which roles, in which mission: the checks every service and route use."""

from __future__ import annotations

from dataclasses import dataclass

from proseo.enums import UserRole, Visibility
from proseo.errors import PermissionDeniedError

IMPLIED: dict[UserRole, frozenset[UserRole]] = {
    UserRole.PRODUCT_READER_RESTRICTED: frozenset({UserRole.PRODUCT_READER}),
    UserRole.PRODUCT_READER_ALL: frozenset(
        {UserRole.PRODUCT_READER, UserRole.PRODUCT_READER_RESTRICTED}
    ),
}
"""Roles a role brings with it: the wider product readers read what the narrower read."""


@dataclass(frozen=True)
class Principal:
    """An authenticated user: ``username``, ``mission`` (code; ``None`` for an
    installation-wide ROOT), and ``roles`` (its own plus its groups')."""

    username: str
    mission: str | None
    roles: frozenset[UserRole]

    @property
    def is_root(self) -> bool:
        """Whether the user holds ROOT (every role in every mission)."""
        return UserRole.ROOT in self.roles

    def may(self, role: UserRole, mission: str | None = None) -> bool:
        """Whether the user holds ``role`` in ``mission`` (``None``: its own mission)."""
        if self.is_root:
            return True
        if mission is not None and mission != self.mission:
            return False
        return role in self.roles or any(role in IMPLIED.get(r, ()) for r in self.roles)

    def require(self, role: UserRole, mission: str | None = None) -> None:
        """Refuse unless :meth:`may`.

        :raises PermissionDeniedError: naming the role, the mission and the user.
        """
        if self.may(role, mission):
            return
        where = mission or self.mission or "any mission"
        if mission is not None and mission != self.mission:
            reason = f"user {self.username!r} belongs to mission {self.mission or '(none)'}"
        else:
            reason = f"user {self.username!r} lacks role {role.value}"
        raise PermissionDeniedError(
            f"{role.value} in mission {where} is needed: {reason}",
            role=role.value,
            mission=where,
            user=self.username,
        )

    def visible(self, mission: str | None = None) -> frozenset[Visibility]:
        """The product class visibilities whose products the user may read (PUBLIC with
        PRODUCT_READER, RESTRICTED too with PRODUCT_READER_RESTRICTED, all with
        PRODUCT_READER_ALL; prosEO's rule)."""
        if self.may(UserRole.PRODUCT_READER_ALL, mission):
            return frozenset(Visibility)
        if self.may(UserRole.PRODUCT_READER_RESTRICTED, mission):
            return frozenset({Visibility.PUBLIC, Visibility.RESTRICTED})
        if self.may(UserRole.PRODUCT_READER, mission):
            return frozenset({Visibility.PUBLIC})
        return frozenset()


LOCAL_PREFIX = "local:"
"""How the actor of a CLI in local mode is recorded: ``local:<operating-system user>``."""


def local_operator() -> Principal:
    """The principal of a CLI in local mode: whoever can open the database directly acts as
    ROOT (the database's own access control is the gate), recorded as ``local:<os user>``."""
    import getpass

    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return Principal(LOCAL_PREFIX + name, None, frozenset({UserRole.ROOT}))


def is_local(actor: str) -> bool:
    """Whether ``actor`` is a CLI in local mode (see :func:`local_operator`)."""
    return actor.startswith(LOCAL_PREFIX)


TRIGGER_PREFIX = "trigger:"
"""How a production trigger is recorded as the creator and approver of its orders."""


CAMPAIGN_PREFIX = "campaign:"
"""How a reprocessing campaign is recorded as the creator and approver of its orders."""


def is_system(actor: str) -> bool:
    """Whether ``actor`` is no person but the installation itself: a CLI in local mode or a
    production trigger (usernames cannot hold ``:``, so no user can pose as one). Separation
    of duties does not apply to it: a trigger's (a campaign's) orders are approved when the
    trigger is made (the campaign started), by whoever may do that."""
    return is_local(actor) or actor.startswith((TRIGGER_PREFIX, CAMPAIGN_PREFIX))
