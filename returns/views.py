"""The return label as a PDF, for the customer who asked for the return and for staff."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse

from config.errors import DomainError
from shipping.documents import return_label_pdf

from .selectors import return_detail


@login_required
def return_label(request, number: str):
    try:
        rr = return_detail(number=number, user=request.user)
    except DomainError:
        raise Http404("No such return.") from None
    if rr.label_shipment is None or rr.label_shipment.status == "cancelled":
        raise Http404("This return has no label.")
    pdf = return_label_pdf(shipment=rr.label_shipment, return_number=rr.number)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="return-label-{rr.number}.pdf"'
    return response
