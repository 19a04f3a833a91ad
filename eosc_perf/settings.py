"""Service configuration from the environment, an optional `.env` file and `*_FILE` secrets.

Variable names follow the original service where one exists (TRUSTED_OP_LIST,
ADMIN_ENTITLEMENTS, MAIL_*, BACKEND_ROUTE); the stores and the image check are new.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from dotenv import dotenv_values

DEFAULT_TRUSTED_OPS = (
    "https://aai.egi.eu/oidc,"
    "https://aai-demo.egi.eu/auth/realms/egi,"
    "https://aai-dev.egi.eu/auth/realms/egi"
)
DOCKER_HUB = "https://registry-1.docker.io"


class ConfigurationError(Exception):
    """The settings cannot run a service; the message says which setting and why."""


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "on", "yes", "true", "y"):
        return True
    if lowered in ("0", "off", "no", "false", "n", ""):
        return False
    raise ConfigurationError(f"{name} must be on or off, not {value!r}")


@dataclass(frozen=True)
class QueryLimits:
    """What one read may ask for (docs/security.md, "Bounded server time"): each filter, sort key
    and search term adds SQL the database plans and runs per row, so their number and length are
    bounded far above what a person or a client composes, and below what stalls a worker."""

    filters: int = 10  # JSON filters, and tags to carry (`tags_ids`), each per request
    sort_keys: int = 8
    terms: int = 10
    term_length: int = 256  # characters of one search term, one filter, one sort key


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {text!r}") from None
    if value < 1:
        raise ConfigurationError(f"{name} must be 1 or more, not {value}")
    return value


# Variables that may come from a file named by `<NAME>_FILE` (container secrets).
FILE_VARIABLES = (
    "TRUSTED_OP_LIST", "ADMIN_ENTITLEMENTS", "MAIL_SERVER", "MAIL_FROM", "MAIL_SUPPORT", "MAIL_USERNAME",
    "MAIL_PASSWORD", "EVENT_STORE_URL", "READ_STORE_URL", "KAFKA_BOOTSTRAP_SERVERS",
)


def load_environment(environ: Mapping[str, str] | None = None, dotenv: str | Path = ".env") -> dict[str, str]:
    """Merge `.env` (lowest), the process environment and `*_FILE` secrets (highest)."""
    merged: dict[str, str] = {}
    if dotenv and Path(dotenv).is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    for name in FILE_VARIABLES:
        key, path = f"{name}_FILE", merged.get(f"{name}_FILE")
        if path:
            try:
                merged[name] = Path(path).read_text().strip()
            except OSError as error:
                raise ConfigurationError(f"{key}: cannot read {path}: {error.strerror}") from error
    return merged


@dataclass(frozen=True)
class Settings:
    mode: str = "production"
    data_dir: Path = Path("data")
    trusted_op_list: tuple[str, ...] = _split(DEFAULT_TRUSTED_OPS)
    admin_entitlements: tuple[str, ...] = ()
    oidc_timeout: float = 1.2
    mail_server: str = ""
    mail_port: int = 25
    mail_from: str = ""
    mail_support: str = ""
    mail_username: str = ""  # SMTP login, when the server asks for one
    mail_password: str = field(default="", repr=False)
    mail_use_tls: bool = False  # STARTTLS before login
    backend_route: str = "/"
    image_check: bool = True
    image_registry_url: str = DOCKER_HUB
    event_store_url: str = ""
    read_store_url: str = ""
    read_wait_seconds: float = 5.0
    read_waiters: int = 2  # per process: reads waiting for X-Min-Position at once
    query_timeout_seconds: float = 5.0  # one SQL statement of a read, on either service
    query_limits: QueryLimits = QueryLimits()
    query_cache_mb: float = 32.0  # per query worker; 0 turns the response cache off
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def development(self) -> bool:
        return self.mode == "development"

    @property
    def event_store(self) -> str:
        """SQLite file by default; a postgresql:// URL in production."""
        return self.event_store_url or f"sqlite:///{self.data_dir / 'events.sqlite'}"

    @property
    def read_store(self) -> str:
        return self.read_store_url or f"sqlite:///{self.data_dir / 'read.sqlite'}"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, image_check_default: bool = False, **overrides
    ) -> "Settings":
        """`image_check_default`: off for the embedded default, on for production services."""
        env = load_environment(environ)
        mode = env.get("EOSC_PERF_ENV") or env.get("FLASK_ENV") or "production"
        if mode not in ("production", "development"):
            raise ConfigurationError(f"EOSC_PERF_ENV must be production or development, not {mode!r}")
        try:
            mail_port = int(env.get("MAIL_PORT", "25") or 25)
            read_wait = float(env.get("READ_WAIT_SECONDS", "5") or 5)
            query_cache_mb = float(env.get("QUERY_CACHE_MB", "32") or 0)
            query_timeout = float(env.get("QUERY_TIMEOUT_SECONDS", "5") or 5)
        except ValueError as error:
            raise ConfigurationError(
                f"MAIL_PORT, READ_WAIT_SECONDS, QUERY_CACHE_MB and QUERY_TIMEOUT_SECONDS must be numbers: {error}"
            ) from error
        if query_cache_mb < 0:
            raise ConfigurationError(f"QUERY_CACHE_MB must be 0 (off) or more, not {query_cache_mb:g}")
        if not 0 < query_timeout < 3600:  # also refuses nan; PostgreSQL takes whole milliseconds
            raise ConfigurationError(f"QUERY_TIMEOUT_SECONDS must be above 0 and below 3600, not {query_timeout:g}")
        settings = cls(
            mode=mode,
            data_dir=Path(env.get("EOSC_PERF_DATA", "data")),
            trusted_op_list=_split(env.get("TRUSTED_OP_LIST", DEFAULT_TRUSTED_OPS)),
            admin_entitlements=_split(env.get("ADMIN_ENTITLEMENTS", "")),
            mail_server=env.get("MAIL_SERVER", ""),
            mail_port=mail_port,
            mail_from=env.get("MAIL_FROM", ""),
            mail_support=env.get("MAIL_SUPPORT", ""),
            mail_username=env.get("MAIL_USERNAME", ""),
            mail_password=env.get("MAIL_PASSWORD", ""),
            mail_use_tls=_flag("MAIL_USE_TLS", env.get("MAIL_USE_TLS", "")),
            backend_route=env.get("BACKEND_ROUTE", "/") or "/",
            image_check=_flag("IMAGE_CHECK", env["IMAGE_CHECK"]) if env.get("IMAGE_CHECK") else image_check_default,
            image_registry_url=(env.get("IMAGE_REGISTRY_URL") or DOCKER_HUB).rstrip("/"),
            event_store_url=env.get("EVENT_STORE_URL", ""),
            read_store_url=env.get("READ_STORE_URL", ""),
            read_wait_seconds=read_wait,
            read_waiters=_positive(env, "READ_WAITERS", cls.read_waiters),
            query_timeout_seconds=query_timeout,
            query_limits=QueryLimits(
                filters=_positive(env, "QUERY_MAX_FILTERS", QueryLimits.filters),
                sort_keys=_positive(env, "QUERY_MAX_SORT_KEYS", QueryLimits.sort_keys),
                terms=_positive(env, "QUERY_MAX_TERMS", QueryLimits.terms),
                term_length=_positive(env, "QUERY_MAX_TERM_LENGTH", QueryLimits.term_length),
            ),
            query_cache_mb=query_cache_mb,
            extra=env,
        )
        return replace(settings, **overrides) if overrides else settings

    def check(self, *, stores_required: bool = False) -> None:
        """Refuse settings that would run an unsafe service; `stores_required` for the
        production processes, which never fall back to SQLite files."""
        missing = [name for name, value in (("EVENT_STORE_URL", self.event_store_url),
                                            ("READ_STORE_URL", self.read_store_url)) if not value]
        if stores_required and missing:
            raise ConfigurationError(f"{' and '.join(missing)} must be set (postgresql://USER:PASSWORD@HOST:PORT/DB)")
        if not self.development and not self.admin_entitlements:
            raise ConfigurationError(
                "ADMIN_ENTITLEMENTS is empty: in production every registered user would be an admin. "
                "Set ADMIN_ENTITLEMENTS, or run in development mode (EOSC_PERF_ENV=development)."
            )
