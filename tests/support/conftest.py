"""A support desk: a Berlin calendar (Monday to Friday, 9:00 to 17:00), queues per category, SLA policies, and
agents. The delivered phone order comes from the returns tests."""

from datetime import time

import pytest

from support.models import BusinessCalendar, Category, Queue, SlaPolicy, WorkingHours
from tests.factories import StaffFactory
from tests.returns.conftest import case, delivered, north, phone  # noqa: F401 - fixtures shared with returns

BERLIN = "Europe/Berlin"


@pytest.fixture
def desk(db):
    """The desk the migrations set up (office hours, a queue per category, targets per priority), made exact here
    so the arithmetic below does not depend on later edits of those defaults."""
    Queue.objects.all().delete()
    SlaPolicy.objects.all().delete()
    BusinessCalendar.objects.all().delete()
    calendar = BusinessCalendar.objects.create(name="Berlin office", time_zone=BERLIN, is_default=True)
    WorkingHours.objects.bulk_create([WorkingHours(calendar=calendar, weekday=d, opens=time(9), closes=time(17))
                                      for d in range(5)])
    queues = {c: Queue.objects.create(name=f"{c.label} queue", category=c, calendar=calendar) for c in Category}
    SlaPolicy.objects.create(priority="normal", first_response_minutes=4 * 60, resolution_minutes=16 * 60)
    SlaPolicy.objects.create(priority="high", first_response_minutes=60, resolution_minutes=8 * 60)
    SlaPolicy.objects.create(priority="urgent", first_response_minutes=30, resolution_minutes=4 * 60)
    SlaPolicy.objects.create(priority="normal", category="defect", first_response_minutes=2 * 60,
                             resolution_minutes=16 * 60)
    return calendar, queues


@pytest.fixture
def agents(desk):
    _, queues = desk
    ann, bob = StaffFactory(username="ann", group="Support agents"), StaffFactory(username="bob",
                                                                                   group="Support agents")
    for queue in queues.values():
        queue.agents.add(ann, bob)
    return ann, bob


@pytest.fixture
def lead(desk):
    return StaffFactory(username="lea", group="Support leads")
