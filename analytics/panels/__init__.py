"""The dashboard's five panels. Each is a function of a Context (filters, links) returning a Panel, reading the
rollup tables (analytics/facts.py) and, where a figure is about now or small tables, the other apps' tables, with a
fixed number of SQL queries whatever the data."""

from .aftersales import aftersales_panel
from .base import Context, Panel
from .customers import customer_list, customers_panel
from .fulfilment import fulfilment_panel
from .sales import sales_panel
from .stock import stock_panel

PANELS = {
    "sales": ("Sales", sales_panel),
    "customers": ("Customers", customers_panel),
    "fulfilment": ("Fulfilment", fulfilment_panel),
    "aftersales": ("After-sales and support", aftersales_panel),
    "stock": ("Stock", stock_panel),
}

__all__ = ["PANELS", "Context", "Panel", "customer_list"]
