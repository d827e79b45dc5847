"""Draft orders (phone orders being put together): saved as they are, in one shape for the admin's form and the
API, and placed through order_place when ready. Nothing is checked or reserved before that."""

from __future__ import annotations

from django.db import transaction

from .errors import InvalidOrder, TransitionNotAllowed
from .models import Order, OrderDraft
from .services import ADDRESS_FIELDS, order_place

MAX_LINES = 200


def draft_from_form(post) -> dict:
    """The admin form's fields (ship-*, line-N-*) in the draft's shape."""
    lines = []
    total = post.get("line-TOTAL_FORMS", "0")
    for i in range(min(int(total) if str(total).isdigit() else 0, MAX_LINES)):
        sku, quantity = post.get(f"line-{i}-sku", "").strip(), post.get(f"line-{i}-quantity", "").strip()
        if sku or quantity:
            lines.append({"sku": sku, "quantity": int(quantity) if quantity.isdigit() else quantity})
    return {"email": post.get("email", ""), "phone": post.get("phone", ""),
            "shipping_total": post.get("shipping_total", ""), "notes": post.get("notes", ""),
            "shipping_address": {k: post.get(f"ship-{k}", "") for k in ADDRESS_FIELDS}, "lines": lines}


def draft_to_form(data: dict) -> dict:
    """The draft as the admin form's fields, with four empty lines more than it holds."""
    address = data.get("shipping_address") or {}
    lines = list(data.get("lines") or [])
    fields = {"email": data.get("email", ""), "phone": data.get("phone", ""),
              "shipping_total": str(data.get("shipping_total") or ""), "notes": data.get("notes", ""),
              **{f"ship-{k}": address.get(k, "") for k in ADDRESS_FIELDS},
              "line-TOTAL_FORMS": str(max(len(lines), 4)), "line-INITIAL_FORMS": "0", "line-MIN_NUM_FORMS": "1",
              "line-MAX_NUM_FORMS": str(MAX_LINES)}
    for i, line in enumerate(lines):
        fields[f"line-{i}-sku"], fields[f"line-{i}-quantity"] = line.get("sku", ""), str(line.get("quantity", ""))
    return fields


def _label(data: dict) -> str:
    name = (data.get("shipping_address") or {}).get("name", "")
    return " · ".join(x for x in (name, data.get("email", "")) if x)[:200]


def order_draft_save(*, data: dict, actor, draft: OrderDraft | None = None) -> OrderDraft:
    if len(data.get("lines") or []) > MAX_LINES:
        raise InvalidOrder(f"At most {MAX_LINES} lines.", fields={"lines": [f"At most {MAX_LINES}."]})
    if draft is None:
        return OrderDraft.objects.create(data=data, label=_label(data), created_by=actor)
    with transaction.atomic():
        locked = OrderDraft.objects.select_for_update().get(pk=draft.pk)
        if locked.placed_order_id:
            raise TransitionNotAllowed(f"{locked} was placed: it no longer changes.")
        locked.data, locked.label = data, _label(data)
        locked.save(update_fields=["data", "label", "updated_at"])
    return locked


@transaction.atomic
def order_draft_place(*, draft: OrderDraft | int, actor) -> Order:
    """Place the draft through order_place (prices from the catalogue, stock reserved, the usual timeline): a
    customer account with the draft's email gets the order. Placed once: placing it again returns its order."""
    from django.contrib.auth import get_user_model

    locked = OrderDraft.objects.select_for_update().get(pk=getattr(draft, "pk", draft))
    if locked.placed_order_id:
        return locked.placed_order
    data = locked.data or {}
    email = str(data.get("email") or "").strip()
    if not email:
        raise InvalidOrder("Give the customer's email before placing the draft.", fields={"email": ["Required."]})
    customer = get_user_model().objects.filter(email__iexact=email, is_active=True, is_staff=False).first()
    shipping = data.get("shipping_total")
    order, _ = order_place(customer=customer, email=email, phone=str(data.get("phone") or ""),
                           shipping_address=dict(data.get("shipping_address") or {}), lines=data.get("lines") or [],
                           shipping_total=shipping if shipping not in (None, "") else None,
                           notes=str(data.get("notes") or ""), actor=actor,
                           idempotency_key=f"draft:{locked.pk}", fingerprint=f"draft:{locked.pk}",
                           channel=Order.Channel.PHONE)
    locked.placed_order = order
    locked.save(update_fields=["placed_order", "updated_at"])
    return order
