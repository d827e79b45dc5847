"""Demo returns and claims for `seed_demo`: one in every state, each on an order delivered through the shipping
services and driven through returns.services, so every label, replacement, refund, movement and unit history is
the one the application itself writes. The demo customer gets the whole phone story (a defect, an advance
replacement shipped with a new IMEI, the faulty phone back and scrapped) and a return waiting for its parcel."""

from __future__ import annotations

from dataclasses import dataclass

from inventory.models import Product
from orders.models import Order
from orders.services import order_place, order_set_payment_status, order_transition
from shipping.services import shipment_create_all, shipment_transition

from .services import (
    Inspection,
    return_approve,
    return_cancel,
    return_close,
    return_create,
    return_inspect,
    return_receive,
    return_reject,
    return_resolve,
)


@dataclass(frozen=True)
class Story:
    steps: tuple[str, ...]  # what happens after the request, in order
    resolution: str = "refund"
    reason: str = "no_longer_wanted"
    phone: bool = False
    handling: str = "return"
    disposition: str = "restock"
    demo_customer: bool = False
    note: str = ""


STORIES = [
    Story((), demo_customer=True, note="Too small for my bag."),
    Story((), resolution="replacement", reason="defective", phone=True, note="The camera will not focus."),
    Story(("reject",), note="Worn twice, changed my mind."),
    Story(("cancel",), note="Found a use for it after all."),
    Story(("approve",), reason="missing_item", handling="keep_it", note="The charger was not in the box."),
    Story(("approve",), reason="not_as_described", demo_customer=True, note="The colour is different."),
    Story(("approve",), resolution="replacement", reason="defective", phone=True, handling="advance_replacement",
          note="It restarts every few minutes."),
    Story(("approve", "receive"), reason="wrong_item", note="I received a different model."),
    Story(("approve", "receive", "inspect"), resolution="replacement", reason="defective", phone=True,
          disposition="scrap", note="No sound from the speaker."),
    Story(("approve", "receive", "inspect", "resolve"), reason="damaged_in_transit",
          note="The box arrived crushed."),
    Story(("approve", "resolve"), resolution="exchange", reason="not_as_described", handling="keep_it",
          demo_customer=True, note="I wanted the other size."),
    Story(("approve", "resolve", "close"), reason="missing_item", handling="keep_it",
          note="One of the two was missing."),
    Story(("approve", "replacement_on_its_way"), resolution="replacement", reason="defective", phone=True,
          handling="advance_replacement", demo_customer=True, note="The battery drains in two hours."),
    Story(("approve", "ship_replacement", "receive", "inspect", "resolve", "close"), resolution="replacement",
          reason="defective", phone=True, handling="advance_replacement", disposition="scrap", demo_customer=True,
          note="The screen flickers and goes black."),
]


class ReturnSeeder:
    def __init__(self, command, *, products: list[Product], people: list, users: dict):
        self.command, self.users, self.people = command, users, people
        self.phones = [p for p in products if p.serial_tracked and p.serial_format == Product.SerialFormat.IMEI]
        self.others = [p for p in products if not p.serial_tracked]
        self.cheap = sorted(self.others, key=lambda p: p.price)

    def run(self, count: int) -> list[int]:
        """Play the first `count` stories; returns the ids of the orders involved (replacements included)."""
        for story in STORIES[:count]:
            self._play(story)
        return list(Order.objects.filter(returns__isnull=False).values_list("pk", flat=True)) + list(
            Order.objects.filter(replaces__isnull=False).values_list("pk", flat=True))

    def _deliver(self, customer, lines) -> Order:
        address, phone = self.command._address(customer)
        order, _ = order_place(customer=customer, email=customer.email, phone=phone, shipping_address=address,
                               lines=[{"sku": p.sku, "quantity": q} for p, q in lines], actor=customer)
        order_set_payment_status(order=order, payment_status=Order.PaymentStatus.PAID, reason="Card payment captured")
        self._send(order)
        return order

    def _send(self, order: Order, *, deliver: bool = True) -> None:
        warehouse = self.users["warehouse"]
        for name in ("confirm", "start_processing", "pack"):
            order_transition(order=order.number, name=name, actor=warehouse)
        for parcel in shipment_create_all(order=order.number, carrier="local", actor=warehouse):
            shipment_transition(shipment=parcel.pk, name="pick", actor=warehouse)
            serials = {sl.order_line_id: self.command._serials(sl.order_line.product, sl.quantity)
                       for sl in parcel.lines.select_related("order_line__product")
                       if sl.order_line.product.serial_tracked}
            shipment_transition(shipment=parcel.pk, name="pack", actor=warehouse, serials=serials)
            for name in ("create_label", "hand_over", "deliver") if deliver else ("create_label", "hand_over"):
                shipment_transition(shipment=parcel.pk, name=name, actor=warehouse)

    def _play(self, story: Story) -> None:
        rng, support, warehouse = self.command.rng, self.users["support"], self.users["warehouse"]
        customer = self.users["customer"] if story.demo_customer else rng.choice(self.people)
        product = rng.choice(self.phones) if story.phone and self.phones else rng.choice(self.others)
        quantity = 1 if product.serial_tracked else 2
        order = self._deliver(customer, [(product, quantity)])
        line = order.lines.get()
        serial = ""
        if product.serial_tracked:
            serial = line.shipment_lines.get().units.select_related("unit").get().unit.serial
        claimed = 1 if story.reason == "missing_item" or product.serial_tracked else quantity
        exchange = ""
        if story.resolution == "exchange":
            exchange = next((p.sku for p in self.cheap if p.pk != product.pk), "")
        rr = return_create(order=order, resolution=story.resolution, channel="portal", actor=customer,
                           customer_note=story.note, exchange_sku=exchange,
                           lines=[{"line": line.pk, "quantity": claimed, "reason": story.reason, "serial": serial,
                                   "description": story.note}])
        for step in story.steps:
            if step == "approve":
                return_approve(return_request=rr.number, actor=support, handling=story.handling,
                               instructions="Pack it in its original box if you still have it.")
            elif step == "reject":
                return_reject(return_request=rr.number, actor=support,
                              reason="The item shows signs of use, so we cannot take it back for a change of mind.")
            elif step == "cancel":
                return_cancel(return_request=rr.number, actor=customer, check_permission=False,
                              reason="Withdrawn by the customer")
            elif step in ("ship_replacement", "replacement_on_its_way"):
                rr.refresh_from_db()
                self._send(rr.replacement_order, deliver=step == "ship_replacement")
            elif step == "receive":
                return_receive(return_request=rr.number, actor=warehouse)
            elif step == "inspect":
                return_inspect(return_request=rr.number, actor=warehouse, inspections=[
                    Inspection(line=pk, disposition=story.disposition,
                               note="Fault confirmed" if story.disposition == "scrap" else "As new")
                    for pk in rr.lines.values_list("pk", flat=True)])
            elif step == "resolve":
                return_resolve(return_request=rr.number, actor=support)
            elif step == "close":
                return_close(return_request=rr.number, actor=support)
