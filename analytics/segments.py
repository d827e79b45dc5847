"""RFM segments: customers who ordered in the last RFM_DAYS days, scored on recency, frequency and value (as of a
day), and named by the first rule they match. The customers panel counts them (or reads the counts the last refresh
kept, analytics.rollups) and lists the customers of one."""

from .facts import CustomerSummary

RFM_DAYS = 365

# (key, label, what it means): the first rule that matches a customer names their segment.
SEGMENTS = [
    ("champions", "Champions", "bought recently, often, and spent the most (R ≥ 4, F ≥ 4, M ≥ 4)"),
    ("loyal", "Loyal", "four orders or more (F ≥ 4)"),
    ("big_spenders", "Big spenders", "few orders but among the top fifth by value (M = 5)"),
    ("new", "New", "a first order in the last 60 days (R ≥ 4, F = 1)"),
    ("promising", "Promising", "two or three orders, the last within 60 days (R ≥ 4)"),
    ("need_attention", "Need attention", "last order 2 to 3 months ago (R = 3)"),
    ("at_risk", "At risk", "ordered more than once, but not for over 3 months (R ≤ 2, F ≥ 2)"),
    ("hibernating", "Hibernating", "one order, more than 3 months ago (R ≤ 2, F = 1)"),
]

# M is the quintile of revenue, ceil(cume_dist() × 5): M ≥ k exactly when the revenue is at least the value at
# position floor((k - 1) × n / 5) + 1 of the sorted revenues (one sort, no window over every customer).
CS = CustomerSummary._meta.db_table
RFM = f"""
WITH c AS (SELECT {{columns}}, %(today)s - s.last_day AS recency FROM {CS} s
           WHERE s.last_day > %(today)s - {RFM_DAYS} AND s.last_day <= %(today)s),
edges AS MATERIALIZED (
    SELECT revenues[n / 5 + 1] AS m2, revenues[2 * n / 5 + 1] AS m3, revenues[3 * n / 5 + 1] AS m4,
           revenues[4 * n / 5 + 1] AS m5
    FROM (SELECT count(*) AS n, array_agg(revenue ORDER BY revenue) AS revenues FROM c) sorted),
scored AS (SELECT c.*,
                  CASE WHEN recency <= 30 THEN 5 WHEN recency <= 60 THEN 4 WHEN recency <= 90 THEN 3
                       WHEN recency <= 180 THEN 2 ELSE 1 END AS r,
                  CASE WHEN orders >= 6 THEN 5 WHEN orders >= 4 THEN 4 WHEN orders = 3 THEN 3 WHEN orders = 2 THEN 2
                       ELSE 1 END AS f,
                  CASE WHEN c.revenue >= e.m5 THEN 5 WHEN c.revenue >= e.m4 THEN 4 WHEN c.revenue >= e.m3 THEN 3
                       WHEN c.revenue >= e.m2 THEN 2 ELSE 1 END AS m
           FROM c CROSS JOIN edges e),
segmented AS (SELECT scored.*,
                     CASE WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'champions'
                          WHEN f >= 4 THEN 'loyal'
                          WHEN m = 5 THEN 'big_spenders'
                          WHEN r >= 4 AND f = 1 THEN 'new'
                          WHEN r >= 4 THEN 'promising'
                          WHEN r = 3 THEN 'need_attention'
                          WHEN f >= 2 THEN 'at_risk'
                          ELSE 'hibernating' END AS segment
              FROM scored)
"""

SEGMENTS_SQL = RFM.format(columns="s.revenue, s.orders") + """
SELECT segment, count(*) AS customers, sum(revenue) AS revenue, avg(orders) AS orders, avg(recency) AS recency
FROM segmented GROUP BY segment
"""

