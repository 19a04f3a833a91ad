"""Service configuration from the environment, an optional `.env` file and `*_FILE` secrets.

Variable names follow the original service where one exists (TRUSTED_OP_LIST,
ADMIN_ENTITLEMENTS, MAIL_*, BACKEND_ROUTE); the stores and the image check are new.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Mapping
from urllib.parse import urlsplit

from dotenv import dotenv_values

DEFAULT_TRUSTED_OPS = (
    "https://aai.egi.eu/oidc,https://aai-demo.egi.eu/auth/realms/egi,https://aai-dev.egi.eu/auth/realms/egi"
)
DOCKER_HUB = "https://registry-1.docker.io"

log = logging.getLogger(__name__)


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


def _registry_url(name: str, entry: str) -> str:
    """`host[:port]` (HTTPS) or `http(s)://host[:port]` as `scheme://host[:port]`, lowercased."""
    url = entry if "://" in entry else f"https://{entry}"
    try:
        parts = urlsplit(url)  # raises ValueError for an unclosed IPv6 bracket
        _ = parts.port  # and for a port that is no number
        host = parts.hostname or ""
        well_formed = (
            parts.scheme in ("http", "https")
            and re.fullmatch(r"[a-z0-9.-]+|[0-9a-f:.]+", host)
            and not parts.username
            and parts.path in ("", "/")
            and not parts.query
            and not parts.fragment
        )
    except ValueError:
        well_formed = False
    if not well_formed:
        raise ConfigurationError(
            f"{name}: {entry!r} is not a registry: host[:port], https://host[:port] or http://host[:port]"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


# At most this many reads waiting for a position, and as many event streams, per process: each
# is a thread of the embedded server (eosc_perf/server.py), all started with it.
MOST_HELD = 256


def _number(env: Mapping[str, str], name: str, default, *, kind=float, least=None, above=None, most=None):
    """A numeric variable (`default` when unset or empty), refused with its name when it is
    not a number of `kind` or lies outside its bounds."""
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    bounds = [
        f"at least {least}" if least is not None else "",
        f"more than {above}" if above is not None else "",
        f"at most {most}" if most is not None else "",
    ]
    if (
        value is None
        or value != value  # NaN
        or (least is not None and value < least)
        or (above is not None and value <= above)
        or (most is not None and value > most)
    ):
        wanted = "a whole number" if kind is int else "a number"
        wanted += "".join(f", {bound}" for bound in bounds if bound)
        raise ConfigurationError(f"{name} must be {wanted}, not {text!r}")
    return value


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
        "body_bytes": "MAX_BODY_BYTES",
        "json_depth": "MAX_JSON_DEPTH",
        "json_keys": "MAX_JSON_KEYS",
        "json_numbers": "MAX_JSON_NUMBERS",
        "key_length": "MAX_KEY_LENGTH",
        "name_length": "MAX_NAME_LENGTH",
        "url_length": "MAX_URL_LENGTH",
        "text_length": "MAX_TEXT_LENGTH",
        "schema_bytes": "MAX_SCHEMA_BYTES",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Limits":
        return cls(
            **{
                name: _number(env, variable, getattr(cls, name), kind=int, least=1)
                for name, variable in cls.VARIABLES.items()
            }
        )

    def of_field(self, kind: str) -> int:
        """The bound named by a request field's `limit` (http_api/fields.py)."""
        return {
            "name": self.name_length,
            "url": self.url_length,
            "text": self.text_length,
            "schema": self.schema_bytes,
        }[kind]


# Variables that may come from a file named by `<NAME>_FILE` (container secrets).
FILE_VARIABLES = (
    "TRUSTED_OP_LIST",
    "ADMIN_ENTITLEMENTS",
    "MAIL_SERVER",
    "MAIL_FROM",
    "MAIL_SUPPORT",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "EVENT_STORE_URL",
    "READ_STORE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
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
    oidc_client_ids: tuple[str, ...] = ()  # empty: token audiences are not checked
    oidc_timeout: float = 1.2  # seconds per request to a provider (discovery, JWKS, userinfo)
    oidc_keys_max_age: float = 3600.0  # seconds before discovery and JWKS are fetched anew
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
    image_registries: tuple[str, ...] = ()  # the registries images may name (scheme://host[:port])
    image_check_seconds: float = 10.0  # for the whole check of one image, every request included
    schema_pattern_work: int = 100_000_000  # RE2 work per upload (command_service/services/schema_patterns.py)
    event_store_url: str = ""
    read_store_url: str = ""
    read_wait_seconds: float = 5.0
    read_waiters: int = 2  # per process: reads waiting for X-Min-Position at once
    event_streams: int = 1  # per process: open GET /events:stream answers, each holding a thread
    event_stream_seconds: float = 30.0  # how long one stream stays open before the client reconnects
    query_timeout_seconds: float = 5.0  # one SQL statement of a read, on either service
    query_limits: QueryLimits = QueryLimits()
    query_cache_mb: float = 32.0  # per query worker; 0 turns the response cache off
    write_rate_per_minute: int = 120  # writes per user per command worker; 0 turns the limit off
    limits: Limits = Limits()
    projector_linger_ms: float = 0.0  # `eosc-perf project` from the event store: wait before a read
    metrics_port: int = 0  # GET /metrics of `eosc-perf project`/`mailer` on 127.0.0.1; 0: none
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
        mode = env.get("EOSC_PERF_ENV") or "production"
        if mode not in ("production", "development"):
            raise ConfigurationError(f"EOSC_PERF_ENV must be production or development, not {mode!r}")
        if env.get("FLASK_ENV") == "development" and not env.get("EOSC_PERF_ENV"):
            # The original's switch: it no longer trusts dev tokens or makes everyone an admin.
            log.warning("FLASK_ENV=development is ignored; development mode needs EOSC_PERF_ENV=development")
        mail_port = _number(env, "MAIL_PORT", 25, kind=int, least=1)
        read_wait = _number(env, "READ_WAIT_SECONDS", 5.0, least=0)
        query_cache_mb = _number(env, "QUERY_CACHE_MB", 32.0, least=0)
        keys_max_age = _number(env, "OIDC_KEYS_MAX_AGE", 3600.0, above=0)
        oidc_timeout = _number(env, "OIDC_TIMEOUT", 1.2, above=0, most=60)
        write_rate = _number(env, "WRITE_RATE_PER_MINUTE", 120, kind=int, least=0)
        image_check_seconds = _number(env, "IMAGE_CHECK_SECONDS", 10.0, above=0, most=300)
        schema_pattern_work = _number(env, "SCHEMA_PATTERN_WORK", 100_000_000, kind=int, least=1)
        query_timeout = _number(env, "QUERY_TIMEOUT_SECONDS", 5.0, above=0, most=3599)
        settings = cls(
            mode=mode,
            data_dir=Path(env.get("EOSC_PERF_DATA", "data")),
            trusted_op_list=_split(env.get("TRUSTED_OP_LIST", DEFAULT_TRUSTED_OPS)),
            admin_entitlements=_split(env.get("ADMIN_ENTITLEMENTS", "")),
            oidc_client_ids=_split(env.get("OIDC_CLIENT_IDS", "")),
            oidc_keys_max_age=keys_max_age,
            oidc_timeout=oidc_timeout,
            mail_server=env.get("MAIL_SERVER", ""),
            mail_port=mail_port,
            mail_from=env.get("MAIL_FROM", ""),
            mail_support=env.get("MAIL_SUPPORT", ""),
            mail_username=env.get("MAIL_USERNAME", ""),
            mail_password=env.get("MAIL_PASSWORD", ""),
            mail_use_tls=_flag("MAIL_USE_TLS", env.get("MAIL_USE_TLS", "")),
            backend_route=env.get("BACKEND_ROUTE", "/") or "/",
            image_check=_flag("IMAGE_CHECK", env["IMAGE_CHECK"]) if env.get("IMAGE_CHECK") else image_check_default,
            image_registry_url=_registry_url("IMAGE_REGISTRY_URL", env.get("IMAGE_REGISTRY_URL") or DOCKER_HUB),
            image_registries=tuple(
                _registry_url("IMAGE_REGISTRIES", entry) for entry in _split(env.get("IMAGE_REGISTRIES", ""))
            ),
            image_check_seconds=image_check_seconds,
            schema_pattern_work=schema_pattern_work,
            event_store_url=env.get("EVENT_STORE_URL", ""),
            read_store_url=env.get("READ_STORE_URL", ""),
            read_wait_seconds=read_wait,
            read_waiters=_number(env, "READ_WAITERS", cls.read_waiters, kind=int, least=1, most=MOST_HELD),
            event_streams=_number(env, "EVENT_STREAMS", cls.event_streams, kind=int, least=0, most=MOST_HELD),
            event_stream_seconds=_number(env, "EVENT_STREAM_SECONDS", cls.event_stream_seconds, above=0, most=300),
            query_timeout_seconds=query_timeout,
            query_limits=QueryLimits(
                filters=_number(env, "QUERY_MAX_FILTERS", QueryLimits.filters, kind=int, least=1),
                sort_keys=_number(env, "QUERY_MAX_SORT_KEYS", QueryLimits.sort_keys, kind=int, least=1),
                terms=_number(env, "QUERY_MAX_TERMS", QueryLimits.terms, kind=int, least=1),
                term_length=_number(env, "QUERY_MAX_TERM_LENGTH", QueryLimits.term_length, kind=int, least=1),
            ),
            query_cache_mb=query_cache_mb,
            write_rate_per_minute=write_rate,
            limits=Limits.from_env(env),
            projector_linger_ms=_number(env, "PROJECTOR_LINGER_MS", cls.projector_linger_ms, least=0, most=1000),
            metrics_port=_number(env, "METRICS_PORT", 0, kind=int, least=0, most=65535),
            extra=env,
        )
        return replace(settings, **overrides) if overrides else settings

    def check(self, *, stores_required: bool = False) -> None:
        """Refuse settings that would run an unsafe service; `stores_required` for the
        production processes, which never fall back to SQLite files."""
        missing = [
            name
            for name, value in (("EVENT_STORE_URL", self.event_store_url), ("READ_STORE_URL", self.read_store_url))
            if not value
        ]
        if stores_required and missing:
            raise ConfigurationError(f"{' and '.join(missing)} must be set (postgresql://USER:PASSWORD@HOST:PORT/DB)")
        if not self.development and not self.admin_entitlements:
            raise ConfigurationError(
                "ADMIN_ENTITLEMENTS is empty: in production every registered user would be an admin. "
                "Set ADMIN_ENTITLEMENTS, or run in development mode (EOSC_PERF_ENV=development)."
            )
