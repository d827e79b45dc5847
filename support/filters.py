import django_filters

from config.filters import FilterSet

from .models import Category, Priority, Ticket
from .selectors import ticket_queue

VIEWS = [("mine", "Mine"), ("unassigned", "Unassigned"), ("breaching", "Breaching soon"),
         ("waiting", "Waiting on the customer"), ("active", "All active")]


class TicketFilter(FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Ticket.Status.choices)
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices)
    category = django_filters.MultipleChoiceFilter(choices=Category.choices)
    order = django_filters.CharFilter(field_name="order__number", lookup_expr="iexact")
    assignee = django_filters.NumberFilter(field_name="assignee_id")
    view = django_filters.ChoiceFilter(choices=VIEWS, method="filter_view", help_text="Agents: a workspace view.")

    class Meta:
        model = Ticket
        fields = ["status", "priority", "category", "order", "assignee", "view"]

    def filter_view(self, queryset, name, value):
        return ticket_queue(queryset, view=value, user=self.request.user)
