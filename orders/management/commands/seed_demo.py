"""`manage.py seed_demo`: a back office with three months of history to click through.

Everything is made through the real services (stock_receive, order_place, order_transition, order_add_note,
order_set_payment_status; parcels through shipping.demo, returns through returns.demo, tickets through
support.demo), so stock levels, the ledger and every order's timeline are the ones the application itself would
have written. Afterwards each order's timestamps (placed_at, its timeline, its
stock movements) are moved back to the day it was placed on.

Running it again keeps the data: demo orders are added only to a database without orders. The history is
imported quietly: the receivers of order_event_recorded and low_stock_alerts_raised (notifications) are not
called while seeding, so no customer or staff member is emailed about events of the past.
"""

from __future__ import annotations

import os
import random
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from config.signals import receivers_muted
from inventory.demo import PRODUCTS, WAREHOUSES, InventorySeeder
from inventory.models import Product, StockMovement, UnitEvent, Warehouse
from inventory.services import units_pack, units_return_to_stock, units_ship
from inventory.signals import low_stock_alerts_raised
from orders.models import Allocation, Order, OrderEvent
from orders.services import (
    order_add_note,
    order_place,
    order_return_shipped_items,
    order_set_payment_status,
    order_ship_items,
    order_transition,
)
from orders.signals import order_event_recorded

User = get_user_model()
S = Order.Status

# username, environment variable with the password, default password, what the login is for
DEMO_LOGINS = [
    ("admin", "WAYBILL_DEMO_ADMIN_PASSWORD", "waybill-admin", "superuser: everything"),
    ("warehouse", "WAYBILL_DEMO_WAREHOUSE_PASSWORD", "waybill-warehouse",
     "Warehouse staff: stock, order lifecycle, returned items"),
    ("support", "WAYBILL_DEMO_SUPPORT_PASSWORD", "waybill-support", "Support agents: /support/, claims, refunds"),
    ("customer", "WAYBILL_DEMO_CUSTOMER_PASSWORD", "waybill-customer", "a customer: the portal and the API"),
]

FIRST_NAMES = [
    "Anna", "Lukas", "Sofia", "Jonas", "Emma", "Noah", "Mia", "Elias", "Lena", "Finn", "Clara", "Luca", "Marie",
    "Paul", "Julia", "Mateo", "Lucía", "Hugo", "Chloé", "Louis", "Sanne", "Daan", "Fleur", "Bram", "Giulia",
    "Marco", "Chiara", "Olivia", "Oliver", "Amelia", "Jakub", "Zofia", "Freja", "Oskar", "Ines", "Tomás",
]
LAST_NAMES = [
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "García", "Martínez", "López", "Dubois", "Martin",
    "Bernard", "de Jong", "Jansen", "Visser", "Rossi", "Russo", "Bianchi", "Smith", "Jones", "Taylor", "Nowak",
    "Kowalski", "Andersson", "Johansson", "Silva", "Santos", "Huber", "Wagner", "Peeters", "Janssens",
]
# city, postal code, country, streets
CITIES = [
    ("Berlin", "10115", "DE", ["Invalidenstraße", "Torstraße", "Kastanienallee"]),
    ("Hamburg", "20095", "DE", ["Mönckebergstraße", "Lange Reihe"]),
    ("München", "80331", "DE", ["Sendlinger Straße", "Leopoldstraße"]),
    ("Köln", "50667", "DE", ["Ehrenstraße", "Venloer Straße"]),
    ("Amsterdam", "1015 CJ", "NL", ["Prinsengracht", "Haarlemmerstraat"]),
    ("Utrecht", "3511 LX", "NL", ["Oudegracht", "Biltstraat"]),
    ("Paris", "75011", "FR", ["Rue Oberkampf", "Boulevard Voltaire"]),
    ("Lyon", "69002", "FR", ["Rue de la République", "Quai Saint-Antoine"]),
    ("Madrid", "28004", "ES", ["Calle de Fuencarral", "Calle de Hortaleza"]),
    ("Barcelona", "08012", "ES", ["Carrer de Verdi", "Travessera de Gràcia"]),
    ("Milano", "20121", "IT", ["Corso Garibaldi", "Via Solferino"]),
    ("Wien", "1070", "AT", ["Neubaugasse", "Zieglergasse"]),
    ("Bruxelles", "1050", "BE", ["Chaussée d'Ixelles", "Rue du Bailli"]),
    ("Kraków", "31-042", "PL", ["ulica Floriańska", "ulica Józefińska"]),
    ("Stockholm", "118 20", "SE", ["Götgatan", "Hornsgatan"]),
    ("London", "N1 9GU", "GB", ["Upper Street", "Caledonian Road"]),
]
PHONE_PREFIX = {"DE": "+49", "NL": "+31", "FR": "+33", "ES": "+34", "IT": "+39", "AT": "+43", "BE": "+32",
                "PL": "+48", "SE": "+46", "GB": "+44"}

HOLD_REASONS = [
    "Address check: the house number is missing.",
    "Fraud screening: billing and delivery countries differ.",
    "Customer asked us to wait until they are back from holiday.",
    "Waiting for the customer to confirm the colour.",
]
CANCEL_REASONS = [
    "Customer asked to cancel: ordered the wrong model.",
    "Duplicate order; the customer kept the other one.",
    "Payment was not completed within 7 days.",
    "Address could not be verified with the customer.",
]
INTERNAL_NOTES = [
    "Called the customer to agree a delivery window after 17:00.",
    "Gift order: no invoice in the parcel, please.",
    "Serial numbers checked against the packing slip.",
    "Customer is a repeat buyer; upgrade to express if the carrier allows.",
    "Parcel re-taped at packing: outer box was dented on arrival from the supplier.",
]
CUSTOMER_NOTES = [
    "Your parcel will be handed to the carrier tomorrow morning.",
    "We have updated the delivery instructions as you asked.",
]

# Status by age of the order: (from days, to days, {status: weight}).
AGE_BUCKETS = [
    (0.0, 1.0, {S.PLACED: 40, S.CONFIRMED: 20, S.PROCESSING: 10, S.ON_HOLD: 5, S.CANCELLED: 5}),
    (1.0, 3.0, {S.CONFIRMED: 8, S.PROCESSING: 20, S.PACKED: 20, S.PARTIALLY_SHIPPED: 10, S.SHIPPED: 20,
                S.ON_HOLD: 5, S.CANCELLED: 5}),
    (3.0, 10.0, {S.PACKED: 4, S.PARTIALLY_SHIPPED: 6, S.SHIPPED: 40, S.DELIVERED: 40, S.RETURNED: 2, S.ON_HOLD: 3,
                 S.CANCELLED: 7}),
    (10.0, 90.0, {S.DELIVERED: 85, S.SHIPPED: 3, S.CANCELLED: 10, S.ON_HOLD: 2}),
]
HISTORY_DAYS = 90
DELIVERY_EVERY_DAYS = 14

# Hours between two steps of an order's life: (min, max).
GAPS = {
    "pay": (0.02, 0.5), "confirm": (0.2, 3), "start_processing": (1, 12), "pack": (0.5, 6), "ship_part": (1, 8),
    "ship": (1, 24), "deliver": (24, 96), "hold": (0.5, 24), "release": (2, 30), "cancel": (0.2, 36),
    "refund": (1, 24), "note": (0.1, 12), "return": (48, 120),
}


def _ascii(text: str) -> str:
    """müller → muller, for user names and email addresses."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _entry_time(moves: list[tuple[datetime, datetime]], kind: str, created: datetime) -> datetime:
    """The new time of the timeline entry a stock movement was written with, in the same service call.

    Placement writes its entry before allocating; cancelling and shipping move stock before writing theirs.
    `moves` holds (original time, new time) of the order's entries in order.
    """
    if kind == StockMovement.Kind.ALLOCATION:
        before = [new for old, new in moves if old <= created]
        return before[-1] if before else moves[0][1]
    after = [new for old, new in moves if old >= created]
    return after[0] if after else moves[-1][1]


@dataclass
class Plan:
    placed_at: datetime
    status: str
    customer: object
    lines: list[tuple[Product, int]]
    steps: list[tuple] = field(default_factory=list)


class Command(BaseCommand):
    help = "Fill an empty database with demo warehouses, products, customers and orders; print the demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=2000, help="How many orders (default 2000).")
        parser.add_argument("--customers", type=int, default=200, help="How many customers (default 200).")
        parser.add_argument("--seed", type=int, default=20260101, help="Random seed: the same seed, the same data.")

    def handle(self, *args, orders: int, customers: int, seed: int, **options):
        if orders < len(S.values) or customers < 1:
            raise CommandError(f"Use --orders {len(S.values)} or more (one per status) and --customers 1 or more.")
        self.started = time.monotonic()
        self.rng = random.Random(seed)
        self.inventory = InventorySeeder(self.rng)
        self.units_out: dict[int, list] = {}
        self.parcels = None  # the shipping app's history: parcels with carriers, tracking and scans
        self.verbosity = options["verbosity"]

        logins = self._ensure_logins()
        existing = Order.objects.count()
        if existing:
            self._say(f"Demo data already present ({existing} orders, {Product.objects.count()} products, "
                      f"{Warehouse.objects.count()} warehouses): keeping it, nothing added.")
        else:
            with transaction.atomic():
                self._seed(orders=orders, customers=customers, users=logins)
            self._say(f"Done in {time.monotonic() - self.started:.0f}s.")
        self._print_logins()

    # --- output ------------------------------------------------------------------------------------------------
    def _say(self, message: str) -> None:
        if self.verbosity:
            self.stdout.write(message)

    def _print_logins(self) -> None:
        self.stdout.write("\nDemo logins (passwords from WAYBILL_DEMO_*_PASSWORD, demo defaults otherwise):")
        for username, var, default, role in DEMO_LOGINS:
            self.stdout.write(f"  {username:<10} {os.environ.get(var, default):<20} {role}")

    # --- people ------------------------------------------------------------------------------------------------
    def _ensure_logins(self) -> dict[str, object]:
        users = {}
        for username, var, default, _role in DEMO_LOGINS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(username=username, email=f"{username}@waybill.example", first_name=username.title())
                user.set_password(os.environ.get(var, default))
                user.is_staff = username != "customer"
                user.is_superuser = username == "admin"
                user.save()
            users[username] = user
        users["warehouse"].groups.add(Group.objects.get(name="Warehouse staff"))
        users["support"].groups.add(Group.objects.get(name="Support agents"))
        return users

    def _make_customers(self, count: int) -> list:
        rng, password = self.rng, make_password(None)
        people = []
        for n in range(count):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            handle = _ascii(f"{first}.{last}".lower().replace(" ", ""))
            people.append(User(username=f"{handle}.{n + 1}", email=f"{handle}.{n + 1}@example.com",
                               first_name=first, last_name=last, password=password))
        User.objects.bulk_create(people, ignore_conflicts=True)
        return list(User.objects.filter(username__in=[p.username for p in people]).order_by("pk"))

    def _address(self, user) -> tuple[dict, str]:
        rng = random.Random(user.pk)  # one address per customer
        city, postal_code, country, streets = rng.choice(CITIES)
        address = {"name": user.get_full_name() or user.get_username(),
                   "line1": f"{rng.choice(streets)} {rng.randint(1, 180)}", "city": city,
                   "postal_code": postal_code, "country": country}
        phone = f"{PHONE_PREFIX[country]} {rng.randint(100, 999)} {rng.randint(1000000, 9999999)}"
        return address, phone

    # --- seeding -----------------------------------------------------------------------------------------------
    def _seed(self, *, orders: int, customers: int, users: dict) -> None:
        now = timezone.now()
        self._say(f"Seeding {len(WAREHOUSES)} warehouses, {len(PRODUCTS)} products, {customers} customers, "
                  f"{orders} orders over the last {HISTORY_DAYS} days...")
        warehouses = self.inventory.warehouses()
        products = self.inventory.products()
        if apps.is_installed("shipping"):
            from shipping.demo import ParcelHistory

            self.parcels = ParcelHistory(self, warehouse_user=users["warehouse"])
        self.tight = {p.sku for p in self.rng.sample(products, max(1, len(products) // 12))}
        people = self._make_customers(customers)
        in_flight = min(max(4, orders // 100), orders - len(S.values))  # sent as parcels today, at the end
        returns = self._return_stories(orders - len(S.values) - in_flight)  # delivered today, then returned
        plans = self._plan_orders(orders - in_flight - returns, products, people, users["customer"], now)
        history_start = plans[0].placed_at - timedelta(days=2)

        timelines: dict[int, list[datetime]] = {}
        deliveries: list[tuple[int, int, datetime]] = []  # receipt movement pks (from, to) and when they arrived
        report_every = max(1, len(plans) // 10)
        waves = self._waves(plans, history_start)
        # the history is imported quietly: no receiver of order events runs, and nobody is emailed
        with receivers_muted(order_event_recorded, low_stock_alerts_raised), self._quiet():
            for wave, (arrived, wave_plans) in enumerate(waves):
                first = (StockMovement.objects.aggregate(last=Max("pk"))["last"] or 0) + 1
                self._receive_stock(products, warehouses, wave_plans, actor=users["warehouse"], opening=wave == 0,
                                    last=wave == len(waves) - 1)
                deliveries.append((first, StockMovement.objects.aggregate(last=Max("pk"))["last"] or 0, arrived))
                for plan in wave_plans:
                    order, times = self._play(plan, users, now)
                    timelines[order.pk] = times
                    if len(timelines) % report_every == 0 or len(timelines) == len(plans):
                        self._say(f"  orders {len(timelines)}/{len(plans)} "
                                  f"({time.monotonic() - self.started:.0f}s)")
        self._backdate(timelines, deliveries, history_start, [p.sku for p in products])
        self._parcels_in_flight(products, warehouses, people, users, count=in_flight)
        self._returns(products, people, users, count=returns)
        self._tickets(people, users)
        counts = Counter(Order.objects.values_list("status", flat=True))
        self._say("  by status: " + ", ".join(f"{s} {counts.get(s, 0)}" for s in S.values))

    @staticmethod
    def _quiet():
        if not apps.is_installed("notifications"):
            import contextlib

            return contextlib.nullcontext()
        from notifications.services import notifications_quiet

        return notifications_quiet()

    def _plan_orders(self, count, products, people, demo_customer, now) -> list[Plan]:
        rng = self.rng
        weights = [p[4] for p in PRODUCTS]
        plans = []
        for _ in range(count):
            age_days = HISTORY_DAYS * rng.random() ** 1.5  # more orders lately: the shop is growing
            plans.append(Plan(placed_at=now - timedelta(days=age_days), status=self._status_for(age_days),
                              customer=rng.choice(people), lines=[]))
        # Every status at least once, whatever the numbers.
        counts = Counter(p.status for p in plans)
        for status in S.values:
            if counts[status]:
                continue
            plan = next(p for p in plans if counts[p.status] > 1)
            counts[plan.status] -= 1
            counts[status] += 1
            low, high, _ = next(b for b in AGE_BUCKETS if status in b[2])
            plan.status, plan.placed_at = status, now - timedelta(days=rng.uniform(low, high))
        for plan in rng.sample(plans, max(3, count // 150)):
            plan.customer = demo_customer
        for plan in plans:
            n_lines = rng.choices([1, 2, 3], weights=[60, 28, 12])[0]
            chosen: list[Product] = []
            while len(chosen) < n_lines:
                product = rng.choices(products, weights=weights)[0]
                if product not in chosen:
                    chosen.append(product)
            plan.lines = [(p, 1 if p.serial_tracked else rng.choices([1, 2, 3], weights=[70, 22, 8])[0])
                          for p in chosen]
            if plan.status == S.PARTIALLY_SHIPPED and sum(q for _, q in plan.lines) < 2:
                plan.lines[0] = (plan.lines[0][0], 2)  # something must stay behind
            plan.steps = self._steps_for(plan.status, units=sum(q for _, q in plan.lines))
        plans.sort(key=lambda p: p.placed_at)
        return plans

    def _status_for(self, age_days: float) -> str:
        for low, high, weights in AGE_BUCKETS:
            if low <= age_days < high:
                return self.rng.choices(list(weights), weights=list(weights.values()))[0]
        return S.DELIVERED

    def _steps_for(self, status: str, *, units: int) -> list[tuple]:
        """The actions after placement that bring an order to `status`."""
        rng = self.rng
        lifecycle = [("pay",), ("confirm",), ("start_processing",), ("pack",)]
        if status in (S.ON_HOLD, S.CANCELLED):
            reached = rng.choice([1, 2, 3])  # held or cancelled while placed, confirmed or processing
            prefix = [] if reached == 1 else lifecycle[:reached]
            if status == S.ON_HOLD:
                steps = [*prefix, ("hold", rng.choice(HOLD_REASONS))]
            else:
                steps = [*prefix, ("cancel", rng.choice(CANCEL_REASONS))]
                if prefix:
                    steps.append(("refund",))
        else:
            upto = {S.PLACED: 0, S.CONFIRMED: 2, S.PROCESSING: 3}.get(status, 4)
            steps = lifecycle[:upto]
            if status == S.PLACED and rng.random() < 0.5:
                steps = [("pay",)]
            if upto >= 3 and rng.random() < 0.05:  # a hold that was cleared
                steps[2:2] = [("hold", rng.choice(HOLD_REASONS)), ("release",)]
            if status == S.PARTIALLY_SHIPPED:
                steps.append(("ship_part",))
            elif status == S.RETURNED:  # the carrier could not deliver and brought the parcel back
                steps += [("ship",), ("return",)]
            elif status in (S.SHIPPED, S.DELIVERED):
                if units > 1 and rng.random() < 0.25:  # sent in two parcels
                    steps += [("ship_part",), ("ship_rest",)]
                else:
                    steps.append(("ship",))
                if status == S.DELIVERED:
                    steps.append(("deliver",))
        if rng.random() < 0.15:
            steps.insert(rng.randint(0, len(steps)), ("note", rng.choice(INTERNAL_NOTES), True))
        if rng.random() < 0.05 and status not in (S.CANCELLED, S.PLACED):
            steps.append(("note", rng.choice(CUSTOMER_NOTES), False))
        return steps

    @staticmethod
    def _waves(plans: list[Plan], history_start: datetime) -> list[tuple[datetime, list[Plan]]]:
        """Orders grouped by the supplier delivery they are served from: opening stock, then every two weeks."""
        waves: dict[int, list[Plan]] = defaultdict(list)
        for plan in plans:
            waves[(plan.placed_at - history_start) // timedelta(days=DELIVERY_EVERY_DAYS)].append(plan)
        return [(history_start + timedelta(days=DELIVERY_EVERY_DAYS * k), waves[k]) for k in sorted(waves)]

    def _receive_stock(self, products, warehouses, plans, *, actor, opening: bool, last: bool) -> None:
        """A delivery from the supplier for what the coming orders need (inventory.demo)."""
        demand: dict[int, int] = defaultdict(int)
        for plan in plans:
            for product, quantity in plan.lines:
                demand[product.pk] += quantity
        self.inventory.receive(products, warehouses, demand, tight=self.tight, actor=actor, opening=opening,
                               last=last)

    def _play(self, plan: Plan, users: dict, now: datetime) -> tuple[Order, list[datetime]]:
        """Place one order and walk it through its steps; returns it and the planned time of each timeline entry."""
        rng, customer = self.rng, plan.customer
        address, phone = self._address(customer)
        subtotal = sum((p.price * q for p, q in plan.lines), Decimal("0"))
        order, _ = order_place(
            customer=customer, email=customer.email, phone=phone, shipping_address=address,
            lines=[{"sku": p.sku, "quantity": q} for p, q in plan.lines], actor=customer,
            shipping_total=Decimal("0.00") if subtotal >= 50 else Decimal("4.90"),
        )
        gaps = [rng.uniform(*GAPS[step[0] if step[0] != "ship_rest" else "ship"]) for step in plan.steps]
        total = sum(gaps)
        room = max(0.0, (now - plan.placed_at).total_seconds() / 3600 * 0.9)  # all of it before now
        if total > room:  # a young order: the same steps, closer together
            gaps = [g * room / total for g in gaps]
        at, paid = plan.placed_at, False
        times = [plan.placed_at] * order.events.count()  # one planned time per timeline entry, in order
        warehouse, support = users["warehouse"], users["support"]
        for step, gap in zip(plan.steps, gaps, strict=True):
            at += timedelta(hours=gap)
            name = step[0]
            if name == "pay":
                order_set_payment_status(order=order, payment_status=Order.PaymentStatus.PAID,
                                         reason="Card payment captured")
                paid = True
            elif name == "refund":
                if not paid:
                    continue
                order_set_payment_status(order=order, payment_status=Order.PaymentStatus.REFUNDED, actor=support,
                                         reason="Refunded in full after cancellation")
            elif name == "note":
                order_add_note(order=order, author=support, text=step[1], internal=step[2])
            elif name in ("ship", "ship_part", "ship_rest", "deliver", "return") and self.parcels:
                self.parcels.step(order, name, at=at, partial=name == "ship_part")
            elif name == "return":
                back = [(a.line_id, a.warehouse_id, a.shipped)
                        for a in Allocation.objects.filter(order=order, shipped__gt=0).order_by("pk")]
                order_return_shipped_items(order=order, items=back, actor=warehouse,
                                           reason="Your parcel came back to us undelivered: nobody was at the address "
                                                  "after three attempts. We will be in touch about sending it again.")
                for unit_ids, unit_warehouse in self.units_out.pop(order.pk, []):
                    units_return_to_stock(unit_ids=unit_ids, warehouse=unit_warehouse, order_number=order.number,
                                          actor=warehouse, reference=order, text="Parcel returned to sender")
                self._date_unit_events(order, at)
            elif name in ("ship", "ship_part", "ship_rest"):
                picks = self._picks(order, partial=name == "ship_part")
                order_ship_items(order=order, items=picks, actor=warehouse)
                self._ship_serials(order, picks, actor=warehouse)
                self._date_unit_events(order, at)
            else:
                actor = support if name == "cancel" else warehouse
                order_transition(order=order, name=name, actor=actor, reason=step[1] if len(step) > 1 else "")
            times += [at] * (order.events.count() - len(times))
        return order, times

    def _ship_serials(self, order: Order, picks: list[tuple[int, int, int]], *, actor) -> None:
        """The serial numbers of the serial-tracked units that just left (the history ships without parcels)."""
        lines = {line.pk: line for line in order.lines.select_related("product")}
        warehouses = Warehouse.objects.in_bulk({wh for _, wh, _ in picks})
        for line_id, warehouse_id, qty in picks:
            product = lines[line_id].product
            if not product.serial_tracked:
                continue
            units = units_pack(product=product, warehouse=warehouses[warehouse_id], serials=self._serials(product, qty),
                               order_number=order.number, actor=actor, reference=order)
            units_ship(unit_ids=[u.pk for u in units], order_number=order.number, actor=actor, reference=order)
            self.units_out.setdefault(order.pk, []).append(([u.pk for u in units], warehouses[warehouse_id]))

    @staticmethod
    def _date_unit_events(order: Order, at: datetime) -> None:
        UnitEvent.objects.filter(order_number=order.number, created_at__gt=at).update(created_at=at)

    def _serials(self, product: Product, count: int) -> list[str]:
        return self.inventory.serials(product, count)

    def _parcels_in_flight(self, products, warehouses, people, users, *, count: int) -> None:
        """Today's orders sent as parcels at every stage (shipping.demo)."""
        if self.parcels is None:
            return
        placed = self.parcels.today(products=products, warehouse=warehouses[0], people=people, users=users,
                                    count=count)
        self._timestamps_from_timelines(placed)  # like the history
        self._say(f"  {count} of today's orders sent as parcels with tracking numbers "
                  f"({time.monotonic() - self.started:.0f}s)")

    @staticmethod
    def _return_stories(room: int) -> int:
        if not (apps.is_installed("returns") and apps.is_installed("shipping")):
            return 0
        from returns.demo import STORIES

        return max(0, min(len(STORIES), room))

    def _returns(self, products, people, users, *, count: int) -> None:
        """Returns and claims in every state, on orders delivered today (returns.demo)."""
        if not count:
            return
        from returns.demo import ReturnSeeder

        involved = ReturnSeeder(self, products=products, people=people, users=users).run(count)
        self._timestamps_from_timelines(involved)
        self._say(f"  {count} returns and claims, one in every state ({time.monotonic() - self.started:.0f}s)")

    def _tickets(self, people, users) -> None:
        """Support tickets in every state with their conversations (support.demo)."""
        if not apps.is_installed("support"):
            return
        from support.demo import TicketSeeder

        involved = list(Order.objects.filter(tickets__isnull=False).values_list("pk", flat=True))
        count = TicketSeeder(self, people=people, users=users).run()
        involved += list(Order.objects.filter(tickets__isnull=False).values_list("pk", flat=True))
        self._timestamps_from_timelines(set(involved))
        self._say(f"  {count} support tickets with their conversations ({time.monotonic() - self.started:.0f}s)")

    @staticmethod
    def _timestamps_from_timelines(order_ids) -> None:
        """An order was placed when its timeline starts and last changed when it ends."""
        spans = OrderEvent.objects.filter(order_id__in=list(order_ids)).values("order_id").annotate(
            first=Min("created_at"), last=Max("created_at"))
        Order.objects.bulk_update([Order(pk=row["order_id"], placed_at=row["first"], updated_at=row["last"])
                                   for row in spans], ["placed_at", "updated_at"])

    def _digits(self, count: int) -> str:
        return "".join(str(self.rng.randint(0, 9)) for _ in range(count))

    @staticmethod
    def _picks(order: Order, *, partial: bool) -> list[tuple[int, int, int]]:
        waiting = list(Allocation.objects.filter(order=order, quantity__gt=0).order_by("pk"))
        if not partial:
            return [(a.line_id, a.warehouse_id, a.quantity) for a in waiting]
        first = waiting[0]
        quantity = first.quantity if len(waiting) > 1 else first.quantity - 1
        return [(first.line_id, first.warehouse_id, quantity)]

    # --- history -----------------------------------------------------------------------------------------------
    def _backdate(self, timelines: dict[int, list[datetime]], deliveries: list[tuple[int, int, datetime]],
                  history_start: datetime, skus: list[str]) -> None:
        """Move each order, its timeline and its stock movements back to the planned times, a batch at a time."""
        order_type = ContentType.objects.get_for_model(Order)
        ids = sorted(timelines)
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            events = defaultdict(list)
            for pk, order_id, created in OrderEvent.objects.filter(order_id__in=batch).order_by("order_id", "id") \
                    .values_list("pk", "order_id", "created_at"):
                events[order_id].append((pk, created))
            new_event_time: dict[int, datetime] = {}
            changed_events, event_moves = [], defaultdict(list)
            for order_id, rows in events.items():
                planned = timelines[order_id]
                for rank, (pk, created) in enumerate(rows):
                    when = planned[min(rank, len(planned) - 1)]
                    new_event_time[pk] = when
                    changed_events.append(OrderEvent(pk=pk, created_at=when))
                    event_moves[order_id].append((created, when))
            OrderEvent.objects.bulk_update(changed_events, ["created_at"], batch_size=500)

            changed_movements = []
            for pk, order_id, kind, created in StockMovement.objects.filter(
                reference_type=order_type, reference_id__in=batch
            ).values_list("pk", "reference_id", "kind", "created_at"):
                changed_movements.append(StockMovement(pk=pk, created_at=_entry_time(event_moves[order_id], kind,
                                                                                     created)))
            StockMovement.objects.bulk_update(changed_movements, ["created_at"], batch_size=500)

            Order.objects.bulk_update(
                [Order(pk=pk, placed_at=timelines[pk][0], updated_at=timelines[pk][-1]) for pk in batch],
                ["placed_at", "updated_at"], batch_size=500,
            )
        for first, last, arrived in deliveries:
            StockMovement.objects.filter(pk__gte=first, pk__lte=last, kind=StockMovement.Kind.RECEIPT).update(
                created_at=arrived)
        Product.objects.filter(sku__in=skus).update(created_at=history_start, updated_at=history_start)
        self._say(f"  timestamps moved back over {HISTORY_DAYS} days ({time.monotonic() - self.started:.0f}s)")
