"""Admin pieces shared by every app."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.http import Http404
from django.utils.functional import cached_property
from django.utils.text import capfirst

from .fsm import transitions_of


class EstimatedCountPaginator(Paginator):
    """A paginator that never counts a big table in full.

    It counts at most `exact_up_to` + 1 rows; past that it takes PostgreSQL's planner estimate (EXPLAIN, which
    reads no rows). Page links stay useful and the changelist costs the same at a thousand or a million rows.
    """

    exact_up_to = 10_000

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if not hasattr(qs, "query"):
            return super().count
        capped = qs.order_by()[: self.exact_up_to + 1].count()
        if capped <= self.exact_up_to:
            return capped
        return max(capped, self._planner_estimate(qs))

    @staticmethod
    def _planner_estimate(qs) -> int:
        connection = connections[qs.db]
        if connection.vendor != "postgresql":
            return qs.count()
        sql, params = qs.order_by().values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return int(plan[0]["Plan"]["Plan Rows"])


class ReadOnlyTabularInline(admin.TabularInline):
    """Rows that services write, shown under their parent: nothing to add, change or delete by hand."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TransitionUrlsMixin:
    """Put before django_fsm's FSMAdminMixin: `<object>/transition/<name>/` with a name that is not one of the
    model's transitions shown in the admin is a 404, as any unknown admin URL is (django-fsm-2 raises
    AttributeError, TypeError or ValueError for it, which was a server error)."""

    def fsm_transition_view(self, request, object_id, transition_name, **kwargs):
        if transition_name not in self.admin_transition_names():
            raise Http404(f"There is no transition called {transition_name!r}.")
        return super().fsm_transition_view(request, object_id, transition_name, **kwargs)

    def admin_transition_names(self) -> set[str]:
        return {t.name for t in transitions_of(self.model) if t.custom.get("admin", True)}


class ReadOnlyAdminMixin:
    """Pages that show what services wrote: nothing to add, change or delete by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AppendOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Append-only records (the stock ledger, timelines, the outbox): large tables, read here, written by
    services, never edited or deleted by hand."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50


@dataclass(frozen=True)
class AdminButton:
    """A link among a change page's next actions. `url(obj)` gives its address, `show(obj)` whether the object
    is in a state where it makes sense, `permission` who may see it, `primary(obj)` whether it is the obvious next
    step (drawn as the main button), `help_text` what it does."""

    label: str
    url: Callable[[Any], str]
    permission: str = ""
    show: Callable[[Any], bool] = field(default=lambda obj: True)
    primary: Callable[[Any], bool] = field(default=lambda obj: False)
    help_text: str = ""


@dataclass(frozen=True)
class AdminSection:
    """A read-only block of a change page's summary, drawn by another app: `template` rendered with
    `context(request, obj)` (which must cost a fixed number of queries), shown to users with `permission`."""

    title: str
    template: str
    context: Callable[[Any, Any], dict]
    permission: str = ""


class AdminExtensions:
    """What other apps add to one app's ModelAdmin: actions, inlines and buttons, registered from their
    `AppConfig.ready()`. The owning admin reads them in get_actions, get_inlines and change_view; nothing patches
    the ModelAdmin class. See orders.admin.order_admin_extensions."""

    def __init__(self) -> None:
        self.actions: list[Callable] = []
        self.inlines: list[type] = []
        self.buttons: list[AdminButton] = []
        self.sections: list[AdminSection] = []

    def add_action(self, action: Callable) -> None:
        """An admin action (a function decorated with @admin.action; `permissions` are honoured)."""
        if action not in self.actions:
            self.actions.append(action)

    def add_inline(self, inline: type) -> None:
        if inline not in self.inlines:
            self.inlines.append(inline)

    def add_button(self, button: AdminButton) -> None:
        if all(b.label != button.label for b in self.buttons):
            self.buttons.append(button)

    def add_section(self, section: AdminSection) -> None:
        if all(s.title != section.title for s in self.sections):
            self.sections.append(section)

    def sections_for(self, request, obj) -> list[dict]:
        return [{"title": s.title, "template": s.template, **s.context(request, obj)} for s in self.sections
                if not s.permission or request.user.has_perm(s.permission)]

    def actions_for(self, model_admin, request) -> dict:
        """The registered actions the user may run, in the shape ModelAdmin.get_actions() returns."""
        found = {}
        for action in self.actions:
            permissions = getattr(action, "allowed_permissions", ())
            if all(getattr(model_admin, f"has_{p}_permission")(request) for p in permissions):
                description = getattr(action, "short_description", None) or capfirst(
                    action.__name__.replace("_", " "))
                found[action.__name__] = (action, action.__name__, description)
        return found

    def buttons_for(self, request, obj) -> list[dict]:
        return [{"label": b.label, "url": b.url(obj), "primary": b.primary(obj), "help_text": b.help_text}
                for b in self.buttons if (not b.permission or request.user.has_perm(b.permission)) and b.show(obj)]
