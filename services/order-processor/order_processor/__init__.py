"""order-processor: the order API, and the host of the order-processing workflow."""

from order_processor.app import create_app

__all__ = ["create_app"]
