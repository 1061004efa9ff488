"""Payment settings, from the environment."""

from pydantic import Field

from servicekit.settings import ServiceSettings


class Settings(ServiceSettings):
    app_id: str = "payment"
    app_port: int = 8082
    # The Dapr state store component; it must support first-write concurrency (e.g. Redis).
    state_store: str = "paymentstore"
    # The decline rule, deterministic so demos and tests can trigger it: amounts (whole USD)
    # strictly above this are declined.
    payment_decline_over: int = Field(default=1_000_000, ge=0)
    etag_max_attempts: int = Field(default=5, ge=1, le=50)
