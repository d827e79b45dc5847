"""What an order costs and where its emails go come from the shop, never from the customer; unpaid orders do not
hold stock for ever; prices and the catalogue need a permission the warehouse role does not have."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone

from inventory.models import Product, StockLevel
from orders.models import Order, OrderEvent
from orders.services import _expire_unpaid, order_expire_unpaid, order_set_payment_status, order_transition
from tests.factories import ProductFactory, StaffFactory, order_payload, place_order
from tests.orders.test_concurrency import run_together


def _written():
    return Order.objects.count(), OrderEvent.objects.count()


# --- currency and prices ------------------------------------------------------------------------------------

def test_a_customer_cannot_choose_the_currency_of_an_order(client_customer, settings):
    # given a shop whose price list is in EUR and a phone at 899.00
    settings.WAYBILL_CURRENCY = "EUR"
    phone = ProductFactory(stock=5, price=Decimal("899.00"))
    before = _written()
    # when a customer asks for the same goods in JPY
    response = client_customer.post("/api/orders/", order_payload((phone, 1), currency="JPY"), format="json")
    # then 400 names the currency and says which one the shop sells in, and nothing is written
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body["extra"]["fields"]) == {"currency"}
    assert "EUR" in body["message"]
    assert _written() == before


def test_an_order_is_always_in_the_shops_currency_at_the_shops_prices(client_customer, settings):
    settings.WAYBILL_CURRENCY = "EUR"
    phone = ProductFactory(stock=5, price=Decimal("899.00"))
    for payload in (order_payload((phone, 1)), order_payload((phone, 1), currency="EUR")):
        response = client_customer.post("/api/orders/", payload, format="json")
        assert response.status_code == 201, response.content
        order = Order.objects.get(number=response.json()["number"])
        assert (order.currency, order.subtotal, order.lines.get().unit_price) == ("EUR", Decimal("899.00"),
                                                                                 Decimal("899.00"))


def test_customers_pay_the_shops_shipping_rate_and_cannot_set_their_own(client_customer, settings):
    # given shipping at 4.90, free from 100.00
    settings.WAYBILL_SHIPPING_RATE = Decimal("4.90")
    settings.WAYBILL_FREE_SHIPPING_FROM = Decimal("100.00")
    case = ProductFactory(stock=10, price=Decimal("20.00"))
    phone = ProductFactory(stock=10, price=Decimal("899.00"))
    # when a customer leaves shipping out, or sends the quoted figure, they pay the rate
    for payload in (order_payload((case, 1)), order_payload((case, 1), shipping_total="4.90")):
        response = client_customer.post("/api/orders/", payload, format="json")
        assert response.status_code == 201, response.content
        assert (response.json()["shipping_total"], response.json()["total"]) == ("4.90", "24.90")
    # and above the threshold shipping is free
    response = client_customer.post("/api/orders/", order_payload((phone, 1)), format="json")
    assert response.json()["shipping_total"] == "0.00"
    # when a customer sends a price of their own, it is refused with the quote, and nothing is written
    before = _written()
    response = client_customer.post("/api/orders/", order_payload((case, 1), shipping_total="0.00"), format="json")
    assert response.status_code == 400, response.content
    assert response.json()["extra"]["quoted_shipping_total"] == "4.90"
    assert set(response.json()["extra"]["fields"]) == {"shipping_total"}
    assert _written() == before


def test_staff_may_price_the_shipping_of_a_phone_order(client_staff, settings):
    settings.WAYBILL_SHIPPING_RATE = Decimal("4.90")
    case = ProductFactory(stock=10, price=Decimal("20.00"))
    payload = order_payload((case, 1), email="caller@example.org", shipping_total="12.00")
    response = client_staff.post("/api/orders/", payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["shipping_total"] == "12.00"


# --- contact email ------------------------------------------------------------------------------------------

def test_a_customers_order_emails_only_their_own_address(client_customer, customer):
    product = ProductFactory(stock=5)
    before = _written()
    # when a signed-in customer names someone else's address as the contact
    response = client_customer.post("/api/orders/", order_payload((product, 1), email="victim@example.net"),
                                    format="json")
    # then it is refused (the shop would write to that address), naming their own
    assert response.status_code == 400, response.content
    assert customer.email in response.json()["extra"]["fields"]["email"][0]
    assert _written() == before
    # and their own address, in any case, is accepted and used
    response = client_customer.post("/api/orders/", order_payload((product, 1), email=customer.email.upper()),
                                    format="json")
    assert response.status_code == 201
    assert Order.objects.get(number=response.json()["number"]).email == customer.email


# --- unpaid orders expire -----------------------------------------------------------------------------------

@pytest.fixture
def expiry(settings):
    settings.WAYBILL_UNPAID_ORDER_EXPIRY_HOURS = 72
    return timedelta(hours=72)


def test_an_unpaid_order_expires_releases_its_stock_and_tells_the_customer(
        customer, expiry, django_capture_on_commit_callbacks):
    # given an unpaid order that reserves the last two phones
    phone = ProductFactory(stock=2)
    order = place_order(customer=customer, lines=[(phone, 2)])
    assert StockLevel.objects.get(product=phone).allocated == 2
    # when it is younger than the expiry, nothing happens
    with time_machine.travel(timezone.now() + expiry - timedelta(minutes=1)):
        assert order_expire_unpaid() == []
    # when it is older, it is cancelled, its stock released, the reason on the timeline and the customer told
    mail.outbox.clear()
    with (time_machine.travel(timezone.now() + expiry + timedelta(minutes=1)),
          django_capture_on_commit_callbacks(execute=True)):
        assert order_expire_unpaid() == [order.number]
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert StockLevel.objects.get(product=phone).allocated == 0
    event = order.events.get(transition="cancel")
    assert event.data == {"expired_unpaid": True, "expiry_hours": 72}
    assert "3 days" in event.text
    (message,) = [m for m in mail.outbox if customer.email in m.to]
    assert "did not receive the payment" in message.body
    assert "Nothing was charged" in message.body
    # and a second run finds nothing more to do
    with time_machine.travel(timezone.now() + expiry + timedelta(minutes=2)):
        assert order_expire_unpaid() == []


def test_paid_held_picked_and_free_orders_do_not_expire(customer, expiry, manager_user):
    paid = place_order(customer=customer)
    order_set_payment_status(order=paid, payment_status=Order.PaymentStatus.PAID)
    held = place_order(customer=customer)
    order_transition(order=held, name="hold", reason="Customer asked us to wait", actor=manager_user)
    picking = place_order(customer=customer)
    for name in ("confirm", "start_processing"):
        order_transition(order=picking, name=name, actor=manager_user)
    free = place_order(customer=customer, lines=[(ProductFactory(stock=3, price=Decimal("0.00")), 1)])
    with time_machine.travel(timezone.now() + expiry * 3):
        assert order_expire_unpaid() == []
    assert {o.status for o in Order.objects.filter(pk__in=[paid.pk, held.pk, picking.pk, free.pk])} == {
        Order.Status.PLACED, Order.Status.ON_HOLD, Order.Status.PROCESSING}


def test_a_payment_recorded_after_the_scan_picked_the_order_keeps_it(customer, expiry):
    order = place_order(customer=customer)
    cutoff = timezone.now() + timedelta(minutes=1)  # the scan selected it as old enough...
    order_set_payment_status(order=order, payment_status=Order.PaymentStatus.PAID)  # ...then the payment landed
    assert _expire_unpaid(number=order.number, cutoff=cutoff, hours=72) is False
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED


def test_expiry_is_off_when_the_setting_is_zero(customer, settings):
    settings.WAYBILL_UNPAID_ORDER_EXPIRY_HOURS = 0
    place_order(customer=customer)
    with time_machine.travel(timezone.now() + timedelta(days=365)):
        assert order_expire_unpaid() == []


def test_the_expiry_runs_in_bounded_batches_oldest_first(customer, expiry):
    orders = [place_order(customer=customer) for _ in range(3)]
    with time_machine.travel(timezone.now() + expiry * 2):
        assert order_expire_unpaid(limit=2) == [orders[0].number, orders[1].number]
        assert order_expire_unpaid(limit=2) == [orders[2].number]


def test_the_expiry_is_scheduled(settings):
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "orders.tasks.order_expire_unpaid_task" in schedule


@pytest.mark.django_db(transaction=True)
def test_two_expiry_runs_at_once_cancel_each_order_once(postgres, settings):
    settings.WAYBILL_UNPAID_ORDER_EXPIRY_HOURS = 72
    from tests.factories import CustomerFactory

    product = ProductFactory(stock=20)
    orders = [place_order(customer=CustomerFactory(), lines=[(product, 2)]) for _ in range(5)]
    with time_machine.travel(timezone.now() + timedelta(hours=73)):
        results = run_together(2, lambda _i: order_expire_unpaid())
    assert all(isinstance(r, list) for r in results), results
    assert sorted(results[0] + results[1]) == sorted(o.number for o in orders)
    assert OrderEvent.objects.filter(transition="cancel").count() == 5
    assert StockLevel.objects.get(product=product).allocated == 0


# --- prices and the catalogue need their own permission -----------------------------------------------------

@pytest.fixture
def catalogue_manager(db):
    return StaffFactory(group="Catalogue managers")


def test_the_warehouse_role_cannot_change_prices_or_the_catalogue(client_staff, staff_user):
    product = ProductFactory(stock=5, price=Decimal("10.00"))
    assert staff_user.groups.filter(name="Warehouse staff").exists()
    for change in ({"price": "0.01"}, {"name": "Free phone"}, {"active": False}):
        response = client_staff.patch(f"/api/products/{product.sku}/", change, format="json")
        assert response.status_code == 403, (change, response.content)
        assert set(response.json()) == {"code", "message", "extra"}
    response = client_staff.post("/api/products/", {"sku": "NEW-1", "name": "New", "price": "1.00"}, format="json")
    assert response.status_code == 403
    product.refresh_from_db()
    assert (product.price, product.name, product.active) == (Decimal("10.00"), product.name, True)
    assert not Product.objects.filter(sku="NEW-1").exists()
    # the operational fields stay theirs
    response = client_staff.patch(f"/api/products/{product.sku}/", {"low_stock_threshold": 2}, format="json")
    assert response.status_code == 200, response.content


def test_catalogue_managers_change_prices_and_add_products(api_client, catalogue_manager):
    product = ProductFactory(stock=5, price=Decimal("10.00"))
    api_client.force_authenticate(catalogue_manager)
    assert api_client.patch(f"/api/products/{product.sku}/", {"price": "12.50"}, format="json").status_code == 200
    product.refresh_from_db()
    assert product.price == Decimal("12.50")
    response = api_client.post("/api/products/", {"sku": "NEW-2", "name": "New", "price": "1.00"}, format="json")
    assert response.status_code == 201, response.content


def test_in_the_admin_the_warehouse_role_sees_prices_but_cannot_edit_them(client, staff_user, catalogue_manager):
    product = ProductFactory(stock=5, price=Decimal("10.00"))
    client.force_login(staff_user)
    page = client.get(f"/admin/inventory/product/{product.pk}/change/").content.decode()
    assert 'name="price"' not in page and "10.00" in page
    assert 'name="low_stock_threshold"' in page
    assert client.get("/admin/inventory/product/add/").status_code == 403
    # a forged POST of a new price changes nothing
    client.post(f"/admin/inventory/product/{product.pk}/change/",
                {"price": "0.01", "low_stock_threshold": 5, "serial_format": "serial"})
    product.refresh_from_db()
    assert product.price == Decimal("10.00")
    client.force_login(catalogue_manager)
    assert 'name="price"' in client.get(f"/admin/inventory/product/{product.pk}/change/").content.decode()


def test_the_groups_split_prices_from_the_warehouse(db):
    warehouse = Group.objects.get(name="Warehouse staff")
    codes = set(warehouse.permissions.values_list("codename", flat=True))
    assert "manage_catalogue" not in codes and "add_product" not in codes
    assert "change_stocklevel" in codes
