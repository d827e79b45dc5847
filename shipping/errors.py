from config.errors import DomainError, Forbidden, InvalidInput, NotFound


class ShipmentNotFound(NotFound):
    code = "shipment_not_found"


class CarrierNotFound(NotFound):
    code = "carrier_not_found"


class TrackingNumberNotFound(NotFound):
    code = "tracking_number_not_found"


class InvalidShipment(InvalidInput):
    code = "invalid_shipment"


class ShipmentTransitionNotFound(NotFound):
    code = "shipment_transition_not_found"


class ShipmentTransitionNotAllowed(DomainError):
    code = "shipment_transition_not_allowed"


class ShipmentTransitionForbidden(Forbidden):
    code = "shipment_transition_forbidden"


class BadSignature(DomainError):
    code = "bad_signature"
    http_status = 401


class MalformedEvent(InvalidInput):
    code = "malformed_event"


class OrderNotReadyToShip(DomainError):
    code = "order_not_ready_to_ship"
