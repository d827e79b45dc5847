from django import forms

from .models import Carrier, Shipment


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
