import django_filters

from config.filters import FilterSet, IsoDateTimeFilter

from .models import Reason, ReturnLine, ReturnRequest


class ReturnFilter(FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ReturnRequest.Status.choices)
    resolution = django_filters.MultipleChoiceFilter(choices=ReturnRequest.Resolution.choices)
    handling = django_filters.MultipleChoiceFilter(choices=ReturnRequest.Handling.choices)
    reason = django_filters.ChoiceFilter(choices=Reason.choices, method="filter_reason")
    order = django_filters.CharFilter(field_name="order__number", lookup_expr="iexact")
    warehouse = django_filters.CharFilter(field_name="warehouse__code", lookup_expr="iexact")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ReturnRequest
        fields = ["status", "resolution", "handling", "reason", "order", "warehouse", "created_after",
                  "created_before"]

    def filter_reason(self, queryset, name, value):
        return queryset.filter(pk__in=ReturnLine.objects.filter(reason=value).values("return_request_id"))
