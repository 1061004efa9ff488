"""The payment service: one charge per order, kept in the ``paymentstore`` state store."""

from payment.app import create_app

__all__ = ["create_app"]
