"""Free text that people type (notes, reasons, messages): one rule for every place text comes in.

Control characters (NUL and the other C0 codes but tab and line ends, DEL) and lone UTF-16 surrogates are never
text anyone meant to write; PostgreSQL refuses NUL and surrogates outright, which would otherwise surface as a
server error. The same rule is applied to every API body (config.parsers), every URL path segment and query
string (config.middleware.RefuseControlCharactersMiddleware) and every service that stores free text
(`clean_text`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

if TYPE_CHECKING:  # config.errors imports DRF, whose settings import config.parsers, which imports this module
    from .errors import InvalidInput

# \t, \n and \r are allowed (multi-line text); every other C0 control, DEL and lone surrogates are not.
_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# In a single-line value (a URL segment, a query parameter) line ends and tabs are refused too.
_REFUSED_IN_LINE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")

CONTROL_CHARACTERS_MESSAGE = "Remove the control characters."


def has_control_characters(value: str, *, single_line: bool = False) -> bool:
    return bool((_REFUSED_IN_LINE if single_line else _REFUSED).search(value))


@deconstructible
class NoControlCharactersValidator:
    """A validator for model and form fields: the same rule as everywhere else."""

    message = CONTROL_CHARACTERS_MESSAGE
    code = "control_characters"

    def __call__(self, value) -> None:
        if isinstance(value, str) and has_control_characters(value):
            raise ValidationError(self.message, code=self.code)

    def __eq__(self, other) -> bool:
        return isinstance(other, NoControlCharactersValidator)


def clean_text(value, field: str, *, limit: int, required: bool = False,
               error: type[InvalidInput] | None = None) -> str:
    """`value` trimmed, with Windows line ends made plain; refused (400, naming `field`) when it is not text, is
    empty but required, is longer than `limit`, or holds control characters (NUL and the like never reach the
    database)."""
    if error is None:
        from .errors import InvalidInput as error
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
    if "\r" in value or has_control_characters(value):
        raise error(f"{field.capitalize()} contains control characters.",
                    fields={field: [CONTROL_CHARACTERS_MESSAGE]})
    return value
