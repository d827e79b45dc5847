"""The dashboard's pages: who may see them, bad input as form errors, the CSV, drill-downs that open the admin lists
behind each figure with the same count, and query counts that do not grow with the data."""

import csv
import io
from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group
from django.urls import resolve

from analytics.filters import FilterForm
from analytics.links import Links
from analytics.panels import PANELS, Context
from analytics.rollups import rollups_rebuild
from tests.analytics.conftest import at, travel
from tests.analytics.helpers import figure, panel, table
from tests.factories import ProductFactory, StaffFactory, WarehouseFactory, place_order

pytestmark = pytest.mark.django_db
MARCH = {"range": "custom", "start": "2026-03-01", "end": "2026-03-31"}


def member(group: str, **kwargs):
    user = StaffFactory(**kwargs)
    user.groups.add(Group.objects.get(name=group))
    return user


def test_signed_out_people_go_to_the_sign_in_page(client):
    response = client.get("/analytics/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/analytics/")


@pytest.mark.parametrize("group, allowed", [("Analysts", True), ("Support leads", True), ("Catalogue managers", True),
                                            ("Warehouse staff", False), ("Support agents", False)])
def test_who_sees_the_dashboard(client, group, allowed):
    client.force_login(member(group))
    assert client.get("/analytics/").status_code == (200 if allowed else 403)
    assert client.get("/analytics/stock/").status_code == (200 if allowed else 403)
    index = client.get("/admin/").content.decode()
    assert ('href="/admin/analytics/dashboard/"' in index) is allowed


def test_the_admin_index_link_opens_the_dashboard(client, analyst):
    client.force_login(analyst)
    response = client.get("/admin/analytics/dashboard/")
    assert (response.status_code, response["Location"]) == (302, "/analytics/")


def test_staff_without_orders_see_figures_but_no_people(client, shop):
    rollups_rebuild()
    manager = member("Catalogue managers")
    sales = panel("sales", manager)
    assert figure(sales, "Net revenue").link == ""  # no permission to open the order list
    client.force_login(manager)
    assert client.get("/analytics/customers/list/?kind=new").status_code == 403
    page = client.get("/analytics/customers/", MARCH).content.decode()
    assert "/analytics/customers/list/" not in page


@pytest.mark.parametrize("params, field", [
    ({"range": "custom", "start": "2026-03-31", "end": "2026-03-01"}, "end"),
    ({"range": "custom", "start": "2016-01-01", "end": "2026-03-01"}, "start"),
    ({"start": "2026-13-45"}, "start"),
    ({"start": "<script>alert(1)</script>"}, "start"),
    ({"start": "1850-01-01"}, "start"),
    ({"warehouse": "NOWHERE"}, "warehouse"),
    ({"channel": "carrier pigeon"}, "channel"),
    ({"grain": "century"}, "grain"),
    ({"range": "3650"}, "range"),
])
def test_bad_filters_are_form_errors(client, analyst, params, field):
    client.force_login(analyst)
    for path in ("/analytics/", "/analytics/sales/"):
        response = client.get(path, params)
        assert response.status_code == 400
        assert field in response.context["form"].errors
        assert "<script>alert(1)</script>" not in response.content.decode()
    assert client.get("/analytics/sales/export.csv", params).status_code == 400


def test_unknown_panels_tables_and_segments(client, analyst):
    client.force_login(analyst)
    assert client.get("/analytics/nothing/").status_code == 404
    assert client.get("/analytics/sales/export.csv?table=nothing").status_code == 400
    assert client.get("/analytics/customers/list/?segment=royalty").status_code == 400
    assert client.get("/analytics/customers/list/?kind=everyone").status_code == 400


def test_the_csv_of_a_table(client, shop, analyst):
    rollups_rebuild()
    client.force_login(analyst)
    response = client.get("/analytics/sales/export.csv", {**MARCH, "table": "products"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="waybill-sales-products-20260301-20260331.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["SKU", "Product", "Category", "Units", "Net revenue", "Before", "Change"]
    assert rows[1][:5] == ["AC-B", "Cable B", "Accessories", "15", "291.43"]


def test_the_csv_never_hands_a_spreadsheet_a_formula(client, berlin, analyst):
    with travel(at(3, 3)):
        WarehouseFactory(code="BER")
        evil = ProductFactory(sku="EVIL-1", name='=HYPERLINK("http://x.example","click")', stock=5)
        place_order(lines=[(evil, 1)])
    rollups_rebuild()
    client.force_login(analyst)
    body = client.get("/analytics/sales/export.csv", {**MARCH, "table": "products"}).content.decode()
    assert "'=HYPERLINK" in body


def _links(p) -> list[tuple[str, str]]:
    found = [(f"figure {f.label}", f.link) for f in p.figures if f.link]
    for t in p.tables:
        for row in t.rows:
            found += [(f"{t.key} {key}", url) for key, url in (row.get("_links") or {}).items() if url]
    return found


def test_every_drill_down_opens(client, shop, admin_user):
    # given every panel for March, with a warehouse and a channel chosen (the filters the links carry)
    rollups_rebuild()
    client.force_login(admin_user)
    for params in ({}, {"warehouse": "MAD", "channel": "phone"}):
        for key in PANELS:
            for where, url in _links(panel(key, admin_user, **params)):
                # then each link is a list the admin supports (an unsupported filter would be a 400)
                response = client.get(url)
                assert response.status_code == 200, (key, where, url, response.status_code)


def _count(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["cl"].result_count


def test_drill_downs_list_what_the_figures_count(client, shop, admin_user):
    rollups_rebuild()
    client.force_login(admin_user)
    sales, fulfilment, after = (panel(k, admin_user) for k in ("sales", "fulfilment", "aftersales"))
    assert _count(client, figure(sales, "Orders (not cancelled)").link) == 5
    assert _count(client, figure(sales, "Cancelled orders").link) == 1
    assert _count(client, figure(sales, "Refunds").link) == 2  # O1 and O3, partially refunded
    assert _count(client, table(sales, "series")["Tue 10 Mar"]["_links"]["orders"]) == 2  # the Berlin day
    assert _count(client, table(sales, "products")["AC-B"]["_links"]["sku"]) == 3  # O1, O2, O5
    madrid = panel("sales", admin_user, warehouse="MAD")
    assert _count(client, figure(madrid, "Orders (not cancelled)").link) == 3
    assert _count(client, figure(fulfilment, "Parcels sent").link) == 1
    assert _count(client, table(fulfilment, "waiting")["Placed"]["_links"]["total"]) == 6
    assert _count(client, figure(after, "Return rate").link) == 1
    assert _count(client, figure(after, "Refunded").link) == 2
    assert _count(client, figure(after, "Tickets opened").link) == 2
    assert _count(client, table(after, "skus")["AC-C"]["_links"]["defective"]) == 1
    assert _count(client, table(after, "backlog")["Everything else"]["_links"]["tickets"]) == 1


def test_the_customers_behind_a_figure(client, shop, analyst):
    rollups_rebuild()
    client.force_login(analyst)
    response = client.get("/analytics/customers/list/", {**MARCH, "kind": "new"})
    assert response.status_code == 200
    assert [c["customer_key"] for c in response.context["customers"]] == ["bob@example.com", "guest@example.com"]
    assert response.context["customers"][0]["revenue"] == Decimal("250.00")
    link = response.context["customers"][0]["orders_link"]
    assert _count(client, link) == 2
    segment = client.get("/analytics/customers/list/", {**MARCH, "segment": "big_spenders"})
    assert segment.status_code == 200  # (today decides the segments; the counts are checked in test_panels)


def test_pages_render_their_charts_and_tables(client, shop, analyst):
    rollups_rebuild()
    client.force_login(analyst)
    page = client.get("/analytics/", MARCH).content.decode()
    for key in PANELS:
        assert f'id="panel-{key}"' in page
    assert page.count("<canvas") == len(PANELS)
    assert 'type="application/json"' in page
    assert "OPEN BREACHES OF THE TIME-IN-STATE RULES" not in page  # a template comment: the integrator's spot
    full = client.get("/analytics/sales/", MARCH).content.decode()
    assert full.count("<canvas") == 2
    assert "<table" in full and "export.csv?" in full


def _orders(n: int, *, start_day: int) -> None:
    product = ProductFactory(stock=500)
    for i in range(n):
        with travel(at(3, start_day + i % 20, 10 + i % 8)):
            place_order(lines=[(product, 1 + i % 3)], email=f"buyer{i % 7}@example.com")


@pytest.mark.parametrize("path", ["/analytics/", *[f"/analytics/{key}/" for key in PANELS],
                                  "/analytics/customers/list/?kind=all"])
def test_query_counts_do_not_grow_with_the_data(client, berlin, analyst, django_assert_num_queries, path):
    WarehouseFactory(code="BER")
    client.force_login(analyst)
    _orders(3, start_day=2)
    rollups_rebuild()
    separator = "&" if "?" in path else "?"
    url = f"{path}{separator}range=custom&start=2026-03-01&end=2026-03-31"
    client.get(url)  # warm: content types, the session
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    _orders(30, start_day=1)
    rollups_rebuild()
    with django_assert_num_queries(len(small.captured_queries)):
        assert client.get(url).status_code == 200


def test_the_panels_read_only_through_the_read_alias(shop, analyst, monkeypatch):
    # given every panel query is counted as it passes through analytics.db (where a replica would be chosen)
    rollups_rebuild()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from analytics import db

    seen = []
    original = db.rows
    for module in ("sales", "customers", "fulfilment", "aftersales", "stock"):
        monkeypatch.setattr(f"analytics.panels.{module}.rows",
                            lambda sql, params=None: seen.append(sql) or original(sql, params))
    form = FilterForm(MARCH, today=date(2026, 4, 5))
    assert form.is_valid()
    filters = form.filters()
    links = Links(analyst)  # the viewer's permissions are read once, before
    # when every panel is computed
    with CaptureQueriesContext(connection) as ctx:
        for _, fn in PANELS.values():
            fn(Context(filters, links))
    # then every query the database saw came through analytics.db.rows
    assert len(ctx.captured_queries) == len(seen) > 15


def test_a_drill_down_names_its_admin_list():
    assert resolve(urlsplit("/admin/orders/order/").path).url_name == "orders_order_changelist"
