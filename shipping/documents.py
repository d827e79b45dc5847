"""Printable warehouse paperwork (weasyprint): pick lists and packing slips."""

from django.template.loader import render_to_string
from django.utils import timezone

from .selectors import packing_slip_shipments, pick_list_rows, wave_pick_rows


def _pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported here: it loads Pango, which only the printing paths need

    return HTML(string=html).write_pdf()


def pick_list_pdf(*, order_ids=None, wave=None) -> bytes:
    """Units to pick for the orders (or a wave's parcels), per warehouse, walked by bin location, with
    quantities and how many go to which order."""
    rows = wave_pick_rows(wave=wave) if wave is not None else pick_list_rows(order_ids=order_ids)
    groups: list[dict] = []
    for row in rows:
        if not groups or groups[-1]["warehouse"] != row["warehouse"]:
            groups.append({"warehouse": row["warehouse"], "rows": [], "units": 0})
        groups[-1]["rows"].append(row)
        groups[-1]["units"] += row["quantity"]
    html = render_to_string("shipping/pdf/pick_list.html", {"groups": groups, "printed_at": timezone.now(),
                                                            "wave": wave})
    return _pdf(html)


def packing_slips_pdf(*, order_ids) -> bytes:
    """One page per shipment of the orders (cancelled shipments left out)."""
    shipments = list(packing_slip_shipments(order_ids=order_ids))
    html = render_to_string("shipping/pdf/packing_slips.html",
                            {"shipments": shipments, "printed_at": timezone.now()})
    return _pdf(html)


def return_label_pdf(*, shipment, return_number: str = "") -> bytes:
    """The label a customer sticks on a return parcel: carrier, tracking number, from, to, contents."""
    html = render_to_string("shipping/pdf/return_label.html", {"shipment": shipment, "return_number": return_number,
                                                               "printed_at": timezone.now()})
    return _pdf(html)


def shipping_label_pdf(*, shipment) -> bytes:
    """The label on an outbound parcel: carrier, tracking number, from, to, weight, contents."""
    html = render_to_string("shipping/pdf/shipping_label.html", {"shipment": shipment, "printed_at": timezone.now()})
    return _pdf(html)
