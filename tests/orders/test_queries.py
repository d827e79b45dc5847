"""Order reads cost the same number of queries for 3 rows and for 30."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.services import order_add_note
from tests.factories import OrderFactory, ProductFactory, WarehouseFactory, order_payload, place_order

pytestmark = pytest.mark.django_db


def _fresh(client, user):
    """Authenticate as a freshly loaded user, so permission caches from an earlier request do not hide queries."""
    client.force_authenticate(get_user_model().objects.get(pk=user.pk))
    return client


def _batch(n, **kwargs):
    product = ProductFactory(stock=n * 2, low_stock_threshold=0)
    return OrderFactory.create_batch(n, lines=[(product, 1)], **kwargs)


@pytest.mark.parametrize(("who", "queries"), [("staff", 3), ("customer", 1)])
def test_order_list_queries_do_not_grow(who, queries, api_client, staff_user, customer, django_assert_num_queries):
    # staff: permissions (user's, groups'), page; customer: page (cursor pagination: no COUNT)
    user = staff_user if who == "staff" else customer
    _batch(3, customer=customer)
    client = _fresh(api_client, user)
    with django_assert_num_queries(queries):
        response = client.get("/api/orders/")
    assert len(response.json()["results"]) == 3

    _batch(27, customer=customer)
    client = _fresh(api_client, user)
    with django_assert_num_queries(queries):
        response = client.get("/api/orders/")
    assert len(response.json()["results"]) == 30


def test_order_list_with_filters_queries_do_not_grow(client_staff, staff_user, django_assert_num_queries):
    WarehouseFactory(code="FQ", priority=1)
    _batch(3)
    params = {"status": ["placed", "confirmed"], "warehouse": "FQ", "payment_status": "unpaid"}
    client = _fresh(client_staff, staff_user)
    with django_assert_num_queries(3):
        assert len(client.get("/api/orders/", params).json()["results"]) == 3

    _batch(27)
    client = _fresh(client_staff, staff_user)
    with django_assert_num_queries(3):
        assert len(client.get("/api/orders/", params).json()["results"]) == 30


def _big_order(lines, notes, author):
    products = [ProductFactory(stock=5) for _ in range(lines)]
    order = place_order(lines=[(p, 1) for p in products])
    for i in range(notes):
        order_add_note(order=order, author=author, text=f"note {i}", internal=i % 2 == 0)
    return order


@pytest.mark.parametrize("who", ["staff", "customer"])
def test_order_detail_queries_do_not_grow(who, api_client, staff_user, customer, django_assert_num_queries):
    # order, lines, timeline (with actor); staff also load allocations (with warehouse) and their permissions
    queries = 6 if who == "staff" else 3
    user = staff_user if who == "staff" else customer
    small = _big_order(3, 3, staff_user)
    large = _big_order(30, 30, staff_user)
    for order in (small, large):
        order.customer = customer
        order.save(update_fields=["customer"])

    client = _fresh(api_client, user)
    with django_assert_num_queries(queries):
        response = client.get(f"/api/orders/{small.number}/")
    assert len(response.json()["lines"]) == 3

    client = _fresh(api_client, user)
    with django_assert_num_queries(queries):
        response = client.get(f"/api/orders/{large.number}/")
    assert len(response.json()["lines"]) == 30
    if who == "staff":
        assert len(response.json()["allocations"]) == 30


@pytest.mark.parametrize("who", ["staff", "customer"])
def test_creating_an_order_over_the_api_costs_the_same_for_1_and_20_lines(who, api_client, staff_user, customer,
                                                                         django_assert_num_queries):
    # given 21 products in stock, and a first order that warms the per-process caches
    products = [ProductFactory(stock=50) for _ in range(21)]
    user = staff_user if who == "staff" else customer
    api_client.force_authenticate(user)
    email = {"email": "guest@example.com"} if who == "staff" else {}  # staff enter orders for guests too
    api_client.post("/api/orders/", order_payload((products[20], 1), **email), format="json")

    # when orders of 1 and of 20 lines are created
    with CaptureQueriesContext(connection) as one_line:
        first = api_client.post("/api/orders/", order_payload((products[0], 1), **email), format="json")
    with django_assert_num_queries(len(one_line.captured_queries)):
        twenty = api_client.post("/api/orders/", order_payload(*[(p, 1) for p in products[:20]], **email),
                                 format="json")

    # then both cost the same, the response is rendered from what the service wrote (no read-back), and it is whole
    read_back = [q["sql"] for q in one_line.captured_queries if q["sql"].startswith('SELECT "orders_order"')]
    assert (first.status_code, twenty.status_code) == (201, 201) and read_back == []
    assert len(twenty.json()["lines"]) == 20 and twenty.json()["timeline"][0]["transition"] == "place"
    if who == "staff":
        assert len(twenty.json()["allocations"]) == 20


# An order request through the API on PostgreSQL: its transaction (BEGIN, or a savepoint in a test), the key
# claimed with the products and their stock read, the order's rows, the stock taken (the notification outbox row
# and the kept answer riding on that statement), COMMIT. The token's user comes from the cache.
API_PLACE_QUERIES = 5


@pytest.mark.parametrize("who", ["staff", "customer"])
def test_an_order_over_the_api_costs_five_statements_for_1_and_for_5_lines(who, staff_user, customer, postgres,
                                                                          django_assert_num_queries):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    # given products in stock and a token used once already (its user is cached, process caches warm)
    products = [ProductFactory(stock=50) for _ in range(6)]
    user = staff_user if who == "staff" else customer
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    email = {"email": "guest@example.com"} if who == "staff" else {}
    assert client.post("/api/orders/", order_payload((products[5], 1), **email), format="json",
                       headers={"Idempotency-Key": "warm"}).status_code == 201

    # when orders of 1 and of 5 lines are placed with an Idempotency-Key
    for n, key in ((1, "one"), (5, "five")):
        # (staff: and their permissions, the user's and their groups', as on any staff request)
        with django_assert_num_queries(API_PLACE_QUERIES + (2 if who == "staff" else 0)):
            response = client.post("/api/orders/", order_payload(*[(p, 1) for p in products[:n]], **email),
                                   format="json", headers={"Idempotency-Key": key})
        # then each cost the same, and the answer is whole
        assert response.status_code == 201 and len(response.json()["lines"]) == n
