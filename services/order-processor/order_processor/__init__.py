"""order-processor: the order API, and the host of the order-processing workflow."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from order_processor.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use: importing the workflow module must not pull in the app, the
    # activities and the clients they call (test_workflow checks it).
    if name == "create_app":
        from order_processor.app import create_app  # noqa: PLC0415

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
