"""Large exports run in the background with their progress on a page; the file waits there when done."""

import csv
import io

from django.urls import reverse

from orders.exports import export_job_run, export_job_start
from orders.models import ExportJob, Order
from tests.factories import place_order


def test_an_export_writes_every_matching_order_and_says_how_far_it_got(customer, admin_user,
                                                                       django_capture_on_commit_callbacks):
    orders = [place_order(customer=customer) for _ in range(5)]
    Order.objects.filter(pk=orders[0].pk).update(status="cancelled")
    with django_capture_on_commit_callbacks(execute=True):  # the worker (eager here) starts after commit
        job = export_job_start(params={"status": ["placed"]}, actor=admin_user)
    job.refresh_from_db()
    assert (job.status, job.total, job.done_rows, job.percent) == ("done", 4, 4, 100)
    rows = list(csv.reader(io.StringIO(job.file.read().decode())))
    assert rows[0][0] == "number" and sorted(r[0] for r in rows[1:]) == sorted(o.number for o in orders[1:])


def test_an_export_reads_page_after_page_and_writes_each_order_once_in_order(customer, admin_user, monkeypatch):
    # given more orders than fit on a page, some placed at the very same instant (the page boundary falls among them)
    monkeypatch.setattr("orders.exports.CHUNK", 3)
    orders = [place_order(customer=customer) for _ in range(8)]
    same = orders[0].placed_at
    Order.objects.filter(pk__in=[o.pk for o in orders[1:6]]).update(placed_at=same)
    # when they are exported
    job = ExportJob.objects.create(params={}, created_by=admin_user)
    done = export_job_run(job_id=job.pk)
    # then every order is there once, newest first (ties by id), as the list shows them
    numbers = [row[0] for row in list(csv.reader(io.StringIO(done.file.read().decode())))[1:]]
    assert numbers == list(Order.objects.order_by("-placed_at", "-id").values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 8 and done.done_rows == 8


def test_a_job_runs_once_however_often_it_is_started(admin_user, customer):
    place_order(customer=customer)
    job = ExportJob.objects.create(params={}, created_by=admin_user)
    assert export_job_run(job_id=job.pk).status == "done"
    assert export_job_run(job_id=job.pk) is None


def test_the_admin_starts_an_export_from_the_lists_filters_and_serves_the_file(admin_client, customer,
                                                                             django_capture_on_commit_callbacks):
    place_order(customer=customer)
    changelist = admin_client.get(reverse("admin:orders_order_changelist"), {"status__exact": "placed"})
    assert "Export (CSV)" in changelist.content.decode()
    start = reverse("admin:orders_exportjob_start")
    assert admin_client.get(start, {"status__exact": "placed"}).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(start, {"status__exact": "placed"})
    job = ExportJob.objects.get()
    assert job.params == {"status": "placed"}
    assert response["Location"] == reverse("admin:orders_exportjob_change", args=[job.pk])
    page = admin_client.get(response["Location"]).content.decode()
    assert "Download the CSV" in page and 'http-equiv="refresh"' not in page
    download = admin_client.get(reverse("admin:orders_exportjob_download", args=[job.pk]))
    assert download.status_code == 200 and b"number" in b"".join(download.streaming_content)


def test_a_running_export_page_refreshes_itself(admin_client, admin_user):
    job = ExportJob.objects.create(params={}, created_by=admin_user, status="running", total=100, done_rows=40)
    page = admin_client.get(reverse("admin:orders_exportjob_change", args=[job.pk])).content.decode()
    assert 'http-equiv="refresh"' in page and 'value="40"' in page and "40 of 100 orders" in page


def test_bad_filters_are_refused_before_a_job_is_made(admin_client):
    response = admin_client.post(reverse("admin:orders_exportjob_start"), {"placed_at__gte": "not-a-date"})
    assert response.status_code == 302 and not ExportJob.objects.exists()


def test_people_who_cannot_see_orders_get_no_file(client, admin_user, customer):
    from tests.factories import StaffFactory

    job = ExportJob.objects.create(params={}, created_by=admin_user)
    export_job_run(job_id=job.pk)
    client.force_login(StaffFactory())
    assert client.get(reverse("admin:orders_exportjob_download", args=[job.pk])).status_code in (403, 404)
