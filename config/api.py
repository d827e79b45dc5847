"""Pieces every app's API shares: permissions, pagination and the documented error answers."""

import datetime as dt
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination

from .filters import to_utc


class StaffModelPermissions(permissions.DjangoModelPermissions):
    """Staff users holding the model permission for the method (view for reads)."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_staff) and super().has_permission(request, view)


_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


class StrictPageSizeMixin:
    """`page_size` is a whole number from 1, given once, or a 400 naming it (DRF would ignore "ten", 0 or a repeated
    value and answer the default page, which hides the client's mistake). Above `max_page_size` it is capped, as
    the schema says."""

    def get_page_size(self, request):
        given = request.query_params.getlist(self.page_size_query_param)
        if not given:
            return self.page_size
        if len(given) > 1 or not _WHOLE_NUMBER.fullmatch(given[0]) or int(given[0]) < 1:
            raise ValidationError({self.page_size_query_param: [
                f"A whole number from 1 (at most {self.max_page_size} are given), once."]})
        return min(int(given[0]), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {**parameter["schema"], "minimum": 1}
                parameter["description"] = f"Results per page (at most {self.max_page_size}; more are capped)."
        return parameters


class NewestFirstCursorPagination(StrictPageSizeMixin, CursorPagination):
    """Keyset pagination: constant cost per page at any depth and no COUNT(*) over big tables."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """The cursor as the client sent it, refused (400, naming `cursor`) unless it is one we could have
        written: its position must be a value of the ordering field, and a moment is compared in UTC (a
        hand-made `+20:00` offset would otherwise reach PostgreSQL, which refuses it with a server error)."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise self._invalid() from None
        if cursor is None or cursor.position is None:
            return cursor
        field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
        try:
            value = field.to_python(cursor.position)
            if isinstance(value, dt.datetime):
                if value.tzinfo is None:
                    raise DjangoValidationError("naive")
                value = to_utc(value).isoformat()
            elif value is None:
                raise DjangoValidationError("empty")
        except (DjangoValidationError, TypeError, ValueError, OverflowError):
            raise self._invalid() from None
        return Cursor(offset=cursor.offset, reverse=cursor.reverse, position=str(value))

    def _invalid(self) -> ValidationError:
        return ValidationError({self.cursor_query_param: ["Invalid cursor: use the next or previous link of an "
                                                          "earlier page."]})


class StandardPagination(StrictPageSizeMixin, PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_number(self, request, paginator):
        given = request.query_params.getlist(self.page_query_param)
        if len(given) > 1 or given == [""]:
            raise ValidationError({self.page_query_param: ["A page number, once."]})
        return super().get_page_number(request, paginator)


class ErrorSerializer(serializers.Serializer):
    """Every error the API answers: what went wrong (`code`), in words (`message`), and the facts (`extra`,
    with `fields` naming each invalid field)."""

    code = serializers.CharField()
    message = serializers.CharField()
    extra = serializers.DictField()


def with_errors(ok, *codes: int) -> dict:
    """An endpoint's schema responses: the success ones and the errors it answers (400, 403, 404, 409, 422 unless
    named)."""
    responses = dict(ok) if isinstance(ok, dict) else {200: ok}
    for code in codes or (400, 403, 404, 409, 422):
        responses[code] = ErrorSerializer
    return responses

