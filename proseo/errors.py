"""The one error hierarchy of proseo-py, and its two mappings.

Services raise these; the REST API maps them to HTTP status codes with :func:`http_status_for`
and the CLI maps them to process exit codes with :func:`exit_code_for`. Every message names
the input that was wrong and its value, so an operator can act on it without a stack trace.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ProseoError(Exception):
    """Base class of every error proseo-py raises on purpose.

    :param message: a complete sentence saying what was wrong and with which input.
    :param details: optional machine-readable context (field, value, ...) for API clients.
    """

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def __str__(self) -> str:
        return self.message


class NotFoundError(ProseoError):
    """An entity named by the caller does not exist (e.g. mission code, order id)."""


class ConflictError(ProseoError):
    """The request clashes with what is stored (duplicate key, concurrent change)."""


class InvalidInputError(ProseoError):
    """A field has a value that is not acceptable; the message names field and value."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"invalid {field} {value!r}: {reason}", field=field, value=repr(value))
        self.field = field
        self.value = value
        self.reason = reason


class InvalidStateTransition(ProseoError):
    """A state change that the entity's state machine does not allow.

    :param entity: a human-readable name of the entity, e.g. ``processing order 12 (ORD-1)``.
    :param from_state: the current state.
    :param to_state: the requested state.
    :param allowed: the states reachable from ``from_state``.
    """

    def __init__(
        self, entity: str, from_state: str, to_state: str, allowed: Iterable[str] = ()
    ) -> None:
        allowed_list = sorted(allowed)
        hint = (
            f"; from {from_state} it may go to {', '.join(allowed_list)}"
            if allowed_list
            else f"; {from_state} is a final state"
        )
        super().__init__(
            f"{entity}: illegal state transition {from_state} -> {to_state}{hint}",
            entity=entity,
            from_state=from_state,
            to_state=to_state,
            allowed=allowed_list,
        )
        self.entity = entity
        self.from_state = from_state
        self.to_state = to_state
        self.allowed = allowed_list


class PlanningError(ProseoError):
    """The production planner cannot build a plan (no processor, cyclic rules, ...)."""


class SelectionRuleError(InvalidInputError):
    """A selection rule text does not parse; the message quotes the rule and the column."""

    def __init__(self, rule: str, column: int, expected: str) -> None:
        pointer = " " * (column - 1) + "^"
        ProseoError.__init__(
            self,
            f"invalid selection rule at column {column}: expected {expected}\n"
            f"  {rule}\n  {pointer}",
            field="selection rule",
            value=rule,
            column=column,
        )
        self.field = "selection rule"
        self.value = rule
        self.reason = f"expected {expected} at column {column}"
        self.column = column


class UploadTooLarge(InvalidInputError):
    """An uploaded file exceeds ``security.max_upload_bytes`` (HTTP 413)."""

    def __init__(self, name: str, size: int, limit: int) -> None:
        super().__init__("files", name, f"is over the upload limit of {limit} bytes ({size}+)")


class JobOrderError(ProseoError, ValueError):
    """A Job Order File cannot be read or written; the message names the element (a
    ``ValueError`` too, as for any malformed text)."""


class StorageError(ProseoError):
    """The product storage (POSIX or S3) failed or refused an operation."""


class StorageUnavailableError(StorageError):
    """The storage could not be reached: the S3 endpoint refused or dropped the connection, or
    answered with a server error (5xx), or a network file system was gone (``EIO``,
    ``ESTALE``, ``ENOTCONN``, ``ETIMEDOUT``). Nothing is wrong with the request; the same
    operation can succeed later. The processor wrapper waits for the storage, the dispatcher
    requeues a run that failed for it without counting an attempt (HTTP 503)."""


class ExecutorError(ProseoError):
    """A processing facility's executor (local, Slurm, Kubernetes) failed."""


class ConfigurationError(ProseoError):
    """The settings or a plug-in are incomplete or inconsistent."""


class DatabaseBusyError(ProseoError):
    """The database stayed locked by another writer past the busy timeout (SQLite has one
    writer at a time); nothing of the attempt was kept and it can be tried again (HTTP 503)."""


class DatabaseUnavailableError(DatabaseBusyError):
    """The database could not be reached: the connection was refused or lost (a restart, a
    network cut, a failover). Nothing of the attempt was kept; the long-running loops (the
    dispatcher, the server's background rounds, the pickup monitors) log it and try again
    with back-off (HTTP 503)."""


class AuthenticationError(ProseoError):
    """Credentials are missing, wrong, expired, revoked or the account is locked (HTTP 401).

    The message never says which of user name and password was wrong."""


class PermissionDeniedError(ProseoError):
    """The user is known but lacks a role for this action in this mission, or the action
    breaks separation of duties (HTTP 403); the message names the role and the mission."""


# One map to HTTP status codes, most specific class first is not needed: lookup walks the MRO.
HTTP_STATUS: dict[type[ProseoError], int] = {
    ProseoError: 500,
    NotFoundError: 404,
    ConflictError: 409,
    InvalidInputError: 422,
    InvalidStateTransition: 409,
    PlanningError: 422,
    JobOrderError: 422,
    StorageError: 502,
    StorageUnavailableError: 503,
    ExecutorError: 502,
    ConfigurationError: 500,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    DatabaseBusyError: 503,
    UploadTooLarge: 413,
}

# One map to CLI exit codes (2 is left to the CLI framework for usage errors).
EXIT_CODES: dict[type[ProseoError], int] = {
    ProseoError: 1,
    InvalidInputError: 3,
    NotFoundError: 4,
    ConflictError: 5,
    InvalidStateTransition: 6,
    PlanningError: 7,
    JobOrderError: 8,
    StorageError: 9,
    ExecutorError: 10,
    ConfigurationError: 11,
    AuthenticationError: 12,
    PermissionDeniedError: 13,
    DatabaseBusyError: 14,
}


def _lookup(table: dict[type[ProseoError], int], error: ProseoError) -> int:
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return table[ProseoError]


def http_status_for(error: ProseoError) -> int:
    """The HTTP status code for ``error`` (walks its class hierarchy; 500 if unmapped)."""
    return _lookup(HTTP_STATUS, error)


def exit_code_for(error: ProseoError) -> int:
    """The CLI exit code for ``error`` (walks its class hierarchy; 1 if unmapped)."""
    return _lookup(EXIT_CODES, error)


def error_category(error: ProseoError) -> str:
    """The name of the nearest class of this module in ``error``'s hierarchy (what a remote
    client rebuilds, so that its exit codes equal the local ones)."""
    for cls in type(error).__mro__:
        if cls.__module__ == __name__:
            return cls.__name__
    return ProseoError.__name__
