"""Other apps extend the order page through orders.admin.order_admin_extensions, not by patching OrderAdmin."""

from orders.admin import OrderAdmin, order_admin_extensions
from orders.services import order_transition
from shipping.admin import create_shipments
from tests.factories import ProductFactory, place_order


def test_shipping_registers_through_the_hook_and_leaves_the_class_alone():
    # the class keeps only its own pieces; shipping's arrive through the registry
    assert create_shipments not in (OrderAdmin.actions or [])
    assert create_shipments in order_admin_extensions.actions
    assert "Parcels" in [section.title for section in order_admin_extensions.sections]


def test_order_page_shows_registered_actions_sections_and_buttons(admin_client, db):
    # given an order being processed (its parcels not made yet) and a placed one
    packed = place_order(lines=[(ProductFactory(stock=3), 1)])
    for name in ("confirm", "start_processing"):
        order_transition(order=packed.number, name=name, check_permission=False)
    placed = place_order(lines=[(ProductFactory(stock=3), 1)])
    # when staff open the changelist and both change pages
    changelist = admin_client.get("/admin/orders/order/")
    packed_page = admin_client.get(f"/admin/orders/order/{packed.pk}/change/")
    placed_page = admin_client.get(f"/admin/orders/order/{placed.pk}/change/")
    # then shipping's actions are offered, its parcels section is on the page, and its button shows where it applies
    assert "create_shipments" in changelist.context["action_form"].fields["action"].choices.__repr__()
    assert [s["title"] for s in packed_page.context["sections"]] == ["Parcels"]
    create = f"/admin/shipping/shipment/create-for-order/{packed.number}/"
    assert create in packed_page.content.decode()
    assert "Create shipments" not in placed_page.content.decode()


def test_buttons_are_only_for_people_with_the_permission(client, agent_user, db):
    # given an order being processed and a support agent (who may not create shipments)
    packed = place_order(lines=[(ProductFactory(stock=3), 1)])
    for name in ("confirm", "start_processing"):
        order_transition(order=packed.number, name=name, check_permission=False)
    client.force_login(agent_user)
    # when they open the order
    page = client.get(f"/admin/orders/order/{packed.pk}/change/").content.decode()
    # then the shipping button is not offered to them
    assert "create-for-order" not in page
