"""A small shop whose every figure is known: seven orders in March 2026 (and one each side of it), in the shop's
time zone (Europe/Berlin), made through the real services at the times given.

Stock: BER has 10 × PH-A (100.00, Phones, restock 10 days) and 5 × AC-B (20.00, Accessories); MAD has 10 × AC-B,
50 × AC-C (5.00, no category) and 7 × OLD-D (3.00, never sold).

- O0, ada, 20 Feb 12:00: A×1 = 100.00 from BER.
- O1, ada, 2 Mar 10:00: A×1 + B×2 = 140.00 from BER; paid; 30.00 refunded on 25 Mar (no return).
- O2, a guest (Guest@Example.com), 10 Mar 00:30 (9 Mar in UTC): B×1 = 20.00 from BER.
- O3, bob, 10 Mar 12:00, a phone order: C×4 = 20.00 from MAD; paid; handed to the carrier 11 Mar 10:00, delivered
  12 Mar 16:00 (promised for 12 Mar); 2 C claimed defective on 13 Mar, kept, 10.00 refunded on 14 Mar.
- O4, ada, 15 Mar 09:00: A×1 = 100.00 from BER; cancelled on 16 Mar.
- O5, bob, 20 Mar 14:00: B×12 = 240.00, split: 2 from BER, 10 from MAD.
- O6, ada, 31 Mar 23:30: C×2 = 10.00 from MAD.
- O7, the guest (guest@example.com), 1 Apr 00:10 (31 Mar in UTC): C×1 = 5.00 from MAD.

Tickets: T1 opened Thu 5 Mar 09:00, answered 11:00, solved Fri 6 Mar 09:00 (both SLA targets met); T2 opened
Fri 20 Mar 09:00 and never answered (first response missed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group

from orders.services import order_set_payment_status, order_transition
from returns.services import refund_issue, return_approve, return_create, return_resolve
from shipping.services import shipment_create_all, shipment_transition
from support.services import ticket_open, ticket_reply, ticket_transition
from tests.factories import CustomerFactory, ProductFactory, StaffFactory, WarehouseFactory, place_order
from tests.returns.conftest import carrier_event
from tests.shipping.conftest import pack

BERLIN = ZoneInfo("Europe/Berlin")
MARCH = (date(2026, 3, 1), date(2026, 3, 31))


def at(month: int, day: int, hour: int = 12, minute: int = 0, *, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def travel(moment: datetime):
    return time_machine.travel(moment, tick=False)


@dataclass
class Shop:
    orders: dict = field(default_factory=dict)
    products: dict = field(default_factory=dict)
    warehouses: dict = field(default_factory=dict)
    people: dict = field(default_factory=dict)
    tickets: dict = field(default_factory=dict)


@pytest.fixture
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    return BERLIN


def build_shop() -> Shop:
    shop = Shop()
    with travel(at(1, 5)):
        ber = WarehouseFactory(code="BER", name="Berlin", priority=1)
        mad = WarehouseFactory(code="MAD", name="Madrid", priority=2)
        shop.warehouses = {"BER": ber, "MAD": mad}
        shop.products = {
            "A": ProductFactory(sku="PH-A", name="Phone A", price=Decimal("100.00"), category="Phones",
                                restock_days=10, stock={"BER": 10}),
            "B": ProductFactory(sku="AC-B", name="Cable B", price=Decimal("20.00"), category="Accessories",
                                stock={"BER": 5, "MAD": 10}),
            "C": ProductFactory(sku="AC-C", name="Sticker C", price=Decimal("5.00"), stock={"MAD": 50}),
            "D": ProductFactory(sku="OLD-D", name="Old stock D", price=Decimal("3.00"), stock={"MAD": 7}),
        }
        ada = CustomerFactory(username="ada", email="ada@example.com")
        bob = CustomerFactory(username="bob", email="bob@example.com")
        agent = StaffFactory(username="agent", group="Support agents")
        shop.people = {"ada": ada, "bob": bob, "agent": agent}
    A, B, C = shop.products["A"], shop.products["B"], shop.products["C"]
    plan = [
        ("O0", at(2, 20), ada, None, [(A, 1)], {}),
        ("O1", at(3, 2, 10), ada, None, [(A, 1), (B, 2)], {}),
        ("O2", at(3, 10, 0, 30), None, "Guest@Example.com", [(B, 1)], {}),
        ("O3", at(3, 10, 12), bob, None, [(C, 4)], {"channel": "phone"}),
        ("O4", at(3, 15, 9), ada, None, [(A, 1)], {}),
        ("O5", at(3, 20, 14), bob, None, [(B, 12)], {}),
        ("O6", at(3, 31, 23, 30), ada, None, [(C, 2)], {}),
        ("O7", at(4, 1, 0, 10), None, "guest@example.com", [(C, 1)], {}),
    ]
    for name, moment, customer, email, lines, extra in plan:
        with travel(moment):
            shop.orders[name] = place_order(customer=customer, email=email, lines=lines, **extra)
    o = shop.orders
    with travel(at(3, 2, 11)):
        order_set_payment_status(order=o["O1"].number, payment_status="paid")
    with travel(at(3, 10, 13)):
        order_set_payment_status(order=o["O3"].number, payment_status="paid")
    with travel(at(3, 11, 10)):
        o["O3"] = pack(o["O3"])
        (parcel,) = shipment_create_all(order=o["O3"].number, carrier="local")
        for step in ("pick", "pack", "create_label"):
            shipment_transition(shipment=parcel.pk, name=step)
        parcel.refresh_from_db()
        carrier_event(parcel, "PICKED_UP", at=at(3, 11, 10))
    with travel(at(3, 12, 16)):
        carrier_event(parcel, "DELIVERED", at=at(3, 12, 16))
    with travel(at(3, 13, 9)):
        line = o["O3"].lines.get()
        claim = return_create(order=o["O3"].number, resolution="refund",
                              lines=[{"line": line.pk, "quantity": 2, "reason": "defective"}])
    with travel(at(3, 14, 9)):
        return_approve(return_request=claim.number, handling="keep_it", send_label=False)
        return_resolve(return_request=claim.number)
    with travel(at(3, 16, 8)):
        order_transition(order=o["O4"].number, name="cancel", reason="changed my mind", check_permission=False)
    with travel(at(3, 25, 15)):
        refund_issue(order=o["O1"].number, items_amount=Decimal("30.00"), reason="goodwill")
    with travel(at(3, 5, 9)):
        t1 = ticket_open(subject="Where is it?", body="Hello", email="ada@example.com", customer=ada, notify=False)
    with travel(at(3, 5, 11)):
        ticket_reply(ticket=t1.number, author=agent, body="On its way.")
    with travel(at(3, 6, 9)):
        ticket_transition(ticket=t1.number, name="solve", actor=agent)
    with travel(at(3, 20, 9)):
        t2 = ticket_open(subject="Invoice?", body="Please", email="bob@example.com", customer=bob, notify=False)
    shop.tickets = {"T1": t1, "T2": t2}
    for name in o:
        o[name].refresh_from_db()
    return shop


@pytest.fixture
def shop(db, berlin) -> Shop:
    return build_shop()


@pytest.fixture
def analyst(db):
    user = StaffFactory(username="analyst")
    user.groups.add(Group.objects.get(name="Analysts"))
    return user
