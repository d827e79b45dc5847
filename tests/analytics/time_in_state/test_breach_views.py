"""The staff page of open breaches, /analytics/breaches/, and the fragment the dashboard includes."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.template.loader import render_to_string
from django.utils import timezone

from analytics.models import Breach, TimeInStateRule
from analytics.time_in_state.selectors import breach_list_open
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

PAGE = "/analytics/breaches/"


@pytest.fixture
def viewer(client):
    user = StaffFactory(username="viewer")
    user.user_permissions.add(Permission.objects.get(codename="view_analytics"))
    client.force_login(user)
    return user


def breaches(n: int) -> list[Breach]:
    now = timezone.now()
    rule, _ = TimeInStateRule.objects.get_or_create(name="Held", defaults={"state": "order.on_hold",
                                                                           "max_age_hours": 1})
    start = Breach.objects.count()
    return Breach.objects.bulk_create([
        Breach(rule=rule, state=rule.state, object_id=start + i + 1, label=f"Order WB-{start + i:04d}",
               entered_at=now - timedelta(hours=30 + i), due_at=now - timedelta(hours=29 + i)) for i in range(n)])


def test_who_may_see_the_page(client):
    assert client.get(PAGE).status_code == 302  # to the sign-in
    client.force_login(StaffFactory(username="clerk"))
    assert client.get(PAGE).status_code == 403  # staff without "view analytics"
    client.force_login(StaffFactory(username="fan", is_staff=False))
    assert client.get(PAGE).status_code == 302


def test_the_page_lists_open_breaches_longest_overdue_first(client, viewer):
    newer, older = breaches(2)
    closed = breaches(1)[0]
    Breach.objects.filter(pk=closed.pk).update(closed_at=timezone.now())
    response = client.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index(older.label) < html.index(newer.label)
    assert f'href="/admin/orders/order/{older.object_id}/change/"' in html
    assert closed.label not in html
    assert "Waiting longer than a rule allows: 2" in html


def test_the_page_keeps_its_query_count(client, viewer, django_assert_max_num_queries):
    breaches(3)
    with django_assert_max_num_queries(12) as few:
        assert client.get(PAGE).status_code == 200
    breaches(27)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(PAGE).content.decode().count('<td><a href="/admin/orders/order/') == 30


def test_the_fragment_renders_alone(django_assert_num_queries):
    breaches(3)
    listed = list(breach_list_open())
    with django_assert_num_queries(0):
        html = render_to_string("analytics/_breaches.html", {"breaches": listed})
    assert html.count("<tr>") == 4
    assert "Nothing has waited longer" in render_to_string("analytics/_breaches.html", {"breaches": []})
