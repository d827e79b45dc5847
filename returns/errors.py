from config.errors import DomainError, Forbidden, InvalidInput, NotFound


class ReturnNotFound(NotFound):
    code = "return_not_found"


class InvalidReturn(InvalidInput):
    """The request itself is wrong: an unknown reason or line, a malformed serial, a missing field (400)."""

    code = "invalid_return"


class ReturnNotAllowed(DomainError):
    """The policy refuses it: not delivered, outside the window, final sale, more than can be returned (409)."""

    code = "return_not_allowed"


class ReturnTransitionNotAllowed(DomainError):
    code = "return_transition_not_allowed"


class ReturnTransitionForbidden(Forbidden):
    code = "return_transition_forbidden"


class InvalidPhoto(InvalidInput):
    code = "invalid_photo"
