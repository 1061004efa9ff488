"""Payment settings, from the environment."""

from pydantic import Field

from servicekit.settings import StoreSettings


class Settings(StoreSettings):
    app_id: str = "payment"
    app_port: int = 8082
    state_store: str = "paymentstore"
    # The decline rule, deterministic so demos and tests can trigger it: amounts (whole USD)
    # strictly above this are declined.
    payment_decline_over: int = Field(default=1_000_000, ge=0)
