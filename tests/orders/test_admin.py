"""The order admin: pages load, transition buttons and forms go through the service, staff add notes."""

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import Order, OrderEvent
from tests.factories import OrderFactory, ProductFactory, StaffFactory, place_order


def change_url(order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def change_form_data(response) -> dict:
    """What a browser posts from the change page: the order's editable fields and the inlines' management forms."""
    form = response.context["adminform"].form
    data = {name: ("" if form[name].value() is None else form[name].value()) for name in form.fields}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(name): management[name].value() for name in management.fields})
    return data


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def order(db, customer):
    return place_order(customer=customer, lines=[(ProductFactory(stock=10), 2)])


def test_every_order_admin_page_loads_for_superuser(admin_client, order):
    # given an order with a timeline entry
    event = order.events.get()

    # when the superuser opens every order admin page
    urls = [
        reverse("admin:orders_order_changelist"),
        change_url(order),
        reverse("admin:orders_order_note", args=[order.pk]),
        reverse("admin:orders_order_transition", args=[order.pk, "cancel"]),
        reverse("admin:orders_orderevent_changelist"),
        reverse("admin:orders_orderevent_change", args=[event.pk]),
    ]

    # then each one answers 200
    assert {url: admin_client.get(url).status_code for url in urls} == {url: 200 for url in urls}


def test_order_change_page_shows_buttons_and_note_link(admin_client, order):
    # when the superuser opens a placed order
    page = admin_client.get(change_url(order)).content.decode()

    # then the lifecycle buttons and the note link are there
    assert re.search(r'name="_fsm_transition_to"\s+value="confirm"', page)
    assert re.search(r'name="_fsm_transition_to"\s+value="cancel"', page)
    assert reverse("admin:orders_order_note", args=[order.pk]) in page


def test_order_changelist_queries_do_not_grow(admin_client, customer):
    # given 3 orders
    url = reverse("admin:orders_order_changelist")
    OrderFactory.create_batch(3, customer=customer)
    admin_client.get(url)  # warm caches (content types, permissions)
    with CaptureQueriesContext(connection) as with_3:
        first = admin_client.get(url)

    # when there are 30
    OrderFactory.create_batch(27, customer=customer)
    with CaptureQueriesContext(connection) as with_30:
        second = admin_client.get(url)

    # then the changelist lists them all with the same number of queries
    assert first.status_code == second.status_code == 200
    assert len(second.context["cl"].result_list) == 30
    assert len(with_30) == len(with_3), [q["sql"] for q in with_30.captured_queries]


def test_order_changelist_filters_by_status_and_warehouse(admin_client, order):
    # given a placed order with stock at the product's warehouse
    code = order.allocations.get().warehouse.code
    url = reverse("admin:orders_order_changelist")

    # when filtering
    by_status = admin_client.get(url, {"status__exact": "placed"})
    by_other_status = admin_client.get(url, {"status__exact": "shipped"})
    by_warehouse = admin_client.get(url, {"warehouse": code})

    # then only matching orders are listed
    assert list(by_status.context["cl"].result_list) == [order]
    assert list(by_other_status.context["cl"].result_list) == []
    assert list(by_warehouse.context["cl"].result_list) == [order]


def test_confirm_button_moves_the_order_and_writes_the_timeline(client, staff_user, order):
    # given warehouse staff on the change page of a placed order
    client.force_login(staff_user)
    data = change_form_data(client.get(change_url(order)))

    # when they press Confirm
    response = client.post(change_url(order), {**data, "_fsm_transition_to": "confirm"})

    # then the order is confirmed through the service, which recorded who did it
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.CONFIRMED
    entry = order.events.filter(kind=OrderEvent.Kind.STATUS).last()
    assert (entry.from_status, entry.to_status, entry.transition, entry.actor) == (
        "placed", "confirmed", "confirm", staff_user)
    assert f"{order.number}: Confirm done; now confirmed." in messages_of(response)


def test_shipped_outside_waybill_needs_its_permission_and_a_reason(client, staff_user, customer):
    # given a packed order, and warehouse staff who do not hold orders.ship_outside_waybill
    from django.contrib.auth.models import Permission

    from tests.factories import advance_order

    product = ProductFactory(stock=5)
    order = advance_order(place_order(customer=customer, lines=[(product, 2)]), "packed")
    client.force_login(staff_user)
    page = client.get(change_url(order))
    data = change_form_data(page)
    # then no button ships goods without a parcel, and a forged press changes nothing
    assert not re.search(r'value="ship"', page.content.decode())
    client.post(change_url(order), {**data, "_fsm_transition_to": "ship"})
    order.refresh_from_db()
    assert order.status == Order.Status.PACKED
    # when someone with the permission presses "Shipped outside Waybill", they are asked how the goods left
    lead = StaffFactory(group="Warehouse staff")
    lead.user_permissions.add(Permission.objects.get(codename="ship_outside_waybill"))
    client.force_login(lead)
    assert "Shipped outside Waybill" in client.get(change_url(order)).content.decode()
    form_url = reverse("admin:orders_order_transition", args=[order.pk, "ship"])
    pressed = client.post(change_url(order), {**data, "_fsm_transition_to": "ship"})
    assert pressed["Location"] == form_url
    assert client.post(form_url, {"reason": " "}).status_code == 200
    order.refresh_from_db()
    assert order.status == Order.Status.PACKED
    # and with a reason the order is shipped and the stock has left the warehouse
    client.post(form_url, {"reason": "Collected by the customer at the Berlin counter"})
    order.refresh_from_db()
    level = product.stock_levels.get()
    assert order.status == Order.Status.SHIPPED
    assert (level.on_hand, level.allocated) == (3, 0)
    assert order.events.get(transition="ship").text == "Collected by the customer at the Berlin counter"


def test_refused_transition_shows_the_reason_and_changes_nothing(client, staff_user, order):
    # given a confirmed order, and a stale page still offering Confirm
    client.force_login(staff_user)
    data = change_form_data(client.get(change_url(order)))
    client.post(change_url(order), {**data, "_fsm_transition_to": "confirm"})

    # when Confirm is pressed again
    response = client.post(change_url(order), {**data, "_fsm_transition_to": "confirm"})

    # then the person reads why, and the timeline has one confirmation only
    assert response.status_code == 302
    assert any("cannot confirm" in m for m in messages_of(response))
    assert order.events.filter(transition="confirm").count() == 1


def test_cancel_through_the_transition_form_requires_a_reason(client, agent_user, order):
    # given a support agent on a placed order's page
    client.force_login(agent_user)
    data = change_form_data(client.get(change_url(order)))
    form_url = reverse("admin:orders_order_transition", args=[order.pk, "cancel"])

    # when they press Cancel, they are sent to the reason form
    pressed = client.post(change_url(order), {**data, "_fsm_transition_to": "cancel"})
    assert pressed.status_code == 302 and pressed["Location"] == form_url

    # and an empty reason is refused
    refused = client.post(form_url, {"reason": "  "})
    order.refresh_from_db()
    assert refused.status_code == 200
    assert refused.context["transition_form"].errors["reason"]
    assert order.status == Order.Status.PLACED

    # while a reason cancels the order, releases its stock and goes on the timeline
    done = client.post(form_url, {"reason": "Customer ordered the wrong colour"})
    order.refresh_from_db()
    assert done.status_code == 302
    assert order.status == Order.Status.CANCELLED
    assert order.allocations.get().quantity == 0
    entry = order.events.last()
    assert (entry.transition, entry.text, entry.actor) == ("cancel", "Customer ordered the wrong colour", agent_user)


def test_warehouse_staff_are_not_offered_cancel(client, staff_user, order):
    # given warehouse staff (no orders.cancel_order permission)
    client.force_login(staff_user)

    # when they open the order and try the cancel form anyway
    page = client.get(change_url(order)).content.decode()
    response = client.post(reverse("admin:orders_order_transition", args=[order.pk, "cancel"]), {"reason": "x"})

    # then there is no Cancel button and the order stays placed
    assert not re.search(r'name="_fsm_transition_to"\s+value="cancel"', page)
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED


def test_note_view_adds_an_internal_note(client, staff_user, order):
    # given warehouse staff on the note form
    client.force_login(staff_user)
    url = reverse("admin:orders_order_note", args=[order.pk])
    assert client.get(url).status_code == 200

    # when they write an internal note
    response = client.post(url, {"text": "Customer prefers delivery after 17:00.", "internal": "on"})

    # then it is on the timeline as an internal note by them
    assert response.status_code == 302 and response["Location"] == change_url(order)
    note = order.events.get(kind=OrderEvent.Kind.NOTE)
    assert (note.text, note.internal, note.actor) == ("Customer prefers delivery after 17:00.", True, staff_user)
    assert f"{order.number}: internal note added to the timeline." in messages_of(response)


def test_note_view_adds_a_customer_visible_note_when_unticked(client, agent_user, order):
    # given a support agent
    client.force_login(agent_user)

    # when the internal box is left unticked
    client.post(reverse("admin:orders_order_note", args=[order.pk]), {"text": "Your parcel leaves tomorrow."})

    # then the note is visible to the customer
    assert order.events.get(kind=OrderEvent.Kind.NOTE).internal is False


def test_note_view_refuses_an_empty_note(client, staff_user, order):
    # given warehouse staff
    client.force_login(staff_user)

    # when the note is blank
    response = client.post(reverse("admin:orders_order_note", args=[order.pk]), {"text": "   ", "internal": "on"})

    # then the form says so and nothing is written
    assert response.status_code == 200
    assert response.context["form"].errors["text"]
    assert not order.events.filter(kind=OrderEvent.Kind.NOTE).exists()


def test_note_view_needs_the_note_permission(client, order):
    # given staff who may only view orders
    from django.contrib.auth.models import Permission

    viewer = StaffFactory()
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(viewer)
    url = reverse("admin:orders_order_note", args=[order.pk])

    # when they try to add a note
    response = client.post(url, {"text": "hello", "internal": "on"})

    # then they are refused and there is no link to the form on the order page
    assert response.status_code == 403
    assert not order.events.filter(kind=OrderEvent.Kind.NOTE).exists()
    assert url not in client.get(change_url(order)).content.decode()


def test_buttons_cannot_fire_internal_or_unknown_transitions(client, staff_user, order):
    # given warehouse staff on a placed order's page
    client.force_login(staff_user)
    data = change_form_data(client.get(change_url(order)))

    # when a crafted request asks for the shipping service's internal transition, or for no transition at all
    internal = client.post(change_url(order), {**data, "_fsm_transition_to": "ship_partially"})
    unknown = client.post(change_url(order), {**data, "_fsm_transition_to": "delete"})

    # then both are refused with a message and the order is unchanged
    assert internal.status_code == unknown.status_code == 302
    assert any("no transition called 'ship_partially'" in m for m in messages_of(internal))
    assert any("no transition called 'delete'" in m for m in messages_of(unknown))
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED
    assert order.events.count() == 1
