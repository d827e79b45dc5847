"""Every write to an order: placement, lifecycle transitions, shipping of lines, notes, payment status.

Locks are always taken in the same order: the order row first, then stock levels in primary-key order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone
from django_countries import countries
from django_fsm import can_proceed, has_transition_perm

from config import cte
from config.db import atomic_service
from config.fsm import transitions_of
from config.text import has_control_characters
from inventory.errors import OutOfStock
from inventory.models import Product
from inventory.selectors import product_offers
from inventory.services import stock_allocate, stock_plan, stock_release, stock_return, stock_ship, stock_take

from . import pricing, timeline
from .errors import (
    IdempotencyKeyReused,
    InvalidOrder,
    OrderNotFound,
    PaymentReferenceReused,
    RefundNotAllowed,
    TransitionForbidden,
    TransitionNotAllowed,
    TransitionNotFound,
)
from .models import (
    Allocation,
    IdempotencyKey,
    IdempotentResponse,
    Invoice,
    InvoiceSequence,
    Order,
    OrderEvent,
    OrderLine,
    Payment,
)
from .signals import order_event_recorded

REASON_REQUIRED = {"cancel", "hold"}
# Parcels are made and leave while an order is being processed (picked and packed), once it is packed, and until
# everything has left.
SHIPPABLE = (Order.Status.PROCESSING, Order.Status.PACKED, Order.Status.PARTIALLY_SHIPPED)

# Other apps may refuse "ship everything" for an order (shipping does while the order has open shipments, whose
# stock would otherwise leave twice). A guard takes the locked order and returns why not, or "".
SHIP_EVERYTHING_GUARDS: list[Callable[[Order], str]] = []


def register_ship_everything_guard(guard: Callable[[Order], str]) -> None:
    if guard not in SHIP_EVERYTHING_GUARDS:
        SHIP_EVERYTHING_GUARDS.append(guard)
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postal_code", "region", "country")


@dataclass(frozen=True)
class LineRequest:
    sku: str
    quantity: int


def transition_names(*, for_api: bool = True) -> list[str]:
    """Transitions a person may ask for by name (the API and the admin); internal ones are left out."""
    return [t.name for t in transitions_of(Order) if not for_api or t.custom.get("api", True)]


MAX_EVENT_TEXT = 4000
MAX_EVENT_DATA_BYTES = 16_384


def _event(order: Order, *, actor=None, kind=OrderEvent.Kind.STATUS, from_status="", to_status="", transition="",
           text="", data=None, internal=False) -> OrderEvent:
    return OrderEvent(
        order=order, kind=kind, from_status=from_status, to_status=to_status, transition=transition,
        actor=actor if getattr(actor, "is_authenticated", False) else None, text=text, data=data or {},
        internal=internal,
    )


def _record_event(order: Order, **fields) -> OrderEvent:
    event = _event(order, **fields)
    event.save(force_insert=True)
    order_event_recorded.send(sender=Order, order=order, event=event)
    return event


def order_event_record(*, order: Order, kind: str, text: str = "", data: dict | None = None, internal: bool = False,
                       actor=None) -> OrderEvent:
    """Write one entry on an order's timeline: the one way other apps (shipping, returns, support) put what
    happened on the order's story. Call it inside your own service's transaction, with the order you hold.

    `kind` must be registered (orders.timeline.register_event_kind); `data` is a JSON object of facts (numbers,
    amounts, serials) for pages and webhooks. Receivers of order_event_recorded (notifications) hear of it in the
    same transaction.
    """
    timeline.get_event_kind(kind)
    if kind in (OrderEvent.Kind.STATUS, OrderEvent.Kind.PAYMENT):
        raise InvalidOrder(f"{kind} entries are written by the orders services.", fields={"kind": ["Reserved."]})
    text = (text or "").strip()
    if len(text) > MAX_EVENT_TEXT:
        raise InvalidOrder(f"A timeline entry's text is at most {MAX_EVENT_TEXT} characters.",
                           fields={"text": [f"At most {MAX_EVENT_TEXT} characters."]})
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise InvalidOrder("A timeline entry's data is a JSON object.", fields={"data": ["Must be an object."]})
    try:
        size = len(json.dumps(data, cls=DjangoJSONEncoder))
    except (TypeError, ValueError) as exc:
        raise InvalidOrder(f"A timeline entry's data must be JSON: {exc}.", fields={"data": [str(exc)]}) from None
    if size > MAX_EVENT_DATA_BYTES:
        raise InvalidOrder("A timeline entry's data is too large.",
                           fields={"data": [f"At most {MAX_EVENT_DATA_BYTES} bytes of JSON."]})
    with transaction.atomic(savepoint=False):  # checked first: a refusal leaves the caller's transaction usable
        return _record_event(order, actor=actor, kind=kind, text=text, data=data, internal=internal)


def _validated_lines(lines: Sequence[LineRequest | dict]) -> list[LineRequest]:
    if not lines:
        raise InvalidOrder("An order needs at least one line.", fields={"lines": ["This list may not be empty."]})
    result, seen, errors = [], set(), {}
    for i, raw in enumerate(lines):
        line = raw if isinstance(raw, LineRequest) else LineRequest(sku=raw.get("sku"), quantity=raw.get("quantity"))
        if not isinstance(line.quantity, int) or isinstance(line.quantity, bool) or line.quantity <= 0:
            errors[f"lines[{i}].quantity"] = ["Must be a whole number above zero."]
        if line.sku in seen:
            errors[f"lines[{i}].sku"] = [f"{line.sku} appears twice; put the whole quantity on one line."]
        seen.add(line.sku)
        result.append(line)
    if errors:
        raise InvalidOrder("Some order lines are invalid.", fields=errors)
    return result


def _sellable(lines: list[LineRequest], products: dict[str, Product]) -> dict[str, Product]:
    errors = {}
    for i, line in enumerate(lines):
        product = products.get(line.sku)
        if product is None:
            errors[f"lines[{i}].sku"] = [f"Unknown SKU {line.sku}."]
        elif not product.active:
            errors[f"lines[{i}].sku"] = [f"{line.sku} is no longer sold."]
    if errors:
        raise InvalidOrder("Some order lines name products that cannot be ordered.", fields=errors)
    return products


def _priced_shipping(*, subtotal: Decimal, shipping_total, expected_shipping_total) -> Decimal:
    """Shipping as the shop prices it, unless staff priced it by hand (`shipping_total`). A customer's client
    may say what it expects to pay (`expected_shipping_total`); any other figure is refused, never charged."""
    quote = pricing.shipping_quote(subtotal=subtotal)
    if expected_shipping_total is not None and Decimal(expected_shipping_total) != quote:
        raise InvalidOrder(
            f"Shipping for this order is {quote} {pricing.shop_currency()}, priced by the shop.",
            fields={"shipping_total": [f"Shipping is {quote} {pricing.shop_currency()}; leave it out or send that."]},
            quoted_shipping_total=str(quote),
        )
    return quote if shipping_total is None else Decimal(shipping_total)


def _new_order(*, customer, email, phone, shipping_address, currency, shipping_total, notes, subtotal,
               channel=Order.Channel.STOREFRONT) -> Order:
    """The order, checked and not yet written."""
    unknown = set(shipping_address) - set(ADDRESS_FIELDS)
    if unknown:
        fields = {f"shipping_address.{k}": ["Unknown field."] for k in unknown}
        raise InvalidOrder("Unknown address fields.", fields=fields)
    shop_currency = pricing.shop_currency()
    if currency and currency.upper() != shop_currency:
        raise InvalidOrder(
            f"This shop's prices are in {shop_currency}: orders are placed in {shop_currency}, not {currency}.",
            fields={"currency": [f"Prices are in {shop_currency}; leave it out or send {shop_currency}."]},
            currency=shop_currency,
        )
    shipping_total = Decimal(shipping_total or 0)
    order = Order(
        customer=customer, email=email or (customer.email if customer else ""), phone=phone or "",
        currency=shop_currency, subtotal=subtotal, shipping_total=shipping_total,
        total=subtotal + shipping_total, notes=notes or "", channel=Order.Channel(channel),
        **{f"ship_{k}": (v or "") for k, v in shipping_address.items()},
    )
    fields = {}
    try:
        # The country is checked against the ISO list directly: clean_fields() would walk ~250 choices.
        order.clean_fields(exclude=["number", "customer", "status", "ship_country", "payment_status"])
    except ValidationError as exc:
        fields = {
            (f"shipping_address.{k[5:]}" if k.startswith("ship_") else k): v for k, v in exc.message_dict.items()
        }
    country = str(shipping_address.get("country") or "").upper()
    if country not in countries:
        fields["shipping_address.country"] = [f"{country or 'An empty value'} is not an ISO 3166-1 country code."]
    if fields:
        raise InvalidOrder("The order has invalid fields.", fields=fields)
    order.ship_country = country
    if shipping_total < 0:
        raise InvalidOrder("Shipping cannot be negative.", fields={"shipping_total": ["Must be zero or more."]})
    return order


def _claim_idempotency_key(*, owner, key: str, fingerprint: str, order: Order) -> Order | None:
    """Claim `key` for `order`. Returns the order an earlier request with the same key created, if any.

    One INSERT ... ON CONFLICT DO NOTHING RETURNING: a concurrent request with the same key waits on the unique
    index until the first one commits (then it replays that order) or rolls back (then it claims the key).
    """
    qn = connection.ops.quote_name
    columns = ", ".join(qn(c) for c in ("owner_id", "key", "fingerprint", "order_id", "created_at"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(IdempotencyKey._meta.db_table)} ({columns}) VALUES (%s, %s, %s, %s, %s) "
            f"ON CONFLICT ({qn('owner_id')}, {qn('key')}) DO NOTHING RETURNING {qn('id')}",
            [owner.pk, key, fingerprint, order.pk, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
        if cursor.fetchone() is not None:
            return None
    return _earlier_order(owner=owner, key=key, fingerprint=fingerprint)


def _earlier_order(*, owner, key: str, fingerprint: str) -> Order:
    """The order an earlier request with this key created (the key was taken), or IdempotencyKeyReused."""
    earlier = IdempotencyKey.objects.select_related("order").get(owner=owner, key=key)
    if earlier.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body. Use a new key for a new order.",
            key=key, order=earlier.order.number,
        )
    return earlier.order


@atomic_service
def idempotency_keys_purge(*, older_than_hours: int | None = None) -> int:
    """Forget idempotency keys (and the answers kept for them) past their lifetime (WAYBILL_IDEMPOTENCY_TTL_HOURS);
    returns how many."""
    hours = settings.WAYBILL_IDEMPOTENCY_TTL_HOURS if older_than_hours is None else older_than_hours
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    answers, _ = IdempotentResponse.objects.filter(created_at__lt=cutoff).delete()
    return deleted + answers


def _remember(order: Order, **related: list) -> None:
    """Let `order.lines.all()` (and the other relations named) answer from the rows just written, as a
    prefetch would, without a query.

    Receivers of order_event_recorded (the notification payload lists the lines) and the API's response read
    them in the same request; this keeps the cost of placing an order flat.
    """
    cache = getattr(order, "_prefetched_objects_cache", None) or {}
    for name, rows in related.items():
        remembered = getattr(order, name).all()
        remembered._result_cache, remembered._prefetch_done = list(rows), True
        cache[name] = remembered
    order._prefetched_objects_cache = cache


class _Replay(Exception):
    def __init__(self, order: Order):
        self.order = order


@atomic_service
def _place(*, customer, email, phone="", shipping_address, lines, currency=None, shipping_total=None,
           expected_shipping_total=None, notes="", actor=None, idempotency=None, answer=None,
           channel=Order.Channel.STOREFRONT) -> Order:
    requested = _validated_lines(lines)
    together = cte.supported()  # PostgreSQL: the rows of the order written by one statement
    if answer is not None and not together:
        answer.claim()
    # the statements after this one are the same for every order: planned once per connection (config.db)
    products, levels, claimed = product_offers(skus=[line.sku for line in requested], generic_plans=together,
                                               also=answer.rows() if answer is not None and together else None)
    if answer is not None and together:
        answer.claimed(claimed)  # a key taken before: KeyTaken rolls this back, the caller answers as then
    products = _sellable(requested, products)
    subtotal = sum((products[line.sku].price * line.quantity for line in requested), Decimal("0"))
    shipping_total = _priced_shipping(subtotal=subtotal, shipping_total=shipping_total,
                                      expected_shipping_total=expected_shipping_total)
    order = _new_order(customer=customer, email=email, phone=phone, shipping_address=shipping_address,
                       currency=currency, shipping_total=shipping_total, notes=notes, subtotal=subtotal,
                       channel=channel)
    order_lines = [
        OrderLine(order=order, product=products[line.sku], sku=line.sku, name=products[line.sku].name,
                  quantity=line.quantity, unit_price=products[line.sku].price,
                  line_total=products[line.sku].price * line.quantity)
        for line in requested
    ]
    requests = [(products[line.sku], line.quantity) for line in requested]
    # Products sold on backorder may take more than there is: the placement entry then says what waits, so it is
    # written once the stock is known.
    short_ok = {p.pk for p in products.values() if p.allow_backorder}
    if together and not short_ok:
        _place_together(order, order_lines, requests, levels, actor=actor, idempotency=idempotency, answer=answer)
    else:
        _place_step_by_step(order, order_lines, requests, short_ok, actor=actor, idempotency=idempotency)
        if answer is not None:
            answer.keep(order)  # the answer, kept for a retry with the same key, in this transaction
    return order


def _place_together(order: Order, order_lines: list[OrderLine], requests, levels, *, actor, idempotency,
                    answer=None) -> None:
    """The order, its idempotency key, lines, first timeline entry and allocations in one statement; then the stock
    they take in another (stock_take), so the stock rows stay locked for one statement and the commit. The outbox
    row and the API's kept answer (`answer`) ride on that one.

    The warehouses are chosen from the stock levels as read (unlocked) with the products. Should another order
    have taken that stock since, stock_take reserves nothing and the stock is reserved as step by step: locked,
    chosen again, the allocations written anew."""
    try:
        plans = stock_plan(requests=requests, levels=levels)
    except OutOfStock:
        plans = []  # not from rows as read: stock_allocate decides, from locked rows
    line_for = {line.product.pk: line for line in order_lines}
    allocations = [Allocation(order=order, line=line_for[plan.product.pk], product=plan.product,
                              warehouse=plan.warehouse, quantity=plan.quantity) for plan in plans]
    placed = _event(order, actor=actor, to_status=order.status, transition="place", text="Order placed")
    rows = [cte.Rows("o", Order, [order], signals=True)]
    if idempotency is not None:
        key = IdempotencyKey(owner=idempotency["owner"], key=idempotency["key"],
                             fingerprint=idempotency["fingerprint"], order=order)
        rows.append(cte.Rows("k", IdempotencyKey, [key], sql_for={"order_id": "(SELECT id FROM o)"},
                             on_conflict='ON CONFLICT ("owner_id", "key") DO NOTHING'))
    rows.append(cte.Rows("l", OrderLine, order_lines, sql_for={"order_id": "(SELECT id FROM o)"},
                         returning=("id", "product_id")))
    rows.append(cte.Rows("e", OrderEvent, [placed], sql_for={"order_id": "(SELECT id FROM o)"}, signals=True))
    if allocations:
        rows.append(cte.Rows("a", Allocation, allocations, sql_for={
            "order_id": "(SELECT id FROM o)", "line_id": "(SELECT l.id FROM l WHERE l.product_id = v.product_id)"}))
    written, _ = cte.insert_together(*rows)
    if idempotency is not None and not written["k"]:
        raise _Replay(_earlier_order(**idempotency))  # rolls back this request's order
    _remember(order, lines=order_lines, events=[placed], allocations=allocations)
    with cte.riding():  # what the receivers write (the outbox row) and the kept answer ride on the stock statement
        order_event_recorded.send(sender=Order, order=order, event=placed)
        if answer is not None and plans:
            answer.keep_soon(order)  # answered as the order stands once stock_take has reserved its plans
        taken = bool(plans) and stock_take(plans=plans, actor=actor, reference=order)
    if not taken:
        if allocations:
            Allocation.objects.filter(order=order).delete()
        plans = stock_allocate(requests=requests, actor=actor, reference=order)
        allocations = Allocation.objects.bulk_create([
            Allocation(order=order, line=line_for[plan.product.pk], product=plan.product, warehouse=plan.warehouse,
                       quantity=plan.quantity)
            for plan in plans
        ])
        _remember(order, allocations=allocations)
    if answer is not None and not taken:
        answer.keep(order)  # with the allocations chosen again (or, with no plans, the first time)


def _place_step_by_step(order: Order, order_lines: list[OrderLine], requests, short_ok, *, actor,
                        idempotency) -> None:
    """One statement per kind of row (other databases, and orders of products sold on backorder)."""
    order.save(force_insert=True)
    if idempotency is not None:
        earlier = _claim_idempotency_key(order=order, **idempotency)
        if earlier is not None:
            raise _Replay(earlier)  # rolls back this request's order
    order_lines = OrderLine.objects.bulk_create(order_lines)
    _remember(order, lines=order_lines)
    # Otherwise the stock rows are locked last, held as briefly as possible.
    if not short_ok:
        placed = _record_event(order, actor=actor, to_status=order.status, transition="place", text="Order placed")
    plans = stock_allocate(requests=requests, actor=actor, reference=order, short_ok=short_ok)
    line_for = {line.product_id: line for line in order_lines}
    allocations = Allocation.objects.bulk_create([
        Allocation(order=order, line=line_for[plan.product.pk], product=plan.product, warehouse=plan.warehouse,
                   quantity=plan.quantity)
        for plan in plans
    ])
    if short_ok:
        waiting = _mark_backorders(order_lines, plans)
        placed = _record_event(order, actor=actor, to_status=order.status, transition="place", text="Order placed",
                               data={"backordered": waiting} if waiting else None)
    _remember(order, events=[placed], allocations=allocations)


def _backorder_expected_on(product: Product):
    """When a backordered unit is expected: the product's restock days, or WAYBILL_BACKORDER_DAYS."""
    return timezone.localdate() + timedelta(days=product.restock_days or settings.WAYBILL_BACKORDER_DAYS)


def _mark_backorders(lines: list[OrderLine], plans) -> list[dict]:
    """Lines that got less stock than they asked for wait for a delivery: how many, and until when (the
    product's restock days, or WAYBILL_BACKORDER_DAYS)."""
    reserved: dict[int, int] = defaultdict(int)
    for plan in plans:
        reserved[plan.product.pk] += plan.quantity
    waiting = []
    for line in lines:
        short = line.quantity - reserved[line.product_id]
        if short > 0:
            line.backordered_quantity, line.backorder_expected_on = short, _backorder_expected_on(line.product)
            waiting.append({"sku": line.sku, "name": line.name, "quantity": short,
                            "expected_on": line.backorder_expected_on.isoformat()})
    if waiting:
        OrderLine.objects.bulk_update([line for line in lines if line.backordered_quantity],
                                      ["backordered_quantity", "backorder_expected_on"])
    return waiting


# Orders whose backordered lines a delivery may fill (cancelled, shipped-out and returned ones no longer wait).
WAITING_FOR_STOCK = [Order.Status.PLACED, Order.Status.CONFIRMED, Order.Status.PROCESSING, Order.Status.PACKED,
                     Order.Status.PARTIALLY_SHIPPED, Order.Status.ON_HOLD]


def order_fill_backorders(receipt) -> list[str]:
    """A delivery arrived (inventory's goods receipt, in its transaction): its products go to the lines waiting
    for them, first come first served, and each customer is told what is now reserved for them. The waiting
    orders are locked in primary-key order; returns the numbers of the orders that got stock."""
    product_ids = sorted({line.product_id for line in receipt.lines.all()})
    waiting = list(OrderLine.objects.filter(product_id__in=product_ids, backordered_quantity__gt=0,
                                            order__status__in=WAITING_FOR_STOCK)
                   .select_related("product").order_by("order__placed_at", "order_id", "pk"))
    if not waiting:
        return []
    orders = {o.pk: o for o in Order.objects.select_for_update().filter(
        pk__in={line.order_id for line in waiting}).order_by("pk")}
    exhausted: set[int] = set()
    filled: dict[int, list[dict]] = defaultdict(list)
    for line in waiting:
        order = orders[line.order_id]
        if line.product_id in exhausted or order.status not in WAITING_FOR_STOCK:
            continue
        plans = stock_allocate(requests=[(line.product, line.backordered_quantity)], reference=order,
                               short_ok={line.product_id})
        got = sum(plan.quantity for plan in plans)
        if got < line.backordered_quantity:
            exhausted.add(line.product_id)
        if not got:
            continue
        Allocation.objects.bulk_create([Allocation(order=order, line=line, product=line.product,
                                                   warehouse=plan.warehouse, quantity=plan.quantity)
                                        for plan in plans])
        line.backordered_quantity -= got
        if not line.backordered_quantity:
            line.backorder_expected_on = None
        line.save(update_fields=["backordered_quantity", "backorder_expected_on"])
        filled[order.pk].append({"sku": line.sku, "name": line.name, "quantity": got,
                                 "still_waiting": line.backordered_quantity})
    for order_id, items in filled.items():
        order = orders[order_id]
        words = ", ".join(f"{item['quantity']} × {item['name']}" for item in items)
        _record_event(order, kind=OrderEvent.Kind.NOTE, text=f"Now reserved for you from a new delivery: {words}.",
                      data={"backorder_allocated": items})
    return [orders[pk].number for pk in filled]


def order_has_backorders(order: Order) -> bool:
    return OrderLine.objects.filter(order=order, backordered_quantity__gt=0).exists()


def order_place(*, customer=None, email="", phone="", shipping_address: dict, lines: Sequence[LineRequest | dict],
                currency: str | None = None, shipping_total=None, expected_shipping_total=None, notes: str = "",
                actor=None, idempotency_key: str | None = None, fingerprint: str = "",
                keep_related: bool = False, answer=None, channel: str = Order.Channel.STOREFRONT
                ) -> tuple[Order, bool]:
    """Place an order and allocate its stock, all or nothing. Returns (order, created).

    Prices come from the shop (orders.pricing): each line at its product's price, in the shop's currency (a
    `currency` given must be that one), shipping at the shop's rate unless staff price it (`shipping_total`).
    `expected_shipping_total` is what a customer's client showed them: another figure is refused.

    With an idempotency key, a repeated request (same owner, key and body) returns the first order and
    created=False; the same key with another body raises IdempotencyKeyReused.

    `keep_related`: a new order comes back with its lines, allocations and first timeline entry attached, as a
    prefetch would leave them, for a caller that renders it at once (the API). They are a snapshot: later
    changes do not update them, so by default they are dropped.

    `answer` (an orders.idempotency.KeptAnswer, instead of `idempotency_key`): the API request's own key, claimed
    in the placement's first statement and kept with the answer to the request in its transaction, so that a
    request claims one key once. A key already taken raises KeyTaken, having written nothing.
    `channel`: where the order comes from (Order.Channel: the storefront API by default, a phone order, an import).
    """
    if answer is not None and idempotency_key:
        raise ValueError("order_place() takes an idempotency key or an answer to keep, not both")
    idempotency = None
    if idempotency_key:
        owner = actor if getattr(actor, "is_authenticated", False) else customer
        if owner is None:
            raise InvalidOrder("An idempotency key needs a signed-in user.", fields={"Idempotency-Key": ["Sign in."]})
        idempotency = {"owner": owner, "key": idempotency_key, "fingerprint": fingerprint}
    try:
        order = _place(customer=customer, email=email, phone=phone, shipping_address=shipping_address, lines=lines,
                       currency=currency, shipping_total=shipping_total,
                       expected_shipping_total=expected_shipping_total, notes=notes, actor=actor,
                       idempotency=idempotency, answer=answer, channel=channel)
    except _Replay as replay:
        return replay.order, False
    if not keep_related:
        del order._prefetched_objects_cache
    return order, True


def _lock(order: Order | str) -> Order:
    number = order if isinstance(order, str) else order.number
    try:
        return Order.objects.select_for_update().get(number=number)
    except Order.DoesNotExist:
        raise OrderNotFound(f"No order {number}.", number=number) from None


def _outstanding(order: Order, *, warehouse_id=None) -> list[Allocation]:
    qs = Allocation.objects.filter(order=order, quantity__gt=0).order_by("pk")
    return list(qs.filter(warehouse_id=warehouse_id) if warehouse_id else qs)


def _release_all(order: Order, *, actor, reason: str) -> None:
    allocations = _outstanding(order)
    stock_release(items=[(a.product_id, a.warehouse_id, a.quantity) for a in allocations], actor=actor,
                  reason=reason, reference=order)
    Allocation.objects.filter(pk__in=[a.pk for a in allocations]).update(
        released=F("released") + F("quantity"), quantity=0
    )


def _ship_allocations(order: Order, picks: list[tuple[Allocation, int]], *, actor, reason: str) -> None:
    stock_ship(items=[(a.product_id, a.warehouse_id, qty) for a, qty in picks], actor=actor, reason=reason,
               reference=order)
    per_line: dict[int, int] = defaultdict(int)
    for allocation, qty in picks:
        allocation.quantity -= qty
        allocation.shipped += qty
        per_line[allocation.line_id] += qty
    Allocation.objects.bulk_update([a for a, _ in picks], ["quantity", "shipped"])
    lines = list(OrderLine.objects.filter(pk__in=per_line))
    for line in lines:
        line.shipped_quantity += per_line[line.pk]
    OrderLine.objects.bulk_update(lines, ["shipped_quantity"])


def _apply(order: Order, name: str, *, actor, reason: str, check_permission: bool,
           event_data: dict | None = None) -> Order:
    method = getattr(order, name, None)
    if name not in transition_names(for_api=False) or method is None:
        raise TransitionNotAllowed(f"There is no transition called {name!r}.", transition=name,
                                   allowed=_allowed(order, actor))
    # State first: has_transition_perm() is also False when the state does not allow the transition, and that
    # is a 409 (not allowed now), not a 403 (never allowed for this person).
    if not can_proceed(method):
        raise TransitionNotAllowed(
            f"Order {order.number} is {order.get_status_display().lower()} and cannot {name.replace('_', ' ')}.",
            transition=name, status=order.status, allowed=_allowed(order, actor),
        )
    if check_permission and actor is not None and not has_transition_perm(method, actor):
        raise TransitionForbidden(f"You may not {name} orders.", transition=name)
    if name in REASON_REQUIRED and not reason.strip():
        raise InvalidOrder(f"Say why: a reason is required to {name} an order.", fields={"reason": ["Required."]})
    if name == "ship" and getattr(actor, "is_authenticated", False) and not reason.strip():
        raise InvalidOrder("Say how the goods left: shipping outside Waybill needs a reason (no parcel, no "
                           "tracking number).", fields={"reason": ["Required."]})
    if name == "ship":
        refusal = next((why for guard in SHIP_EVERYTHING_GUARDS if (why := guard(order))), "")
        if refusal:
            raise TransitionNotAllowed(refusal, transition=name, status=order.status)
    if name == "ship" and order_has_backorders(order):
        raise TransitionNotAllowed(f"Order {order.number} still has units on backorder: they cannot ship before "
                                   "they arrive.", transition=name, status=order.status)
    before = order.status
    if name == "cancel":
        _release_all(order, actor=actor, reason=reason)
        OrderLine.objects.filter(order=order, backordered_quantity__gt=0).update(backordered_quantity=0,
                                                                              backorder_expected_on=None)
    elif name == "ship":
        _ship_allocations(order, [(a, a.quantity) for a in _outstanding(order)], actor=actor, reason=reason)
    method(reason=reason)
    order.save()
    _record_event(order, actor=actor, from_status=before, to_status=order.status, transition=name, text=reason,
                  data=event_data)
    return order


def _allowed(order: Order, actor) -> list[str]:
    names = [t.name for t in order.get_available_status_transitions() if t.custom.get("api", True)]
    if actor is not None and getattr(actor, "is_authenticated", False):
        names = [n for n in names if has_transition_perm(getattr(order, n), actor)]
    return names


@atomic_service
def order_transition(*, order: Order | str, name: str, actor=None, reason: str = "",
                     check_permission: bool = True) -> Order:
    """Move an order along its lifecycle under a row lock and record it on the timeline.

    cancel releases every outstanding allocation; ship sends every outstanding allocation (stock leaves).
    A refused transition raises and changes nothing.
    """
    if name not in transition_names(for_api=True):
        locked = _lock(order)
        raise TransitionNotFound(f"There is no transition called {name!r}.", transition=name,
                                 allowed=_allowed(locked, actor))
    return _apply(_lock(order), name, actor=actor, reason=reason or "", check_permission=check_permission)


@atomic_service
def order_ship_items(*, order: Order | str, items: Sequence[tuple[int, int, int]], actor=None,
                     reason: str = "") -> Order:
    """Ship part of an order: items are (order line id, warehouse id, quantity).

    The stock leaves the ledger as shipment movements; the order becomes partially_shipped, or shipped when
    nothing is left to send.
    """
    locked = _lock(order)
    if locked.status not in SHIPPABLE:
        raise TransitionNotAllowed(
            f"Order {locked.number} is {locked.get_status_display().lower()}; start processing it first.",
            status=locked.status)
    outstanding = _outstanding(locked)
    picks, errors = [], {}
    for i, (line_id, warehouse_id, qty) in enumerate(items):
        if not isinstance(qty, int) or qty <= 0:
            errors[f"items[{i}].quantity"] = ["Must be a whole number above zero."]
            continue
        remaining = qty
        for allocation in outstanding:
            if allocation.line_id == line_id and allocation.warehouse_id == warehouse_id and remaining:
                take = min(remaining, allocation.quantity - sum(q for a, q in picks if a is allocation))
                if take > 0:
                    picks.append((allocation, take))
                    remaining -= take
        if remaining:
            errors[f"items[{i}]"] = [f"Only {qty - remaining} unit(s) of that line are waiting at that warehouse."]
    if errors or not picks:
        raise InvalidOrder("Some items cannot be shipped.", fields=errors or {"items": ["Nothing to ship."]})
    _ship_allocations(locked, picks, actor=actor, reason=reason)
    if any(a.quantity for a in outstanding) or order_has_backorders(locked):
        return _apply(locked, "ship_partially", actor=actor, reason=reason, check_permission=False)
    # Everything has left: move to shipped (the stock already moved above, so nothing ships twice).
    before = locked.status
    locked.ship(reason=reason)
    locked.save()
    _record_event(locked, actor=actor, from_status=before, to_status=locked.status, transition="ship", text=reason)
    return locked


@atomic_service
def order_return_shipped_items(*, order: Order | str, items: Sequence[tuple[int, int, int]], actor=None,
                               reason: str = "", reference=None) -> Order:
    """Units that had left came back undelivered (a parcel returned to sender): items are (order line id,
    warehouse id, quantity).

    They go back to that warehouse's stock as return-to-stock movements, the lines no longer count them as
    shipped, and the order is returned until staff send it again (order_reship) or refund it.
    """
    locked = _lock(order)
    lines = {line.pk: line for line in OrderLine.objects.filter(order=locked).order_by("pk")}
    back: dict[int, int] = defaultdict(int)
    errors = {}
    for i, (line_id, _warehouse_id, qty) in enumerate(items):
        line = lines.get(line_id)
        if line is None:
            errors[f"items[{i}].line"] = [f"Order {locked.number} has no line {line_id}."]
        elif not isinstance(qty, int) or isinstance(qty, bool) or qty <= 0:
            errors[f"items[{i}].quantity"] = ["Must be a whole number above zero."]
        elif back[line_id] + qty > line.shipped_quantity:
            errors[f"items[{i}].quantity"] = [f"Only {line.shipped_quantity} unit(s) of {line.sku} have left."]
        else:
            back[line_id] += qty
    if errors or not back:
        raise InvalidOrder("Some items cannot come back.", fields=errors or {"items": ["Nothing came back."]})
    stock_return(items=[(lines[line_id].product_id, warehouse_id, qty) for line_id, warehouse_id, qty in items],
                 actor=actor, reason=reason, reference=reference or locked)
    for line_id, qty in back.items():
        lines[line_id].shipped_quantity -= qty
    OrderLine.objects.bulk_update([lines[line_id] for line_id in back], ["shipped_quantity"])
    _remember(locked, lines=list(lines.values()))
    order = _apply(locked, "return_to_sender", actor=actor, reason=reason, check_permission=False)
    del order._prefetched_objects_cache
    return order


def order_units_to_send(order: Order) -> dict[int, int]:
    """Order line id → units neither with the customer nor reserved for a parcel: what a reship must send."""
    reserved: dict[int, int] = defaultdict(int)
    for line_id, qty in Allocation.objects.filter(order=order, quantity__gt=0).values_list("line_id", "quantity"):
        reserved[line_id] += qty
    left = {line.pk: line.quantity - line.shipped_quantity - reserved[line.pk] for line in order.lines.order_by("pk")}
    return {line_id: qty for line_id, qty in left.items() if qty > 0}


@atomic_service
def order_reship(*, order: Order | str, actor=None, reason: str = "") -> Order:
    """Send a returned order again: stock is reserved once more for every unit that came back, and the order is
    packed (or partially shipped, while other parcels are with the customer) so a new shipment can take them."""
    locked = _lock(order)
    if locked.status != Order.Status.RETURNED:
        raise TransitionNotAllowed(
            f"Order {locked.number} is {locked.get_status_display().lower()}; only a returned order is sent again.",
            transition="reship", status=locked.status)
    if actor is not None and not has_transition_perm(locked.reship, actor):
        raise TransitionForbidden("You may not send orders again.", transition="reship")
    missing = order_units_to_send(locked)
    lines = OrderLine.objects.select_related("product").in_bulk(list(missing))
    plans = stock_allocate(requests=[(lines[line_id].product, qty) for line_id, qty in sorted(missing.items())],
                           actor=actor, reference=locked)
    line_for = {line.product_id: line for line in lines.values()}
    Allocation.objects.bulk_create([
        Allocation(order=locked, line=line_for[plan.product.pk], product=plan.product, warehouse=plan.warehouse,
                   quantity=plan.quantity)
        for plan in plans
    ])
    return _apply(locked, "reship", actor=actor, reason=reason or "Sent again in a new parcel.",
                  check_permission=False)


@atomic_service
def order_add_note(*, order: Order | str, author, text: str, internal: bool = True) -> OrderEvent:
    """A note on the timeline; internal notes are for staff only."""
    if not (text or "").strip():
        raise InvalidOrder("A note cannot be empty.", fields={"text": ["Write something."]})
    locked = _lock(order)
    return _record_event(locked, actor=author, kind=OrderEvent.Kind.NOTE, text=text.strip(), internal=internal)


PAYMENT_METHODS = dict(Payment.Method.choices)
MAX_PAYMENT = Decimal("999999999999.99")  # what amount_paid's 14 digits hold


def _payment_status_of(order: Order) -> str:
    """The payment status follows from the money: nothing received, part of the total, all of it, and then what
    went back. A paid order whose items were added to is partially paid again until the rest arrives."""
    S = Order.PaymentStatus
    if order.amount_paid <= 0:
        return S.UNPAID
    if order.refunded_total > 0:
        return S.REFUNDED if order.refunded_total >= order.amount_paid else S.PARTIALLY_REFUNDED
    return S.PAID if order.amount_paid >= order.total else S.PARTIALLY_PAID


def _clean_payment(*, amount, method: str, reference: str) -> tuple[Decimal, str, str]:
    errors: dict[str, list[str]] = {}
    try:
        amount = Decimal(str(amount))
        if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
            raise ArithmeticError
    except (ArithmeticError, ValueError):
        errors["amount"] = ["An amount with at most two decimals, e.g. 19.90."]
    else:
        if not Decimal("0") < amount <= MAX_PAYMENT:
            errors["amount"] = ["An amount above zero."]
    if method not in PAYMENT_METHODS:
        errors["method"] = [f"One of: {', '.join(PAYMENT_METHODS)}."]
    reference = str(reference or "").strip()
    if len(reference) > 100 or has_control_characters(reference, single_line=True):
        errors["reference"] = ["At most 100 characters on one line."]
    if errors:
        raise InvalidOrder("The payment cannot be recorded as it is.", fields=errors)
    return amount, method, reference


@atomic_service
def order_record_payment(*, order: Order | str, amount, method: str = Payment.Method.CARD, reference: str = "",
                         actor=None, text: str = "") -> Payment:
    """Money arrived for an order. amount_paid grows by it and the payment status follows (partially paid, paid);
    the payment goes on the timeline. The provider's reference counts once per order: the same payment reported
    again is answered with the payment already recorded, the same reference with another amount is refused (409).
    A payment for a cancelled order is recorded too: it is then money to refund."""
    amount, method, reference = _clean_payment(amount=amount, method=method, reference=reference)
    locked = _lock(order)
    if reference:
        known = Payment.objects.filter(order=locked, reference=reference).first()
        if known is not None:
            if known.amount == amount and known.method == method:
                return known
            raise PaymentReferenceReused(
                f"Payment {reference} of order {locked.number} was recorded already, as {known.amount} "
                f"{locked.currency} ({known.get_method_display().lower()}).",
                reference=reference, amount=str(known.amount), method=known.method)
    if locked.amount_paid + amount > MAX_PAYMENT:
        raise InvalidOrder("The payment cannot be recorded as it is.", fields={"amount": ["Too large."]})
    payment = Payment.objects.create(order=locked, amount=amount, method=method, reference=reference,
                                     recorded_by=actor if getattr(actor, "pk", None) else None)
    before = locked.payment_status
    locked.amount_paid += amount
    locked.payment_status = _payment_status_of(locked)
    locked.save(update_fields=["amount_paid", "payment_status", "updated_at"])
    words = f"Payment of {amount} {locked.currency} received"
    if locked.balance_due:
        words += f"; {locked.balance_due} {locked.currency} left to pay"
    _record_event(locked, actor=actor, kind=OrderEvent.Kind.PAYMENT, from_status=before,
                  to_status=locked.payment_status, text=text or f"{words}.",
                  data={"payment_amount": str(amount), "currency": locked.currency, "method": method,
                        "reference": reference, "amount_paid": str(locked.amount_paid),
                        "balance_due": str(locked.balance_due)})
    return payment


@atomic_service
def order_set_payment_status(*, order: Order | str, payment_status: str, actor=None, reason: str = "") -> Order:
    """The payment status by name, for a shop that reports only "paid" or "refunded": "paid" records a payment of
    the balance due, "refunded" a refund of what is left. The status otherwise follows from the payments and
    refunds (order_record_payment, order_record_refund), so the other names are refused."""
    S = Order.PaymentStatus
    if payment_status not in (S.PAID, S.REFUNDED):
        allowed = ", ".join(S.values) if payment_status not in S.values else "paid, refunded"
        raise InvalidOrder("Unknown payment status." if payment_status not in S.values else
                           "That payment status follows from the payments and refunds: record one of them.",
                           fields={"payment_status": [f"One of: {allowed}."]})
    locked = _lock(order)
    if payment_status == S.PAID and locked.balance_due > 0:
        order_record_payment(order=locked, amount=locked.balance_due, method=Payment.Method.OTHER, actor=actor,
                             text=reason)
    elif payment_status == S.REFUNDED and order_refundable(locked) > 0:
        order_record_refund(order=locked, amount=order_refundable(locked), actor=actor, text=reason)
    else:
        return locked
    return _lock(locked)


# --- after-sales: claims, refunds and replacements (the returns app calls these under its own service) --------

def order_lines_claim(*, order: Order, changes: dict[int, int]) -> None:
    """Count units as claimed by returns (positive) or give them back (negative, a rejected or cancelled return):
    order line id → change. The caller holds the order's row lock and has checked what may be claimed; the
    database refuses more claimed than shipped whatever the caller checked."""
    changes = {line_id: change for line_id, change in changes.items() if change}
    if changes:  # one UPDATE whatever the number of lines
        change = Case(*[When(pk=line_id, then=Value(n)) for line_id, n in changes.items()], default=Value(0))
        OrderLine.objects.filter(order=order, pk__in=list(changes)).update(
            returned_quantity=F("returned_quantity") + change)


def order_refundable(order: Order) -> Decimal:
    """What can still be refunded: the amount paid minus what was refunded (nothing on an unpaid order)."""
    return max(order.amount_paid - order.refunded_total, Decimal("0.00"))


@atomic_service
def order_record_refund(*, order: Order | str, amount: Decimal, actor=None, text: str = "",
                        data: dict | None = None) -> Order:
    """Money went back to the customer: refunded_total grows, the payment status becomes partially refunded or
    refunded, and the payment entry goes on the timeline. Refused (409) beyond what was paid."""
    locked = _lock(order)
    amount = Decimal(amount)
    refundable = order_refundable(locked)
    if amount <= 0:
        raise InvalidOrder("A refund is an amount above zero.", fields={"amount": ["Must be above zero."]})
    if locked.amount_paid <= 0:
        raise RefundNotAllowed(f"Order {locked.number} was not paid: there is nothing to refund.",
                               number=locked.number, refundable="0.00")
    if amount > refundable:
        raise RefundNotAllowed(
            f"At most {refundable} {locked.currency} of order {locked.number} can still be refunded "
            f"({locked.refunded_total} of {locked.amount_paid} paid already refunded).",
            number=locked.number, refundable=str(refundable), requested=str(amount))
    before = locked.payment_status
    locked.refunded_total += amount
    locked.payment_status = _payment_status_of(locked)
    locked.save(update_fields=["refunded_total", "payment_status", "updated_at"])
    _record_event(locked, actor=actor, kind=OrderEvent.Kind.PAYMENT, from_status=before,
                  to_status=locked.payment_status, text=text or f"Refund of {amount} {locked.currency} issued.",
                  data={"refund_amount": str(amount), "currency": locked.currency, **(data or {})})
    return locked


@atomic_service
def order_place_replacement(*, original: Order | str, lines: Sequence[tuple[Product, int, Decimal]], actor=None,
                            reason: str = "") -> Order:
    """A new order that replaces (or exchanges) items of `original`: same customer and address, lines at the
    prices given (zero for a replacement, the difference due for an exchange), stock allocated like any other
    order (it can oversell nothing). Paid when it costs nothing; otherwise it waits for the customer's payment."""
    source = _lock(original)
    if not lines:
        raise InvalidOrder("A replacement needs at least one line.", fields={"lines": ["Nothing to send."]})
    subtotal = sum((Decimal(price) * qty for _, qty, price in lines), Decimal("0"))
    order = Order(
        customer=source.customer, email=source.email, phone=source.phone, currency=source.currency,
        subtotal=subtotal, shipping_total=Decimal("0"), total=subtotal, replaces=source,
        channel=Order.Channel.REPLACEMENT,
        payment_status=Order.PaymentStatus.PAID if subtotal == 0 else Order.PaymentStatus.UNPAID,
        notes=f"Replacement for order {source.number}.",
        **{f"ship_{k}": getattr(source, f"ship_{k}") for k in ADDRESS_FIELDS},
    )
    order.save(force_insert=True)
    order_lines = OrderLine.objects.bulk_create([
        OrderLine(order=order, product=product, sku=product.sku, name=product.name, quantity=qty,
                  unit_price=Decimal(price), line_total=Decimal(price) * qty)
        for product, qty, price in lines
    ])
    _remember(order, lines=order_lines)
    _record_event(order, actor=actor, to_status=order.status, transition="place",
                  text=reason or f"Replacement for order {source.number}",
                  data={"replaces": source.number})
    plans = stock_allocate(requests=[(product, qty) for product, qty, _ in lines], actor=actor, reference=order)
    line_for = {line.product_id: line for line in order_lines}
    Allocation.objects.bulk_create([
        Allocation(order=order, line=line_for[plan.product.pk], product=plan.product, warehouse=plan.warehouse,
                   quantity=plan.quantity)
        for plan in plans
    ])
    del order._prefetched_objects_cache
    return order


@atomic_service
def order_attach_guest_orders(*, customer) -> list[int]:
    """Orders placed as a guest with the customer's (verified) email join their account. Returns their ids."""
    ids = list(Order.objects.select_for_update().filter(customer__isnull=True, email__iexact=customer.email)
               .order_by("pk").values_list("pk", flat=True))
    Order.objects.filter(pk__in=ids).update(customer=customer)
    return ids


# Other apps may refuse a change of the delivery address (shipping does once a label carries the old one).
ADDRESS_CHANGE_GUARDS: list[Callable[[Order], str]] = []
ADDRESS_CHANGEABLE = [Order.Status.PLACED, Order.Status.CONFIRMED, Order.Status.PROCESSING, Order.Status.PACKED,
                      Order.Status.ON_HOLD]


def register_address_change_guard(guard: Callable[[Order], str]) -> None:
    if guard not in ADDRESS_CHANGE_GUARDS:
        ADDRESS_CHANGE_GUARDS.append(guard)


@atomic_service
def order_change_address(*, order: Order | str, address: dict, actor=None) -> Order:
    """A new delivery address, while no parcel has its label yet: checked like a new order's, written on the
    timeline (for the customer too), and staff are alerted so nobody ships to the old one."""
    locked = _lock(order)
    if locked.status not in ADDRESS_CHANGEABLE:
        raise TransitionNotAllowed(
            f"Order {locked.number} is {locked.get_status_display().lower()}: its address can no longer change.",
            status=locked.status)
    refusal = next((why for guard in ADDRESS_CHANGE_GUARDS if (why := guard(locked))), "")
    if refusal:
        raise TransitionNotAllowed(refusal, status=locked.status)
    unknown = set(address) - set(ADDRESS_FIELDS)
    if unknown:
        raise InvalidOrder("Unknown address fields.", fields={f"shipping_address.{k}": ["Unknown field."]
                                                              for k in unknown})
    before = {k: getattr(locked, f"ship_{k}") for k in ADDRESS_FIELDS}
    for key in ADDRESS_FIELDS:
        if key in address:
            setattr(locked, f"ship_{key}", (address[key] or "").strip() if key != "country" else
                    str(address[key] or "").upper())
    try:
        locked.clean_fields(exclude=["number", "customer", "status", "payment_status"])
    except ValidationError as exc:
        raise InvalidOrder("The address has invalid fields.", fields={
            (f"shipping_address.{k[5:]}" if k.startswith("ship_") else k): v
            for k, v in exc.message_dict.items()}) from None
    after = {k: str(getattr(locked, f"ship_{k}")) for k in ADDRESS_FIELDS}
    if after == {k: str(v) for k, v in before.items()}:
        return locked
    locked.save()
    summary = ", ".join(v for v in (after["line1"], after["postal_code"] + " " + after["city"], after["country"])
                        if v.strip())
    _record_event(locked, actor=actor, kind=OrderEvent.Kind.NOTE, text=f"Delivery address changed to {summary}.",
                  data={"address_changed": after})
    return locked


# Unpaid orders that nobody has started to pick hold their stock for WAYBILL_UNPAID_ORDER_EXPIRY_HOURS at most.
EXPIRABLE = [Order.Status.PLACED, Order.Status.CONFIRMED]


def order_expire_unpaid(*, now=None, limit: int = 200) -> list[str]:
    """Cancel unpaid orders older than WAYBILL_UNPAID_ORDER_EXPIRY_HOURS and release their stock, oldest first,
    at most `limit` per call (the periodic task calls again next time). Each order is its own transaction and is
    checked again under its row lock, so a payment recorded meanwhile keeps it. Returns the expired numbers."""
    hours = settings.WAYBILL_UNPAID_ORDER_EXPIRY_HOURS
    if hours <= 0:
        return []
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    numbers = list(
        Order.objects.filter(status__in=EXPIRABLE, payment_status=Order.PaymentStatus.UNPAID, total__gt=0,
                             placed_at__lt=cutoff)
        .order_by("placed_at", "pk").values_list("number", flat=True)[:limit]
    )
    return [number for number in numbers if _expire_unpaid(number=number, cutoff=cutoff, hours=hours)]


@atomic_service
def _expire_unpaid(*, number: str, cutoff, hours: int) -> bool:
    order = _lock(number)
    if (order.status not in EXPIRABLE or order.payment_status != Order.PaymentStatus.UNPAID or order.total <= 0
            or order.placed_at >= cutoff):
        return False  # paid, picked, held or cancelled since it was selected
    waited = f"{hours // 24} days" if hours % 24 == 0 and hours >= 48 else f"{hours} hours"
    _apply(order, "cancel", actor=None, check_permission=False,
           reason=f"Payment did not arrive within {waited}, so the order was cancelled and its items released.",
           event_data={"expired_unpaid": True, "expiry_hours": hours})
    return True


# --- editing a placed order ------------------------------------------------------------------------------------

EDITABLE = [Order.Status.PLACED, Order.Status.CONFIRMED, Order.Status.PROCESSING]
# Other apps may refuse an edit of the items (shipping does once a parcel holds them); a guard returns why, or "".
EDIT_GUARDS: list[Callable[[Order], str]] = []


def register_edit_guard(guard: Callable[[Order], str]) -> None:
    if guard not in EDIT_GUARDS:
        EDIT_GUARDS.append(guard)


@atomic_service
def order_edit_lines(*, order: Order | str, changes: Sequence[dict], actor=None, reason: str = "") -> Order:
    """Change what an order holds before anything is picked: `changes` are {"sku", "quantity"}, the new quantity of
    a line (0 removes it; a SKU not on the order adds it). The reserved stock follows (more is allocated like at
    placement, out of stock refused or backordered; less is released), prices come from the catalogue for new
    lines and stay as sold for the others, and the totals follow. The customer sees the change on the timeline
    and by email. A paid order may change too: items added leave a balance to pay (partially paid until
    order_record_payment), items removed leave money to refund (Order.refund_due; staff refund it)."""
    locked = _lock(order)
    if locked.status not in EDITABLE:
        raise TransitionNotAllowed(
            f"Order {locked.number} is {locked.get_status_display().lower()}: its items can change only before it "
            "is picked (its address can still change until the label).", status=locked.status)
    refusal = next((why for guard in EDIT_GUARDS if (why := guard(locked))), "")
    if refusal:
        raise TransitionNotAllowed(refusal, status=locked.status)
    lines = {line.sku.upper(): line for line in OrderLine.objects.filter(order=locked).select_related("product")}
    wanted: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    for i, change in enumerate(changes or []):
        sku = str((change or {}).get("sku") or "").strip().upper()
        quantity = (change or {}).get("quantity")
        if not sku:
            errors[f"changes[{i}].sku"] = ["Which product?"]
        elif len(sku) > 64 or has_control_characters(sku, single_line=True):
            errors[f"changes[{i}].sku"] = ["A SKU is at most 64 letters, digits and dashes."]
        elif sku in wanted:
            errors[f"changes[{i}].sku"] = [f"{sku} appears twice."]
        elif not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 <= quantity <= 10_000:
            errors[f"changes[{i}].quantity"] = ["A whole number from 0 (remove) to 10000."]
        else:
            wanted[sku] = quantity
    new_skus = [sku for sku in wanted if sku not in lines and wanted[sku] > 0]
    products = {p.sku.upper(): p for p in Product.objects.filter(sku__in=new_skus)}
    for i, change in enumerate(changes or []):
        sku = str((change or {}).get("sku") or "").strip().upper()
        if sku in new_skus and (sku not in products or not products[sku].active):
            errors[f"changes[{i}].sku"] = [f"{sku} is not for sale." if sku in products else f"Unknown SKU {sku}."]
    if errors or not wanted:
        raise InvalidOrder("The changes cannot be made as they are.",
                           fields=errors or {"changes": ["Nothing to change."]})
    remaining = {sku: line.quantity for sku, line in lines.items()}
    remaining.update({sku: q for sku, q in wanted.items()})
    if not any(q > 0 for q in remaining.values()):
        raise InvalidOrder("An order keeps at least one item: cancel it instead.",
                           fields={"changes": ["Nothing left."]})
    summary: list[dict] = []
    # fewer or removed: backordered units go first, then reserved ones, from the last-choice warehouse back
    for sku, quantity in sorted(wanted.items()):
        line = lines.get(sku)
        if line is None or quantity >= line.quantity:
            continue
        less = line.quantity - quantity
        from_backorder = min(less, line.backordered_quantity)
        to_release, picks = less - from_backorder, []
        for allocation in sorted(_outstanding(locked), key=lambda a: -a.pk):
            if allocation.line_id == line.pk and to_release:
                take = min(to_release, allocation.quantity)
                picks.append((allocation, take))
                to_release -= take
        if picks:
            stock_release(items=[(a.product_id, a.warehouse_id, q) for a, q in picks], actor=actor,
                          reason=reason or "Order changed", reference=locked)
            for allocation, take in picks:
                Allocation.objects.filter(pk=allocation.pk).update(quantity=F("quantity") - take,
                                                                   released=F("released") + take)
        summary.append({"sku": line.sku, "name": line.name, "from": line.quantity, "to": quantity})
        if quantity == 0:
            Allocation.objects.filter(line=line).delete()
            line.delete()
        else:
            line.backordered_quantity -= from_backorder
            line.quantity, line.line_total = quantity, line.unit_price * quantity
            if not line.backordered_quantity:
                line.backorder_expected_on = None
            line.save(update_fields=["quantity", "line_total", "backordered_quantity", "backorder_expected_on"])
    # more, or new lines: allocated like at placement (out of stock refused unless sold on backorder)
    more: list[tuple[OrderLine, int]] = []
    for sku, quantity in sorted(wanted.items()):
        line = lines.get(sku)
        if line is None and quantity > 0:
            product = products[sku]
            line = OrderLine.objects.create(order=locked, product=product, sku=product.sku, name=product.name,
                                            quantity=quantity, unit_price=product.price,
                                            line_total=product.price * quantity)
            more.append((line, quantity))
            summary.append({"sku": line.sku, "name": line.name, "from": 0, "to": quantity})
        elif line is not None and quantity > line.quantity:
            delta = quantity - line.quantity
            summary.append({"sku": line.sku, "name": line.name, "from": line.quantity, "to": quantity})
            line.quantity, line.line_total = quantity, line.unit_price * quantity
            line.save(update_fields=["quantity", "line_total"])
            more.append((line, delta))
    if more:
        short_ok = {line.product_id for line, _ in more if line.product.allow_backorder}
        plans = stock_allocate(requests=[(line.product, delta) for line, delta in more], actor=actor,
                               reference=locked, short_ok=short_ok)
        by_product = {line.product_id: line for line, _ in more}
        Allocation.objects.bulk_create([Allocation(order=locked, line=by_product[p.product.pk], product=p.product,
                                                   warehouse=p.warehouse, quantity=p.quantity) for p in plans])
        got: dict[int, int] = defaultdict(int)
        for plan in plans:
            got[plan.product.pk] += plan.quantity
        for line, delta in more:
            short = delta - got[line.product_id]
            if short > 0:
                line.backordered_quantity += short
                line.backorder_expected_on = _backorder_expected_on(line.product)
                line.save(update_fields=["backordered_quantity", "backorder_expected_on"])
    subtotal = sum((line.line_total for line in OrderLine.objects.filter(order=locked)), Decimal("0"))
    locked.subtotal, locked.total = subtotal, subtotal + locked.shipping_total
    paid_before = locked.payment_status
    locked.payment_status = _payment_status_of(locked)
    locked.save(update_fields=["subtotal", "total", "payment_status", "updated_at"])
    words = "; ".join(f"{s['name']}: {s['from']} → {s['to']}" if s["to"] else f"{s['name']} removed"
                      for s in summary)
    money, cur = "", locked.currency
    if locked.amount_paid and locked.balance_due:
        money = f" The new total is {locked.total} {cur}: {locked.balance_due} {cur} is left to pay."
    elif locked.refund_due:
        money = f" The new total is {locked.total} {cur}: we will refund you {locked.refund_due} {cur}."
    _record_event(locked, actor=actor, kind=OrderEvent.Kind.NOTE, text=f"Your order was changed: {words}.{money}",
                  data={"order_edited": summary, "total": str(locked.total), "reason": reason[:500],
                        "amount_paid": str(locked.amount_paid), "balance_due": str(locked.balance_due),
                        "refund_due": str(locked.refund_due)})
    if locked.payment_status != paid_before:
        _record_event(locked, actor=actor, kind=OrderEvent.Kind.PAYMENT, from_status=paid_before,
                      to_status=locked.payment_status,
                      text=f"{locked.balance_due} {locked.currency} left to pay after the order changed.",
                      data={"balance_due": str(locked.balance_due), "currency": locked.currency})
    return locked


# --- invoices ----------------------------------------------------------------------------------------------------

@atomic_service
def order_issue_invoice(*, order: Order | str) -> Invoice:
    """The order's invoice, numbered on first issue (INV-<year>-<6 digits>, without gaps per year); later calls
    return the same invoice."""
    locked = _lock(order)
    existing = Invoice.objects.filter(order=locked).first()
    if existing is not None:
        return existing
    if locked.status == Order.Status.CANCELLED and locked.payment_status == Order.PaymentStatus.UNPAID:
        raise TransitionNotAllowed(f"Order {locked.number} was cancelled unpaid: there is nothing to invoice.",
                                   status=locked.status)
    year = timezone.localdate().year
    InvoiceSequence.objects.get_or_create(year=year)
    sequence = InvoiceSequence.objects.select_for_update().get(year=year)
    sequence.last += 1
    sequence.save(update_fields=["last"])
    return Invoice.objects.create(order=locked, number=f"{settings.WAYBILL_INVOICE_PREFIX}{year}-{sequence.last:06d}")


def invoice_tax(*, amount: Decimal) -> tuple[Decimal, Decimal]:
    """(net, tax) of a gross amount at the shop's rate (prices include tax): WAYBILL_TAX_RATE_PERCENT."""
    rate = Decimal(settings.WAYBILL_TAX_RATE_PERCENT)
    if rate <= 0:
        return amount, Decimal("0.00")
    tax = (amount * rate / (Decimal(100) + rate)).quantize(Decimal("0.01"))
    return amount - tax, tax
