from config.errors import DomainError, InvalidInput, NotFound


class OutOfStock(DomainError):
    code = "out_of_stock"


class InsufficientStock(DomainError):
    """An adjustment, write-off or transfer would take more than is unallocated on hand."""

    code = "insufficient_stock"


class UnknownProduct(NotFound):
    code = "unknown_product"


class UnknownWarehouse(NotFound):
    code = "unknown_warehouse"


class InvalidQuantity(InvalidInput):
    code = "invalid_quantity"


class InvalidSerial(InvalidInput):
    """A serial number that is malformed, repeated, or not the number a unit needs."""

    code = "invalid_serial"


class SerialUnavailable(DomainError):
    """A serial number whose unit cannot go out now: already packed, with a customer, or scrapped."""

    code = "serial_unavailable"


class UnitNotFound(NotFound):
    code = "unit_not_found"


class InvalidReceipt(InvalidInput):
    """A goods receipt with lines that cannot be booked (unknown products, quantities, serial numbers)."""

    code = "invalid_receipt"


class ReceiptAlreadyBooked(DomainError):
    """The supplier's delivery note was booked before: a second booking would count the goods twice."""

    code = "receipt_already_booked"
