"""Settings every service reads from its environment (the Dapr CLI and Kubernetes set them)."""

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ServiceSettings(BaseSettings):
    """Defaults work without any environment, so ``create_app()`` runs in unit tests."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    app_id: str = "service"
    app_port: int = Field(default=8080, ge=1, le=65535)
    dapr_http_port: int = Field(default=3500, ge=1, le=65535)
    dapr_grpc_port: int = Field(default=50001, ge=1, le=65535)
    # Sent to our own sidecar on every call (daprd's API token).
    dapr_api_token: SecretStr | None = None
    # What our sidecar sends us in the `dapr-api-token` header (daprd reads the same variable,
    # APP_API_TOKEN); a service that calls ``web.require_app_token`` refuses requests without it.
    app_api_token: SecretStr | None = None
    log_level: LogLevel = "INFO"
    # Small on purpose: no payload of this project is anywhere near it.
    max_content_length: int = Field(default=16 * 1024, ge=1024)
    # Service invocation through the local sidecar.
    invoke_timeout_seconds: float = Field(default=10.0, gt=0)
    invoke_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    # Where the app's own spans go (the sidecars report theirs per their Dapr Configuration).
    # Unset: spans still get ids, for the logs and for propagation, but are not exported.
    zipkin_endpoint: str | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class StoreSettings(ServiceSettings):
    """A service that keeps its state in one Dapr state store, behind its own sidecar."""

    # The Dapr state store component; it must support ETags, first-write and transactions
    # (SQLite locally, Redis).
    state_store: str = "statestore"
    # Optimistic-concurrency attempts before answering 503 (the caller retries later).
    etag_max_attempts: int = Field(default=5, ge=1, le=50)
