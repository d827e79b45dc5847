import django_filters

from config.filters import FilterSet, IsoDateTimeFilter

from .models import Order
from .selectors import order_filter_by_warehouse, order_search


class OrderFilter(FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Order.Status.choices)
    placed_after = IsoDateTimeFilter(field_name="placed_at", lookup_expr="gte")
    placed_before = IsoDateTimeFilter(field_name="placed_at", lookup_expr="lt")
    email = django_filters.CharFilter(field_name="email", lookup_expr="iexact")
    number = django_filters.CharFilter(field_name="number", lookup_expr="iexact")
    warehouse = django_filters.CharFilter(method="filter_warehouse", help_text="Warehouse code")
    payment_status = django_filters.MultipleChoiceFilter(choices=Order.PaymentStatus.choices)
    q = django_filters.CharFilter(method="filter_search", max_length=100,
                                  help_text="Part of the order number, the customer's name, email or phone (three "
                                  "characters or more), or a whole tracking number or serial.")

    class Meta:
        model = Order
        fields = ["status", "payment_status", "placed_after", "placed_before", "email", "number", "warehouse", "q"]

    def filter_warehouse(self, queryset, name, value):
        return order_filter_by_warehouse(queryset, value)

    def filter_search(self, queryset, name, value):
        return order_search(queryset, value)
