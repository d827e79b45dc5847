"""Forms of the returns admin: one per step, each handing clean values to returns.services."""

from __future__ import annotations

from django import forms

from inventory.models import Warehouse
from shipping.models import Carrier

from .models import Reason, ReturnLine, ReturnRequest


def _carriers():
    return [("", "The carrier of the original parcel")] + [
        (c.code, c.name) for c in Carrier.objects.filter(active=True).order_by("name")]


class ApproveForm(forms.Form):
    handling = forms.ChoiceField(choices=ReturnRequest.Handling.choices, initial=ReturnRequest.Handling.RETURN,
                                 widget=forms.RadioSelect)
    instructions = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
                                   help_text="Sent to the customer with the approval.")
    send_label = forms.BooleanField(required=False, initial=True, label="Issue a return label",
                                    help_text="Untick when the customer sends the item back on their own.")
    carrier = forms.ChoiceField(required=False, help_text="For the return label.")
    tracking_number = forms.CharField(required=False, max_length=64,
                                      help_text="Only for a carrier that does not issue numbers through us.")
    warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.filter(active=True), required=False,
                                       empty_label="The warehouse it was shipped from",
                                       help_text="Where the item comes back to.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["carrier"].choices = _carriers()


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="The customer reads this: say why, and what they can do instead.")


class CancelForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class ReceiveForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                           help_text="What was in the parcel, if anything was unexpected.")


class CloseForm(forms.Form):
    pass


class ResolveForm(forms.Form):
    refund_amount = forms.DecimalField(required=False, min_value=0, max_digits=12, decimal_places=2,
                                       help_text="Refunds only. Empty: the price paid for the returned items.")
    refund_shipping = forms.DecimalField(required=False, min_value=0, max_digits=10, decimal_places=2, initial=0,
                                         help_text="Refunds only: shipping to give back as well.")
    provider_reference = forms.CharField(required=False, max_length=100,
                                         help_text="The payment provider's refund id, where there is one.")
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class InspectForm(forms.Form):
    """One disposition (and warehouse for a restock) per returned line."""

    def __init__(self, *args, lines: list[ReturnLine], default_warehouse=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        choices = [(v, label) for v, label in ReturnLine.Disposition.choices if v]
        for line in lines:
            label = f"{line.order_line.sku} × {line.quantity}" + (f" · {line.unit.serial}" if line.unit_id else "")
            self.fields[f"disposition_{line.pk}"] = forms.ChoiceField(choices=choices, label=label)
            self.fields[f"warehouse_{line.pk}"] = forms.ModelChoiceField(
                queryset=Warehouse.objects.filter(active=True), required=False, initial=default_warehouse,
                label="into warehouse", empty_label="The return's warehouse")
            self.fields[f"note_{line.pk}"] = forms.CharField(required=False, max_length=2000, label="finding")

    def inspections(self) -> list[dict]:
        data = self.cleaned_data
        return [{"line": line.pk, "disposition": data[f"disposition_{line.pk}"],
                 "warehouse": data[f"warehouse_{line.pk}"].pk if data[f"warehouse_{line.pk}"] else None,
                 "note": data[f"note_{line.pk}"]} for line in self.lines]


class StartReturnForm(forms.Form):
    """A return or claim entered by staff for an order: a quantity, reason and serials per line."""

    resolution = forms.ChoiceField(choices=ReturnRequest.Resolution.choices)
    exchange_sku = forms.CharField(required=False, max_length=64, label="exchange for SKU")
    channel = forms.ChoiceField(choices=[(ReturnRequest.Channel.SUPPORT, "Support (phone, email)"),
                                         (ReturnRequest.Channel.STAFF, "Staff")])
    customer_note = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}),
                                    label="what the customer says")

    def __init__(self, *args, rows: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = rows
        for row in rows:
            line = row["line"]
            self.fields[f"quantity_{line.pk}"] = forms.IntegerField(
                min_value=0, max_value=max(row["returnable"], 0), initial=row["returnable"], label=line.sku)
            self.fields[f"reason_{line.pk}"] = forms.ChoiceField(choices=[("", "—")] + Reason.choices,
                                                                 label="reason", required=False)
            if line.product.serial_tracked:
                self.fields[f"serials_{line.pk}"] = forms.CharField(
                    required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 20}), label="serial numbers",
                    help_text="One per line (scan them).")
            self.fields[f"description_{line.pk}"] = forms.CharField(required=False, max_length=4000,
                                                                    label="what is wrong")

    def clean(self):
        data = super().clean()
        for row in self.rows:
            pk = row["line"].pk
            if data.get(f"quantity_{pk}") and not data.get(f"reason_{pk}"):
                self.add_error(f"reason_{pk}", "Say why this item comes back.")
        if not any(data.get(f"quantity_{row['line'].pk}") for row in self.rows) and not self.errors:
            raise forms.ValidationError("Choose at least one unit to return.")
        return data

    def decision(self) -> list:
        return [self[name] for name in ("resolution", "exchange_sku", "channel", "customer_note")]

    def table(self) -> list[dict]:
        """The bound fields of each line, for the page's table."""
        return [{"line": row["line"], "returnable": row["returnable"],
                 **{name: self[f"{name}_{row['line'].pk}"] for name in ("quantity", "reason", "description")},
                 "serials": self[f"serials_{row['line'].pk}"] if row["line"].product.serial_tracked else None}
                for row in self.rows]

    def line_requests(self) -> list[dict]:
        data, result = self.cleaned_data, []
        for row in self.rows:
            line = row["line"]
            qty = data.get(f"quantity_{line.pk}") or 0
            if not qty:
                continue
            common = {"line": line.pk, "reason": data[f"reason_{line.pk}"],
                      "description": data.get(f"description_{line.pk}", "")}
            serials = [s for s in (data.get(f"serials_{line.pk}") or "").splitlines() if s.strip()]
            if line.product.serial_tracked and serials:
                result += [{**common, "quantity": 1, "serial": s} for s in serials[:qty]]
                if len(serials) < qty:
                    result.append({**common, "quantity": qty - len(serials)})
            else:
                result.append({**common, "quantity": qty})
        return result


class RefundForm(forms.Form):
    items_amount = forms.DecimalField(min_value=0, max_digits=12, decimal_places=2, initial=0, label="items")
    shipping_amount = forms.DecimalField(min_value=0, max_digits=10, decimal_places=2, initial=0, label="shipping")
    reason = forms.CharField(max_length=255)
    provider_reference = forms.CharField(required=False, max_length=100)
