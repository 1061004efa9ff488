"""Order-processor settings, from the environment."""

from pydantic import Field

from servicekit.settings import ServiceSettings


class Settings(ServiceSettings):
    app_id: str = "order-processor"
    app_port: int = 8080
    inventory_app_id: str = "inventory"
    payment_app_id: str = "payment"
    # How long an order over the approval threshold waits for a manager before giving up.
    # Copied into each workflow's input when the order is placed, so replays never re-read it.
    approval_timeout_seconds: int = Field(default=24 * 3600, ge=1, le=30 * 24 * 3600)
    # The seed's console demo: restock, place one order for a car, print the outcome.
    # Turned on by the local `dapr run -f .`; never in Kubernetes.
    run_demo: bool = False
    demo_timeout_seconds: int = Field(default=120, ge=1)
    # Long polls (GET /orders/<id>?wait=) waiting at once; each holds a thread, and
    # gunicorn.conf.py adds this many threads (same variable) to GUNICORN_THREADS.
    max_waiting_requests: int = Field(default=32, ge=1, le=1000)
    # Requests other than long polls served at once (gunicorn.conf.py's GUNICORN_THREADS): the
    # threads added for long polls never serve them, so the sidecar and its workflow store see
    # no more concurrent calls than before long polls existed.
    gunicorn_threads: int = Field(default=8, ge=1)
