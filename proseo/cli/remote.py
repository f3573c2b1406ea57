"""Remote mode of the CLI: a login profile (server URL and API token) and a REST client.

``proseo login --url URL`` asks the server for an API token with the user's password and
keeps the token, never the password, in ``<config dir>/remote.json`` (mode 0600, folder
0700). The config dir is ``$PROSEO_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/proseo``, else
``~/.config/proseo``. While a profile exists, the commands that have a REST route (mission,
order, jobstep, product, ingest, facility list) go to that server; ``--local``,
``--database-url``, ``--data-dir`` or ``PROSEO_LOCAL=1`` keep a command local.

Errors of the server come back as the same error classes (by the ``category`` of the error
document), so exit codes are those of local mode.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from proseo import errors
from proseo.errors import AuthenticationError, ConfigurationError, ProseoError

PROFILE_FILE = "remote.json"
API_PREFIX = "/api/v1"


def config_dir() -> Path:
    """Folder of the CLI's per-user configuration."""
    if os.environ.get("PROSEO_CONFIG_DIR"):
        return Path(os.environ["PROSEO_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "proseo"


@dataclass(frozen=True)
class RemoteProfile:
    """A login: server ``url`` (without the API prefix), ``user``, API ``token`` and its
    ``token_id`` (for logout), ``expires_at`` (ISO 8601 UTC)."""

    url: str
    user: str
    token: str
    token_id: int
    expires_at: str | None = None


def load_profile() -> RemoteProfile | None:
    """The saved login, or ``None``.

    :raises ConfigurationError: when the profile file is unreadable or malformed.
    """
    path = config_dir() / PROFILE_FILE
    if not path.exists():
        return None
    try:
        return RemoteProfile(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise ConfigurationError(
            f"the login profile {path} cannot be read ({error}); run 'proseo logout'"
        ) from error


def save_profile(profile: RemoteProfile) -> Path:
    """Write the login profile (folder 0700, file 0600); returns its path."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / PROFILE_FILE
    partial = folder / (PROFILE_FILE + ".part")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(asdict(profile), out)
    partial.replace(path)
    return path


def forget_profile() -> bool:
    """Delete the login profile; whether there was one."""
    path = config_dir() / PROFILE_FILE
    if path.exists():
        path.unlink()
        return True
    return False


def _error_class(category: str | None, status: int) -> type[ProseoError]:
    found = getattr(errors, category or "", None)
    if isinstance(found, type) and issubclass(found, ProseoError):
        return found
    by_status: dict[int, type[ProseoError]] = {
        401: errors.AuthenticationError,
        403: errors.PermissionDeniedError,
        404: errors.NotFoundError,
        409: errors.ConflictError,
        413: errors.InvalidInputError,
        422: errors.InvalidInputError,
    }
    return by_status.get(status, ProseoError)


def error_from_response(status: int, body: Any) -> ProseoError:
    """The error an error document of the server stands for (FastAPI's own validation
    errors, ``{"detail": [...]}``, become :class:`InvalidInputError`)."""
    if isinstance(body, dict) and "message" in body:
        cls = _error_class(body.get("category"), status)
        error = cls.__new__(cls)
        ProseoError.__init__(error, str(body["message"]), **dict(body.get("details") or {}))
        return error
    if isinstance(body, dict) and isinstance(body.get("detail"), list) and body["detail"]:
        first = body["detail"][0]
        field = ".".join(str(p) for p in first.get("loc", [])[1:]) or "request"
        return errors.InvalidInputError(field, first.get("input"), str(first.get("msg")))
    return _error_class(None, status)(f"the server answered {status}: {body}")


class RemoteClient:
    """Calls the versioned REST API of one server with a bearer token (httpx).

    :param timeout_s: per-request timeout in seconds (planning a large order takes long).
    """

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 600.0) -> None:
        import httpx

        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.url + API_PREFIX, headers=headers, timeout=timeout_s
        )

    def request(self, method: str, path: str, **options: Any) -> Any:
        """The JSON answer of ``method path`` (``None`` for 204).

        :raises ProseoError: the server's error, rebuilt (see :func:`error_from_response`);
            :class:`ConfigurationError` when the server cannot be reached.
        """
        import httpx

        try:
            response = self._http.request(method, path, **options)
        except httpx.HTTPError as error:
            raise ConfigurationError(f"the server {self.url} cannot be reached: {error}") from error
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            raised = error_from_response(response.status_code, body)
            if isinstance(raised, AuthenticationError):
                raised.message += " (log in again: proseo login)"
            raise raised
        return body

    def get(self, path: str, **params: Any) -> Any:
        """GET with query ``params`` (``None`` values left out)."""
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, **options: Any) -> Any:
        """POST with httpx ``options`` (``json``, ``params``, ``data``, ``files``)."""
        return self.request("POST", path, **options)
