from config.errors import DomainError, InvalidInput, NotFound, Unprocessable


class OrderNotFound(NotFound):
    code = "order_not_found"


class TransitionNotFound(NotFound):
    """A transition name that is none of the order's (a 404: there is no such action, whatever the state)."""

    code = "transition_not_found"


class TransitionNotAllowed(DomainError):
    code = "transition_not_allowed"


class TransitionForbidden(DomainError):
    code = "transition_forbidden"
    http_status = 403


class InvalidOrder(InvalidInput):
    code = "invalid_order"


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency_key_reused"


class ConcurrentUpdate(DomainError):
    code = "concurrent_update"


class RefundNotAllowed(DomainError):
    """More back than was paid, or a refund on an order nobody paid for (409)."""

    code = "refund_not_allowed"


class PaymentReferenceReused(DomainError):
    """A payment reference recorded already for the order, now with another amount or method (409)."""

    code = "payment_reference_reused"
