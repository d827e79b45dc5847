"""Free text that people type (notes, reasons, messages): one check for every service that stores it."""

from __future__ import annotations

from .errors import InvalidInput


def clean_text(value, field: str, *, limit: int, required: bool = False,
               error: type[InvalidInput] = InvalidInput) -> str:
    """`value` trimmed, with Windows line ends made plain; refused (400, naming `field`) when it is not text, is
    empty but required, is longer than `limit`, or holds control characters (NUL and the like never reach the
    database)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise error(f"{field.capitalize()} is text.", fields={field: ["Must be text."]})
    value = value.replace("\r\n", "\n").strip()
    if required and not value:
        raise error(f"Write a {field}.", fields={field: ["Required."]})
    if len(value) > limit:
        raise error(f"{field.capitalize()} is at most {limit} characters.", fields={field: [f"At most {limit} "
                                                                                           "characters."]})
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise error(f"{field.capitalize()} contains control characters.",
                    fields={field: ["Remove the control characters."]})
    return value
