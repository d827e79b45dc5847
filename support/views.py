"""The agent workspace under /support/: queues with counts, the ticket page (the conversation beside the case),
and search across tickets, orders and customers. Server-rendered; htmx swaps the conversation after a reply and
keeps it fresh, and every action also works as a plain form post. Only support agents (and superusers) get in."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from config.errors import DomainError

from . import forms
from .filters import VIEWS
from .models import CannedReply, Ticket
from .selectors import is_agent, ticket_detail, ticket_list, ticket_queue
from .services import (
    canned_reply_render,
    ticket_assign,
    ticket_reply,
    ticket_set_priority,
    ticket_start_return,
    ticket_transition,
)
from .workspace import case_for, search

PER_PAGE = 50


def agent_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_agent(request.user):
            raise PermissionDenied("The support workspace is for support agents.")
        return view(request, *args, **kwargs)

    return wrapper


@agent_required
def queue(request, view: str = "mine"):
    if view not in dict(VIEWS):
        raise Http404("No such view.")
    base = ticket_list(user=request.user)
    counts = {name: ticket_queue(base, view=name, user=request.user).count() for name, _ in VIEWS}
    form = forms.QueueFilterForm(request.GET or None)
    tickets = ticket_queue(base, view=view, user=request.user)
    if form.is_valid():
        tickets = form.apply(tickets)
    tickets = tickets.select_related("customer").order_by("resolution_due", "created_at", "id")
    page = Paginator(tickets, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "support/queue.html", {
        "views": [(name, label, counts[name]) for name, label in VIEWS], "view": view, "page": page,
        "tickets": page.object_list, "form": form, "title": dict(VIEWS)[view],
    })


def _ticket_page(request, ticket: Ticket, *, reply_form=None, status=200):
    agents = get_user_model().objects.filter(is_active=True, is_staff=True, groups__name__in=[
        "Support agents", "Support leads"]).distinct().order_by("username")
    context = {
        "ticket": ticket, "case": case_for(ticket), "reply_form": reply_form or forms.ReplyForm(),
        "canned": CannedReply.objects.filter(category__in=["", ticket.category]).order_by("title"),
        "return_form": forms.StartReturnForm(), "agents": agents,
        "priorities": Ticket._meta.get_field("priority").choices,
        "can_assign": request.user.has_perm("support.assign_ticket"),
        "transitions": [t.name for t in ticket.get_available_status_transitions() if t.name != "merge"],
    }
    # an htmx reply gets the conversation back, and the head (status, assignee) out of band
    template = "support/_reply_swap.html" if request.htmx and request.method == "POST" else "support/ticket.html"
    return render(request, template, context, status=status)


@agent_required
@require_http_methods(["GET", "POST"])
def ticket(request, number: str):
    try:
        found = ticket_detail(number=number, user=request.user)
    except DomainError:
        raise Http404("No such ticket.") from None
    if request.method == "GET":
        if request.htmx and request.GET.get("part") == "conversation":  # the 15-second refresh: new messages
            return render(request, "support/_poll.html", {"ticket": found})  # and the case's new events
        initial = {}
        canned_id = request.GET.get("canned", "")
        if canned_id.isdigit():
            canned = CannedReply.objects.filter(pk=int(canned_id)).first()
            if canned is not None:
                initial["body"] = canned_reply_render(canned=canned, ticket=found, agent=request.user)
        return _ticket_page(request, found, reply_form=forms.ReplyForm(initial=initial) if initial else None)
    action = request.POST.get("action", "")
    reply_form = None
    try:
        if action in ("reply", "note"):
            reply_form = forms.ReplyForm(request.POST)
            if reply_form.is_valid():
                ticket_reply(ticket=found.number, author=request.user, body=reply_form.cleaned_data["body"],
                             internal=action == "note", then=reply_form.cleaned_data["then"] or None,
                             attachments=request.FILES.getlist("attachments"))
                if not request.htmx:  # with htmx the conversation shows it at once
                    messages.success(request, "Note added (staff only)." if action == "note" else
                                     "Reply sent to the customer.")
                reply_form = None
            else:
                return _ticket_page(request, found, reply_form=reply_form, status=400)
        elif action == "take":
            ticket_assign(ticket=found.number, assignee=request.user, actor=request.user)
            messages.success(request, f"{found.number} is yours.")
        elif action == "assign":
            assignee = get_user_model().objects.filter(pk=request.POST.get("assignee") or 0).first() \
                if (request.POST.get("assignee") or "").isdigit() else None
            ticket_assign(ticket=found.number, assignee=assignee, actor=request.user)
            messages.success(request, f"Assigned to {assignee.get_username() if assignee else 'nobody'}.")
        elif action in ("open", "wait", "solve", "close"):
            moved = ticket_transition(ticket=found.number, name=action, actor=request.user)
            messages.success(request, f"{found.number} is now {moved.get_status_display().lower()}.")
        elif action == "priority":
            ticket_set_priority(ticket=found.number, priority=request.POST.get("priority", ""), actor=request.user)
            messages.success(request, "Priority changed.")
        elif action == "start_return":
            form = forms.StartReturnForm(request.POST)
            if not form.is_valid():
                raise DomainError("Choose what the customer gets.")
            rr = ticket_start_return(ticket=found.number, actor=request.user,
                                     resolution=form.cleaned_data["resolution"],
                                     handling=form.cleaned_data["handling"] or None,
                                     exchange_sku=form.cleaned_data["exchange_sku"].strip())
            messages.success(request, f"Return {rr.number} started"
                             + (f": {rr.get_handling_display().lower()}." if form.cleaned_data["handling"] else "."))
        else:
            raise DomainError("Unknown action.")
    except DomainError as err:
        messages.error(request, err.message)
    if request.htmx and action in ("reply", "note"):
        return _ticket_page(request, ticket_detail(number=found.number, user=request.user), reply_form=reply_form)
    return redirect(reverse("support:ticket", args=[found.number]))


@agent_required
def search_page(request):
    form = forms.SearchForm(request.GET or None)
    results = search(form.cleaned_data["q"]) if form.is_valid() else None
    return render(request, "support/search.html", {"form": form, "results": results})


@agent_required
def attachment(request, pk: int):
    """A message's file, for agents: downloaded, never rendered inline (nosniff)."""
    from django.http import FileResponse

    from .models import Attachment

    found = Attachment.objects.filter(pk=pk).first()
    if found is None:
        raise Http404("No such file.")
    response = FileResponse(found.file.open("rb"), content_type=found.content_type, as_attachment=True,
                            filename=found.filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response
