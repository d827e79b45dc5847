"""Orders imported from a spreadsheet: previewed order by order with nothing written, then placed through
order_place in one transaction; a file imported twice places its orders once."""

import io

import openpyxl
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from inventory.models import StockLevel
from orders.models import Order
from tests.factories import ProductFactory

URL = "/admin/orders/order/import/"
HEADER = "order_ref,email,phone,name,line1,line2,postal_code,city,region,country,sku,quantity\n"


def csv_file(*rows) -> SimpleUploadedFile:
    body = HEADER + "".join(r + "\n" for r in rows)
    return SimpleUploadedFile("orders.csv", body.encode(), content_type="text/csv")


ROWS = ["A-1,ada@example.org,,Ada Lovelace,12 Analytical Row,,N1 9GU,London,,GB,MUG,2",
        "A-1,ada@example.org,,Ada Lovelace,12 Analytical Row,,N1 9GU,London,,GB,CASE,1",
        "B-7,bob@example.org,,Bob Page,1 Main St,,10115,Berlin,,DE,MUG,1"]


def test_a_file_is_previewed_then_imported_once(client, staff_user):
    ProductFactory(sku="MUG", stock=10)
    ProductFactory(sku="CASE", stock=10)
    client.force_login(staff_user)
    assert client.get(URL).status_code == 200
    preview = client.post(URL, {"file": csv_file(*ROWS)})
    assert preview.status_code == 200 and preview.context["ready"]
    assert [o.ref for o in preview.context["orders"]] == ["A-1", "B-7"]
    assert not Order.objects.exists() and StockLevel.objects.get(product__sku="MUG").allocated == 0
    done = client.post(URL, {"confirm": "1"})
    assert done["Location"] == reverse("admin:orders_order_changelist")
    assert sorted(Order.objects.values_list("email", flat=True)) == ["ada@example.org", "bob@example.org"]
    assert StockLevel.objects.get(product__sku="MUG").allocated == 3
    # the same file again places nothing new
    client.post(URL, {"file": csv_file(*ROWS)})
    client.post(URL, {"confirm": "1"})
    assert Order.objects.count() == 2


def test_a_bad_row_is_named_and_nothing_is_imported(client, staff_user):
    ProductFactory(sku="MUG", stock=2)
    client.force_login(staff_user)
    rows = [ROWS[0], "A-1,ada@example.org,,Ada Lovelace,12 Analytical Row,,N1 9GU,London,,GB,NOPE,1",
            "B-7,bob@example.org,,Bob Page,1 Main St,,10115,Berlin,,DE,MUG,5"]
    preview = client.post(URL, {"file": csv_file(*rows)})
    orders = {o.ref: o for o in preview.context["orders"]}
    assert "row 3" in orders["A-1"].error and "NOPE" in orders["A-1"].error
    assert "MUG" in orders["B-7"].error  # out of stock
    assert not preview.context["ready"]
    client.post(URL, {"confirm": "1"})
    assert not Order.objects.exists()


def test_xlsx_files_and_missing_columns(client, staff_user):
    ProductFactory(sku="MUG", stock=5)
    client.force_login(staff_user)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER.strip().split(","))
    sheet.append(ROWS[2].split(","))
    buffer = io.BytesIO()
    book.save(buffer)
    upload = SimpleUploadedFile("orders.xlsx", buffer.getvalue())
    assert client.post(URL, {"file": upload}).context["ready"]
    broken = SimpleUploadedFile("orders.csv", b"sku,quantity\nMUG,1\n")
    response = client.post(URL, {"file": broken})
    assert response.status_code == 422 and "Columns missing" in response.content.decode()


def test_people_who_may_not_place_orders_cannot_import(client, db):
    from django.contrib.auth.models import Permission

    from tests.factories import StaffFactory

    viewer = StaffFactory()
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(viewer)
    assert client.get(URL).status_code == 403
