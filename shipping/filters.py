import django_filters

from config.filters import FilterSet, IsoDateTimeFilter

from .models import Shipment


class ShipmentFilter(FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Shipment.Status.choices)
    carrier = django_filters.CharFilter(field_name="carrier__code", help_text="Carrier code")
    warehouse = django_filters.CharFilter(field_name="warehouse__code", help_text="Warehouse code")
    order = django_filters.CharFilter(field_name="order__number", lookup_expr="iexact", help_text="Order number")
    date = django_filters.DateFilter(field_name="created_at", lookup_expr="date", help_text="Created on (YYYY-MM-DD)")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Shipment
        fields = ["status", "carrier", "warehouse", "order", "date", "created_after", "created_before"]
