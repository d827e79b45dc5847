"""Other apps extend the order page through orders.admin.order_admin_extensions, not by patching OrderAdmin."""

from orders.admin import OrderAdmin, order_admin_extensions
from shipping.admin import ShipmentInline, create_shipments
from tests.factories import ProductFactory, place_order
from tests.shipping.conftest import pack


def test_shipping_registers_through_the_hook_and_leaves_the_class_alone():
    # the class keeps only its own pieces; shipping's arrive through the registry
    assert create_shipments not in (OrderAdmin.actions or [])
    assert ShipmentInline not in OrderAdmin.inlines
    assert create_shipments in order_admin_extensions.actions
    assert ShipmentInline in order_admin_extensions.inlines


def test_order_page_shows_registered_actions_inlines_and_buttons(admin_client, db):
    # given a packed order and a placed one
    packed = pack(place_order(lines=[(ProductFactory(stock=3), 1)]))
    placed = place_order(lines=[(ProductFactory(stock=3), 1)])
    # when staff open the changelist and both change pages
    changelist = admin_client.get("/admin/orders/order/")
    packed_page = admin_client.get(f"/admin/orders/order/{packed.pk}/change/")
    placed_page = admin_client.get(f"/admin/orders/order/{placed.pk}/change/")
    # then shipping's actions are offered, its inline is on the page, and its button shows where it applies
    assert "create_shipments" in changelist.context["action_form"].fields["action"].choices.__repr__()
    assert any(type(f.opts) is ShipmentInline for f in packed_page.context["inline_admin_formsets"])
    create = f"/admin/shipping/shipment/create-for-order/{packed.number}/"
    assert create in packed_page.content.decode()
    assert "Create shipments" not in placed_page.content.decode()


def test_buttons_are_only_for_people_with_the_permission(client, agent_user, db):
    # given a packed order and a support agent (who may not create shipments)
    packed = pack(place_order(lines=[(ProductFactory(stock=3), 1)]))
    client.force_login(agent_user)
    # when they open the order
    page = client.get(f"/admin/orders/order/{packed.pk}/change/").content.decode()
    # then the shipping button is not offered to them
    assert "create-for-order" not in page
