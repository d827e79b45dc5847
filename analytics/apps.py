from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """The business seeing itself: sales, customers, fulfilment, after-sales and stock panels for staff, and the
    time-in-state rules that alert staff when something waits too long. Reads the other apps through their selectors
    or its own rollup tables; writes nothing of theirs."""

    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from .time_in_state import events

        events.register()
