"""One trigram index over an order's searchable text (number, email, recipient, phone), for the support
workspace's search: `%part%` of any of them is found without scanning the table. PostgreSQL only (the SQLite demo
searches by scanning, which is fine at its size)."""

from django.db import migrations

EXPRESSION = "upper(number || ' ' || email || ' ' || ship_name || ' ' || phone)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS order_search_trgm ON orders_order "
                          f"USING gin (({EXPRESSION}) gin_trgm_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS order_search_trgm")


class Migration(migrations.Migration):
    dependencies = [("orders", "0008_idempotent_responses")]
    operations = [migrations.RunPython(create, drop)]
