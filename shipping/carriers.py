"""What each carrier's status codes mean for us: one table per carrier, and the tracking numbers we issue."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .models import Carrier, Shipment

S = Shipment.Status
R = Shipment.ExceptionReason

# carrier code → {carrier status code: (our status, exception reason)}. A code mapped to None is an
# informational scan: it goes on the timeline and changes nothing.
STATUS_MAPS: dict[str, dict[str, tuple[str, str] | None]] = {
    "local": {
        "PICKED_UP": (S.IN_TRANSIT, ""),
        "AT_DEPOT": (S.IN_TRANSIT, ""),
        "ON_VAN": (S.OUT_FOR_DELIVERY, ""),
        "DELIVERED": (S.DELIVERED, ""),
        "NOT_HOME": (S.EXCEPTION, R.FAILED_ATTEMPT),
        "DAMAGED": (S.EXCEPTION, R.DAMAGED),
        "LOST": (S.EXCEPTION, R.LOST),
        "BACK_TO_SENDER": (S.RETURNED, ""),
        "NOTE": None,
    },
    "parcelnet": {
        "PU": (S.IN_TRANSIT, ""),
        "IT": (S.IN_TRANSIT, ""),
        "AR": (S.IN_TRANSIT, ""),
        "OD": (S.OUT_FOR_DELIVERY, ""),
        "DL": (S.DELIVERED, ""),
        "NA": (S.EXCEPTION, R.FAILED_ATTEMPT),
        "DM": (S.EXCEPTION, R.DAMAGED),
        "LS": (S.EXCEPTION, R.LOST),
        "RS": (S.RETURNED, ""),
        "IN": None,
    },
    "swiftpost": {
        "1000": (S.IN_TRANSIT, ""),
        "1100": (S.IN_TRANSIT, ""),
        "2000": (S.OUT_FOR_DELIVERY, ""),
        "3000": (S.DELIVERED, ""),
        "4010": (S.EXCEPTION, R.FAILED_ATTEMPT),
        "4020": (S.EXCEPTION, R.DAMAGED),
        "4030": (S.EXCEPTION, R.LOST),
        "5000": (S.RETURNED, ""),
        "9000": None,
    },
}


def map_status(carrier: Carrier, code: str) -> tuple[str, str] | None:
    """Our (status, exception reason) for a carrier's code; None for informational or unknown codes."""
    return STATUS_MAPS.get(carrier.code, {}).get(code)


def codes_for(carrier_code: str, status: str, reason: str = "") -> list[str]:
    """The carrier's codes that mean `status` (used by the simulator)."""
    return [code for code, mapped in STATUS_MAPS.get(carrier_code, {}).items()
            if mapped is not None and mapped[0] == status and (not reason or mapped[1] == reason)]


TRACKING_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_tracking_number(carrier: Carrier) -> str:
    body = "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(12))
    return f"{carrier.tracking_number_prefix or 'WB'}{body}"


def sign(secret: str, body: bytes) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str) -> bool:
    if not (secret and header):
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())
