from config.errors import DomainError, Forbidden, InvalidInput, NotFound


class TicketNotFound(NotFound):
    code = "ticket_not_found"


class InvalidTicket(InvalidInput):
    code = "invalid_ticket"


class TicketTransitionNotFound(NotFound):
    code = "ticket_transition_not_found"


class TicketTransitionNotAllowed(DomainError):
    code = "ticket_transition_not_allowed"


class TicketTransitionForbidden(Forbidden):
    code = "ticket_transition_forbidden"


class InvalidAttachment(InvalidInput):
    code = "invalid_attachment"


class InboundEmailRefused(InvalidInput):
    code = "inbound_email_refused"


class BadSignature(DomainError):
    code = "bad_signature"
    http_status = 401
