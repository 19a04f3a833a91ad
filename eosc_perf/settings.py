"""Service configuration from the environment, an optional `.env` file and `*_FILE` secrets.

Variable names follow the original service where one exists (TRUSTED_OP_LIST,
ADMIN_ENTITLEMENTS, MAIL_*, BACKEND_ROUTE); the stores and the image check are new.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Mapping

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
class Limits:
    """What one request may store (docs/security.md, "Input limits"): far above any real
    benchmark result (typically a few KB), low enough that every accepted write stays
    storable, projectable and publishable (an event stays far below Kafka's 16 MiB)."""

    body_bytes: int = 4 * 2**20  # a request body, as sent
    json_depth: int = 32  # nested objects and arrays in a body (a schema: half as many schema levels)
    json_keys: int = 100_000  # object members in a body, all levels together
    json_numbers: int = 100_000  # numbers in a body, all levels together
    key_length: int = 256  # characters of one object key
    name_length: int = 256  # characters of a name: tag, site, flavor, docker image and tag
    url_length: int = 2048  # characters of a url
    text_length: int = 10_000  # characters of a free text: description, address, claim message
    schema_bytes: int = 128 * 2**10  # a benchmark's JSON Schema, as stored (compact UTF-8)

    VARIABLES: ClassVar[dict[str, str]] = {
        "body_bytes": "MAX_BODY_BYTES", "json_depth": "MAX_JSON_DEPTH", "json_keys": "MAX_JSON_KEYS",
        "json_numbers": "MAX_JSON_NUMBERS", "key_length": "MAX_KEY_LENGTH", "name_length": "MAX_NAME_LENGTH",
        "url_length": "MAX_URL_LENGTH", "text_length": "MAX_TEXT_LENGTH", "schema_bytes": "MAX_SCHEMA_BYTES",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Limits":
        values = {}
        for name, variable in cls.VARIABLES.items():
            text = env.get(variable, "").strip()
            if not text:
                continue
            try:
                values[name] = int(text)
            except ValueError:
                raise ConfigurationError(f"{variable} must be a whole number, not {text!r}") from None
            if values[name] < 1:
                raise ConfigurationError(f"{variable} must be 1 or more, not {values[name]}")
        return cls(**values)

    def of_field(self, kind: str) -> int:
        """The bound named by a request field's `limit` (eosc_perf/api/fields.py)."""
        return {"name": self.name_length, "url": self.url_length, "text": self.text_length,
                "schema": self.schema_bytes}[kind]


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
    query_cache_mb: float = 32.0  # per query worker; 0 turns the response cache off
    limits: Limits = Limits()
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
        except ValueError as error:
            raise ConfigurationError(
                f"MAIL_PORT, READ_WAIT_SECONDS and QUERY_CACHE_MB must be numbers: {error}") from error
        if query_cache_mb < 0:
            raise ConfigurationError(f"QUERY_CACHE_MB must be 0 (off) or more, not {query_cache_mb:g}")
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
            query_cache_mb=query_cache_mb,
            limits=Limits.from_env(env),
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
