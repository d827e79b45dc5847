"""Imports and exports of the catalogue and of stock counts (django-import-export): every row checked in a preview
first, stock counts written as ledger movements, one transaction for the whole file."""

import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from inventory.models import Product, StockLevel, StockMovement
from inventory.resources import IMPORT_REASON, ProductResource, StockLevelResource
from inventory.selectors import ledger_totals
from tests.factories import ProductFactory, WarehouseFactory


def dataset(headers, *rows):
    return tablib.Dataset(*rows, headers=headers)


def test_a_stock_count_import_writes_ledger_movements_and_bins(db):
    berlin = WarehouseFactory(code="BER", priority=1)
    mug = ProductFactory(sku="MUG", stock={"BER": 10})
    ProductFactory(sku="CASE")
    data = dataset(["sku", "warehouse", "bin", "on_hand"], ["MUG", "BER", "a-01", "7"], ["CASE", "BER", "B-2", "4"])
    result = StockLevelResource().import_data(data, dry_run=False, raise_errors=False)
    assert not result.has_errors() and not result.has_validation_errors()
    levels = {lv.product.sku: lv for lv in StockLevel.objects.select_related("product")}
    assert (levels["MUG"].on_hand, levels["MUG"].bin, levels["CASE"].on_hand, levels["CASE"].bin) == (7, "A-01", 4,
                                                                                                       "B-2")
    kinds = sorted(StockMovement.objects.filter(reason=IMPORT_REASON).values_list("product__sku", "kind",
                                                                                   "on_hand_delta"))
    assert kinds == [("CASE", "receipt", 4), ("MUG", "adjustment", -3)]
    totals = ledger_totals()
    assert all(totals[(lv.product_id, lv.warehouse_id)] == (lv.on_hand, lv.allocated) for lv in levels.values())
    assert berlin and mug


def test_a_bad_row_stops_the_whole_import_and_says_which_row(db):
    WarehouseFactory(code="BER", priority=1)
    ProductFactory(sku="MUG", stock={"BER": 10})
    data = dataset(["sku", "warehouse", "bin", "on_hand"], ["MUG", "BER", "", "8"], ["NOPE", "BER", "", "1"],
                   ["MUG", "BER", "", "-2"])
    result = StockLevelResource().import_data(data, dry_run=False, raise_errors=False)
    assert result.has_errors() or result.has_validation_errors()
    assert StockLevel.objects.get(product__sku="MUG").on_hand == 10  # nothing written
    assert not StockMovement.objects.filter(reason=IMPORT_REASON).exists()


def test_the_catalogue_imports_and_exports_by_sku(db):
    ProductFactory(sku="MUG", name="Mug", price="10.00")
    data = dataset(["sku", "name", "price", "active"], ["MUG", "Blue mug", "12.50", "1"], ["CUP", "Cup", "3.00", "1"])
    result = ProductResource().import_data(data, dry_run=False, raise_errors=False)
    assert not result.has_errors() and not result.has_validation_errors()
    assert Product.objects.get(sku="MUG").name == "Blue mug" and Product.objects.filter(sku="CUP").exists()
    bad = ProductResource().import_data(dataset(["sku", "name", "price"], ["NEG", "Neg", "-1"]), dry_run=False)
    assert bad.has_validation_errors() and not Product.objects.filter(sku="NEG").exists()
    exported = ProductResource().export()
    assert "Blue mug" in exported.csv


def test_the_admin_previews_a_stock_file_before_anything_is_written(client, staff_user, db):
    WarehouseFactory(code="BER", priority=1)
    ProductFactory(sku="MUG", stock={"BER": 10})
    client.force_login(staff_user)
    url = reverse("admin:inventory_stocklevel_import")
    assert client.get(url).status_code == 200
    upload = SimpleUploadedFile("count.csv", b"sku,warehouse,bin,on_hand\nMUG,BER,C-9,6\n", content_type="text/csv")
    preview = client.post(url, {"resource": "0", "format": "0", "import_file": upload})
    assert preview.status_code == 200 and "C-9" in preview.content.decode()
    assert StockLevel.objects.get(product__sku="MUG").on_hand == 10  # the preview wrote nothing


def test_the_warehouse_role_cannot_import_the_catalogue(client, staff_user, db):
    client.force_login(staff_user)
    assert client.get(reverse("admin:inventory_product_import")).status_code == 403
