"""Every figure of every panel against the hand-built shop of tests/analytics/conftest.py, whose answers are worked
out there (March 2026 against the 31 days before it, in Berlin time)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from analytics.db import rows
from analytics.facts import CustomerSegment
from analytics.filters import FilterForm
from analytics.panels.common import customer_rows
from analytics.panels.customers import _period as customers_period
from analytics.rollups import rollups_rebuild, rollups_refresh
from orders.services import order_set_payment_status
from shipping.services import shipment_create_all, shipment_transition
from tests.analytics.conftest import at, travel
from tests.analytics.helpers import TODAY, figure, panel, table
from tests.factories import ProductFactory, WarehouseFactory, place_order
from tests.returns.conftest import carrier_event
from tests.shipping.conftest import pack

pytestmark = pytest.mark.django_db


@pytest.fixture
def built(shop):
    rollups_rebuild()
    return shop


def test_sales_nets_out_cancellations_and_refunds(built, analyst):
    # when
    sales = panel("sales", analyst)
    # then: O1-O6 placed in March (O7 is 1 April in Berlin); O4 cancelled; 30.00 + 10.00 refunded
    assert figure(sales, "Net revenue").value == Decimal("390.00")  # 530.00 - 100.00 - 40.00
    assert figure(sales, "Net revenue").previous == Decimal("100.00")  # O0 on 20 Feb
    assert figure(sales, "Orders (not cancelled)").value == 5
    assert figure(sales, "Units sold").value == 22
    assert figure(sales, "Average order").value == Decimal("78.00")
    assert figure(sales, "Average order").previous == Decimal("100.00")
    assert figure(sales, "Cancelled orders").value == 1
    assert figure(sales, "Refunds").value == Decimal("40.00")
    assert figure(sales, "Net revenue").change == pytest.approx(2.9)


def test_sales_days_are_the_shops_days(built, analyst):
    # when
    days = table(panel("sales", analyst), "series")
    # then: O2, placed at 23:30 UTC on 9 March, is a 10 March order in Berlin; O6 (23:30 on the 31st) is March's
    assert days["Mon 09 Mar"]["orders"] == 0
    assert days["Tue 10 Mar"]["orders"] == 2
    assert days["Tue 10 Mar"]["net_revenue"] == Decimal("30.00")  # 20.00 + 20.00 - 10.00 refunded on O3
    assert days["Tue 31 Mar"]["orders"] == 1
    assert days["Sun 15 Mar"] | {"_links": None} == {
        "step": "Sun 15 Mar", "orders": 1, "cancelled": 1, "net_orders": 0, "units": 0, "revenue": Decimal("100.00"),
        "cancelled_revenue": Decimal("100.00"), "refunded": Decimal("0.00"), "net_revenue": Decimal("0.00"),
        "aov": None, "previous_net_revenue": Decimal("0.00"), "_links": None}
    assert len(days) == 31
    assert sum(row["orders"] for row in days.values()) == 6


def test_refunds_are_shared_among_the_lines_they_were_for(built, analyst):
    # when
    products = table(panel("sales", analyst), "products")
    categories = table(panel("sales", analyst), "categories")
    # then: O1's 30.00 goodwill refund by value over its lines (100 : 40), O3's 10.00 on the claimed stickers
    assert products["PH-A"]["net_revenue"] == Decimal("78.57")  # 100.00 - 21.43 (O4 cancelled)
    assert products["AC-B"]["net_revenue"] == Decimal("291.43")  # 40.00 - 8.57 + 20.00 + 240.00
    assert products["AC-C"]["net_revenue"] == Decimal("20.00")  # 20.00 - 10.00 + 10.00
    assert products["PH-A"]["previous_revenue"] == Decimal("100.00")
    assert products["PH-A"]["change"] == pytest.approx(-0.2143)
    assert list(products) == ["AC-B", "PH-A", "AC-C"]
    assert {k: (v["units"], v["net_revenue"]) for k, v in categories.items()} == {
        "Accessories": (15, Decimal("291.43")), "Phones": (1, Decimal("78.57")), "Uncategorised": (6, Decimal("20.00"))}


def test_top_movers_compare_units_with_the_period_before(built, analyst):
    movers = panel("sales", analyst).table("movers").rows
    assert [(m["direction"], m["sku"], m["moved"]) for m in movers] == [("Up", "AC-B", 15), ("Up", "AC-C", 6)]


def test_sales_by_warehouse_and_channel(built, analyst):
    # an order served from two warehouses (O5) is under each of them
    madrid = panel("sales", analyst, warehouse="MAD")
    berlin = panel("sales", analyst, warehouse="BER")
    phone = panel("sales", analyst, channel="phone")
    assert figure(madrid, "Orders (not cancelled)").value == 3  # O3, O5, O6
    assert figure(madrid, "Net revenue").value == Decimal("260.00")  # 20 - 10 + 240 + 10
    assert figure(berlin, "Orders (not cancelled)").value == 3  # O1, O2, O5 (O4 cancelled)
    assert figure(berlin, "Net revenue").value == Decimal("370.00")  # 140 - 30 + 20 + 240
    assert figure(phone, "Net revenue").value == Decimal("10.00")  # O3
    assert figure(phone, "Net revenue").previous == Decimal("0.00")


def test_an_empty_period_is_all_zeros(built, analyst):
    sales = panel("sales", analyst, start="2025-06-01", end="2025-06-30")
    assert figure(sales, "Net revenue").value == Decimal("0.00")
    assert figure(sales, "Average order").value is None
    assert figure(sales, "Net revenue").change is None
    assert sales.table("products").rows == []
    for key in ("customers", "fulfilment", "aftersales", "stock"):
        assert panel(key, analyst, start="2025-06-01", end="2025-06-30").figures


def test_customers_new_returning_repeat_and_guests(built, analyst):
    # when
    customers = panel("customers", analyst)
    # then: ada ordered before (20 Feb); bob and the guest first ordered in March; bob twice
    assert figure(customers, "Customers who ordered").value == 3
    assert figure(customers, "New customers").value == 2
    assert figure(customers, "Returning customers").value == 1
    assert figure(customers, "Repeat-purchase rate").value == pytest.approx(2 / 3)  # ada and bob
    assert figure(customers, "Repeat-purchase rate").previous == 0
    # gaps between order days: ada 20 Feb → 2 Mar (10), 2 Mar → 31 Mar (29); bob 10 → 20 Mar (10)
    assert figure(customers, "Days between orders (median)").value == 10.0
    assert figure(customers, "Days between orders (median)").note == "90 % within 25.2 days"
    assert figure(customers, "Guest share of orders").value == pytest.approx(0.2)
    guests = table(customers, "guests")
    assert (guests["Guest orders"]["customers"], guests["Guest orders"]["orders"]) == (1, 1)
    assert guests["Account orders"]["revenue"] == Decimal("370.00")
    steps = table(customers, "steps")
    assert (steps["Tue 10 Mar"]["new"], steps["Tue 10 Mar"]["returning"]) == (2, 0)
    assert (steps["Fri 20 Mar"]["new"], steps["Fri 20 Mar"]["returning"]) == (0, 1)


def test_cohorts_lifetime_value_and_rfm(built, analyst):
    customers = panel("customers", analyst)
    cohorts = table(customers, "cohorts")
    assert (cohorts["Feb 2026"]["size"], cohorts["Feb 2026"]["m1"]) == (1, 1.0)  # ada, back in March
    assert (cohorts["Mar 2026"]["size"], cohorts["Mar 2026"]["m1"]) == (2, None)  # April is after the period
    assert cohorts["Jan 2026"]["size"] == 0
    # lifetime value: guest 20 + 5 = 25; ada 100 + 110 + 10 = 220; bob 10 + 240 = 250
    ltv = table(customers, "ltv")
    assert [ltv[band]["customers"] for band in ("under 50", "100 to 250", "250 to 500")] == [1, 1, 1]
    # RFM on 5 April: everyone bought within 30 days (R 5); ada 3 orders, bob and the guest 2; bob spent the most
    rfm = table(customers, "rfm")
    assert rfm["Big spenders"]["customers"] == 1
    assert rfm["Promising"]["customers"] == 2
    assert rfm["Promising"]["revenue"] == Decimal("245.00")
    assert sum(row["customers"] for row in rfm.values()) == 3


def test_fulfilment_times_promises_and_waiting_orders(built, analyst):
    # when
    fulfilment = panel("fulfilment", analyst)
    # then: O3's parcel, placed 10 Mar 12:00, handed over 11 Mar 10:00, delivered 12 Mar 16:00 (promised 12 Mar)
    assert figure(fulfilment, "Parcels sent").value == 1
    assert figure(fulfilment, "Placed → carrier (median)").value == 22.0
    assert figure(fulfilment, "Carrier → door (median)").value == 30.0
    assert figure(fulfilment, "Sent within 48 h").value == 1.0
    assert figure(fulfilment, "Delivered by the promised date").value == 1.0
    assert figure(fulfilment, "Carrier exceptions").value == 0
    route = table(fulfilment, "routes")["MAD"]
    assert (route["carrier"], route["parcels"], route["ship_p90"], route["deliver_p90"]) == (
        "Local courier", 1, 22.0, 30.0)
    # the orders still placed, all of them over a week old now
    assert table(fulfilment, "waiting")["Placed"]["total"] == 6
    assert figure(panel("fulfilment", analyst, warehouse="BER"), "Parcels sent").value == 0


def test_aftersales_returns_refunds_and_the_desk(built, analyst):
    # when
    after = panel("aftersales", analyst)
    # then: 2 of the 22 units sold in March were claimed defective
    assert figure(after, "Return rate").value == pytest.approx(2 / 22)
    assert figure(after, "Defect rate").value == pytest.approx(2 / 22)
    assert figure(after, "Refunded").value == Decimal("40.00")
    assert figure(after, "Tickets opened").value == 2
    assert figure(after, "First response (median)").value == 2.0
    assert figure(after, "Resolution (median)").value == 24.0
    assert figure(after, "SLA met").value == pytest.approx(2 / 3)  # T1 both targets, T2 no answer
    sku = table(after, "skus")["AC-C"]
    assert (sku["sold"], sku["claimed"], sku["defective"], sku["return_rate"]) == (6, 2, 2, pytest.approx(1 / 3))
    assert table(after, "reasons")["Defective"]["units"] == 2
    assert table(after, "backlog")["Everything else"]["tickets"] == 1
    steps = table(after, "steps")
    assert (steps["Sat 14 Mar"]["refunds"], steps["Wed 25 Mar"]["refunded"]) == (1, Decimal("30.00"))
    assert (steps["Thu 05 Mar"]["opened"], steps["Fri 06 Mar"]["solved"]) == (1, 1)


def test_stock_value_cover_and_reorder_suggestions(built, analyst):
    # when
    stock = panel("stock", analyst)
    # then
    assert figure(stock, "Stock value").value == Decimal("1551.00")  # BER 10×100 + 5×20; MAD 10×20 + 46×5 + 7×3
    assert figure(stock, "Products to reorder").value == 1
    assert figure(stock, "Dead stock (value)").value == Decimal("21.00")
    # AC-B: 15 sold in 31 days on three days (2, 1, 12), nothing available, lead time 14 days (the default):
    # mean 15/31, σ = sqrt(149/31 - (15/31)²) = 2.1383; ROP = 14 × 15/31 + 1.65 × 2.1383 × √14 = 19.98
    (reorder,) = stock.table("reorder").rows
    assert (reorder["sku"], reorder["available"], reorder["lead"]) == ("AC-B", 0, 14)
    assert reorder["reorder_point"] == 20.0
    assert reorder["safety"] == 13.2
    assert reorder["suggested"] == 27  # ceil(19.98 + 14 × 15/31)
    slow = table(stock, "slow")
    assert slow["PH-A"]["cover"] == 248.0  # 8 available, 1 sold in 31 days; lead time its own 10 days
    assert slow["AC-C"]["cover"] == 222.2  # 43 available / (6 / 31)
    assert list(table(stock, "unsold")) == ["OLD-D"]
    madrid = panel("stock", analyst, warehouse="MAD")
    assert figure(madrid, "Stock value").value == Decimal("451.00")


def test_customers_of_a_warehouse(built, analyst):
    # orders touching Madrid in March: bob's O3 (his first ever) and O5, ada's O6 (she ordered before)
    madrid = panel("customers", analyst, warehouse="MAD")
    assert figure(madrid, "Customers who ordered").value == 2
    assert figure(madrid, "New customers").value == 1
    assert figure(madrid, "Returning customers").value == 1
    assert figure(madrid, "Repeat-purchase rate").value == 1.0
    assert figure(madrid, "Days between orders (median)").value == 19.5  # bob 10 → 20 Mar, ada 2 → 31 Mar (29)


# The customers' figures by their definition: every customer's rows of the period grouped per customer (what the
# panel computed before CustomerDayCount; the panel must still agree with it).
def _grouped_sql(f) -> str:
    return f"""
WITH d AS (SELECT d.*, d.day >= %(start)s AS current FROM {customer_rows(f)} d),
steps AS (SELECT date_trunc(%(grain)s, day)::date AS bucket, customer_key, bool_or(previous_day IS NULL) AS new,
                 sum(orders) AS orders
          FROM d WHERE current GROUP BY 1, 2),
people AS (SELECT current, customer_key, bool_or(previous_day IS NULL) AS new,
                  bool_or(previous_day IS NOT NULL) OR sum(orders) >= 2 AS repeat,
                  max(customer_id) IS NULL AS guest, sum(orders) AS orders, sum(revenue) AS revenue
           FROM d GROUP BY 1, 2),
gaps AS (SELECT current, count(*) AS gaps,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY day - previous_day) AS gap_p50,
                percentile_cont(0.9) WITHIN GROUP (ORDER BY day - previous_day) AS gap_p90
         FROM d WHERE previous_day IS NOT NULL GROUP BY current)
SELECT 'step' AS kind, bucket, true AS current, count(*) AS customers, count(*) FILTER (WHERE new) AS new,
       sum(orders)::bigint AS orders, NULL::bigint AS repeat, NULL::bigint AS guests, NULL::bigint AS guest_orders,
       NULL::numeric AS revenue, NULL::numeric AS guest_revenue, NULL::bigint AS gaps,
       NULL::float AS gap_p50, NULL::float AS gap_p90
FROM steps GROUP BY bucket
UNION ALL
SELECT 'period', NULL, p.current, count(*), count(*) FILTER (WHERE p.new), sum(p.orders)::bigint,
       count(*) FILTER (WHERE p.repeat), count(*) FILTER (WHERE p.guest),
       coalesce(sum(p.orders) FILTER (WHERE p.guest), 0)::bigint, sum(p.revenue),
       coalesce(sum(p.revenue) FILTER (WHERE p.guest), 0), max(g.gaps), max(g.gap_p50), max(g.gap_p90)
FROM people p LEFT JOIN gaps g ON g.current = p.current GROUP BY p.current
"""


@pytest.mark.parametrize("scope", [{}, {"warehouse": "MAD"}, {"warehouse": "BER"}, {"channel": "phone"},
                                   {"channel": "storefront", "warehouse": "BER"}, {"grain": "week"},
                                   {"compare": "year"}])
def test_the_counted_customer_days_agree_with_grouping_them_per_customer(built, analyst, scope):
    # given a period around March, in a scope
    form = FilterForm({"range": "custom", "start": "2026-02-15", "end": "2026-04-10", **scope}, today=TODAY)
    assert form.is_valid()
    f = form.filters()
    params = f.params(scope_channel=f.channel, scope_warehouse=f.warehouse_id or 0)
    # when the figures are summed from CustomerDayCount, and computed by grouping the rows per customer
    counted = customers_period(f, params)
    grouped = rows(_grouped_sql(f), params)
    # then they agree, step by step and per period
    def key(r):
        return (r["kind"], r["bucket"], r["current"])
    assert sorted(key(r) for r in counted) == sorted(key(r) for r in grouped)
    by_key = {key(r): r for r in grouped}
    for row in counted:
        expected = by_key[key(row)]
        assert row == {k: expected[k] for k in row}, key(row)
    assert any(r["customers"] for r in counted)


def test_parcel_percentiles_from_the_hour_histograms_are_percentile_cont(db, berlin, analyst):
    # given five parcels handed to the carrier 3, 10.5, 10.9, 30 and 48 hours after their orders (10.5 and 10.9 in
    # the same hour), in March: a whole month (ParcelSpan) and, by week, whole weeks and days at the ends
    with travel(at(1, 5)):
        WarehouseFactory(code="BER")
        product = ProductFactory(sku="P-1", price=Decimal("10.00"), stock={"BER": 20})
    for i, hours in enumerate([3.0, 10.5, 10.9, 30.0, 48.0]):
        placed = at(3, 2 + 4 * i, 8)
        with travel(placed):
            order = place_order(email=f"p{i}@example.com", lines=[(product, 1)])
            order_set_payment_status(order=order.number, payment_status="paid")
            (parcel,) = shipment_create_all(order=pack(order).number, carrier="local")
            for name in ("pick", "pack", "create_label"):
                shipment_transition(shipment=parcel.pk, name=name)
            parcel.refresh_from_db()
        with travel(placed + timedelta(hours=hours)):
            carrier_event(parcel, "PICKED_UP")
    rollups_rebuild()
    # when
    fulfilment = panel("fulfilment", analyst)
    weekly = panel("fulfilment", analyst, grain="week")
    # then the figures are PostgreSQL's percentile_cont over the parcels themselves
    with connection.cursor() as cursor:
        cursor.execute("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY placed_to_shipped_hours), "
                       "percentile_cont(0.9) WITHIN GROUP (ORDER BY placed_to_shipped_hours) "
                       "FROM analytics_shipmentfact")
        p50, p90 = cursor.fetchone()
    assert (p50, round(p90, 1)) == (10.9, 40.8)
    median = figure(fulfilment, "Placed → carrier (median)")
    assert (median.value, median.note) == (10.9, "p90 40.8 h")
    assert figure(fulfilment, "Sent within 48 h").value == 1.0  # 48.0 h is within 48 h
    assert figure(fulfilment, "Parcels sent").value == 5
    # and per week: 3 and 10.5 h in the week of 2 March, 10.9 and 30 h in the next, 48 h in the one after
    with connection.cursor() as cursor:
        cursor.execute("SELECT date_trunc('week', day)::date, count(*), "
                       "percentile_cont(0.5) WITHIN GROUP (ORDER BY placed_to_shipped_hours) "
                       "FROM analytics_shipmentfact GROUP BY 1 ORDER BY 1")
        weeks = [(f"Week of {week:%d %b}", parcels, round(p50, 1)) for week, parcels, p50 in cursor.fetchall()]
    assert [w[1] for w in weeks] == [2, 2, 1]
    steps = table(weekly, "steps")
    assert [(step, row["parcels"], row["ship_p50"]) for step, row in steps.items() if row["parcels"]] == weeks


def test_rfm_segments_kept_by_the_refresh_of_the_day_are_the_ones_counted(shop, analyst):
    # given the segments counted now (no refresh ran on 5 April)
    rollups_rebuild()
    counted = table(panel("customers", analyst), "rfm")
    assert not CustomerSegment.objects.filter(as_of=TODAY).exists()
    # when a refresh runs on 5 April
    with travel(at(4, 5, 9)):
        rollups_refresh()
    # then it kept that day's segments, the panel reads them, and they are the same figures
    assert CustomerSegment.objects.filter(as_of=TODAY).count() == 2  # big spenders, promising
    assert table(panel("customers", analyst), "rfm") == counted
    CustomerSegment.objects.filter(segment="promising").update(customers=99)
    assert table(panel("customers", analyst), "rfm")["Promising"]["customers"] == 99
