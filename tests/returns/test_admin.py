"""The returns admin: a return started from the order's page, each step a button and a form, roles respected,
refusals shown as form errors, and list pages whose cost does not grow with the rows."""

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from inventory.models import StockMovement
from orders.models import Order
from returns.models import Refund, ReturnRequest
from returns.services import return_add_photo, return_approve, return_create, return_receive

from .conftest import IMEI_SOLD, line

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(client, agent_user):
    client.force_login(agent_user)
    return client


@pytest.fixture
def warehouse_client(staff_user):
    from django.test import Client

    client = Client()  # its own session: a test may use it beside agent_client
    client.force_login(staff_user)
    return client


def start_url(order):
    return reverse("admin:returns_returnrequest_start", args=[order.number])


def step_url(rr, name):
    return reverse("admin:returns_returnrequest_step", args=[rr.pk, name])


def case_claim(order, qty=1, reason="no_longer_wanted"):
    return return_create(order=order, resolution="refund",
                         lines=[{"line": line(order, "CASE-1").pk, "quantity": qty, "reason": reason}])


def test_support_starts_a_claim_from_the_order_page_with_the_lines_preselected(agent_client, delivered):
    page = agent_client.get(reverse("admin:orders_order_change", args=[delivered.pk])).content.decode()
    assert "Start a return / claim" in page and start_url(delivered) in page
    form = agent_client.get(start_url(delivered)).context["form"]
    assert {row["line"].sku: row["returnable"] for row in form.rows} == {"PH-1": 1, "CASE-1": 2}
    phone, case = line(delivered, "PH-1").pk, line(delivered, "CASE-1").pk
    response = agent_client.post(start_url(delivered), {
        f"quantity_{phone}": 1, f"reason_{phone}": "defective", f"serials_{phone}": f" {IMEI_SOLD}\n",
        f"description_{phone}": "Does not charge", f"quantity_{case}": 0, f"reason_{case}": "defective",
        "resolution": "replacement", "channel": "support", "customer_note": "Called on Monday.",
    })
    rr = ReturnRequest.objects.get()
    assert response.status_code == 302 and response.url == reverse("admin:returns_returnrequest_change",
                                                                   args=[rr.pk])
    assert (rr.channel, rr.lines.get().unit.serial) == ("support", IMEI_SOLD)


def test_a_refused_claim_is_a_form_error_not_a_500(agent_client, delivered):
    phone = line(delivered, "PH-1").pk
    response = agent_client.post(start_url(delivered), {
        f"quantity_{phone}": 1, f"reason_{phone}": "defective", f"serials_{phone}": "352099001761481",
        f"quantity_{line(delivered, 'CASE-1').pk}": 0, "resolution": "replacement", "channel": "support"})
    assert response.status_code == 200
    assert "was not shipped with order" in str(response.context["form"].non_field_errors())
    assert not ReturnRequest.objects.exists()
    hostile = agent_client.post(start_url(delivered), {f"quantity_{phone}": "9" * 40, "resolution": "x\x00"})
    assert hostile.status_code == 200 and hostile.context["form"].errors


def test_the_warehouse_may_not_start_claims_or_approve(warehouse_client, delivered):
    assert warehouse_client.get(start_url(delivered)).status_code == 403
    page = warehouse_client.get(reverse("admin:orders_order_change", args=[delivered.pk])).content.decode()
    assert "Start a return / claim" not in page
    rr = case_claim(delivered)
    assert warehouse_client.get(step_url(rr, "approve")).status_code == 403


def test_each_step_is_a_button_for_the_role_that_may_take_it(agent_client, warehouse_client, delivered):
    rr = case_claim(delivered)
    change = reverse("admin:returns_returnrequest_change", args=[rr.pk])
    assert [b["label"] for b in agent_client.get(change).context["step_buttons"]] == ["Approve", "Reject", "Cancel"]
    response = agent_client.post(step_url(rr, "approve"), {"handling": "return", "send_label": "on",
                                                           "instructions": "Use the original box."})
    assert response.status_code == 302
    rr.refresh_from_db()
    assert rr.status == "awaiting_item" and rr.label_shipment.tracking_number
    page = agent_client.get(change).content.decode()
    assert rr.label_shipment.tracking_number in page and reverse("portal:return-label", args=[rr.number]) in page
    client = warehouse_client
    assert [b["label"] for b in client.get(change).context["step_buttons"]] == ["Receive item"]
    assert client.post(step_url(rr, "receive"), {"note": ""}).status_code == 302
    (return_line,) = rr.lines.all()
    response = client.post(step_url(rr, "inspect"), {f"disposition_{return_line.pk}": "restock",
                                                     f"note_{return_line.pk}": "As new"})
    assert response.status_code == 302
    assert StockMovement.objects.filter(kind="return_to_stock", reference_label=rr.reference_label).exists()
    assert agent_client.post(step_url(rr, "resolve"), {"refund_shipping": "0"}).status_code == 302
    assert Refund.objects.get().amount == line(delivered, "CASE-1").unit_price


def test_steps_that_do_not_apply_now_say_so(agent_client, delivered):
    rr = case_claim(delivered)
    response = agent_client.get(step_url(rr, "close"))
    assert response.status_code == 302
    assert agent_client.get(step_url(rr, "teleport")).status_code == 404


def test_the_return_label_is_a_pdf_for_the_customer_and_staff_only(agent_client, customer, delivered, agent_user):
    from django.test import Client

    rr = case_claim(delivered)
    return_approve(return_request=rr.number, actor=agent_user)
    url = reverse("portal:return-label", args=[rr.number])
    response = agent_client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    client = Client()
    client.force_login(customer)
    assert client.get(url).status_code == 200
    from tests.factories import CustomerFactory

    client.force_login(CustomerFactory())
    assert client.get(url).status_code == 404


def test_refund_instead_of_sending_again(agent_client, customer, case):
    from orders.services import order_set_payment_status
    from shipping.services import shipment_create_all, shipment_transition
    from tests.factories import place_order
    from tests.shipping.conftest import pack

    order = pack(place_order(customer=customer, lines=[(case, 1)]))
    order_set_payment_status(order=order.number, payment_status="paid")
    (shipment,) = shipment_create_all(order=order.number, carrier="local")
    for name in ("pick", "pack", "create_label", "hand_over", "return_to_sender"):
        shipment_transition(shipment=shipment.pk, name=name)
    page = agent_client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    url = reverse("admin:returns_returnrequest_refund_order", args=[order.number])
    assert url in page
    too_much = agent_client.post(url, {"items_amount": "500", "shipping_amount": "0", "reason": "back"})
    assert "can still be refunded" in str(too_much.context["form"].non_field_errors())
    done = agent_client.post(url, {"items_amount": "19.90", "shipping_amount": "0", "reason": "back"})
    assert done.status_code == 302
    assert Order.objects.get(pk=order.pk).payment_status == "refunded"


def test_photos_are_checked_by_content_and_served_to_staff(agent_client, delivered, customer):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from returns.errors import InvalidPhoto

    rr = case_claim(delivered)
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(buffer, "PNG")
    photo = return_add_photo(line=rr.lines.get(), upload=SimpleUploadedFile("damage.exe", buffer.getvalue()),
                             actor=customer)
    assert (photo.content_type, photo.image.name.endswith(".png")) == ("image/png", True)
    with pytest.raises(InvalidPhoto):
        return_add_photo(line=rr.lines.get(), upload=SimpleUploadedFile("x.jpg", b"<script>alert(1)</script>"))
    response = agent_client.get(reverse("admin:returns_returnrequest_photo", args=[photo.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == buffer.getvalue()


def test_bulk_approve_issues_labels_and_skips_the_rest(agent_client, delivered):
    first, second = case_claim(delivered), case_claim(delivered)
    from returns.services import return_reject

    return_reject(return_request=second.number, reason="Duplicate.")
    response = agent_client.post(reverse("admin:returns_returnrequest_changelist"), {
        "action": "approve_selected", "_selected_action": [first.pk, second.pk]}, follow=True)
    assert response.status_code == 200
    first.refresh_from_db()
    assert first.status == "awaiting_item"
    assert "were not waiting for a decision" in response.content.decode()


def test_list_pages_cost_the_same_for_few_and_many_returns(agent_client, delivered, agent_user, staff_user):
    changelist = reverse("admin:returns_returnrequest_changelist")
    case_claim(delivered)

    def queries(url):
        with CaptureQueriesContext(connection) as ctx:
            assert agent_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    urls = [changelist, changelist + "?reason=defective", changelist + "?age=7", changelist + "?status=requested",
            reverse("admin:returns_returnrequest_defective"), reverse("admin:returns_refund_changelist")]
    before = [queries(u) for u in urls]
    rr = case_claim(delivered)
    return_approve(return_request=rr.number, actor=agent_user)
    return_receive(return_request=rr.number, actor=staff_user)
    assert [queries(u) for u in urls] == before
    rr_page = reverse("admin:returns_returnrequest_change", args=[rr.pk])
    assert agent_client.get(rr_page).status_code == 200
    assert agent_client.get(changelist + "?q=" + "%00%ff<script>").status_code == 200


def test_search_finds_a_return_by_its_number_its_order_or_a_serial(agent_client, delivered):
    phone = return_create(order=delivered, resolution="replacement", lines=[
        {"line": line(delivered, "PH-1").pk, "quantity": 1, "reason": "defective", "serial": IMEI_SOLD}])
    case_claim(delivered)
    changelist = reverse("admin:returns_returnrequest_changelist")

    def found(term):
        return {r.number for r in agent_client.get(changelist, {"q": term}).context["cl"].result_list}

    assert found(IMEI_SOLD) == {phone.number}
    assert found(phone.number.lower()) == {phone.number}
    assert len(found(delivered.number)) == 2
    assert found("nothing-like-it") == set() and found("<script>'; --") == set()
