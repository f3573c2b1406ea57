"""Settings of one proseo-py process.

Built once per process (by the CLI callback, the API factory or a test) with
:func:`load_settings` and passed down; nothing reads the environment at import time.
Environment variables use the prefix ``PROSEO_`` and ``__`` for nested sections, e.g.
``PROSEO_DATABASE_URL``, ``PROSEO_DATA_DIR``, ``PROSEO_STORAGE__KIND=s3``,
``PROSEO_EXECUTOR__MAX_PARALLEL=4``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from proseo.errors import ConfigurationError


class StorageSettings(BaseModel):
    """Where product files live for the default processing facility.

    ``posix`` stores under ``root`` (default: ``<data_dir>/storage``); ``s3`` stores in
    ``s3_bucket`` under ``s3_prefix`` at ``s3_endpoint_url`` (any S3-speaking server).
    """

    kind: Literal["posix", "s3"] = "posix"
    root: Path | None = None
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    multipart_threshold_bytes: int = Field(default=64 * 1024 * 1024, gt=0)


class ExecutorSettings(BaseModel):
    """Limits of this machine for the dispatcher. Which executor a facility uses, and how,
    is the facility's (``proseo facility set``).

    ``max_parallel`` caps the local processes this machine runs at once (the local executor
    runs at most the smaller of it and the facility's capacity); ``poll_interval_s`` is the
    default time between idle dispatcher rounds (seconds).

    Storage outages: a processor wrapper waits up to ``storage_patience_s`` seconds for an
    unreachable storage on each stage-in or stage-out operation (1, 2, 4 ... 30 s apart);
    a run that still could not reach it is requeued without counting an attempt, at most
    ``transient_requeues`` times a job step, each time held back ``requeue_backoff_s``
    seconds, doubling up to ``requeue_backoff_max_s``. A failed run's outputs are deleted
    before its failure is recorded; while the storage is unreachable the step stays RUNNING
    for up to ``cleanup_patience_s`` seconds from the run's end, then the failure is
    recorded anyway (what the run stored is left to ``proseo facility check``).
    """

    max_parallel: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), gt=0)
    poll_interval_s: float = Field(default=2.0, gt=0)
    storage_patience_s: float = Field(default=300.0, ge=0)
    transient_requeues: int = Field(default=20, ge=0)
    requeue_backoff_s: float = Field(default=30.0, ge=0)
    requeue_backoff_max_s: float = Field(default=600.0, ge=0)
    cleanup_patience_s: float = Field(default=3600.0, ge=0)


class SecuritySettings(BaseModel):
    """Accounts, tokens, uploads and the key that seals stored secrets.

    ``max_failed_logins`` wrong passwords in a row lock an account for ``lockout_s``
    seconds; ``password_lifetime_days`` (0: never) sets when a new password expires;
    ``token_lifetime_days`` is the default lifetime of API tokens; ``web_session_hours``
    how long a web GUI login lasts (its cookie holds a token of that lifetime);
    ``web_secure_cookie`` marks that cookie ``Secure`` (set it when the GUI is served over
    HTTPS, e.g. behind a TLS proxy); ``max_upload_bytes``
    caps one uploaded file; ``secret_key`` is a Fernet key (URL-safe base64 of 32 bytes)
    that seals secret facility settings in the database; without it the key is kept in
    ``secret_key_file`` (default ``<data_dir>/secret.key``, created with mode 0600).
    """

    min_password_length: int = Field(default=10, ge=1)
    max_failed_logins: int = Field(default=5, ge=1)
    lockout_s: int = Field(default=900, ge=0)
    password_lifetime_days: int = Field(default=0, ge=0)
    token_lifetime_days: int = Field(default=90, ge=1)
    web_session_hours: float = Field(default=12, gt=0, le=24 * 30)
    web_secure_cookie: bool = False
    max_upload_bytes: int = Field(default=20 * 1024**3, gt=0)
    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None


class LimitSettings(BaseModel):
    """What one request may cost; above a limit the request is refused with an error naming
    the limit and its setting.

    ``max_job_windows``: job windows (jobs) one processing order may have (a larger
    production is a campaign of several orders); ``max_orbits_per_sync``: orbits one
    ``mission sync`` may create; ``max_request_bytes``: size of a request body other than a
    file upload (uploads have ``security.max_upload_bytes``).
    """

    max_job_windows: int = Field(default=100_000, ge=1)
    max_orbits_per_sync: int = Field(default=100_000, ge=1)
    max_request_bytes: int = Field(default=256 * 1024**2, ge=1024)


class Settings(BaseSettings):
    """All settings of a proseo-py process (prefix ``PROSEO_``).

    ``database_url`` defaults to an SQLite file ``proseo.sqlite`` in ``data_dir``
    (the embedded default); any SQLAlchemy URL works, e.g.
    ``postgresql+psycopg2://user@127.0.0.1:5432/proseo``. ``root_user`` and
    ``root_password`` (``PROSEO_ROOT_USER``, ``PROSEO_ROOT_PASSWORD``) make the first ROOT
    user at ``proseo db upgrade`` when it does not exist yet.
    """

    model_config = SettingsConfigDict(
        env_prefix="PROSEO_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    data_dir: Path = Path("proseo-data")
    database_url: str | None = None
    echo_sql: bool = False
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    storage: StorageSettings = Field(default_factory=StorageSettings)
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    root_user: str | None = None
    root_password: SecretStr | None = None

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError(
                f"database_url {value!r} is not an SQLAlchemy URL (expected e.g. "
                "'sqlite:///path/proseo.sqlite' or 'postgresql+psycopg2://host/db')"
            )
        return value

    @property
    def effective_database_url(self) -> str:
        """The database URL to connect to: ``database_url`` or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'proseo.sqlite').resolve()}"

    @property
    def storage_root(self) -> Path:
        """Root folder of POSIX storage: ``storage.root`` or ``<data_dir>/storage``."""
        return self.storage.root if self.storage.root is not None else self.data_dir / "storage"

    @property
    def secret_key_path(self) -> Path:
        """File of the key sealing stored secrets: ``security.secret_key_file`` or
        ``<data_dir>/secret.key``."""
        own = self.security.secret_key_file
        return own if own is not None else self.data_dir / "secret.key"

    def ensure_data_dir(self) -> None:
        """Create ``data_dir`` if needed (only when the embedded SQLite database is used)."""
        if self.database_url is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, with explicit ``overrides`` winning.

    :raises ConfigurationError: naming the setting and value that is invalid.
    """
    from pydantic import ValidationError

    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigurationError(
            f"invalid setting {field} = {first.get('input')!r}: {first['msg']}",
            field=field,
        ) from exc
