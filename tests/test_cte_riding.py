"""config.cte.riding(): rows given to insert_soon() ride on the block's next statement instead of costing one of
their own, and are never lost: what nothing carried is written when the block ends, nothing when it fails."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from config import cte
from notifications.models import OutboxMessage
from orders.models import OrderEvent
from tests.factories import ProductFactory, place_order

pytestmark = pytest.mark.django_db


def outbox_rows(*keys: str) -> cte.Rows:
    return cte.Rows("m", OutboxMessage, [OutboxMessage(event="stock.low", idempotency_key=k, payload={"k": k})
                                         for k in keys])


def note(order) -> cte.Rows:
    return cte.Rows("e", OrderEvent, [OrderEvent(order=order, kind=OrderEvent.Kind.NOTE, text="ride")])


def test_rows_ride_on_the_next_statement_of_the_block_and_get_their_keys(postgres):
    order = place_order(lines=[(ProductFactory(stock=5), 1)])
    waiting = outbox_rows("a", "b")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        with cte.riding():
            cte.insert_soon(waiting)
            assert not OutboxMessage.objects.filter(idempotency_key__in=["a", "b"]).exists()  # not yet written
            event_rows = note(order)
            written, selected = cte.insert_together(event_rows, select=("41 + 1, 'x'", []))
        statements = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("WITH")]
    # one statement wrote both, and the caller's answer is what it asked for
    assert len(statements) == 1 and "outbox" in statements[0] and "orders_orderevent" in statements[0]
    assert selected == (42, "x")
    assert len(written["e"]) == 1 and event_rows.objs[0].pk == written["e"][0][0]
    assert [m.pk for m in waiting.objs] == list(OutboxMessage.objects.filter(idempotency_key__in=["a", "b"])
                                                .order_by("pk").values_list("pk", flat=True))
    assert all(m.pk is not None for m in waiting.objs)


def test_rows_nothing_carried_are_written_when_the_block_ends(postgres):
    with transaction.atomic():
        with cte.riding():
            cte.insert_soon(outbox_rows("alone"))
            assert not OutboxMessage.objects.filter(idempotency_key="alone").exists()
        assert OutboxMessage.objects.filter(idempotency_key="alone").exists()


def test_rows_of_a_block_that_fails_are_never_written_and_the_next_block_starts_empty(postgres):
    with pytest.raises(RuntimeError), transaction.atomic(), cte.riding():
        cte.insert_soon(outbox_rows("lost"))
        raise RuntimeError("the placement failed")
    with transaction.atomic(), cte.riding():
        cte.flush_riders()  # nothing waits from the block that failed
    assert not OutboxMessage.objects.filter(idempotency_key="lost").exists()


def test_outside_a_block_rows_are_written_at_once(postgres):
    rows = outbox_rows("now")
    cte.insert_soon(rows)
    assert OutboxMessage.objects.get(idempotency_key="now").pk == rows.objs[0].pk


def test_riders_of_the_same_name_ride_together(postgres):
    with transaction.atomic():
        with cte.riding():
            cte.insert_soon(outbox_rows("first"))
            cte.insert_soon(outbox_rows("second"))  # both named "m"
        assert OutboxMessage.objects.filter(idempotency_key__in=["first", "second"]).count() == 2


def test_a_statement_whose_cte_is_named_like_a_rider_is_refused(postgres):
    order = place_order(lines=[(ProductFactory(stock=5), 1)])
    with pytest.raises(ValueError, match="two CTEs named 'ride0_m'"), transaction.atomic(), cte.riding():
        cte.insert_soon(outbox_rows("clash"))
        clash = note(order)
        clash.rename("ride0_m")
        cte.insert_together(clash)


def test_an_update_rides_like_rows_and_answers_what_it_changed(postgres):
    order = place_order(lines=[(ProductFactory(stock=5), 1)])
    table = connection.ops.quote_name(OrderEvent._meta.db_table)
    event = order.events.get()
    update = cte.Changed("u", f"UPDATE {table} SET text = %s WHERE id = %s RETURNING id", ["changed", event.pk])
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        with cte.riding():
            cte.insert_soon(update)
            written, _ = cte.insert_together(note(order))
        statements = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("WITH")]
    assert len(statements) == 1 and "UPDATE" in statements[0] and len(written["e"]) == 1
    assert update.name.startswith("ride0_") and update.written([[event.pk]]) == [(event.pk,)]
    event.refresh_from_db()
    assert event.text == "changed"
