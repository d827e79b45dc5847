"""Admin pieces shared by every app."""

import json

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property


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


class AppendOnlyAdmin(admin.ModelAdmin):
    """Append-only records (the stock ledger, timelines, the outbox): large tables, read here, written by
    services, never edited or deleted by hand."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
