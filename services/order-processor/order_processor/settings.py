"""Order-processor settings, from the environment."""

from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from contracts.roles import MIN_TOKEN_LENGTH, Role
from servicekit.settings import ServiceSettings


class Settings(ServiceSettings):
    # A refused setting is reported by name, never with its value: a token too short must not
    # land in the start-up error it causes.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    app_id: str = "order-processor"
    app_port: int = 8080
    inventory_app_id: str = "inventory"
    payment_app_id: str = "payment"
    # The bearer token of each role of the order API (order_processor.access): CUSTOMER_API_TOKEN,
    # OPERATOR_API_TOKEN, MANAGER_API_TOKEN. Required and checked here, so the app does not
    # start without all three (fail closed).
    customer_api_token: SecretStr = Field(min_length=MIN_TOKEN_LENGTH)
    operator_api_token: SecretStr = Field(min_length=MIN_TOKEN_LENGTH)
    manager_api_token: SecretStr = Field(min_length=MIN_TOKEN_LENGTH)
    # Zipkin's search page, for the board's link from each order to its trace (the order's
    # tag, ``order.id=<id>``, is appended): where the manager's browser reaches Zipkin.
    zipkin_search_url: str = "http://localhost:9411/zipkin/?annotationQuery="
    # How long an order over the approval threshold waits for a manager before giving up.
    # Copied into each workflow's input when the order is placed, so replays never re-read it.
    approval_timeout_seconds: int = Field(default=24 * 3600, ge=1, le=30 * 24 * 3600)
    # Long polls (GET /orders/<id>?wait=) waiting at once; each holds a thread, and
    # gunicorn.conf.py adds this many threads (same variable) to GUNICORN_THREADS.
    max_waiting_requests: int = Field(default=32, ge=1, le=1000)
    # Requests other than long polls served at once (gunicorn.conf.py's GUNICORN_THREADS): the
    # threads added for long polls never serve them, so the sidecar and its workflow store see
    # no more concurrent calls than before long polls existed.
    gunicorn_threads: int = Field(default=8, ge=1)

    def role_tokens(self) -> dict[Role, SecretStr]:
        return {
            Role.CUSTOMER: self.customer_api_token,
            Role.OPERATOR: self.operator_api_token,
            Role.MANAGER: self.manager_api_token,
        }

    @model_validator(mode="after")
    def _distinct_tokens(self) -> Self:
        # One token for two roles would make its holder both.
        values = [token.get_secret_value() for token in self.role_tokens().values()]
        if len(set(values)) != len(values):
            names = ", ".join(role.token_variable for role in Role)
            raise ValueError(f"{names} must all differ")
        return self
