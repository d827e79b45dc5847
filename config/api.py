"""Pieces every app's API shares: permissions and pagination."""

from rest_framework import permissions, serializers
from rest_framework.pagination import CursorPagination, PageNumberPagination


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
