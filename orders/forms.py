from decimal import Decimal

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


class PhoneOrderForm(forms.Form):
    """Who orders, by phone or at the counter: an existing customer's email attaches the order to their account."""

    email = forms.EmailField(label="Customer's email", help_text="A customer with this email gets the order in "
                             "their account; anyone else orders as a guest.")
    phone = forms.CharField(max_length=32, required=False)
    shipping_total = forms.DecimalField(label="Shipping", max_digits=12, decimal_places=2, min_value=0,
                                        required=False, help_text="Empty: the shop's shipping rate.")
    notes = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                            label="Customer's notes")
    token = forms.CharField(widget=forms.HiddenInput)  # one order per form, however often it is sent


class OrderLineForm(forms.Form):
    sku = forms.CharField(max_length=64, required=False, label="SKU",
                          widget=forms.TextInput(attrs={"autocomplete": "off", "list": "order-skus"}))
    quantity = forms.IntegerField(min_value=1, max_value=10_000, required=False)

    def clean(self):
        data = super().clean()
        if data.get("sku") and not data.get("quantity"):
            self.add_error("quantity", "How many?")
        if data.get("quantity") and not data.get("sku"):
            self.add_error("sku", "Which product?")
        return data


OrderLineFormSet = forms.formset_factory(OrderLineForm, extra=0, min_num=1, max_num=200, absolute_max=200)


class PaymentForm(forms.Form):
    """Money that arrived for an order (orders.services.order_record_payment)."""

    amount = forms.DecimalField(min_value=Decimal("0.01"), max_digits=14, decimal_places=2)
    method = forms.ChoiceField(choices=[("card", "Card"), ("bank_transfer", "Bank transfer"), ("cash", "Cash"),
                                        ("other", "Other")], initial="bank_transfer")
    reference = forms.CharField(required=False, max_length=100,
                                help_text="The payment provider's or bank's reference: the same one is counted once.")
