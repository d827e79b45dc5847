"""A parcel's story played in the zero-setup demo's configuration (config.settings.dev: SQLite, in-process tasks).

Run by test_demo.py in a child process: `python -m tests.notifications.demo_scenario` with DATABASE_URL naming a
migrated SQLite file. Prints, as JSON, the subjects of every email the customer received, in order.
"""

import json

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core import mail  # noqa: E402

settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
mail.outbox = []

from notifications.models import Notification  # noqa: E402
from shipping.models import Carrier  # noqa: E402
from shipping.services import shipment_create_all, shipment_transition  # noqa: E402
from tests.factories import CustomerFactory, ProductFactory, place_order  # noqa: E402
from tests.shipping.conftest import pack  # noqa: E402


def main() -> None:
    customer = CustomerFactory()
    product = ProductFactory(stock=5)
    order = pack(place_order(customer=customer, lines=[(product, 1)]))
    carrier = Carrier.objects.get(code="local")
    (shipment,) = shipment_create_all(order=order.number, carrier=carrier)
    for name in ("pick", "pack"):
        shipment_transition(shipment=shipment.pk, name=name, check_permission=False)
    shipment_transition(shipment=shipment.pk, name="create_label", carrier=carrier, check_permission=False)
    shipment_transition(shipment=shipment.pk, name="hand_over", check_permission=False)  # the customer is told
    shipment_transition(shipment=shipment.pk, name="deliver", check_permission=False)  # and told again
    print(json.dumps({
        "order": order.number,
        "subjects": [m.subject for m in mail.outbox if customer.email in m.to],
        "notifications": sorted(Notification.objects.filter(recipient=customer.email).values_list("event", "status")),
    }))


main()
