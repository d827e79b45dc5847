"""Pieces every app's API shares: permissions, pagination and the documented error answers."""

import datetime as dt

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


class NewestFirstCursorPagination(CursorPagination):
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


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


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

