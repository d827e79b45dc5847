from django import forms
from django_countries import countries
from django_countries.fields import LazyTypedChoiceField


class ReasonRequiredForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "autofocus": True}), max_length=2000,
        help_text="Recorded on the order's timeline; the customer sees it.",
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000, required=False)


class AddressForm(forms.Form):
    """A delivery address as staff change it (orders.services.order_change_address checks it like a new order's)."""

    name = forms.CharField(max_length=120, label="Recipient")
    line1 = forms.CharField(max_length=200, label="Street and number")
    line2 = forms.CharField(max_length=200, required=False, label="Address line 2")
    postal_code = forms.CharField(max_length=20, required=False, label="Postal code")
    city = forms.CharField(max_length=100)
    region = forms.CharField(max_length=100, required=False)
    country = LazyTypedChoiceField(choices=countries)

    def clean(self):
        data = super().clean()
        for key, value in list(data.items()):
            if isinstance(value, str):
                if any(ord(c) < 32 for c in value):
                    self.add_error(key, "Use letters, digits and punctuation only.")
                data[key] = value.strip()
        return data
