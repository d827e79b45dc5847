from django import forms
from django.db.models import Q

from orders.forms import AddressForm  # noqa: F401 - the portal's address page uses the same form
from returns.models import Reason, ReturnRequest
from support.models import Category


def _no_control(value: str) -> str:
    if any(ord(c) < 32 and c not in "\n\r\t" for c in value):
        raise forms.ValidationError("Please use letters, digits and punctuation only.")
    return value


class OrderLookupForm(forms.Form):
    number = forms.CharField(label="Order number", max_length=20, widget=forms.TextInput(attrs={
        "placeholder": "WB-XXXX-XXXX", "autocomplete": "off"}))
    email = forms.EmailField(label="Email used for the order", max_length=254)

    def clean_number(self):
        return _no_control(self.cleaned_data["number"]).strip().upper()


class ReportProblemForm(forms.Form):
    line = forms.TypedChoiceField(label="Which item?", coerce=int, widget=forms.RadioSelect)
    quantity = forms.IntegerField(min_value=1, max_value=1000, initial=1, label="How many?")
    serial = forms.ChoiceField(required=False, label="Which unit (serial number)?")
    reason = forms.ChoiceField(choices=Reason.choices, label="What happened?")
    resolution = forms.ChoiceField(label="What would you like?", widget=forms.RadioSelect, choices=[
        (ReturnRequest.Resolution.REPLACEMENT, "A replacement"), (ReturnRequest.Resolution.REFUND, "My money back")])
    description = forms.CharField(max_length=4000, required=False, label="Tell us more",
                                  widget=forms.Textarea(attrs={"rows": 4}))
    photos = forms.FileField(required=False, label="Photos (optional: JPEG, PNG or WebP, up to 5 MB each)",
                             widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}))

    def __init__(self, *args, lines, serials, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["line"].choices = [(line.pk, f"{line.name} ({line.sku})") for line in lines]
        if len(lines) == 1:
            self.fields["line"].initial = lines[0].pk
        units = [s for line in lines for s in serials.get(line.pk, [])]
        self.fields["serial"].choices = [("", "—")] + [(s, s) for s in units]
        if len(units) == 1:
            self.fields["serial"].initial = units[0]
        self.serial_lines = {line.pk for line in lines if line.product.serial_tracked}

    def clean_description(self):
        return _no_control(self.cleaned_data["description"])

    def clean(self):
        data = super().clean()
        if data.get("line") in self.serial_lines and not data.get("serial") and data.get("reason") != "missing_item":
            self.add_error("serial", "Choose the unit: its serial number is on the box and in the device's settings.")
        if data.get("line") in self.serial_lines:
            data["quantity"] = 1
        return data


class ContactForm(forms.Form):
    order = forms.ChoiceField(required=False, label="About an order?")
    category = forms.ChoiceField(choices=Category.choices, initial=Category.OTHER, label="Topic")
    subject = forms.CharField(max_length=200)
    body = forms.CharField(max_length=20_000, label="Your message", widget=forms.Textarea(attrs={"rows": 6}))
    attachments = forms.FileField(required=False, label="Attach a file (optional)")

    def __init__(self, *args, orders, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["order"].choices = [("", "No, a general question")] + [
            (o.number, f"{o.number} · {o.placed_at:%d %b %Y}") for o in orders]

    def clean_subject(self):
        return _no_control(self.cleaned_data["subject"])

    def clean_body(self):
        return _no_control(self.cleaned_data["body"])


class CustomerReplyForm(forms.Form):
    body = forms.CharField(max_length=20_000, label="Your reply", widget=forms.Textarea(attrs={"rows": 5}))
    attachments = forms.FileField(required=False, label="Attach a file (optional)")

    def clean_body(self):
        return _no_control(self.cleaned_data["body"])


class SignupForm(forms.Form):
    name = forms.CharField(max_length=150, label="Your name")
    email = forms.EmailField(max_length=254, label="Email")
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False,
                                help_text="At least 8 characters; not only digits, not a common password.")
    password2 = forms.CharField(label="Password again", widget=forms.PasswordInput, strip=False)

    def clean_name(self):
        return _no_control(self.cleaned_data["name"]).strip()

    def clean_email(self):
        from django.contrib.auth import get_user_model

        email = self.cleaned_data["email"].strip()
        users = get_user_model().objects.filter(Q(email__iexact=email) | Q(username__iexact=email))
        if users.filter(is_active=True).exists():
            raise forms.ValidationError("An account uses this email already: sign in, or reset its password.")
        users.filter(is_active=False, last_login__isnull=True).delete()  # an unverified earlier try starts over
        return email

    def clean(self):
        from django.contrib.auth import password_validation

        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        elif data.get("password1"):
            try:
                password_validation.validate_password(data["password1"])
            except forms.ValidationError as err:
                self.add_error("password1", err)
        return data


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=300, label="Why do you cancel?")

    def clean_reason(self):
        return _no_control(self.cleaned_data["reason"]).strip()


