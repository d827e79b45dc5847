from django.db import models


class Analytics(models.Model):
    """Holds the permissions of the analytics pages; no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_analytics", "Can view analytics")]

    def __str__(self) -> str:
        return "Analytics"
