"""Accounts for customers: sign up with an email and a password, verified by a link (sent through the outbox);
on verification, the orders, returns and conversations a guest had with the same email join the account."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.views.decorators.http import require_http_methods

from config.ratelimit import client_ip, limit_exceeded
from notifications.services import notification_emit
from orders.services import order_attach_guest_orders
from returns.services import returns_attach_customer
from support.services import tickets_attach_customer

from . import forms


def _verification_link(request, user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("portal:verify", args=[uid, default_token_generator.make_token(user)])
    return f"{settings.WAYBILL_SITE_URL.rstrip('/')}{path}"


@require_http_methods(["GET", "POST"])
def signup(request):
    form = forms.SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with transaction.atomic():
            user = get_user_model().objects.create_user(
                username=data["email"].lower(), email=data["email"], password=data["password1"],
                first_name=data["name"].split(" ", 1)[0], last_name=data["name"].split(" ", 1)[1:][0]
                if " " in data["name"] else "", is_active=False)
            notification_emit(event="account.verify", customer=user, recipient=user.email,
                              idempotency_key=f"account:{user.pk}:verify",
                              payload={"customer_name": user.get_full_name() or user.email,
                                       "verify_url": _verification_link(request, user)})
        return render(request, "portal/account/check_email.html", {"email": user.email})
    return render(request, "portal/account/signup.html", {"form": form}, status=400 if form.errors else 200)


def verify(request, uidb64: str, token: str):
    User = get_user_model()
    try:
        user = User.objects.get(pk=int(force_str(urlsafe_base64_decode(uidb64))))
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        return render(request, "portal/account/verify_failed.html", status=400)
    with transaction.atomic():
        user.is_active = True
        user.save(update_fields=["is_active"])
        joined = order_attach_guest_orders(customer=user)
        returns_attach_customer(customer=user, order_ids=joined)
        tickets_attach_customer(customer=user)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, "Your email is confirmed and your account is ready."
                     + (f" {len(joined)} earlier order{'s' if len(joined) != 1 else ''} joined it." if joined else ""))
    return redirect("portal:order-list")


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, sending at most WAYBILL_PASSWORD_RESET_LIMIT links per email address and per
    client in WAYBILL_PASSWORD_RESET_WINDOW_SECONDS. An address is counted whether or not it has an account, so
    the answer tells nothing about who has one."""

    def form_valid(self, form):
        window, limit = settings.WAYBILL_PASSWORD_RESET_WINDOW_SECONDS, settings.WAYBILL_PASSWORD_RESET_LIMIT
        email = form.cleaned_data["email"].strip().lower()
        over_client = limit_exceeded(f"password-reset:ip:{client_ip(self.request)}", limit=limit, window=window)
        over_email = limit_exceeded(f"password-reset:email:{email}", limit=limit, window=window)
        if over_client or over_email:
            response = render(self.request, "registration/password_reset_limited.html", status=429)
            response["Retry-After"] = str(window)
            return response
        return super().form_valid(form)
