"""`manage.py seed_demo`: every status, a consistent ledger, real timelines, and a second run adds nothing.

Seeding takes a few seconds, so each test seeds once and checks everything that one run should have made.
"""

from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from inventory.models import Product, StockLevel, StockMovement, Unit, UnitEvent, Warehouse
from inventory.selectors import ledger_totals
from orders.models import Order, OrderEvent, OrderLine
from orders.signals import order_event_recorded
from shipping.models import Shipment

User = get_user_model()


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", orders=40, customers=10, stdout=out)
    return out.getvalue()


def test_seed_demo_makes_every_status_a_consistent_ledger_and_a_real_history(db):
    # when seeding a small demo
    now = timezone.now()
    receivers = list(order_event_recorded.receivers)
    out = seed()
    done = timezone.now()

    # then every lifecycle status is represented, across 3 warehouses and realistic products
    assert Order.objects.filter(replaces=None).count() == 40  # and the replacements sent for claims
    assert set(Order.objects.values_list("status", flat=True)) == set(Order.Status.values)
    assert list(Warehouse.objects.values_list("priority", flat=True)) == [1, 2, 3]
    assert Product.objects.count() >= 50
    assert Product.objects.filter(serial_tracked=True, name__icontains="iPhone").exists()
    assert User.objects.filter(is_staff=False).count() == 11  # 10 customers and the demo customer

    # and every stock level equals the sum of its movements; shipped or cancelled orders hold no stock
    levels = {(lv.product_id, lv.warehouse_id): (lv.on_hand, lv.allocated) for lv in StockLevel.objects.all()}
    assert levels and ledger_totals() == levels
    for order in Order.objects.filter(status__in=["shipped", "delivered", "cancelled"]):
        assert sum(a.quantity for a in order.allocations.all()) == 0

    # and orders were placed over the last 90 days; each timeline starts at placement, none is in the future
    placed = list(Order.objects.values_list("placed_at", flat=True))
    assert now - timezone.timedelta(days=91) <= min(placed) and max(placed) <= done
    assert max(placed) - min(placed) > timezone.timedelta(days=7)
    for order in Order.objects.prefetch_related("events"):
        times = [e.created_at for e in sorted(order.events.all(), key=lambda e: e.pk)]
        assert times[0] == order.placed_at and times == sorted(times)
        assert order.updated_at == times[-1]
    assert not OrderEvent.objects.filter(created_at__gt=done).exists()
    assert not StockMovement.objects.filter(created_at__gt=done).exists()
    # an order's stock moved at the times of its timeline entries
    order = Order.objects.filter(status="delivered", placed_at__lt=now - timezone.timedelta(days=5)).first()
    movements = StockMovement.objects.filter(reference_id=order.pk, reference_label=order.reference_label)
    assert movements and {m.created_at for m in movements} <= {e.created_at for e in order.events.all()}
    # and every order that left the warehouse did so in parcels with a carrier, a tracking number and scans,
    # dated with its history
    from shipping.models import ShipmentEvent

    for left in Order.objects.filter(status__in=["shipped", "delivered", "partially_shipped"]):
        parcels = list(left.shipments.filter(direction="outbound").exclude(status="cancelled"))
        assert parcels and all(p.carrier_id and p.tracking_number for p in parcels), left.number
    last_arrival = max(p.delivered_at for p in order.shipments.filter(status="delivered"))
    assert last_arrival == order.events.filter(transition="deliver").get().created_at
    from django.db.models import Count

    assert Order.objects.annotate(n=Count("shipments")).filter(n__gt=1).exists()  # some orders came in two parcels
    # and nobody was told about the past: no email was recorded for an order of the history
    from notifications.models import OutboxMessage

    old = Order.objects.filter(placed_at__lt=now - timezone.timedelta(days=3)).values_list("pk", flat=True)
    from django.contrib.contenttypes.models import ContentType

    assert not OutboxMessage.objects.filter(subject_type=ContentType.objects.get_for_model(Order),
                                            subject_id__in=[str(pk) for pk in old]).exists()
    assert not ShipmentEvent.objects.filter(occurred_at__gt=done).exists()

    # and the printed demo logins work, with their roles
    admin, warehouse, support, customer = (User.objects.get(username=n)
                                           for n in ["admin", "warehouse", "support", "customer"])
    assert admin.is_superuser and admin.check_password("waybill-admin")
    assert warehouse.is_staff and warehouse.groups.filter(name="Warehouse staff").exists()
    assert support.is_staff and support.groups.filter(name="Support agents").exists()
    assert not customer.is_staff and customer.check_password("waybill-customer")
    assert Order.objects.filter(customer=customer).count() >= 3
    assert "warehouse  waybill-warehouse" in out

    # and today's orders went out as parcels with tracking numbers; the demo customer has one on its way
    parcels = Shipment.objects.exclude(tracking_number="")
    assert parcels.count() >= 4
    assert parcels.filter(order__customer=customer, status="in_transit").exists()
    assert parcels.filter(status="delivered").exists()

    # and every serial-tracked unit that is out with a customer carries its own serial number, phones an IMEI
    out_now = OrderLine.objects.filter(product__serial_tracked=True).aggregate(n=Sum("shipped_quantity"))["n"]
    came_back = UnitEvent.objects.filter(kind="return_received").values("unit").distinct().count()  # returns
    assert out_now and Unit.objects.filter(status=Unit.Status.WITH_CUSTOMER).count() + came_back == out_now
    phones = Unit.objects.filter(product__sku__startswith="PH-")
    assert phones.exists() and all(len(u.serial) == 15 and u.serial.isdigit() for u in phones)
    assert not UnitEvent.objects.filter(created_at__gt=done).exists()
    # units of a parcel that came back are in stock again
    returned = Order.objects.filter(status="returned").first()
    back = UnitEvent.objects.filter(order_number=returned.number, kind="back_to_stock")
    lines = returned.lines.filter(product__serial_tracked=True)
    assert back.count() == sum(line.quantity for line in lines)

    # and nothing leaves unpaid: every shipped or delivered order was paid (and some were refunded since)
    assert not Order.objects.filter(status__in=["shipped", "delivered"], payment_status="unpaid").exists()

    # and there are returns and claims in every state, made through the services; the demo customer has the
    # whole phone story: the faulty unit scrapped, a replacement with its own IMEI delivered
    from returns.models import Refund, ReturnRequest

    assert set(ReturnRequest.objects.values_list("status", flat=True)) == set(ReturnRequest.Status.values)
    assert {"return", "keep_it", "advance_replacement"} <= set(ReturnRequest.objects.values_list("handling",
                                                                                                 flat=True))
    story = ReturnRequest.objects.get(customer=customer, status="closed", handling="advance_replacement")
    (claim,) = story.lines.select_related("unit", "replacement_unit")
    assert (claim.unit.status, claim.replacement_unit.status) == ("scrapped", "with_customer")
    assert story.replacement_order.status == "delivered"
    assert ReturnRequest.objects.filter(customer=customer, status="awaiting_item", label_shipment__isnull=False)
    on_its_way = ReturnRequest.objects.get(customer=customer, handling="advance_replacement", status="awaiting_item")
    assert on_its_way.replacement_order.shipments.get().status == "in_transit"  # the replacement travels
    for order in Order.objects.filter(refunds__isnull=False).distinct():
        assert order.refunded_total == sum(r.amount for r in Refund.objects.filter(order=order)) <= order.total

    # and support tickets in every state, with conversations and internal notes; the demo customer's phone story
    from support.models import Ticket

    assert set(Ticket.objects.values_list("status", flat=True)) == set(Ticket.Status.values)
    assert Ticket.objects.filter(messages__internal=True).exists()
    story = Ticket.objects.get(customer=customer, category="defect")
    assert story.status == "solved" and story.return_request.replacement_order.status == "delivered"

    # and the notification receivers, quiet while history was imported, are back
    assert order_event_recorded.receivers == receivers


def test_seed_demo_second_run_keeps_the_data(db, monkeypatch):
    # given a demo seeded with the admin password from the environment
    monkeypatch.setenv("WAYBILL_DEMO_ADMIN_PASSWORD", "from-the-env-123")
    first = seed()
    before = (Order.objects.count(), OrderEvent.objects.count(), StockMovement.objects.count(), User.objects.count())

    # when the command runs again
    again = seed()

    # then nothing is added, it says the demo data is already there, and the logins still work
    after = (Order.objects.count(), OrderEvent.objects.count(), StockMovement.objects.count(), User.objects.count())
    assert after == before
    assert "already present" in again and "already present" not in first
    assert User.objects.get(username="admin").check_password("from-the-env-123")
    assert "from-the-env-123" in first and "from-the-env-123" in again
