from django.db import models


class Analytics(models.Model):
    """Holds the permissions of the analytics pages; no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_analytics", "Can view analytics")]

    def __str__(self) -> str:
        return "Analytics"


# The dashboard's rollup tables live in their own module (analytics/facts.py).
from .facts import *  # noqa: E402, F401, F403
