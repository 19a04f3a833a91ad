"""Configuration: environment, .env file, *_FILE secrets, and refusals that name the setting."""

from __future__ import annotations

import pytest

from configuration.settings import ConfigurationError, QueryLimits, Settings, load_environment


def test_the_environment_wins_over_dotenv_and_files_win_over_both(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("MAIL_FROM=dotenv@example.org\nMAIL_SUPPORT=support@example.org\n")
    secret = tmp_path / "url"
    secret.write_text("postgresql://u:p@127.0.0.1/db\n")
    merged = load_environment({"MAIL_FROM": "env@example.org", "EVENT_STORE_URL_FILE": str(secret)})
    assert merged["MAIL_FROM"] == "env@example.org"
    assert merged["MAIL_SUPPORT"] == "support@example.org"
    assert merged["EVENT_STORE_URL"] == "postgresql://u:p@127.0.0.1/db"


def test_an_unreadable_secret_file_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match="READ_STORE_URL_FILE"):
        load_environment({"READ_STORE_URL_FILE": str(tmp_path / "missing")})


def test_production_refuses_an_empty_admin_list():
    with pytest.raises(ConfigurationError, match="ADMIN_ENTITLEMENTS"):
        Settings.from_env({}).check()
    Settings.from_env({"EOSC_PERF_ENV": "development"}).check()  # the original's development default


def test_production_services_need_both_store_urls():
    settings = Settings.from_env({"ADMIN_ENTITLEMENTS": "urn:admin", "EVENT_STORE_URL": "postgresql://x/y"})
    with pytest.raises(ConfigurationError, match="READ_STORE_URL must be set"):
        settings.check(stores_required=True)


def test_lists_flags_and_defaults():
    settings = Settings.from_env({"TRUSTED_OP_LIST": "https://a, https://b,", "IMAGE_CHECK": "on"})
    assert settings.trusted_op_list == ("https://a", "https://b")
    assert settings.image_check is True
    assert Settings.from_env({}).image_check is False  # off in the embedded default
    assert Settings.from_env({}, image_check_default=True).image_check is True  # on in production
    with pytest.raises(ConfigurationError, match="IMAGE_CHECK"):
        Settings.from_env({"IMAGE_CHECK": "maybe"})
    with pytest.raises(ConfigurationError, match="EOSC_PERF_ENV"):
        Settings.from_env({"EOSC_PERF_ENV": "staging"})


def test_the_response_cache_budget_is_a_number_of_megabytes():
    assert Settings.from_env({}).query_cache_mb == 32
    assert Settings.from_env({"QUERY_CACHE_MB": "0"}).query_cache_mb == 0
    with pytest.raises(ConfigurationError, match="QUERY_CACHE_MB"):
        Settings.from_env({"QUERY_CACHE_MB": "lots"})
    with pytest.raises(ConfigurationError, match="QUERY_CACHE_MB"):
        Settings.from_env({"QUERY_CACHE_MB": "-1"})


def test_the_projectors_linger_is_a_number_of_milliseconds_up_to_one_second():
    assert Settings.from_env({}).projector_linger_ms == 0  # off: it delays every projection
    assert Settings.from_env({"PROJECTOR_LINGER_MS": "5"}).projector_linger_ms == 5
    for refused in ("soon", "-1", "1001"):
        with pytest.raises(ConfigurationError, match="PROJECTOR_LINGER_MS"):
            Settings.from_env({"PROJECTOR_LINGER_MS": refused})


def test_flask_env_alone_no_longer_switches_development_mode_on(caplog):
    """The original's switch trusted dev tokens and made every user an admin: now only
    EOSC_PERF_ENV (or `eosc-perf serve --dev`) does that; FLASK_ENV gets a warning."""
    settings = Settings.from_env({"FLASK_ENV": "development"})
    assert settings.mode == "production" and not settings.development
    assert "FLASK_ENV=development is ignored" in caplog.text
    with pytest.raises(ConfigurationError, match="ADMIN_ENTITLEMENTS"):
        settings.check()  # production refuses to run without admins, as before
    assert Settings.from_env({"FLASK_ENV": "development", "EOSC_PERF_ENV": "development"}).development
    assert Settings.from_env({"FLASK_ENV": "production", "EOSC_PERF_ENV": "development"}).development


def test_token_audience_and_key_refresh_settings():
    assert Settings.from_env({}).oidc_client_ids == ()
    assert Settings.from_env({}).oidc_keys_max_age == 3600
    settings = Settings.from_env({"OIDC_CLIENT_IDS": "eosc-perf, eosc-perf-cli", "OIDC_KEYS_MAX_AGE": "300"})
    assert settings.oidc_client_ids == ("eosc-perf", "eosc-perf-cli")
    assert settings.oidc_keys_max_age == 300
    for wrong in ("soon", "0", "-5", "nan"):
        with pytest.raises(ConfigurationError, match="OIDC_KEYS_MAX_AGE"):
            Settings.from_env({"OIDC_KEYS_MAX_AGE": wrong})


def test_the_provider_timeout_is_bounded_seconds():
    assert Settings.from_env({}).oidc_timeout == 1.2
    assert Settings.from_env({"OIDC_TIMEOUT": "4.5"}).oidc_timeout == 4.5
    for wrong in ("slow", "0", "-1", "61", "nan"):
        with pytest.raises(ConfigurationError, match="OIDC_TIMEOUT"):
            Settings.from_env({"OIDC_TIMEOUT": wrong})


def test_the_write_rate_limit_is_writes_per_minute_per_user():
    assert Settings.from_env({}).write_rate_per_minute == 120
    assert Settings.from_env({"WRITE_RATE_PER_MINUTE": "0"}).write_rate_per_minute == 0  # off
    for wrong in ("lots", "-1", "1.5"):
        with pytest.raises(ConfigurationError, match="WRITE_RATE_PER_MINUTE"):
            Settings.from_env({"WRITE_RATE_PER_MINUTE": wrong})


def test_image_registries_are_normalised_urls_with_their_scheme():
    settings = Settings.from_env({"IMAGE_REGISTRIES": "ghcr.io, https://Quay.io, http://127.0.0.1:5000/,"})
    assert settings.image_registries == ("https://ghcr.io", "https://quay.io", "http://127.0.0.1:5000")
    assert Settings.from_env({}).image_registries == ()
    assert Settings.from_env({}).image_registry_url == "https://registry-1.docker.io"
    assert Settings.from_env({"IMAGE_REGISTRY_URL": "http://mirror:5000/"}).image_registry_url == "http://mirror:5000"
    for entry in (
        "ftp://x",
        "https://x/path",
        "https://user@x",
        "x:port",
        "https://x?q=1",
        "https://ex ample.org",
        "https://[::1",
    ):
        with pytest.raises(ConfigurationError, match="IMAGE_REGISTRIES"):
            Settings.from_env({"IMAGE_REGISTRIES": entry})
    with pytest.raises(ConfigurationError, match="IMAGE_REGISTRY_URL"):
        Settings.from_env({"IMAGE_REGISTRY_URL": "https://x/v2"})


def test_the_image_check_deadline_and_the_pattern_budget_are_bounded_numbers():
    assert Settings.from_env({}).image_check_seconds == 10
    assert Settings.from_env({"IMAGE_CHECK_SECONDS": "2.5"}).image_check_seconds == 2.5
    assert Settings.from_env({}).schema_pattern_work == 100_000_000
    for value in ("0", "-1", "nan", "1000", "soon"):
        with pytest.raises(ConfigurationError, match="IMAGE_CHECK_SECONDS"):
            Settings.from_env({"IMAGE_CHECK_SECONDS": value})
    for value in ("0", "1.5", "lots"):
        with pytest.raises(ConfigurationError, match="SCHEMA_PATTERN_WORK"):
            Settings.from_env({"SCHEMA_PATTERN_WORK": value})


def test_the_bounds_of_reads_come_from_the_environment():
    defaults = Settings.from_env({})
    assert defaults.query_timeout_seconds == 5
    assert defaults.query_limits == QueryLimits(filters=10, sort_keys=8, terms=10, term_length=256)
    assert defaults.read_waiters == 2
    settings = Settings.from_env(
        {
            "QUERY_TIMEOUT_SECONDS": "2.5",
            "QUERY_MAX_FILTERS": "3",
            "QUERY_MAX_SORT_KEYS": "2",
            "QUERY_MAX_TERMS": "4",
            "QUERY_MAX_TERM_LENGTH": "50",
            "READ_WAITERS": "1",
        }
    )
    assert settings.query_timeout_seconds == 2.5
    assert settings.query_limits == QueryLimits(filters=3, sort_keys=2, terms=4, term_length=50)
    assert settings.read_waiters == 1


@pytest.mark.parametrize(
    "name, value",
    [
        ("QUERY_TIMEOUT_SECONDS", "0"),
        ("QUERY_TIMEOUT_SECONDS", "-1"),
        ("QUERY_TIMEOUT_SECONDS", "nan"),
        ("QUERY_TIMEOUT_SECONDS", "forever"),
        ("QUERY_TIMEOUT_SECONDS", "3600"),
        ("QUERY_MAX_FILTERS", "0"),
        ("QUERY_MAX_SORT_KEYS", "many"),
        ("QUERY_MAX_TERMS", "-2"),
        ("QUERY_MAX_TERM_LENGTH", "1.5"),
        ("READ_WAITERS", "0"),
        ("READ_WAITERS", "100000"),
        ("EVENT_STREAMS", "257"),
    ],
)
def test_bounds_that_would_not_bound_are_refused(name, value):
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})
