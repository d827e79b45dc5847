"""The demo's stock for `seed_demo`: warehouses, a catalogue of phones, tablets, watches and accessories,
supplier deliveries through stock_receive, and new serial numbers (IMEIs for phones) as a packer scans them."""

from __future__ import annotations

import random
from decimal import Decimal

from .models import Product, Warehouse
from .services import stock_level_set_bin, stock_receive

# code, name, address, priority, share of received stock
WAREHOUSES = [
    ("BER", "Berlin fulfilment centre", "Am Borsigturm 40\n13507 Berlin\nGermany", 1, Decimal("0.60")),
    ("RTM", "Rotterdam hub", "Waalhaven Zuidzijde 21\n3089 JH Rotterdam\nNetherlands", 2, Decimal("0.30")),
    ("MAD", "Madrid overflow store", "Calle de la Logística 8\n28052 Madrid\nSpain", 3, Decimal("0.10")),
]

# sku, name, price, serial tracked, popularity
PRODUCTS = [
    ("PH-IP16-128", "iPhone 16 128 GB Black", "969.00", True, 3),
    ("PH-IP16-256", "iPhone 16 256 GB Ultramarine", "1099.00", True, 2),
    ("PH-IP16P-256", "iPhone 16 Pro 256 GB Desert Titanium", "1329.00", True, 2),
    ("PH-IP15-128", "iPhone 15 128 GB Blue", "799.00", True, 2),
    ("PH-GS24-128", "Samsung Galaxy S24 128 GB Onyx Black", "899.00", True, 2),
    ("PH-GS24U-256", "Samsung Galaxy S24 Ultra 256 GB Titanium Grey", "1449.00", True, 1),
    ("PH-GA55-128", "Samsung Galaxy A55 5G 128 GB Awesome Navy", "479.00", True, 2),
    ("PH-PX9-128", "Google Pixel 9 128 GB Obsidian", "899.00", True, 2),
    ("PH-PX9P-256", "Google Pixel 9 Pro 256 GB Porcelain", "1199.00", True, 1),
    ("PH-PX8A-128", "Google Pixel 8a 128 GB Bay", "549.00", True, 2),
    ("PH-FP5-256", "Fairphone 5 256 GB Sky Blue", "699.00", True, 1),
    ("PH-NTH2-256", "Nothing Phone (2) 256 GB Dark Grey", "649.00", True, 1),
    ("PH-RN13P-256", "Xiaomi Redmi Note 13 Pro 256 GB Midnight Black", "399.00", True, 2),
    ("PH-G84-256", "Motorola moto g84 5G 256 GB Marshmallow Blue", "299.00", True, 1),
    ("TB-IPAD10-64", "iPad (10th generation) Wi-Fi 64 GB Silver", "449.00", True, 1),
    ("TB-IPADAIR-128", "iPad Air 11-inch M2 Wi-Fi 128 GB Space Grey", "699.00", True, 1),
    ("TB-TABS9FE-128", "Samsung Galaxy Tab S9 FE Wi-Fi 128 GB Graphite", "449.00", True, 1),
    ("WT-AW10-42", "Apple Watch Series 10 GPS 42 mm Jet Black", "449.00", True, 1),
    ("WT-GW7-44", "Samsung Galaxy Watch7 44 mm Green", "319.00", True, 1),
    ("WT-PXW3-41", "Google Pixel Watch 3 41 mm Matte Black", "399.00", True, 1),
    ("AU-APP2-USBC", "AirPods Pro (2nd generation) with USB-C case", "279.00", True, 3),
    ("AU-GB3P", "Samsung Galaxy Buds3 Pro Silver", "249.00", True, 2),
    ("AU-WH1000XM5", "Sony WH-1000XM5 Wireless Headphones Black", "399.00", True, 1),
    ("AU-FLIP6", "JBL Flip 6 Bluetooth Speaker Blue", "129.00", False, 2),
    ("AU-QCE2", "Bose QuietComfort Earbuds II Triple Black", "199.00", False, 1),
    ("AC-CASE-IP16", "Clear Case with MagSafe for iPhone 16", "59.00", False, 5),
    ("AC-CASE-IP16P", "Silicone Case for iPhone 16 Pro, Stone Grey", "59.00", False, 4),
    ("AC-CASE-GS24", "Leather Case for Galaxy S24, Black", "49.00", False, 3),
    ("AC-CASE-PX9", "Pixel 9 Case, Recycled Fabric, Hazel", "39.00", False, 3),
    ("AC-GLASS-IP16", "Tempered Glass Screen Protector for iPhone 16 (2-pack)", "19.90", False, 6),
    ("AC-GLASS-GS24", "Tempered Glass Screen Protector for Galaxy S24 (2-pack)", "17.90", False, 4),
    ("AC-GLASS-PX9", "Tempered Glass Screen Protector for Pixel 9 (2-pack)", "17.90", False, 3),
    ("AC-CHG-20W", "20 W USB-C Power Adapter", "25.00", False, 6),
    ("AC-CHG-GAN65", "65 W GaN Charger, 3 ports", "49.90", False, 4),
    ("AC-CBL-CC-1M", "USB-C to USB-C Cable, 1 m, braided", "14.90", False, 7),
    ("AC-CBL-CC-2M", "USB-C to USB-C Cable, 2 m, braided", "19.90", False, 5),
    ("AC-CBL-CL-1M", "USB-C to Lightning Cable, 1 m", "19.90", False, 4),
    ("AC-MAGSAFE-1M", "MagSafe Charger, 1 m", "49.00", False, 3),
    ("AC-QI2-PAD", "15 W Qi2 Wireless Charging Pad", "34.90", False, 3),
    ("AC-PB-10K", "Anker PowerCore 10,000 mAh Power Bank", "29.90", False, 4),
    ("AC-PB-24K", "Anker 737 Power Bank 24,000 mAh", "109.00", False, 2),
    ("AC-CAR-MOUNT", "Magnetic Car Vent Mount", "24.90", False, 3),
    ("AC-SIM-TOOL", "SIM Eject Tool (5-pack)", "2.90", False, 2),
    ("AC-STAND-ALU", "Aluminium Phone Stand", "22.90", False, 2),
    ("AC-BAND-AW42", "Sport Band for Apple Watch 42 mm, Lake Green", "49.00", False, 2),
    ("AC-BAND-GW20", "Fabric Band for Galaxy Watch, 20 mm, Sand", "39.00", False, 2),
    ("AC-SD-128", "SanDisk Extreme microSDXC 128 GB", "21.90", False, 3),
    ("AC-SD-256", "SanDisk Extreme microSDXC 256 GB", "34.90", False, 2),
    ("AC-TRIPOD", "Bluetooth Selfie Stick Tripod", "27.90", False, 2),
    ("AC-CLEAN-KIT", "Screen Cleaning Kit", "9.90", False, 3),
    ("AC-FOLIO-IPAD10", "Smart Folio for iPad (10th generation), White", "89.00", False, 1),
]



AISLES = {"PH": "A", "TB": "B", "WT": "C", "LP": "D", "AU": "E", "AC": "F"}
CATEGORIES = {"PH": "Phones", "TB": "Tablets", "WT": "Watches", "LP": "Laptops", "AU": "Audio", "AC": "Accessories"}


def _ean13(body12: int) -> str:
    digits = f"{body12:012d}"[-12:]
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return digits + str((10 - total % 10) % 10)


class InventorySeeder:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    @staticmethod
    def warehouses() -> list[Warehouse]:
        return [Warehouse.objects.get_or_create(code=code, defaults={"name": name, "address": address,
                                                                     "priority": priority})[0]
                for code, name, address, priority, _share in WAREHOUSES]

    @staticmethod
    def products() -> list[Product]:
        for i, (sku, name, price, serial, _popularity) in enumerate(PRODUCTS):
            Product.objects.get_or_create(sku=sku, defaults={
                "name": name, "price": Decimal(price), "serial_tracked": serial, "category": CATEGORIES[sku[:2]],
                "serial_format": Product.SerialFormat.IMEI if sku.startswith("PH-") else Product.SerialFormat.SERIAL,
                "low_stock_threshold": 5 if serial else 15, "ean": _ean13(4006381 * 100_000 + i),
            })
        by_sku = Product.objects.in_bulk([p[0] for p in PRODUCTS], field_name="sku")
        return [by_sku[p[0]] for p in PRODUCTS]

    def receive(self, products, warehouses, demand: dict[int, int], *, tight: set[str], actor, opening: bool,
                last: bool) -> None:
        """A delivery from the supplier: what the coming orders need (`demand`, product id → units) and a margin,
        split across the warehouses by their share; `tight` products sell out (end near their threshold)."""
        shares = [w[4] for w in WAREHOUSES]
        for product in products:
            needed = demand[product.pk]
            if product.sku in tight:
                total = needed
            else:
                total = needed + max(2, needed // 5) + (product.low_stock_threshold if last or opening else 0)
            parts = [int(total * share) for share in shares[:-1]]
            parts.append(total - sum(parts))
            for warehouse, quantity in zip(warehouses, parts, strict=True):
                if quantity > 0:
                    level = stock_receive(product=product, warehouse=warehouse, quantity=quantity, actor=actor,
                                          reason="Opening stock count" if opening else "Delivery from supplier")
                    if opening and not level.bin:  # aisle by kind of product, a rack and shelf each
                        index = products.index(product)
                        stock_level_set_bin(stock_level=level.pk,
                                            bin=f"{AISLES.get(product.sku[:2], 'Z')}-{index % 12 + 1:02d}-"
                                                f"{index % 4 + 1}")

    def serials(self, product: Product, count: int) -> list[str]:
        """New serial numbers: IMEIs (a phone maker's 8-digit TAC, 6 digits, the Luhn check digit) for phones."""
        made = []
        while len(made) < count:
            if product.serial_format == Product.SerialFormat.IMEI:
                body = "35" + "".join(str(self.rng.randint(0, 9)) for _ in range(12))
                digits = [int(c) for c in body]
                total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
                serial = body + str((10 - total % 10) % 10)
            else:
                serial = product.sku.split("-")[0] + "".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
                                                            for _ in range(10))
            if serial not in self.used:
                self.used.add(serial)
                made.append(serial)
        return made
