"""The OpenAPI schema's generator (REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"])."""

from drf_spectacular.openapi import AutoSchema
from rest_framework import permissions
from rest_framework.pagination import PageNumberPagination

from .api import ErrorSerializer

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class WaybillAutoSchema(AutoSchema):
    """drf-spectacular's schema, with the error answers every operation can give documented beside its success
    ({code, message, extra}, ErrorSerializer), so a client (and the schemathesis run in the tests) knows each one:

    - 400 invalid input: a body, a filter, a cursor, control characters in the URL (every operation);
    - 401 not signed in, or a webhook's signature missing or wrong (every operation);
    - 403 signed in but not allowed (every operation a permission guards);
    - 404 an object in the path that does not exist or is not the caller's, a page past the end;
    - 409 a state change refused, 413 a body over the size limit, 415 a body in a type we do not read,
      422 an Idempotency-Key reused for another request (writes);
    - 429 too many requests (when the API is throttled).

    An endpoint's own `@extend_schema(responses=with_errors(...))` keeps what it says; this only adds."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self.error_codes():
            responses.setdefault(str(code), self._get_response_for_code(ErrorSerializer, str(code)))
        return dict(sorted(responses.items()))

    def _map_basic_serializer(self, serializer, direction):
        """A field a serializer leaves out for some viewers (`schema_optional_fields`, e.g. an order's allocations,
        which only staff see) is not required in the schema.

        drf-spectacular writes a blank-allowed field with a pattern as oneOf [pattern, empty]; "" matches both,
        which oneOf forbids (a shipment's tracking number before the label): anyOf says what is meant."""
        schema = super()._map_basic_serializer(serializer, direction)
        for prop in schema.get("properties", {}).values():
            alternatives = prop.get("oneOf")
            if alternatives and any(alt.get("maxLength") == 0 for alt in alternatives if isinstance(alt, dict)):
                prop["anyOf"] = prop.pop("oneOf")
        optional = set(getattr(serializer, "schema_optional_fields", ()))
        if optional and "required" in schema:
            schema["required"] = [name for name in schema["required"] if name not in optional]
            if not schema["required"]:
                del schema["required"]
        return schema

    def error_codes(self) -> list[int]:
        codes = [400, 401, 429]
        if not all(issubclass(p, permissions.AllowAny) for p in self.view.permission_classes):
            codes.append(403)
        paginated = issubclass(getattr(self.view, "pagination_class", None) or object, PageNumberPagination)
        if "{" in self.path or (paginated and self.method == "GET"):
            codes.append(404)
        if self.method in WRITE_METHODS:
            codes += [409, 413, 415, 422]
        return codes
