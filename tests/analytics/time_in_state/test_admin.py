"""The rules in the admin: a rule added there takes effect at the next run; bad input is a form error; the lists
keep their query counts; the admin index links the page of open breaches."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from analytics.models import Breach, TimeInStateRule
from orders.services import order_transition
from tests.factories import StaffFactory, place_order

from .conftest import alerts, evaluate, only

pytestmark = pytest.mark.django_db

ADD = "/admin/analytics/timeinstaterule/add/"


@pytest.fixture
def admin_client(client, django_user_model):
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "secret-pass-123")
    client.force_login(boss)
    return client


def form(**fields):
    return {"name": "On hold for two hours", "state": "order.on_hold", "max_age_hours": "2", "active": "on",
            "notify_users": [], **fields}


def test_a_rule_added_in_the_admin_takes_effect(admin_client, customer, settings):
    settings.WAYBILL_STAFF_ALERT_EMAILS = []
    only()
    lea = StaffFactory(username="lea", email="lea@example.com")
    order = place_order(customer=customer)
    order_transition(order=order.number, name="hold", reason="Address check", check_permission=False)
    # when a manager adds a rule: orders on hold over 2 h alert Lea
    response = admin_client.post(ADD, form(notify_users=[lea.pk]))
    assert response.status_code == 302, response.context["adminform"].form.errors
    added = TimeInStateRule.objects.get(name="On hold for two hours")
    assert list(added.notify_users.all()) == [lea] and not added.notify_staff_list
    # then the next run alerts her about the order held three hours ago
    assert evaluate(now=timezone.now() + timedelta(hours=3)) == {added.name: (1, 0)}
    alert = alerts("time_in_state.breached").get()
    assert alert.staff_recipients == ["lea@example.com"]
    assert alert.payload["title"].startswith(f"Order {order.number} on hold for 3 h")
    # and its state cannot change any more (its breaches are about orders on hold)
    page = admin_client.get(f"/admin/analytics/timeinstaterule/{added.pk}/change/")
    assert page.status_code == 200 and 'name="state"' not in page.content.decode()


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"max_age_hours": ""}, "max_age_hours", "no due time of its own"),
    ({"max_age_hours": "-1"}, "max_age_hours", "greater than or equal to"),
    ({"max_age_hours": "abc"}, "max_age_hours", "Enter a number"),
    ({"state": "order.nonsense"}, "state", "Select a valid choice"),
    ({"state": "ticket.waiting_on_us", "max_age_hours": "", "business_hours": "on"}, "business_hours",
     "already counts its calendar"),
    ({"notify_staff_list": ""}, "__all__", "Choose who is alerted"),
])
def test_bad_rules_are_form_errors(admin_client, fields, field, words):
    data = form(notify_staff_list="on")
    data.update(fields)
    data = {k: v for k, v in data.items() if v != ""}
    response = admin_client.post(ADD, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors and words in " ".join(errors[field]), errors
    assert not TimeInStateRule.objects.filter(name="On hold for two hours").exists()


def breaches(n: int, rule: TimeInStateRule) -> None:
    now = timezone.now()
    start = Breach.objects.count()
    Breach.objects.bulk_create([Breach(rule=rule, state=rule.state, object_id=start + i + 1, label=f"Order {i}",
                                       entered_at=now - timedelta(hours=30), due_at=now - timedelta(hours=6))
                                for i in range(n)])


def rules(n: int) -> None:
    start = TimeInStateRule.objects.count()
    for i in range(n):
        rule = TimeInStateRule.objects.create(name=f"Rule {start + i}", state="order.on_hold", max_age_hours=1 + i)
        rule.notify_users.add(StaffFactory())
    breaches(2, rule)


def test_the_rule_list_keeps_its_query_count(admin_client, django_assert_max_num_queries):
    rules(3)
    with django_assert_max_num_queries(20) as few:
        assert admin_client.get("/admin/analytics/timeinstaterule/").status_code == 200
    rules(27)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin_client.get("/admin/analytics/timeinstaterule/").status_code == 200


def test_the_breach_list_keeps_its_query_count(admin_client, django_assert_max_num_queries):
    rule = TimeInStateRule.objects.create(name="Held", state="order.on_hold", max_age_hours=1)
    breaches(3, rule)
    with django_assert_max_num_queries(20) as few:
        page = admin_client.get("/admin/analytics/breach/?open=yes")
        assert page.status_code == 200 and "/admin/orders/order/1/change/" in page.content.decode()
    breaches(27, rule)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin_client.get("/admin/analytics/breach/?open=yes").status_code == 200
    # written by the rules only
    assert admin_client.get("/admin/analytics/breach/add/").status_code == 403


def test_the_admin_index_links_the_open_breaches_for_those_who_may_see_analytics(client):
    viewer = StaffFactory(username="viewer")
    client.force_login(viewer)
    assert "/admin/analytics/openbreach/" not in client.get("/admin/").content.decode()
    viewer.user_permissions.add(Permission.objects.get(codename="view_analytics"))
    index = client.get("/admin/").content.decode()
    assert "/admin/analytics/openbreach/" in index and "Open breaches (time in state)" in index
    response = client.get("/admin/analytics/openbreach/")
    assert response.status_code == 302 and response["Location"] == "/analytics/breaches/"
