"""What one task of each queue costs a worker (the capacity model in docs/scaling.md is built on these).

In this process, task after task, as a worker thread runs them (the tasks are called, not queued):

- email: `outbox_process_task` for an order's confirmation (fan-out, rendering, the email handed to the backend);
- webhooks: `webhook_deliver_task`, a signed POST to a receiver in this process that answers 200 at once;
- staff_alerts: `outbox_process_task` for a low-stock alert to one staff address.

Reported per queue: wall and CPU milliseconds per task (p50 and mean; the CPU of this thread only, so the webhook
receiver's work is not counted), the CPU its database backend spent per task, and queries per task. The email
backend is the in-memory one: a real SMTP server adds its round trips to the wall time, not to the CPU. The bulk
queue's cost is the export scenario's.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings

from . import cpu, load
from .stats import percentile


class _Receiver:
    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/waybill"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _measure(run, ids: list[int]) -> dict:
    walls, cpus, queries = [], [], []
    meter = cpu.Meter(db=cpu.own_backend).start()
    for pk in ids:
        with CaptureQueriesContext(connection) as ctx:
            wall, thread = time.perf_counter(), time.thread_time()
            run(pk)
            cpus.append((time.thread_time() - thread) * 1000)
            walls.append((time.perf_counter() - wall) * 1000)
        queries.append(len(ctx.captured_queries))
    db_cpu_s = meter.stop()["db_cpu_s"]
    return {"tasks": len(ids), "wall_ms_p50": round(percentile(walls, 50), 2),
            "wall_ms_mean": round(statistics.fmean(walls), 2), "cpu_ms_mean": round(statistics.fmean(cpus), 2),
            "db_cpu_ms_mean": round(1000 * db_cpu_s / len(ids), 2),
            "queries_mean": round(statistics.fmean(queries), 1)}


def per_queue(*, n: int) -> dict:
    from inventory.models import Product
    from notifications.models import Notification, OutboxMessage, WebhookDelivery, WebhookEndpoint
    from notifications.services import notification_emit
    from notifications.tasks import outbox_process_task
    from notifications.webhooks import webhook_deliver_task

    customer = load._customer(95)
    product = Product.objects.order_by("pk").first()
    with _Receiver() as receiver, override_settings(WAYBILL_STAFF_ALERT_EMAILS=["operations@example.com"]):
        endpoint = WebhookEndpoint.objects.create(url=receiver.url, secret="bench-secret",
                                                  event_types=["order.placed"], description="bench receiver")
        try:
            warm = n // 10 + 1
            orders = [load.place(customer, load.random_lines(random.Random(i)))[0] for i in range(n + warm)]
            outbox = list(OutboxMessage.objects.filter(event="order.placed", subject_id__in=[str(o.pk) for o in orders])
                          .order_by("pk").values_list("pk", flat=True))
            alerts = []
            for i in range(n + warm):
                with transaction.atomic():
                    message = notification_emit(
                        event="stock.low", subject=product, idempotency_key=f"bench-stock-low:{uuid.uuid4().hex}",
                        payload={"product_sku": product.sku, "product_name": product.name, "available": i,
                                 "threshold": 5, "alert_id": i, "raised_at": "2026-01-01T00:00:00+00:00"})
                alerts.append(message.pk)
            for pk in outbox[:warm] + alerts[:warm]:  # templates compiled, connections warm
                outbox_process_task(pk)
            out = {"email": _measure(outbox_process_task, outbox[warm:])}
            deliveries = list(WebhookDelivery.objects.filter(endpoint=endpoint, status="pending")
                              .order_by("pk").values_list("pk", flat=True))
            for pk in deliveries[:warm]:
                webhook_deliver_task(pk)
            out["webhooks"] = _measure(webhook_deliver_task, deliveries[warm:])
            out["staff_alerts"] = _measure(outbox_process_task, alerts[warm:])
            delivered = WebhookDelivery.objects.filter(pk__in=deliveries, status="delivered").count()
            if delivered != len(deliveries):
                raise RuntimeError(f"only {delivered} of {len(deliveries)} webhooks were delivered")
            sent = Notification.objects.filter(outbox_id__in=outbox + alerts, status="sent").count()
            if sent != len(outbox) + len(alerts):
                raise RuntimeError(f"only {sent} of {len(outbox) + len(alerts)} emails were sent")
        finally:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)
    return out
