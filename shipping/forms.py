from django import forms

from .models import Carrier, ParcelSize, Shipment


class CreateLabelForm(forms.Form):
    carrier = forms.ModelChoiceField(queryset=Carrier.objects.filter(active=True), required=False,
                                     help_text="Leave empty to keep the shipment's carrier.")
    tracking_number = forms.CharField(max_length=64, required=False,
                                      help_text="The number the carrier gave; the local courier issues its own.")


class ExceptionForm(forms.Form):
    exception_reason = forms.ChoiceField(choices=Shipment.ExceptionReason.choices[1:])
    reason = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3}))


class PackForm(forms.Form):
    """One field per serial-tracked line of a shipment: the serial number of each unit, one per line of text, in
    the order they are scanned. Lines of products without serials need nothing."""

    def __init__(self, *args, lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.tracked = [sl for sl in lines if sl.order_line.product.serial_tracked]
        for i, sl in enumerate(self.tracked):
            product = sl.order_line.product
            kind = "IMEI" if product.serial_format == product.SerialFormat.IMEI else "serial number"
            self.fields[f"serials_{sl.order_line_id}"] = forms.CharField(
                label=f"{sl.quantity} × {sl.order_line.sku} · {sl.order_line.name}", max_length=20_000,
                widget=forms.Textarea(attrs={"rows": min(max(sl.quantity, 2), 10), "autocomplete": "off",
                                             "spellcheck": "false", "class": "serials",
                                             **({"autofocus": True} if i == 0 else {}),
                                             "placeholder": f"Scan the {kind} of each unit, one per line"}),
                help_text=f"{sl.quantity} {kind}{'s' if sl.quantity > 1 else ''}, one per line.",
            )

    def clean(self):
        data = super().clean()
        for sl in self.tracked:
            name = f"serials_{sl.order_line_id}"
            if name in data:
                serials = [s.strip() for s in data[name].splitlines() if s.strip()]
                if len(serials) != sl.quantity:
                    self.add_error(name, f"Scan {sl.quantity} serial number(s); {len(serials)} given.")
                data[name] = serials
        return data

    def serials(self) -> dict[int, list[str]]:
        return {sl.order_line_id: self.cleaned_data[f"serials_{sl.order_line_id}"] for sl in self.tracked}

    def add_domain_error(self, err) -> None:
        """Put a service's refusal on the field of the line it names, or on the form."""
        line = err.extra.get("line")
        field = f"serials_{line}" if line is not None and f"serials_{line}" in self.fields else None
        self.add_error(field, err.message)


class PackStationForm(forms.Form):
    """The last step at the pack station: weight, size and carrier, then the label (Enter in the weight field)."""

    weight_grams = forms.IntegerField(label="Weight (g)", min_value=1, max_value=70_000, required=False,
                                      widget=forms.NumberInput(attrs={"autofocus": True, "inputmode": "numeric"}))
    parcel_size = forms.ChoiceField(label="Parcel size", choices=ParcelSize.choices, initial=ParcelSize.MEDIUM)
    carrier = forms.ModelChoiceField(queryset=Carrier.objects.filter(active=True), to_field_name="code",
                                     required=False, empty_label="— the parcel's carrier —")
    tracking_number = forms.CharField(max_length=64, required=False,
                                      help_text="Only for carriers that give their own numbers; ours issues one.")
