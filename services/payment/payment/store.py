"""Payments kept per order under ``payment:<order_id>``.

The first charge is written with first-write concurrency, so concurrent or repeated
requests for one order (workflow activities run at least once) charge exactly once, and
every repeat gets the first outcome back.
"""

from contracts.payments import Payment, PaymentRequest
from servicekit.state import ContentionError, ETagConflictError, StateStore


def payment_key(order_id: str) -> str:
    return f"payment:{order_id}"


def decide(request: PaymentRequest, *, decline_over: int) -> Payment:
    """The documented rule: amounts above ``decline_over`` USD are declined, others approved."""
    if request.amount > decline_over:
        return Payment(
            **request.model_dump(),
            status="declined",
            decline_reason=f"amount over the {decline_over} USD limit",
        )
    return Payment(**request.model_dump(), status="approved")


class PaymentNotFoundError(Exception):
    pass


class PaymentConflictError(Exception):
    """The order id was already charged for something else."""

    def __init__(self, first: Payment) -> None:
        super().__init__(
            f"Order {first.order_id} was already charged {first.amount} USD for "
            f"{first.quantity} {first.item}; a payment is never changed"
        )
        self.first = first


class NotRefundableError(Exception):
    pass


class PaymentStore:
    def __init__(self, state: StateStore, *, decline_over: int, max_attempts: int = 5) -> None:
        self.state = state
        self.decline_over = decline_over
        self.max_attempts = max_attempts

    def get(self, order_id: str) -> Payment | None:
        return self.state.get(payment_key(order_id), Payment).value

    def charge(self, request: PaymentRequest) -> tuple[Payment, bool]:
        """The order's payment and whether this call made it (False: a repeat)."""
        first = self.get(request.order_id)
        if first is None:
            payment = decide(request, decline_over=self.decline_over)
            if self.state.create(payment_key(request.order_id), payment):
                return payment, True
            # A concurrent request for the same order won; its outcome is the outcome.
            first = self.get(request.order_id)
            if first is None:
                raise ContentionError(f"Payment for {request.order_id} vanished while charging")
        if (first.item, first.quantity, first.amount) != (
            request.item,
            request.quantity,
            request.amount,
        ):
            raise PaymentConflictError(first)
        return first, False

    def refund(self, order_id: str) -> Payment:
        """Refund an approved payment once; a repeat returns the refunded payment."""
        for _ in range(self.max_attempts):
            current = self.state.get(payment_key(order_id), Payment)
            if current.value is None:
                raise PaymentNotFoundError(order_id)
            if current.value.status != "approved":
                raise NotRefundableError(
                    f"Payment for order {order_id} was declined; nothing to refund"
                )
            if current.value.refunded:
                return current.value
            refunded = current.value.model_copy(update={"refunded": True})
            try:
                self.state.put(payment_key(order_id), refunded, etag=current.etag)
            except ETagConflictError:
                continue
            return refunded
        raise ContentionError(f"Could not refund {order_id} after {self.max_attempts} attempts")

    def close(self) -> None:
        self.state.close()
