"""CSV and XLSX imports and exports of the catalogue and of stock levels (django-import-export). A stock import
goes through the ledger: each row's count becomes a receipt or an adjustment with its reason, and its bin is set
by the service; the admin previews every row (with its errors) before anything is written, and the import is one
transaction."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from import_export import fields, resources, widgets

from config.errors import DomainError

from .models import Product, StockLevel, Warehouse
from .services import stock_adjust, stock_level_set_bin, stock_receive

IMPORT_REASON = "Stock count import"


class ProductResource(resources.ModelResource):
    class Meta:
        model = Product
        import_id_fields = ("sku",)
        fields = ("sku", "name", "category", "price", "active", "ean", "low_stock_threshold", "serial_tracked",
                  "serial_format", "return_window_days", "final_sale", "allow_backorder", "restock_days")
        export_order = fields
        skip_unchanged = True
        report_skipped = False
        clean_model_instances = True  # the model's validators (prices, EANs) name the row's problem


class StockLevelResource(resources.ModelResource):
    sku = fields.Field(attribute="product", column_name="sku", widget=widgets.ForeignKeyWidget(Product, "sku"))
    warehouse = fields.Field(attribute="warehouse", column_name="warehouse",
                             widget=widgets.ForeignKeyWidget(Warehouse, "code"))
    bin = fields.Field(attribute="bin", column_name="bin")
    on_hand = fields.Field(attribute="on_hand", column_name="on_hand", widget=widgets.IntegerWidget())

    class Meta:
        model = StockLevel
        import_id_fields = ("sku", "warehouse")
        fields = ("sku", "warehouse", "bin", "on_hand")
        export_order = fields
        skip_unchanged = True
        report_skipped = False

    def get_export_queryset(self, request=None):
        return StockLevel.objects.select_related("product", "warehouse").order_by("product__sku", "warehouse__code")

    def before_import_row(self, row, **kwargs):
        for column in ("sku", "warehouse"):
            if not str(row.get(column) or "").strip():
                raise ValidationError({column: f"Give the {column}."})
        counted = str(row.get("on_hand") or "").strip()
        if counted and (not counted.lstrip("-").isdigit() or int(counted) < 0):
            raise ValidationError({"on_hand": "The units counted: a whole number, 0 or more."})

    def save_instance(self, instance, is_create, row, **kwargs):
        """Not a save of the row: the count becomes a ledger movement, the bin goes through its service."""
        with transaction.atomic():
            current = (StockLevel.objects.select_for_update().filter(product=instance.product,
                                                                      warehouse=instance.warehouse).first())
            on_hand = current.on_hand if current else 0
            try:
                target = on_hand if instance.on_hand is None else instance.on_hand
                if current is None and target > 0:
                    stock_receive(product=instance.product, warehouse=instance.warehouse, quantity=target,
                                  reason=IMPORT_REASON)
                elif current is not None and target != on_hand:
                    stock_adjust(product=instance.product, warehouse=instance.warehouse, delta=target - on_hand,
                                 reason=IMPORT_REASON)
                level = StockLevel.objects.filter(product=instance.product, warehouse=instance.warehouse).first()
                if level is None and instance.bin:
                    raise ValidationError("No stock of it there yet: count at least one unit to give it a bin.")
                if level is not None and (instance.bin or "") != level.bin:
                    stock_level_set_bin(stock_level=level.pk, bin=instance.bin or "")
            except DomainError as err:
                raise ValidationError(err.message) from None
        refreshed = StockLevel.objects.filter(product=instance.product, warehouse=instance.warehouse).first()
        if refreshed is not None:
            instance.pk = refreshed.pk
