"""The payment API: one blueprint for the ``/payments`` resource."""

import logging

from flask import Blueprint, Response, request

from contracts.fields import ORDER_ID
from contracts.payments import PaymentList, PaymentRequest
from payment.store import (
    NotRefundableError,
    PaymentConflictError,
    PaymentNotFoundError,
    PaymentStore,
)
from servicekit import logs, tracing, web
from servicekit.web import ApiError, found_response, json_response, parse_body, parse_value

payments_bp = Blueprint("payments", __name__, url_prefix="/payments")

logger = logging.getLogger("payment.routes")


def current_store() -> PaymentStore:
    return web.current_store(PaymentStore)


def _no_payment(order_id: str) -> str:
    return f"No payment for order {order_id!r}"


@payments_bp.post("")
def create_payment() -> Response:
    """200 Payment, approved or declined (the first outcome again on a repeat); 409 payment_conflict."""  # noqa: E501
    request = parse_body(PaymentRequest)
    logs.set_order_id(request.order_id)
    try:
        payment, created = current_store().charge(request)
    except PaymentConflictError as err:
        raise ApiError(409, "payment_conflict", str(err)) from err
    if created:
        logger.info("Payment of %d USD %s", payment.amount, payment.status)
    else:
        logger.info("Repeated payment request; returning the first outcome (%s)", payment.status)
    if payment.status == "declined":
        tracing.record_failure(f"payment declined: {payment.decline_reason}")
    return json_response(payment)


@payments_bp.get("")
def find_payments() -> Response:
    """200 PaymentList with the order's payment, empty when it was never charged; 422 without
    an ``order_id`` query parameter. How order-processor looks a payment up through Dapr."""
    order_id = parse_value(ORDER_ID, request.args.get("order_id"), field="order_id")
    payment = current_store().get(order_id)
    return json_response(PaymentList(payments=[] if payment is None else [payment]))


@payments_bp.get("/<order_id>")
def get_payment(order_id: str) -> Response:
    """200 Payment; 404 not_found when the order was never charged."""
    order_id = parse_value(ORDER_ID, order_id, field="order_id")
    payment = current_store().get(order_id)
    return found_response(payment, _no_payment(order_id))


@payments_bp.post("/<order_id>/refund")
def refund_payment(order_id: str) -> Response:
    """200 Payment with refunded true (also on a repeat); 404 not_found; 409 not_refundable."""
    order_id = parse_value(ORDER_ID, order_id, field="order_id")
    try:
        payment = current_store().refund(order_id)
    except PaymentNotFoundError as err:
        raise ApiError(404, "not_found", _no_payment(order_id)) from err
    except NotRefundableError as err:
        raise ApiError(409, "not_refundable", str(err)) from err
    logger.info("Payment of %d USD refunded", payment.amount)
    return json_response(payment)
