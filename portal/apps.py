from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The customer's pages: orders, parcels, returns, conversations with support, emails. Reads through the other
    apps' selectors and writes through their services; owns no tables."""

    name = "portal"
    verbose_name = "Customer portal"
