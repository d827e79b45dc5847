from django import forms

from .models import Category, Priority, Queue


class ReplyForm(forms.Form):
    body = forms.CharField(max_length=20_000, widget=forms.Textarea(attrs={"rows": 6, "id": "reply-body"}))
    then = forms.ChoiceField(required=False, choices=[("", "Status as usual"), ("open", "Keep open"),
                                                      ("waiting", "Wait for the customer"), ("solved", "Solve")])


class StartReturnForm(forms.Form):
    resolution = forms.ChoiceField(choices=[("replacement", "Replacement"), ("refund", "Refund"),
                                            ("exchange", "Exchange for another item")])
    exchange_sku = forms.CharField(required=False, max_length=64, label="exchange for SKU",
                                   widget=forms.TextInput(attrs={"placeholder": "SKU (exchange)", "size": 14}))
    handling = forms.ChoiceField(required=False, choices=[
        ("", "Decide later (a return request)"), ("advance_replacement", "Replace now, faulty item back later"),
        ("return", "Item comes back first (label)"), ("keep_it", "Customer keeps the item")])


class QueueFilterForm(forms.Form):
    priority = forms.ChoiceField(required=False, choices=[("", "Any priority")] + Priority.choices)
    category = forms.ChoiceField(required=False, choices=[("", "Any category")] + Category.choices)
    queue = forms.ModelChoiceField(required=False, queryset=Queue.objects.all(), empty_label="Any queue")

    def apply(self, qs):
        data = self.cleaned_data
        if data.get("priority"):
            qs = qs.filter(priority=data["priority"])
        if data.get("category"):
            qs = qs.filter(category=data["category"])
        if data.get("queue"):
            qs = qs.filter(queue=data["queue"])
        return qs


class SearchForm(forms.Form):
    q = forms.CharField(min_length=3, max_length=80, strip=True, label="Search",
                        help_text="Part of an order number, a name, an email, a phone number; a tracking number, a "
                                  "serial or a ticket number.")

    def clean_q(self):
        value = self.cleaned_data["q"]
        if any(ord(c) < 32 for c in value):
            raise forms.ValidationError("Type letters, digits and punctuation only.")
        return value
