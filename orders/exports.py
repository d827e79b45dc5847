"""Large exports in the background: the order list as CSV, filtered like the API (orders.filters.OrderFilter),
written by a worker in chunks with its progress on the job, so no request ever waits for a million rows.

The rows are read a page at a time, each page one query that continues after the last row of the one before
(newest first, by placed_at and id): memory stays flat whatever the size, and no cursor outlives its statement, so
the export runs the same behind a transaction pooler (DATABASE_POOLER=pgbouncer-transaction, docs/scaling.md).
Each page is consistent in itself; an order that changes while a long export runs is written as it was when its
page was read."""

from __future__ import annotations

import csv
import logging
import tempfile
from collections.abc import Callable
from datetime import timedelta

from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone

from .filters import OrderFilter
from .models import ExportJob, Order

logger = logging.getLogger(__name__)

CHUNK = 2000
PROGRESS_EVERY = 10_000
COLUMNS = ["number", "placed_at", "status", "payment_status", "email", "ship_name", "ship_city", "ship_country",
           "subtotal", "shipping_total", "total", "amount_paid", "refunded_total", "currency"]
# The admin's list filters, in the API's words.
ADMIN_PARAMS = {"status__exact": "status", "payment_status__exact": "payment_status", "placed_at__gte": "placed_after",
                "placed_at__lt": "placed_before", "warehouse": "warehouse", "q": "q"}


def export_params_from_admin(query) -> dict:
    return {api: query.get(admin) for admin, api in ADMIN_PARAMS.items() if query.get(admin)}


def _orders(params: dict):
    data = QueryDict(mutable=True)
    for key, value in params.items():
        data.setlist(key, [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)])
    filtered = OrderFilter(data, queryset=Order.objects.all())
    if not filtered.is_valid():
        raise ValueError("; ".join(f"{k}: {' '.join(v)}" for k, v in filtered.errors.items()))
    return filtered.qs.order_by("-placed_at", "-id")


def export_job_start(*, params: dict, actor) -> ExportJob:
    """Queue an export of the orders matching `params`; a worker starts it after commit (and the periodic
    sweep starts any a lost worker never began)."""
    _orders(params)  # bad filters are refused now, not in the worker
    job = ExportJob.objects.create(kind="orders", params=params, created_by=actor)
    transaction.on_commit(lambda: _dispatch(job.pk))
    return job


def _dispatch(job_id: int) -> None:
    from .tasks import export_job_run_task

    try:
        export_job_run_task.delay(job_id)
    except Exception as exc:  # noqa: BLE001 - the broker is down: the sweep starts it later
        logger.warning("could not queue export job %s: %s", job_id, exc)


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Write the job's CSV: claimed once (queued → running), progress saved every PROGRESS_EVERY rows, the file
    stored at the end. A failure marks the job failed with the reason."""
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
        status=ExportJob.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        return None  # done, failed or being run by another worker
    job = ExportJob.objects.get(pk=job_id)
    try:
        if job.kind == "invoices":
            _write_invoices(job)
            return ExportJob.objects.get(pk=job.pk)
        if job.kind in JOB_RUNNERS:  # another app's bulk work (shipping: shipments for many orders)
            summary = JOB_RUNNERS[job.kind](job, lambda done: ExportJob.objects.filter(pk=job.pk).update(
                done_rows=done))
            ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.DONE, params={**job.params,
                                                       "result": summary}, finished_at=timezone.now())
            return ExportJob.objects.get(pk=job.pk)
        orders = _orders(job.params)
        ExportJob.objects.filter(pk=job.pk).update(total=orders.count())
        with tempfile.TemporaryFile("w+", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            written = 0
            for row in _pages(orders, COLUMNS):
                writer.writerow(row)
                written += 1
                if written % PROGRESS_EVERY == 0:
                    ExportJob.objects.filter(pk=job.pk).update(done_rows=written)
            out.seek(0)
            job.file.save(f"orders-{job.pk}-{timezone.now():%Y%m%d-%H%M}.csv", File(out), save=False)
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.DONE, done_rows=written, file=job.file.name,
                                                   finished_at=timezone.now())
    except Exception as exc:  # noqa: BLE001 - the job says why, for the person waiting on it
        logger.exception("export job %s failed", job.pk)
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.FAILED, error=str(exc)[:500],
                                                   finished_at=timezone.now())
    return ExportJob.objects.get(pk=job.pk)


def _pages(orders, columns: list[str]):
    """The rows of `orders` (ordered newest first by placed_at, id), CHUNK at a time: each page starts after the
    last row of the one before. `placed_at <= last` lets the index on (placed_at DESC, id DESC) start there."""
    at = columns.index("placed_at")
    last = None
    while True:
        page = orders
        if last is not None:
            placed_at, pk = last
            page = page.filter(Q(placed_at__lt=placed_at) | Q(placed_at=placed_at, pk__lt=pk), placed_at__lte=placed_at)
        rows = list(page.values_list(*columns, "pk")[:CHUNK])
        for row in rows:
            yield row[:-1]
        if len(rows) < CHUNK:
            return
        last = rows[-1][at], rows[-1][-1]


# Bulk work other apps run as background jobs: kind → runner(job, progress(done)) returning a summary to show.
JOB_RUNNERS: dict[str, Callable] = {}


def register_job_runner(kind: str, runner: Callable) -> None:
    JOB_RUNNERS[kind] = runner


def job_start(*, kind: str, params: dict, total: int, actor) -> ExportJob:
    """A background job of a registered kind; a worker runs it after commit (the sweep, if that is lost)."""
    if kind not in JOB_RUNNERS:
        raise ValueError(f"No job kind {kind!r}.")
    job = ExportJob.objects.create(kind=kind, params=params, total=total, created_by=actor)
    transaction.on_commit(lambda: _dispatch(job.pk))
    return job


INVOICES_PER_FILE = 2000
INVOICES_CHUNK = 50


def invoice_job_start(*, order_ids: list[int], actor) -> ExportJob:
    """Print many invoices in the background (numbering those without one): one PDF, a page per invoice."""
    ids = sorted(set(order_ids))[:INVOICES_PER_FILE]
    job = ExportJob.objects.create(kind="invoices", params={"orders": ids}, total=len(ids), created_by=actor)
    transaction.on_commit(lambda: _dispatch(job.pk))
    return job


def _write_invoices(job: ExportJob) -> None:
    from pypdf import PdfWriter

    from .documents import invoices_pdf

    ids = [int(pk) for pk in job.params.get("orders", [])]
    writer, done = PdfWriter(), 0
    for start in range(0, len(ids), INVOICES_CHUNK):  # weasyprint renders a chunk at a time; progress between
        chunk = list(Order.objects.filter(pk__in=ids[start:start + INVOICES_CHUNK]).order_by("pk"))
        with tempfile.TemporaryFile() as part:
            part.write(invoices_pdf(orders=chunk))
            part.seek(0)
            writer.append(part)
        done += len(chunk)
        ExportJob.objects.filter(pk=job.pk).update(done_rows=done)
    with tempfile.TemporaryFile() as out:
        writer.write(out)
        out.seek(0)
        job.file.save(f"invoices-{job.pk}-{timezone.now():%Y%m%d-%H%M}.pdf", File(out), save=False)
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.DONE, done_rows=done, file=job.file.name,
                                               finished_at=timezone.now())


def export_jobs_sweep(*, older_than_seconds: int = 60) -> int:
    """Start export jobs still queued after a minute (their first dispatch was lost)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(ExportJob.objects.filter(status=ExportJob.Status.QUEUED, created_at__lt=cutoff)
               .order_by("pk").values_list("pk", flat=True)[:20])
    for pk in ids:
        _dispatch(pk)
    return len(ids)


__all__ = ["export_job_run", "export_job_start", "export_jobs_sweep", "export_params_from_admin", "invoice_job_start",
           "job_start", "register_job_runner"]
