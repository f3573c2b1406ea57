"""REST routes of the caller's own API tokens (what ``proseo login`` and ``logout`` use)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from proseo.api.auth import Requires
from proseo.api.deps import DbSession, ObjectId
from proseo.enums import UserRole
from proseo.security.accounts import create_token, get_user, revoke_token
from proseo.security.principal import Principal
from proseo.validation import JsonInt

router = APIRouter(tags=["accounts"])

CliUser = Annotated[Principal, Depends(Requires(UserRole.CLI_USER))]


class TokenRequest(BaseModel):
    """A new API token of the caller: what it is for and how long it lives (days; default
    from the server's ``security.token_lifetime_days``)."""

    name: str = Field(default="cli", min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    days: JsonInt | None = Field(
        default=None, ge=1, le=3650, json_schema_extra={"minimum": 1, "maximum": 3650}
    )


class TokenIssued(BaseModel):
    """A new token: its secret is in this answer only."""

    id: int
    token: str
    expires_at: datetime | None
    user: str
    mission: str | None
    roles: list[str]


@router.post("/tokens", status_code=201)
def post_token(body: TokenRequest, request: Request, db: DbSession, user: CliUser) -> TokenIssued:
    """Make an API token of the caller (for the remote CLI and scripts; needs CLI_USER)."""
    days = body.days or request.app.state.settings.security.token_lifetime_days
    token, secret = create_token(db, get_user(db, user.username), body.name, days)
    return TokenIssued(
        id=token.id,
        token=secret,
        expires_at=token.expires_at,
        user=user.username,
        mission=user.mission,
        roles=sorted(user.roles),
    )


@router.delete("/tokens/{token_id}", status_code=204)
def delete_token(token_id: ObjectId, db: DbSession, user: CliUser) -> None:
    """Revoke a token: the caller's own, or another user's with USERMGR in its mission."""
    revoke_token(db, token_id, user)
