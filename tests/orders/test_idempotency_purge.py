from datetime import timedelta

from django.utils import timezone

from orders.models import IdempotencyKey
from orders.services import idempotency_keys_purge, order_place
from orders.tasks import idempotency_keys_purge_task
from tests.factories import ADDRESS, CustomerFactory, ProductFactory


def _place(buyer, product, key):
    return order_place(customer=buyer, email=buyer.email, shipping_address=dict(ADDRESS), actor=buyer,
                       lines=[{"sku": product.sku, "quantity": 1}], idempotency_key=key, fingerprint="same")


def test_expired_keys_are_forgotten_and_the_key_can_be_used_again(db, settings):
    # given a key claimed two days ago and one claimed now, with a 24 hour lifetime
    settings.WAYBILL_IDEMPOTENCY_TTL_HOURS = 24
    buyer, product = CustomerFactory(), ProductFactory(stock=10)
    old_order, _ = _place(buyer, product, "old")
    _place(buyer, product, "fresh")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=48))

    # when the purge runs (as the beat task does)
    purged = idempotency_keys_purge_task()

    # then only the expired key is gone, and reusing it places a new order instead of replaying the old one
    assert purged == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    again, created = _place(buyer, product, "old")
    assert created and again.pk != old_order.pk
    assert idempotency_keys_purge(older_than_hours=0) == 2
