"""Request body parsers that turn every malformed body into a 400, never a 500.

Every body the API reads goes through one of these (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"], and the views that
choose their own parsers choose these): JSON nested past `MAX_DEPTH` is refused before anything recurses over it,
and no string anywhere in a body (a value, a key, a file name) may hold control characters (config.text).
Endpoints that read a raw body themselves (the carrier webhook) parse it with `parse_json`.
"""

from __future__ import annotations

import json

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import DataAndFiles, FormParser, JSONParser, MultiPartParser

from .text import CONTROL_CHARACTERS_MESSAGE, has_control_characters

MAX_DEPTH = 32  # our deepest body (an order's lines' fields) is 3 levels deep


def _refuse_control_characters(found: dict[str, list[str]]) -> None:
    if found:  # rendered by config.errors as {"code": "invalid", "message": ..., "extra": {"fields": found}}
        raise ValidationError(found)


def check_json(data) -> None:
    """Refuse `data` (decoded JSON) nested deeper than MAX_DEPTH or holding control characters in any string;
    the error names each offending field by its path (`shipping_address.name`, `lines.0.sku`)."""
    found: dict[str, list[str]] = {}
    stack = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ParseError(f"JSON parse error - the body is nested too deeply (at most {MAX_DEPTH} levels).")
        if isinstance(value, str):
            if has_control_characters(value):
                found[path or "body"] = [CONTROL_CHARACTERS_MESSAGE]
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if has_control_characters(str(key), single_line=True):
                    found[path or "body"] = ["Remove the control characters from the field names."]
                    continue
                stack.append((item, child, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}.{i}" if path else str(i), depth + 1) for i, item in enumerate(value))
    _refuse_control_characters(found)


def parse_json(raw: bytes | str):
    """Decode a JSON body the way the API's parser does: malformed, too deep or with control characters is a
    400 (ParseError or ValidationError), never a server error."""
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ParseError("JSON parse error - the body is nested too deeply.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"JSON parse error - {exc}") from None
    check_json(data)
    return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class SafeJSONParser(JSONParser):
    """JSON, with pathological nesting refused: `[[[[...]]]]` thousands deep makes Python's decoder recurse past
    its limit, which would otherwise escape as a server error."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        check_json(data)
        return data


def _check_form(data, files=None) -> None:
    found: dict[str, list[str]] = {}
    for key, values in data.lists():
        if has_control_characters(key, single_line=True):
            found["body"] = ["Remove the control characters from the field names."]
        for value in values:
            if isinstance(value, str) and has_control_characters(value):
                found[key] = [CONTROL_CHARACTERS_MESSAGE]
    for key, upload in (files.items() if files is not None else ()):
        if has_control_characters(key, single_line=True) or has_control_characters(upload.name or "",
                                                                                    single_line=True):
            found[key] = ["Remove the control characters from the file name."]
    _refuse_control_characters(found)


class SafeFormParser(FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_form(data)
        return data


class SafeMultiPartParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        _check_form(parsed.data, parsed.files)
        return DataAndFiles(parsed.data, parsed.files)
