"""The dashboard's rollup tables: facts derived from orders, returns, refunds and shipments, kept by
analytics.rollups (never written anywhere else) so that every panel reads a few thousand rows, not a million.

Days are the shop's days (TIME_ZONE), not UTC's. Rows name other apps' rows by id without foreign keys: a
derived table must never lock or block the orders it describes (a foreign key check takes a share lock on the
order row that the order services lock for update).

An order's warehouses are every warehouse that reserved stock for it, written ",1,3," (the order list's warehouse
filter means the same: an order served from two warehouses is under each of them, and counts once without a
filter). Its customer is its email in lower case: a guest who later opens an account with that email is one
customer, before and after.
"""

from django.db import models
from django.db.models import Q

from .models import Analytics


class OrderFact(models.Model):
    """One row per order: what every panel groups and filters by."""

    order_id = models.BigIntegerField(primary_key=True)
    day = models.DateField(help_text="The shop's day it was placed on.")
    placed_at = models.DateTimeField()
    channel = models.CharField(max_length=20)
    warehouses = models.CharField(max_length=200, help_text="Ids of the warehouses that reserved its stock, ',1,3,'.")
    customer_key = models.CharField(max_length=254, help_text="The order's email in lower case.")
    customer_id = models.BigIntegerField(null=True, help_text="Empty for a guest order.")
    status = models.CharField(max_length=20)
    cancelled = models.BooleanField()
    goods = models.DecimalField(max_digits=14, decimal_places=2, help_text="Line totals (the subtotal).")
    shipping = models.DecimalField(max_digits=12, decimal_places=2)
    units = models.IntegerField()
    refunded = models.DecimalField(max_digits=14, decimal_places=2,
                                   help_text="Refunds of its items (nothing for a cancelled order: the cancellation "
                                             "already takes its whole value off).")

    class Meta:
        indexes = [models.Index(fields=["day"], name="an_orderfact_day")]

    def __str__(self) -> str:
        return f"order {self.order_id} on {self.day}"


class OrderDay(models.Model):
    """Orders per day, channel, warehouses and guest or account."""

    day = models.DateField()
    channel = models.CharField(max_length=20)
    warehouses = models.CharField(max_length=200)
    guest = models.BooleanField()
    orders = models.IntegerField()
    cancelled_orders = models.IntegerField()
    units = models.IntegerField()
    cancelled_units = models.IntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2, help_text="Goods value of every order placed.")
    cancelled_revenue = models.DecimalField(max_digits=16, decimal_places=2)
    refunded = models.DecimalField(max_digits=16, decimal_places=2)
    shipping = models.DecimalField(max_digits=16, decimal_places=2, help_text="Shipping charged (not cancelled).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "channel", "warehouses", "guest"],
                                               name="an_orderday_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.channel}"


class SalesDay(models.Model):
    """Units and revenue per day, product, warehouses and channel."""

    day = models.DateField()
    product_id = models.BigIntegerField()
    warehouses = models.CharField(max_length=200)
    channel = models.CharField(max_length=20)
    orders = models.IntegerField()
    units = models.IntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)
    cancelled_units = models.IntegerField()
    cancelled_revenue = models.DecimalField(max_digits=16, decimal_places=2)
    refunded = models.DecimalField(max_digits=16, decimal_places=2,
                                   help_text="Its share of the refunds: a return's refund goes to the return's lines, "
                                             "another refund to every line of the order, by value.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "product_id", "warehouses", "channel"],
                                               name="an_salesday_unique")]
        indexes = [models.Index(fields=["product_id", "day"], name="an_salesday_product_day")]

    def __str__(self) -> str:
        return f"{self.day} product {self.product_id}"


class ProductDay(models.Model):
    """SalesDay summed over warehouses and the sales channels (replacements left out): what the panels read when
    no warehouse or channel is chosen."""

    day = models.DateField()
    product_id = models.BigIntegerField()
    units = models.IntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)
    cancelled_units = models.IntegerField()
    cancelled_revenue = models.DecimalField(max_digits=16, decimal_places=2)
    refunded = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "product_id"], name="an_productday_unique")]

    def __str__(self) -> str:
        return f"{self.day} product {self.product_id}"


class ProductMonth(models.Model):
    """ProductDay per calendar month: a year is twelve months of these, not 365 days."""

    month = models.DateField(help_text="The first day of the month.")
    product_id = models.BigIntegerField()
    units = models.IntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)
    cancelled_units = models.IntegerField()
    cancelled_revenue = models.DecimalField(max_digits=16, decimal_places=2)
    refunded = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["month", "product_id"], name="an_productmonth_unique")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} product {self.product_id}"


class CustomerDay(models.Model):
    """A customer's orders (not cancelled) per day, channel and warehouses, with their previous order day."""

    day = models.DateField()
    customer_key = models.CharField(max_length=254)
    channel = models.CharField(max_length=20)
    warehouses = models.CharField(max_length=200)
    customer_id = models.BigIntegerField(null=True)
    orders = models.IntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2, help_text="Goods value less refunds.")
    previous_day = models.DateField(null=True, help_text="The customer's order day before this one (any channel); "
                                                         "empty on their first.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer_key", "day", "channel", "warehouses"],
                                               name="an_customerday_unique")]
        indexes = [models.Index(fields=["day"], name="an_customerday_day")]

    def __str__(self) -> str:
        return f"{self.customer_key} on {self.day}"


class CustomerActivity(models.Model):
    """CustomerDay over every warehouse and the sales channels: one row per customer and order day, for the
    panels when no warehouse or channel is chosen."""

    day = models.DateField()
    customer_key = models.CharField(max_length=254)
    customer_id = models.BigIntegerField(null=True)
    orders = models.IntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)
    previous_day = models.DateField(null=True, help_text="The customer's order day before this one.")
    next_day = models.DateField(null=True, help_text="Their order day after this one: with previous_day, a period's "
                                                     "customers are counted from their rows alone, without grouping.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer_key", "day"], name="an_customeractivity_unique")]
        # and on PostgreSQL (day) INCLUDE (the columns the panels read): an index-only scan (migration 0002)

    def __str__(self) -> str:
        return f"{self.customer_key} on {self.day}"


class CustomerDayCount(models.Model):
    """Customer-days counted per scope (all sales channels or one, every warehouse or one), day, days since the
    customer's previous order day (any channel) and since their previous one in the scope, whether they are a guest
    and, for a first order day with a single order in the scope, the days until their next one in it. A period's
    customers are its rows whose previous day in the scope lies before the period, new ones those with no previous
    order day, one-order newcomers those whose next day in the scope lies after it: the customers panel's counts
    and gaps (with a warehouse or a channel chosen too) are summed from these rows, never grouped per customer (the
    last year without filters is ~65 k rows at a million orders). Kept by difference: a touched customer's rows from
    their first changed day on (and their first order day) are taken off and counted again (analytics.rollups)."""

    channel = models.CharField(max_length=20, help_text="The scope's channel; empty: every sales channel.")
    warehouse_id = models.BigIntegerField(help_text="The scope's warehouse; 0: every warehouse.")
    day = models.DateField()
    gap = models.IntegerField(help_text="Days since the customer's previous order day; 0 on their first.")
    scope_gap = models.IntegerField(help_text="Days since their previous order day in the scope; 0 on the first.")
    guest = models.BooleanField(help_text="The day's orders were guest orders (no account).")
    first_single = models.BooleanField(help_text="The customer's first order day, with one order in the scope.")
    next_gap = models.IntegerField(help_text="On a first order day with one order: days until the customer's next "
                                             "order day in the scope, 0 if none yet; otherwise 0.")
    customers = models.IntegerField(help_text="Customer-days counted here.")
    orders = models.IntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["channel", "warehouse_id", "day", "gap", "scope_gap", "guest", "first_single", "next_gap"],
            name="an_customerdaycount_unique")]

    def __str__(self) -> str:
        return f"{self.day} after {self.gap} days"


class CustomerSummary(models.Model):
    """A customer's whole history (orders not cancelled, every channel): RFM and lifetime value read this."""

    customer_key = models.CharField(max_length=254, primary_key=True)
    customer_id = models.BigIntegerField(null=True)
    first_day = models.DateField()
    last_day = models.DateField()
    orders = models.IntegerField()
    order_days = models.IntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        indexes = [models.Index(fields=["last_day"], name="an_customersummary_last")]

    def __str__(self) -> str:
        return self.customer_key


class CustomerSegment(models.Model):
    """The RFM segments as of a day (analytics.segments), counted by the refresh that last changed CustomerSummary:
    the customers panel reads them when they are of its day instead of scoring every customer again."""

    as_of = models.DateField()
    segment = models.CharField(max_length=20)
    customers = models.IntegerField()
    revenue = models.DecimalField(max_digits=18, decimal_places=2)
    orders = models.FloatField(help_text="Orders per customer, on average.")
    recency = models.FloatField(help_text="Days since their last order, on average.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["as_of", "segment"], name="an_customersegment_unique")]

    def __str__(self) -> str:
        return f"{self.segment} on {self.as_of}"


class CustomerMonth(models.Model):
    """The months a customer ordered in, with the month of their first order: the cohort retention grid."""

    customer_key = models.CharField(max_length=254)
    month = models.DateField()
    cohort = models.DateField()
    orders = models.IntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer_key", "month"], name="an_customermonth_unique")]
        indexes = [models.Index(fields=["cohort", "month"], name="an_customermonth_cohort")]

    def __str__(self) -> str:
        return f"{self.customer_key} {self.month:%Y-%m}"


class ShipmentFact(models.Model):
    """One row per outbound parcel (not cancelled): how long it took and whether it kept its promise."""

    shipment_id = models.BigIntegerField(primary_key=True)
    order_id = models.BigIntegerField()
    order_day = models.DateField()
    day = models.DateField(null=True, help_text="The shop's day it was handed to the carrier.")
    warehouse_id = models.BigIntegerField()
    carrier_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=20)
    status = models.CharField(max_length=20)
    placed_to_shipped_hours = models.FloatField(null=True)
    shipped_to_delivered_hours = models.FloatField(null=True)
    delivered_by_promise = models.BooleanField(null=True, help_text="Delivered by its expected delivery date.")
    exception = models.BooleanField(help_text="It had a delivery exception at some point.")

    class Meta:
        # and on PostgreSQL (day) INCLUDE (the columns the panels read): an index-only scan (migration 0002)
        indexes = [models.Index(fields=["order_id"], name="an_shipmentfact_order")]

    def __str__(self) -> str:
        return f"shipment {self.shipment_id}"


class ParcelDay(models.Model):
    """ShipmentFact as hour histograms: parcels per day handed to the carrier, warehouse, carrier, channel, measure
    (placed → carrier, carrier → door) and whole hour (bucket h holds the hours in (h - 1, h], so "within the
    promised 48 h" is exact), with the least and greatest hours in the bucket. Percentiles read from these are
    exact when a bucket holds at most two distinct values (or evenly spread ones) and within the hour otherwise.
    The counts of promises kept and exceptions are on the placed → carrier rows (one per parcel)."""

    class Measure(models.TextChoices):
        SHIPPED = "shipped", "placed → carrier"
        DELIVERED = "delivered", "carrier → door"

    day = models.DateField()
    warehouse_id = models.BigIntegerField()
    carrier_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=20)
    measure = models.CharField(max_length=10, choices=Measure.choices)
    hours = models.IntegerField(help_text="The bucket: hours in (hours - 1, hours].")
    parcels = models.IntegerField()
    least = models.FloatField(help_text="The fewest hours in the bucket.")
    greatest = models.FloatField(help_text="The most hours in the bucket.")
    with_promise = models.IntegerField(help_text="Delivered parcels that had a promised date.")
    delivered_in_time = models.IntegerField()
    exceptions = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="an_parcelday_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.measure} {self.hours} h"


class ParcelSpan(models.Model):
    """ParcelDay summed over whole weeks (from Monday) and whole calendar months: a year's percentiles are read
    from 12 months (or 52 weeks) of these and the days at its ends."""

    class Grain(models.TextChoices):
        WEEK = "week"
        MONTH = "month"

    grain = models.CharField(max_length=5, choices=Grain.choices)
    start = models.DateField(help_text="Its first day (a Monday, or the first of a month).")
    warehouse_id = models.BigIntegerField()
    carrier_id = models.BigIntegerField(null=True)
    channel = models.CharField(max_length=20)
    measure = models.CharField(max_length=10, choices=ParcelDay.Measure.choices)
    hours = models.IntegerField()
    parcels = models.IntegerField()
    least = models.FloatField()
    greatest = models.FloatField()
    with_promise = models.IntegerField()
    delivered_in_time = models.IntegerField()
    exceptions = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["grain", "start"], name="an_parcelspan_start")]

    def __str__(self) -> str:
        return f"{self.grain} of {self.start} {self.measure} {self.hours} h"


class ReturnFact(models.Model):
    """One row per line of a return or claim that still claims its units (not rejected or cancelled), on the day
    the return was opened."""

    return_line_id = models.BigIntegerField(primary_key=True)
    return_request_id = models.BigIntegerField()
    order_id = models.BigIntegerField()
    day = models.DateField(help_text="The shop's day the return was opened.")
    product_id = models.BigIntegerField()
    reason = models.CharField(max_length=24)
    warehouse_id = models.BigIntegerField(null=True, help_text="Where the item comes back to.")
    channel = models.CharField(max_length=20, help_text="The order's.")
    units = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="an_returnfact_day"),
                   models.Index(fields=["order_id"], name="an_returnfact_order")]

    def __str__(self) -> str:
        return f"return line {self.return_line_id}"


class StaleOrder(models.Model):
    """An order whose facts changed after the day it was placed on (a cancellation, a refund, a parcel): the next
    refresh recomputes it. Appended in the transaction of the change, never updated, deleted once recomputed."""

    order_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"order {self.order_id}"


class RollupState(models.Model):
    """The one row saying how far the rollups are: every day up to `closed_through` is final (only stale orders
    change it again); later days are recomputed on every refresh."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    time_zone = models.CharField(max_length=64, blank=True)
    closed_through = models.DateField(null=True)
    refreshed_at = models.DateTimeField(null=True)
    rebuilt_at = models.DateTimeField(null=True)
    seconds = models.FloatField(default=0, help_text="How long the last refresh or rebuild took.")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="an_rollupstate_single_row")]

    def __str__(self) -> str:
        return f"rollups through {self.closed_through}"


class Dashboard(Analytics):
    """The dashboard's place on the admin index (no table)."""

    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = verbose_name_plural = "dashboard"
