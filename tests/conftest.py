"""Shared fixtures. With REQUIRE_SERVICES=1 a missing PostgreSQL or Redis fails the run instead of skipping."""

import os

import pytest
from django.db import connection
from rest_framework.test import APIClient

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def pytest_configure(config):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if REQUIRE_SERVICES and "postgresql" not in engine:
        raise pytest.UsageError(
            "REQUIRE_SERVICES=1 but PostgreSQL is not reachable: start it or set DATABASE_URL "
            f"(settings chose {engine})."
        )


def service_missing(what: str) -> None:
    """Fail (REQUIRE_SERVICES=1) or skip a test whose behaviour depends on a real service."""
    message = f"{what} is required for this test and is not available"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


def pytest_collection_modifyitems(items):
    """Transactional tests flush the database at the end; make them restore what migrations seeded (groups,
    carriers) so the tests after them still find it. Tests without a marker get it from the fixture below."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
            item.add_marker(pytest.mark.django_db(*marker.args, **marker.kwargs, serialized_rollback=True),
                            append=False)


@pytest.fixture(autouse=True)
def django_db_serialized_rollback():
    return True


@pytest.fixture
def postgres(db):
    if connection.vendor != "postgresql":
        service_missing("PostgreSQL")
    return connection


@pytest.fixture
def redis_url():
    import redis
    from django.conf import settings

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001 - any failure means no usable Redis
        service_missing(f"Redis at {settings.REDIS_URL}")
    return settings.REDIS_URL


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def staff_user(db):
    from tests.factories import StaffFactory

    return StaffFactory(group="Warehouse staff")


@pytest.fixture
def agent_user(db):
    from tests.factories import StaffFactory

    return StaffFactory(group="Support agents")


@pytest.fixture
def customer(db):
    from tests.factories import CustomerFactory

    return CustomerFactory()


@pytest.fixture
def client_staff(api_client, staff_user):
    api_client.force_authenticate(staff_user)
    return api_client


@pytest.fixture
def client_customer(api_client, customer):
    api_client.force_authenticate(customer)
    return api_client


@pytest.fixture
def manager_user(db):
    """Staff in both groups, and allowed to mark orders shipped outside Waybill: may move orders along, cancel
    them and change stock."""
    from django.contrib.auth.models import Group, Permission

    from tests.factories import StaffFactory

    user = StaffFactory(group="Warehouse staff")
    user.groups.add(Group.objects.get(name="Support agents"))
    user.user_permissions.add(Permission.objects.get(codename="ship_outside_waybill"))
    return user
