"""Which tables grow, and by how much, for each order that goes through its whole life (docs/scaling.md).

n orders, each through the services as the application runs them: placed by the customer (with an
Idempotency-Key), confirmed, put in a parcel, packed and labelled by the local courier, and then scanned by the
courier (picked up, at the depot, on the van, delivered) through its tracking events; every outbox event is then
fanned out and sent as a worker would (the customer's emails, and a webhook endpoint that takes every event). The
rows each table gained are read from its id sequence (inserts, whatever is deleted later), divided by n; beside
them, the bytes a row takes: with its indexes in the million-order seed where the seed has such rows, else the row
as stored (its indexes add about half again), so rows become gigabytes per million orders. Which of those tables
retention keeps bounded is in docs/scaling.md.
"""

from __future__ import annotations

import random
import uuid

from django.apps import apps
from django.db import connection
from django.utils import timezone

from . import load
from .task_costs import _Receiver

CARRIER_SCANS = ["PICKED_UP", "AT_DEPOT", "ON_VAN", "DELIVERED"]


def _sequences() -> dict[str, int]:
    """Table → last value of its id sequence, for every model with an integer id."""
    out = {}
    with connection.cursor() as cursor:
        for model in apps.get_models():
            table = model._meta.db_table
            if model._meta.proxy or not model._meta.managed or model._meta.pk.get_internal_type() not in (
                    "AutoField", "BigAutoField"):
                continue
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, model._meta.pk.column])
            sequence = cursor.fetchone()[0]
            if sequence is None:
                continue
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
            last, called = cursor.fetchone()
            out[table] = last if called else last - 1
    return out


def _bytes_per_row(tables: list[str]) -> dict[str, int | None]:
    """Table and indexes ÷ rows, for tables with enough rows for that to mean something (fresh statistics)."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'ANALYZE "{table}"')
        cursor.execute("SELECT relname, pg_total_relation_size(oid), reltuples FROM pg_class "
                       "WHERE relkind = 'r' AND relname = ANY(%s)", [tables])
        return {name: (round(size / rows) if rows >= 10_000 else None) for name, size, rows in cursor.fetchall()}


def _lifecycle(customer, staff, index: int) -> None:
    from orders.services import order_transition
    from shipping.services import (
        shipment_create_all,
        shipment_pack_and_label,
        shipment_record_carrier_event,
        shipment_transition,
    )

    r = random.Random(index)
    lines = [{"sku": f"SKU-{k:05d}", "quantity": r.randint(1, 2)} for k in r.sample(range(1, 900), r.randint(1, 3))]
    order, _ = load.place(customer, lines)
    order_transition(order=order.number, name="confirm", actor=staff)
    order_transition(order=order.number, name="start_processing", actor=staff)
    for shipment in shipment_create_all(order=order.number, actor=staff):
        labelled = shipment_pack_and_label(shipment=shipment.pk, carrier="local", actor=staff, weight_grams=900)
        shipment_transition(shipment=labelled.pk, name="hand_over", actor=staff)
        for code in CARRIER_SCANS:
            shipment_record_carrier_event(carrier="local", tracking_number=labelled.tracking_number,
                                          event_id=uuid.uuid4().hex, status_code=code, occurred_at=timezone.now(),
                                          location="Berlin", description=code.replace("_", " ").lower())


def per_order(*, n: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from notifications.models import OutboxMessage, WebhookDelivery, WebhookEndpoint
    from notifications.tasks import outbox_process_task
    from notifications.webhooks import webhook_deliver_task

    User = get_user_model()
    staff, created = User.objects.get_or_create(username="bench-staff", defaults={
        "is_staff": True, "email": "bench-staff@example.com"})
    if created:
        staff.groups.add(Group.objects.get(name="Warehouse staff"))
    customer = load._customer(96)
    with _Receiver() as receiver:
        endpoint = WebhookEndpoint.objects.create(url=receiver.url, secret="bench-growth", event_types=["*"],
                                                  description="bench growth")
        try:
            before = _sequences()
            first_outbox = before.get(OutboxMessage._meta.db_table, 0)
            for i in range(n):
                _lifecycle(customer, staff, i)
            for pk in OutboxMessage.objects.filter(pk__gt=first_outbox).order_by("pk").values_list("pk", flat=True):
                outbox_process_task(pk)  # as the email and webhook workers would
            for pk in WebhookDelivery.objects.filter(endpoint=endpoint, status="pending").values_list("pk", flat=True):
                webhook_deliver_task(pk)
            after = _sequences()
        finally:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)
    grown = {table: round((after[table] - before.get(table, 0)) / n, 2) for table in after
             if after[table] > before.get(table, 0)}
    grown.pop(WebhookEndpoint._meta.db_table, None)  # the bench's own receiver
    sizes = _bytes_per_row(list(grown))
    rows = {}
    for table, per in sorted(grown.items(), key=lambda item: -item[1]):
        with connection.cursor() as cursor:  # the rows this run wrote, as stored (without their indexes)
            cursor.execute(f'SELECT avg(pg_column_size(t.*)) FROM "{table}" t WHERE id > %s', [before.get(table, 0)])
            data = cursor.fetchone()[0]
            data = float(data) if data is not None else None
        total = sizes.get(table)
        rows[table] = {"rows_per_order": per, "row_bytes": round(data) if data else None, "bytes_per_row": total}
        if total or data:  # with indexes where the seed has enough rows to tell, else the row alone
            rows[table]["gb_per_million_orders"] = round(per * (total or data) / 1000, 2)
    return {"orders": n, "tables": rows}
