"""servicekit.settings: every service starts without any environment, reads the variables the
Dapr CLI and Kubernetes set, and refuses values that would fail later and further away."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from servicekit.settings import ServiceSettings, StoreSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APP_ID", "APP_PORT", "LOG_LEVEL", "APP_API_TOKEN", "ETAG_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_need_no_environment() -> None:
    settings = StoreSettings()

    assert (settings.app_id, settings.app_port, settings.dapr_http_port) == ("service", 8080, 3500)
    assert settings.app_api_token is None
    assert settings.state_store == "statestore"


def test_the_environment_is_read_whatever_its_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ID", "inventory")
    monkeypatch.setenv("app_port", "8081")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("SOMETHING_ELSE", "ignored")

    settings = ServiceSettings()

    assert (settings.app_id, settings.app_port, settings.log_level) == ("inventory", 8081, "DEBUG")


def test_the_app_token_never_shows_in_a_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_API_TOKEN", "s3cret")

    settings = ServiceSettings()

    assert settings.app_api_token is not None
    assert settings.app_api_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("APP_PORT", "0"),
        ("APP_PORT", "70000"),
        ("LOG_LEVEL", "chatty"),
        ("ETAG_MAX_ATTEMPTS", "0"),
        ("ETAG_MAX_ATTEMPTS", "51"),
    ],
)
def test_a_bad_value_fails_at_start(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError, match=name.lower()):
        StoreSettings()


def test_settings_do_not_change_once_read() -> None:
    settings = ServiceSettings()

    with pytest.raises(ValidationError):
        settings.app_id = "other"  # type: ignore[misc]
