from config.errors import DomainError, InvalidInput, NotFound


class UnknownEvent(InvalidInput):
    code = "unknown_notification_event"


class NotificationNotFound(NotFound):
    code = "notification_not_found"


class NothingToResend(DomainError):
    code = "nothing_to_resend"
