import io
from datetime import timedelta

import pytest
from django.utils import timezone
from pypdf import PdfReader

from inventory.models import Warehouse
from orders.models import Order
from shipping.models import Shipment
from shipping.services import shipment_create_all, shipment_transition
from tests.factories import ProductFactory, WarehouseFactory, place_order

from .conftest import line, pack


def pdf_text(response) -> tuple[int, str]:
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def labelled_shipment(order):
    shipment = shipment_create_all(order=order.number, carrier="local")[0]
    for name in ("pick", "pack", "create_label"):
        shipment = shipment_transition(shipment=shipment.pk, name=name)
    return shipment


def test_shipment_changelist_queries_do_not_grow(admin_client, django_assert_max_num_queries,
                                                 django_assert_num_queries):
    WarehouseFactory(code="QC")

    def make(n):
        for _ in range(n):
            order = pack(place_order(lines=[(ProductFactory(stock={"QC": 1}), 1)]))
            shipment_create_all(order=order.number, carrier="local")

    make(3)
    with django_assert_max_num_queries(15) as first:
        assert admin_client.get("/admin/shipping/shipment/").status_code == 200
    make(27)
    with django_assert_num_queries(len(first.captured_queries)):
        response = admin_client.get("/admin/shipping/shipment/")
    assert response.content.decode().count('name="_selected_action"') == 30


def test_pick_list_pdf_groups_by_warehouse_then_sku(admin_client, packed_order, customer):
    other = pack(place_order(customer=customer, lines=[(ProductFactory(sku="SKU-C", stock={"SOUTH": 4}), 4)]))
    response = admin_client.post("/admin/orders/order/", {
        "action": "print_pick_list", "_selected_action": [packed_order.pk, other.pk]})
    pages, text = pdf_text(response)
    assert pages == 1 and "Pick list" in text
    a, b, c = (line(order, sku) for order, sku in ((packed_order, "SKU-A"), (packed_order, "SKU-B"), (other, "SKU-C")))
    rows = text.splitlines()
    north, south = rows.index(next(r for r in rows if r.startswith("NORTH"))), \
        rows.index(next(r for r in rows if r.startswith("SOUTH")))
    assert north < south
    assert rows[north + 2:south] == [f"☐ — SKU-A {a.name} 3 {packed_order.number} ×3",
                                     f"☐ — SKU-B {b.name} 1 {packed_order.number}"]
    assert rows[south + 2:south + 4] == [f"☐ — SKU-B {b.name} 1 {packed_order.number}",
                                         f"☐ — SKU-C {c.name} 4 {other.number} ×4"]
    assert "(4 units)" in rows[north] and "(5 units)" in rows[south]


def test_packing_slips_one_page_per_shipment(admin_client, packed_order):
    north, south = shipment_create_all(order=packed_order.number, carrier="local")
    response = admin_client.post("/admin/orders/order/", {
        "action": "print_packing_slips", "_selected_action": [packed_order.pk]})
    pages, text = pdf_text(response)
    assert pages == 2
    reader = PdfReader(io.BytesIO(response.content))
    first, second = (page.extract_text() for page in reader.pages)
    a, b = line(packed_order, "SKU-A"), line(packed_order, "SKU-B")
    assert f"Shipment {north.pk} from NORTH" in first
    assert f"SKU-A {a.name} 3" in first.splitlines() and f"SKU-B {b.name} 1" in first.splitlines()
    assert f"Shipment {south.pk} from SOUTH" in second
    assert f"SKU-B {b.name} 1" in second.splitlines() and "SKU-A" not in second
    assert "Ada Lovelace" in first and packed_order.number in second


def test_create_shipments_for_chosen_lines(admin_client, packed_order):
    response = admin_client.post("/admin/orders/order/", {
        "action": "create_shipments", "_selected_action": [packed_order.pk]})
    url = f"/admin/shipping/shipment/create-for-order/{packed_order.number}/"
    assert response.status_code == 302 and response["Location"] == url
    page = admin_client.get(url).content.decode()
    assert "SKU-A" in page and "SKU-B" in page
    a, b = line(packed_order, "SKU-A"), line(packed_order, "SKU-B")
    north, south = Warehouse.objects.get(code="NORTH").pk, Warehouse.objects.get(code="SOUTH").pk
    response = admin_client.post(url, {f"qty_{a.pk}_{north}": "2", f"qty_{b.pk}_{north}": "0",
                                       f"qty_{b.pk}_{south}": "1", "carrier": "parcelnet"})
    assert response.status_code == 302
    shipments = list(Shipment.objects.filter(order=packed_order).order_by("warehouse__code"))
    assert [(s.warehouse.code, s.carrier.code, [(sl.order_line.sku, sl.quantity) for sl in s.lines.all()])
            for s in shipments] == [("NORTH", "parcelnet", [("SKU-A", 2)]), ("SOUTH", "parcelnet", [("SKU-B", 1)])]
    # asking for more than is waiting creates nothing and says why
    response = admin_client.post(url, {f"qty_{a.pk}_{north}": "5"}, follow=True)
    assert Shipment.objects.filter(order=packed_order).count() == 2
    assert "reserved at this warehouse" in response.content.decode() or "Some lines" in response.content.decode()


def test_mark_picked_up_ships_the_selected_shipments(admin_client, packed_order):
    shipment = labelled_shipment(packed_order)
    response = admin_client.post("/admin/shipping/shipment/", {
        "action": "mark_picked_up", "_selected_action": [shipment.pk]}, follow=True)
    assert "1 shipment(s) handed to the carrier" in response.content.decode()
    shipment.refresh_from_db()
    packed_order.refresh_from_db()
    assert shipment.status == Shipment.Status.IN_TRANSIT
    assert packed_order.status == Order.Status.PARTIALLY_SHIPPED


def test_transition_buttons_go_through_the_service(admin_client, packed_order):
    shipment = shipment_create_all(order=packed_order.number, carrier="local")[0]
    page = admin_client.get(f"/admin/shipping/shipment/{shipment.pk}/change/").content.decode()
    assert 'value="pick"' in page and "Mark picked" in page
    management = {f"{prefix}-{key}": value for prefix in ("lines", "units", "events")
                  for key, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))}
    response = admin_client.post(f"/admin/shipping/shipment/{shipment.pk}/change/",
                                 {"_fsm_transition_to": "pick", **management})
    assert response.status_code == 302
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.PICKED
    assert shipment.events.last().to_status == "picked"


@pytest.mark.parametrize("hours,listed", [(49, True), (47, False)])
def test_labels_without_a_scan_are_flagged(admin_client, packed_order, settings, hours, listed):
    settings.WAYBILL_SHIPMENT_SCAN_OVERDUE_HOURS = 48
    shipment = labelled_shipment(packed_order)
    Shipment.objects.filter(pk=shipment.pk).update(label_created_at=timezone.now() - timedelta(hours=hours))
    html = admin_client.get("/admin/shipping/shipment/?scan=overdue").content.decode()
    assert (f'value="{shipment.pk}"' in html) is listed


def test_create_label_form_takes_the_tracking_number(admin_client, packed_order, parcelnet):
    shipment = shipment_create_all(order=packed_order.number)[0]
    for name in ("pick", "pack"):
        shipment_transition(shipment=shipment.pk, name=name)
    url = f"/admin/shipping/shipment/{shipment.pk}/transition/create_label/"
    assert "Tracking number" in admin_client.get(url).content.decode()
    admin_client.post(url, {"carrier": parcelnet.pk, "tracking_number": "bad"})
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.PACKED
    response = admin_client.post(url, {"carrier": parcelnet.pk, "tracking_number": "PN0000000042"})
    assert response.status_code == 302
    shipment.refresh_from_db()
    assert (shipment.status, shipment.tracking_number) == (Shipment.Status.LABEL_CREATED, "PN0000000042")


def test_order_page_lists_its_shipments(admin_client, packed_order):
    north, south = shipment_create_all(order=packed_order.number, carrier="local")
    html = admin_client.get(f"/admin/orders/order/{packed_order.pk}/change/").content.decode()
    assert f"/admin/shipping/shipment/{north.pk}/change/" in html
    assert f"/admin/shipping/shipment/{south.pk}/change/" in html


def test_packing_slips_name_the_orders_without_a_parcel_instead_of_leaving_them_out(admin_client, packed_order,
                                                                                    customer):
    from django.contrib.messages import get_messages

    shipment_create_all(order=packed_order.number, carrier="local")
    bare = pack(place_order(customer=customer, lines=[(ProductFactory(stock={"NORTH": 2}), 1)]))
    response = admin_client.post("/admin/orders/order/", {
        "action": "print_packing_slips", "_selected_action": [packed_order.pk, bare.pk]})
    pages, _ = pdf_text(response)
    assert pages == 2  # the parcels that exist
    warnings = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(bare.number in w and "create their shipments first" in w for w in warnings)
    # with no parcel at all, nothing to print: the list says why instead of an empty PDF
    response = admin_client.post("/admin/orders/order/", {
        "action": "print_packing_slips", "_selected_action": [bare.pk]}, follow=True)
    assert response["Content-Type"].startswith("text/html")
    assert bare.number in response.content.decode()


def test_the_order_page_prints_its_own_pick_list(admin_client, packed_order):
    response = admin_client.get(f"/admin/shipping/shipment/pick-list/{packed_order.number}/")
    _, text = pdf_text(response)
    assert "SKU-A" in text and packed_order.number in text


def test_shipments_for_many_orders_are_made_in_the_background(admin_client, customer, monkeypatch,
                                                              django_capture_on_commit_callbacks):
    from orders.models import ExportJob
    from shipping import admin as shipping_admin

    monkeypatch.setattr(shipping_admin, "BULK_SHIPMENTS_AT_ONCE", 2)
    ready = [pack(place_order(customer=customer, lines=[(ProductFactory(stock={"NORTH": 2}), 1)])) for _ in range(3)]
    placed = place_order(customer=customer, lines=[(ProductFactory(stock={"NORTH": 2}), 1)])
    with django_capture_on_commit_callbacks(execute=True):  # the worker (eager here) runs after commit
        response = admin_client.post("/admin/orders/order/", {
            "action": "create_shipments", "_selected_action": [o.pk for o in [*ready, placed]]})
    job = ExportJob.objects.get(kind="shipments")
    assert response["Location"] == f"/admin/orders/exportjob/{job.pk}/change/"
    job.refresh_from_db()
    assert (job.status, job.done_rows) == ("done", 4)
    assert Shipment.objects.filter(order__in=ready).count() == 3 and not Shipment.objects.filter(order=placed)
    assert list(job.params["result"]["refused"]) == [placed.number]
    page = admin_client.get(response["Location"]).content.decode()
    assert "3 shipment(s) made for 3 order(s); 1 refused." in page and placed.number in page
