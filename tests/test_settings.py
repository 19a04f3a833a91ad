"""Configuration: environment, .env file, *_FILE secrets, and refusals that name the setting."""

from __future__ import annotations

import pytest

from eosc_perf.settings import ConfigurationError, QueryLimits, Settings, load_environment


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


def test_the_bounds_of_reads_come_from_the_environment():
    defaults = Settings.from_env({})
    assert defaults.query_timeout_seconds == 5
    assert defaults.query_limits == QueryLimits(filters=10, sort_keys=8, terms=10, term_length=256)
    assert defaults.read_waiters == 2
    settings = Settings.from_env({"QUERY_TIMEOUT_SECONDS": "2.5", "QUERY_MAX_FILTERS": "3", "QUERY_MAX_SORT_KEYS": "2",
                                  "QUERY_MAX_TERMS": "4", "QUERY_MAX_TERM_LENGTH": "50", "READ_WAITERS": "1"})
    assert settings.query_timeout_seconds == 2.5
    assert settings.query_limits == QueryLimits(filters=3, sort_keys=2, terms=4, term_length=50)
    assert settings.read_waiters == 1


@pytest.mark.parametrize("name, value", [
    ("QUERY_TIMEOUT_SECONDS", "0"), ("QUERY_TIMEOUT_SECONDS", "-1"), ("QUERY_TIMEOUT_SECONDS", "nan"),
    ("QUERY_TIMEOUT_SECONDS", "forever"), ("QUERY_TIMEOUT_SECONDS", "3600"), ("QUERY_MAX_FILTERS", "0"),
    ("QUERY_MAX_SORT_KEYS", "many"), ("QUERY_MAX_TERMS", "-2"), ("QUERY_MAX_TERM_LENGTH", "1.5"),
    ("READ_WAITERS", "0"),
])
def test_bounds_that_would_not_bound_are_refused(name, value):
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})
