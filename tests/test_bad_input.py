"""Malformed bodies to every write endpoint get a 4xx with {code, message, extra}, never a 500."""

import pytest

from tests.factories import ProductFactory, order_payload, place_order

BODIES = [
    None, [], "text", 0, {"lines": "x"}, {"lines": [{"sku": None, "quantity": "many"}]},
    {"shipping_address": None, "lines": [{}]}, {"quantity": -1, "sku": ["a"], "warehouse": {"x": 1}},
    {"delta": "1e999", "reason": None}, {"order": 12, "lines": [{"line": "x", "quantity": None}]},
    {"text": None, "internal": "maybe"}, {"reason": {"nested": True}}, {"exception_reason": 5},
]


@pytest.mark.parametrize("body", BODIES, ids=[repr(b)[:30] for b in BODIES])
def test_write_endpoints_answer_bad_bodies_with_a_clear_4xx(client_staff, customer, body):
    order = place_order(customer=customer, lines=[(ProductFactory(stock=5), 1)])
    paths = ["/api/orders/", f"/api/orders/{order.number}/notes/",
             f"/api/orders/{order.number}/transitions/cancel/", "/api/stock/receive/", "/api/stock/adjust/",
             "/api/stock/transfer/", "/api/shipments/", "/api/shipments/1/transitions/report_exception/",
             "/api/products/"]
    for path in paths:
        response = client_staff.post(path, body, format="json")
        assert 400 <= response.status_code < 500, (path, response.status_code, response.content[:300])
        assert set(response.json()) == {"code", "message", "extra"}, (path, response.json())


# --- control characters: one rule for every URL segment, query parameter, API body and form ------------------

def _json_400(response, field=None):
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"code", "message", "extra"}
    if field is not None:
        assert field in body["extra"]["fields"], body
    return body


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/orders/WB%00X/", "/api/products/SKU%00/", "/api/orders/WB%01X/notes/",
                                  "/api/serials/A%1bB/", "/api/tickets/T%7fX/"])
def test_control_characters_in_an_api_url_segment_are_a_400(client_staff, path):
    # NUL used to reach PostgreSQL ("cannot contain NUL (0x00) bytes"): a 500
    assert _json_400(client_staff.get(path), "path")["code"] == "invalid"


@pytest.mark.django_db
def test_control_characters_in_a_page_url_are_a_400(client, customer):
    client.force_login(customer)

    assert client.get("/orders/WB%00X/").status_code == 400
    assert client.get("/track/PN%00X/").status_code == 400
    assert client.get("/orders/?q=phone%00").status_code == 200  # a page's search box ignores them


@pytest.mark.django_db
def test_control_characters_in_a_filter_are_a_400_naming_it(client_staff):
    body = _json_400(client_staff.get("/api/orders/?email=a%01b@example.com"), "email")

    assert "control characters" in body["message"].lower()


@pytest.mark.django_db
@pytest.mark.parametrize("text", [r"a\u0000b", r"bell\u0007", r"lone \ud800 surrogate", "del\x7f"])
def test_control_characters_in_a_json_body_are_a_400_naming_the_field(client_staff, customer, text):
    order = place_order(customer=customer)

    body = '{"text": "' + text + '", "internal": true}'
    response = client_staff.post(f"/api/orders/{order.number}/notes/", body,
                                 content_type="application/json")

    _json_400(response, "text")
    assert order.events.count() == 1


@pytest.mark.django_db
def test_a_nested_field_with_control_characters_is_named_by_its_path(client_customer):
    product = ProductFactory(stock=5)
    body = order_payload((product, 1))
    body["shipping_address"]["name"] = "Ann\x00"

    _json_400(client_customer.post("/api/orders/", body, format="json"), "shipping_address.name")


@pytest.mark.django_db
def test_multi_line_text_keeps_its_tabs_and_line_ends(client_staff, customer):
    order = place_order(customer=customer)

    response = client_staff.post(f"/api/orders/{order.number}/notes/", {"text": "one\r\n\ttwo", "internal": True},
                                 format="json")

    assert response.status_code == 201, response.content


@pytest.mark.django_db
def test_every_form_refuses_control_characters_beside_the_field(admin_client):
    from inventory.models import Product

    # when staff type (or paste) control characters into a product's SKU and name in the admin
    response = admin_client.post("/admin/inventory/product/add/", {
        "sku": "PH\x01X", "name": "Phone\x07", "price": "10.00", "low_stock_threshold": 0,
        "serial_format": "serial", "return_window_days": 30})

    # then the form says so beside each field, and nothing is stored
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["sku"] == errors["name"] == ["Remove the control characters."]
    assert not Product.objects.exists()


def test_the_form_rule_keeps_tabs_and_line_ends():
    from django import forms

    field = forms.CharField()
    assert field.clean("one\r\n\ttwo") == "one\r\n\ttwo"
    with pytest.raises(forms.ValidationError):
        field.clean("esc\x1b")


# --- JSON nesting, also for the endpoints that read their body themselves -----------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_a_400(client_customer, depth):
    response = client_customer.post("/api/orders/", "[" * depth + "]" * depth, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


# --- date filters and cursors ------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_date_filter_takes_any_valid_offset_and_compares_in_utc(client_staff, customer):
    # given an order placed now
    order = place_order(customer=customer)
    placed = order.placed_at

    # when staff filter with a +20:00 offset (valid ISO 8601, but beyond what PostgreSQL accepts: it was a 500)
    import datetime as dt

    zone = dt.timezone(dt.timedelta(hours=20))
    before = (placed - dt.timedelta(minutes=5)).astimezone(zone).isoformat()
    after = (placed + dt.timedelta(minutes=5)).astimezone(zone).isoformat()
    found = client_staff.get("/api/orders/", {"placed_after": before, "placed_before": after})
    none = client_staff.get("/api/orders/", {"placed_after": after})

    # then the moment is the same one as in UTC
    assert found.status_code == 200, found.content
    assert [o["number"] for o in found.json()["results"]] == [order.number]
    assert none.json()["results"] == []


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/orders/?placed_after=0001-01-01T00:00:00%2B01:00",
                                  "/api/shipments/?created_before=9999-12-31T23:59:59-10:00",
                                  "/api/returns/?created_after=2025-02-30T00:00:00Z",
                                  "/api/stock-movements/?after=yesterday"])
def test_a_date_filter_out_of_range_is_a_400(client_staff, path):
    _json_400(client_staff.get(path))


@pytest.mark.django_db
@pytest.mark.parametrize("position", ["0001-01-01T00:00:00%2B05:00", "9999-12-31T23:59:59-10:00",
                                      "2024-01-01T00:00:00", "garbage", ""])
def test_a_hand_made_cursor_is_a_400(client_staff, position):
    import base64

    cursor = base64.b64encode(f"p={position}".encode()).decode()

    _json_400(client_staff.get("/api/orders/", {"cursor": cursor}), "cursor")
    _json_400(client_staff.get("/api/tickets/", {"cursor": "not base64 at all"}), "cursor")


@pytest.mark.django_db
def test_a_cursor_with_any_valid_offset_is_compared_in_utc(client_staff, customer):
    import base64

    # given an order, and a cursor a client made with a +20:00 offset (PostgreSQL refuses it: it was a 500)
    order = place_order(customer=customer)
    cursor = base64.b64encode(b"p=2999-01-01T00:00:00%2B20:00").decode()

    # then the page is the one after that moment, newest first
    response = client_staff.get("/api/orders/", {"cursor": cursor})
    assert response.status_code == 200, response.content
    assert [o["number"] for o in response.json()["results"]] == [order.number]


@pytest.mark.django_db
def test_the_cursors_the_api_writes_still_work(client_staff, customer):
    orders = [place_order(customer=customer) for _ in range(3)]

    first = client_staff.get("/api/orders/", {"page_size": 2}).json()
    second = client_staff.get(first["next"]).json()

    seen = [o["number"] for o in first["results"] + second["results"]]
    assert sorted(seen) == sorted(o.number for o in orders)


# --- search boxes whose text becomes part of a URL ---------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("number", ["a/b", "/", "PN123/../x"])
def test_a_tracking_search_that_cannot_be_a_url_is_not_found(client, number):
    response = client.get("/track/", {"number": number})  # reverse() used to raise NoReverseMatch: a 500

    assert response.status_code == 404
    assert b"PN123" in response.content or number != "PN123/../x"


NASTY_TERMS = ["a/b", "%", "?x=1", "#", "\\", "..", "WB-ABCD/EFGH", "😀", "x" * 300, "'\"<>", "a@b/c"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/support/search/?q=", "/admin/orders/order/?q=", "/admin/returns/returnrequest/?q=",
                                 "/admin/inventory/unit/?q=", "/admin/shipping/shipment/?q=",
                                 "/admin/support/ticket/?q="])
def test_staff_search_boxes_answer_any_term(admin_client, url):
    from urllib.parse import quote

    for term in NASTY_TERMS:
        assert admin_client.get(url + quote(term)).status_code == 200, term


@pytest.mark.django_db
def test_the_portal_search_answers_any_term(client, customer):
    from urllib.parse import quote

    client.force_login(customer)
    for term in NASTY_TERMS:
        assert client.get("/orders/?q=" + quote(term)).status_code == 200, term


# --- unknown transition names ------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("name", ["teleport", "delete", "save", "ship_partially"])
def test_an_admin_transition_url_with_an_unknown_name_is_a_404(admin_client, customer, name):
    order = place_order(customer=customer)

    assert admin_client.get(f"/admin/orders/order/{order.pk}/transition/{name}/").status_code == 404
    assert admin_client.post(f"/admin/orders/order/{order.pk}/transition/{name}/").status_code == 404
    order.refresh_from_db()
    assert order.status == "placed"


@pytest.mark.django_db
def test_an_admin_shipment_transition_url_with_an_unknown_name_is_a_404(admin_client, customer):
    from shipping.services import shipment_create

    order = place_order(customer=customer)
    from orders.services import order_transition

    for name in ("confirm", "start_processing", "pack"):
        order_transition(order=order.number, name=name, check_permission=False)
    line = order.lines.get()
    shipment = shipment_create(order=order.number, warehouse=order.allocations.get().warehouse, carrier=None,
                               items=[(line.pk, line.quantity)])

    assert admin_client.get(f"/admin/shipping/shipment/{shipment.pk}/transition/teleport/").status_code == 404


# --- oversized bodies ---------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_api_reads_json_and_says_so_for_a_form(client_customer):
    response = client_customer.post("/api/orders/", "email=a%40example.com",
                                    content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


@pytest.mark.django_db
def test_a_body_over_the_size_limit_is_a_json_413(client_customer, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000

    response = client_customer.post("/api/orders/", '{"notes": "' + "a" * 20_000 + '"}',
                                    content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {"code": "request_too_large", "message": response.json()["message"],
                               "extra": {"max_bytes": 10_000}}


@pytest.mark.django_db
def test_too_many_form_fields_is_a_json_400(client_customer, customer, settings):
    from support.services import ticket_open

    # given a ticket, whose messages take multipart bodies (attachments)
    ticket = ticket_open(subject="Where is it?", body="Hello", customer=customer, notify=False)
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10

    response = client_customer.post(f"/api/tickets/{ticket.number}/messages/",
                                    {f"f{i}": "1" for i in range(50)}, format="multipart")

    assert response.status_code == 400
    assert response.json()["code"] == "too_many_fields"


# --- filters and pagination refuse what says nothing, instead of ignoring it ------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("query, field", [
    ("/api/orders/?placed_before=", "placed_before"), ("/api/products/?serial_tracked=null", "serial_tracked"),
    ("/api/products/?active=true&active=false", "active"), ("/api/tickets/?assignee=", "assignee"),
    ("/api/tickets/?page_size=ten", "page_size"), ("/api/shipments/?page_size=0", "page_size"),
    ("/api/stock/?page_size=5&page_size=6", "page_size"), ("/api/products/?page=", "page"),
])
def test_a_filter_or_page_size_that_says_nothing_is_a_400(client_staff, query, field):
    _json_400(client_staff.get(query), field)


@pytest.mark.django_db
def test_filters_still_take_what_they_document(client_staff, customer):
    order = place_order(customer=customer)

    both = client_staff.get("/api/orders/", {"status": ["placed", "confirmed"], "page_size": 1000})
    text = client_staff.get("/api/orders/", {"email": ""})

    assert both.status_code == text.status_code == 200
    assert [o["number"] for o in both.json()["results"]] == [order.number]


def test_the_warehouse_pages_refuse_control_characters_without_a_500(admin_client, customer):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from orders.models import Order
    from orders.services import order_transition
    from shipping.services import shipment_create_all
    from tests.factories import ProductFactory, place_order

    order = place_order(customer=customer, lines=[(ProductFactory(stock=5), 1)])
    for name in ("confirm", "start_processing"):
        order_transition(order=order.number, name=name, check_permission=False)
    (parcel,) = shipment_create_all(order=order.number, carrier="local")
    bad = "A\x00B"
    answers = [
        admin_client.get("/admin/orders/order/", {"q": bad}),
        admin_client.get("/admin/shipping/fulfilmentqueue/", {"warehouse": bad}),
        admin_client.post("/admin/shipping/shipment/pack-station/", {"code": bad}),
        admin_client.post(f"/admin/shipping/shipment/pack-station/{parcel.pk}/", {"action": "scan", "code": bad}),
        admin_client.post(f"/admin/orders/order/{order.pk}/items/", {"new_sku_0": bad, "new_qty_0": "1"}),
        admin_client.post("/admin/orders/order/import/", {"file": SimpleUploadedFile(
            "o.csv", b"order_ref,email,name,line1,city,country,sku,quantity\nA,a@b.c,N,L,C,DE,M\x00G,1\n")}),
    ]
    assert [a.status_code < 500 for a in answers] == [True] * len(answers), [a.status_code for a in answers]
    assert Order.objects.count() == 1
