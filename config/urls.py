from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from inventory.apis import ProductApi, SerialLookupApi, StockApi, StockMovementApi
from orders.apis import OrderDetailApi, OrderListCreateApi, OrderNoteApi, OrderTransitionApi
from returns.apis import (
    OrderRefundApi,
    ReturnDetailApi,
    ReturnInspectionApi,
    ReturnListCreateApi,
    ReturnPhotoApi,
    ReturnRefundApi,
    ReturnTransitionApi,
)
from shipping.apis import CarrierEventApi, ShipmentDetailApi, ShipmentListCreateApi, ShipmentTransitionApi
from support.apis import (
    InboundEmailApi,
    TicketAssignApi,
    TicketDetailApi,
    TicketListCreateApi,
    TicketMessageApi,
    TicketTransitionApi,
)

router = DefaultRouter(trailing_slash=True)
router.register("products", ProductApi, basename="product")
router.register("stock", StockApi, basename="stock")
router.register("stock-movements", StockMovementApi, basename="stock-movement")

api = [
    path("orders/", OrderListCreateApi.as_view(), name="order-list"),
    path("orders/<str:number>/", OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<str:number>/transitions/<str:name>/", OrderTransitionApi.as_view(), name="order-transition"),
    path("orders/<str:number>/notes/", OrderNoteApi.as_view(), name="order-note"),
    path("orders/<str:number>/refunds/", OrderRefundApi.as_view(), name="order-refund"),
    path("returns/", ReturnListCreateApi.as_view(), name="return-list"),
    path("returns/<str:number>/", ReturnDetailApi.as_view(), name="return-detail"),
    path("returns/<str:number>/transitions/<str:name>/", ReturnTransitionApi.as_view(), name="return-transition"),
    path("returns/<str:number>/inspection/", ReturnInspectionApi.as_view(), name="return-inspection"),
    path("returns/<str:number>/refunds/", ReturnRefundApi.as_view(), name="return-refund"),
    path("returns/<str:number>/photos/", ReturnPhotoApi.as_view(), name="return-photos"),
    path("shipments/", ShipmentListCreateApi.as_view(), name="shipment-list"),
    path("shipments/<int:pk>/", ShipmentDetailApi.as_view(), name="shipment-detail"),
    path("shipments/<int:pk>/transitions/<str:name>/", ShipmentTransitionApi.as_view(), name="shipment-transition"),
    path("tickets/", TicketListCreateApi.as_view(), name="ticket-list"),
    path("tickets/<str:number>/", TicketDetailApi.as_view(), name="ticket-detail"),
    path("tickets/<str:number>/messages/", TicketMessageApi.as_view(), name="ticket-messages"),
    path("tickets/<str:number>/transitions/<str:name>/", TicketTransitionApi.as_view(), name="ticket-transition"),
    path("tickets/<str:number>/assign/", TicketAssignApi.as_view(), name="ticket-assign"),
    path("support/inbound-email/", InboundEmailApi.as_view(), name="inbound-email"),
    path("serials/<str:serial>/", SerialLookupApi.as_view(), name="serial-lookup"),
    path("carriers/<slug:code>/events/", CarrierEventApi.as_view(), name="carrier-events"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include(router.urls)),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api)),
    path("track/", include("shipping.urls")),
    path("support/", include("support.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("portal.urls")),
]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"

admin.site.site_header = "Waybill back office"
admin.site.site_title = "Waybill"
admin.site.index_title = "Orders, stock and fulfilment"
