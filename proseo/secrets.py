"""Secret values in facility settings: sealed at rest, masked in output, kept out of job step
descriptions.

A settings value is secret when its key is one of :data:`SECRET_KEYS` or ends in
``_password``, ``_secret``, ``_token`` or ``_secret_key`` (case-insensitive), at any depth
of the settings mapping. A secret value is stored in one of three forms:

- ``sealed:v1:<token>``: encrypted with Fernet (AES-128-CBC with HMAC-SHA256, from the
  ``cryptography`` package) under the installation's key (:class:`SecretBox`);
- ``env:NAME``: a reference to the environment variable ``NAME`` of the process using it;
- ``file:PATH``: a reference to a file (e.g. a Kubernetes secret mount) holding the value.

References are not secret themselves and are shown as they are; everything else is shown as
:data:`MASK`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proseo.errors import ConfigurationError, InvalidInputError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

    from proseo.config import Settings

SECRET_KEYS = frozenset(
    {
        "secret_key",
        "password",
        "token",
        "api_key",
        "access_token",
        "client_secret",
        "private_key",
        "aws_secret_access_key",
    }
)
"""Settings keys whose values are secret (plus keys ending in one of :data:`_SUFFIXES`)."""

_SUFFIXES = ("_password", "_secret", "_token", "_secret_key")
MASK = "********"
"""What output shows instead of a secret value."""
SEALED = "sealed:v1:"
_REFERENCES = ("env:", "file:")


def is_secret(key: str) -> bool:
    """Whether a settings key names a secret value."""
    name = key.lower()
    return name in SECRET_KEYS or name.endswith(_SUFFIXES)


def _is_reference(value: str) -> bool:
    return value.startswith(_REFERENCES)


class SecretBox:
    """Seals and opens secret values with one Fernet key.

    :param key: URL-safe base64 of 32 random bytes (``Fernet.generate_key()``).
    :raises ConfigurationError: when ``key`` is not such a key.
    """

    def __init__(self, key: bytes | str) -> None:
        from cryptography.fernet import Fernet

        try:
            self._fernet: Fernet = Fernet(key)
        except (ValueError, TypeError) as error:
            raise ConfigurationError(
                "security.secret_key is not a Fernet key (URL-safe base64 of 32 bytes)",
                field="security.secret_key",
            ) from error

    @classmethod
    def from_settings(cls, settings: Settings, *, create: bool = False) -> SecretBox | None:
        """The installation's box: ``security.secret_key``, else the key file
        (:attr:`Settings.secret_key_path`). With ``create`` a missing key file is made
        (mode 0600, its folder 0700 when new); without it a missing file gives ``None``.
        """
        if settings.security.secret_key is not None:
            return cls(settings.security.secret_key.get_secret_value())
        path = settings.secret_key_path
        if path.exists():
            return cls(path.read_bytes().strip())
        if not create:
            return None
        from cryptography.fernet import Fernet

        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Fernet.generate_key()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(key)
        return cls(key)

    def seal(self, value: str) -> str:
        """``value`` encrypted, as ``sealed:v1:<token>``."""
        return SEALED + self._fernet.encrypt(value.encode()).decode()

    def unseal(self, value: str) -> str:
        """The plain text of a ``sealed:v1:`` value.

        :raises ConfigurationError: when it was sealed under another key or is damaged.
        """
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(value[len(SEALED) :].encode()).decode()
        except InvalidToken as error:
            raise ConfigurationError(
                "a sealed secret cannot be opened with this installation's key "
                "(security.secret_key or the key file)"
            ) from error


def _walk(settings: Mapping[str, Any], change: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            out[key] = _walk(value, change)
        elif is_secret(str(key)) and isinstance(value, str) and value:
            replaced = change(str(key), value)
            if replaced is not None:
                out[key] = replaced
        else:
            out[key] = value
    return out


def seal_settings(settings: Mapping[str, Any], box: SecretBox) -> dict[str, Any]:
    """``settings`` with every plain secret value sealed (references and sealed values are
    kept); for storing in the database."""

    def seal(_key: str, value: str) -> str:
        return value if value.startswith(SEALED) or _is_reference(value) else box.seal(value)

    return _walk(settings, seal)


def open_settings(settings: Mapping[str, Any], box: SecretBox | None) -> dict[str, Any]:
    """``settings`` with every secret in plain text: sealed values opened, ``env:`` and
    ``file:`` references resolved (for the control plane's own use, never for output).

    :raises ConfigurationError: naming the key when a referenced variable or file is
        missing, or a sealed value is found without a key.
    """

    def resolve(key: str, value: str) -> str:
        if value.startswith(SEALED):
            if box is None:
                raise ConfigurationError(
                    f"setting {key!r} is sealed but this installation has no key "
                    "(security.secret_key or the key file)",
                    field=key,
                )
            return box.unseal(value)
        if value.startswith("env:"):
            name = value[4:]
            if name not in os.environ:
                raise ConfigurationError(
                    f"setting {key!r} refers to environment variable {name!r}, which is not set",
                    field=key,
                )
            return os.environ[name]
        if value.startswith("file:"):
            path = Path(value[5:])
            try:
                return path.read_text().strip()
            except OSError as error:
                raise ConfigurationError(
                    f"setting {key!r} refers to file {str(path)!r}, which cannot be read: "
                    f"{error.strerror}",
                    field=key,
                ) from error
        return value

    return _walk(settings, resolve)


def masked(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` for output: secret values replaced by :data:`MASK` (references shown)."""
    return _walk(settings, lambda _key, value: value if _is_reference(value) else MASK)


def without_secrets(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` with every secret key left out (for job step description files:
    execution nodes take credentials from their own environment or secret mounts)."""
    return _walk(settings, lambda _key, _value: None)


def check_not_masked(settings: Mapping[str, Any], field: str) -> None:
    """Refuse settings that carry :data:`MASK` as a secret (a masked listing fed back).

    :raises InvalidInputError: naming ``field`` and the key.
    """

    def check(key: str, value: str) -> str:
        if value == MASK:
            raise InvalidInputError(f"{field}.{key}", MASK, "a masked value, not the secret")
        return value

    _walk(settings, check)
