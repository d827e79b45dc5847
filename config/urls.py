from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from health_check.views import HealthCheckView
from rest_framework.routers import DefaultRouter

from config.health import warnings_do_not_fail
from config.ratelimit import CarrierEventThrottle, InboundEmailThrottle, login_rate_limited
from config.replicas import replica_aliases
from inventory.apis import (
    GoodsReceiptApi,
    ProductApi,
    SerialLookupApi,
    StockApi,
    StockBinApi,
    StockMovementApi,
    WarehouseApi,
)
from orders.apis import (
    OrderDetailApi,
    OrderDraftApi,
    OrderLinesEditApi,
    OrderListCreateApi,
    OrderNoteApi,
    OrderPaymentApi,
    OrderTransitionApi,
)
from portal.accounts import PasswordResetView
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
router.register("warehouses", WarehouseApi, basename="warehouse")
router.register("goods-receipts", GoodsReceiptApi, basename="goods-receipt")
router.register("order-drafts", OrderDraftApi, basename="order-draft")

api = [
    path("orders/", OrderListCreateApi.as_view(), name="order-list"),
    path("orders/<str:number>/", OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<str:number>/transitions/<str:name>/", OrderTransitionApi.as_view(), name="order-transition"),
    path("orders/<str:number>/notes/", OrderNoteApi.as_view(), name="order-note"),
    path("orders/<str:number>/lines/", OrderLinesEditApi.as_view(), name="order-lines"),
    path("orders/<str:number>/payments/", OrderPaymentApi.as_view(), name="order-payments"),
    path("stock/<int:pk>/bin/", StockBinApi.as_view(), name="stock-bin"),
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
    path("support/inbound-email/", InboundEmailApi.as_view(throttle_classes=[InboundEmailThrottle]),
         name="inbound-email"),
    path("serials/<str:serial>/", SerialLookupApi.as_view(), name="serial-lookup"),
    path("carriers/<slug:code>/events/", CarrierEventApi.as_view(throttle_classes=[CarrierEventThrottle]),
         name="carrier-events"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # ReDoc styles itself with injected <style> elements and renders in a blob: worker: its page alone allows both.
    path("redoc/", csp_replace({"style-src": [SELF, UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
        SpectacularRedocView.as_view(url_name="schema")), name="api-redoc"),
    path("", include(router.urls)),
]



def _redis_client():
    from redis.asyncio import Redis

    return Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)


class HealthView(HealthCheckView):
    """/health/: PostgreSQL, the cache, Redis, the Celery broker, unapplied migrations, the outbox's backlog and
    each read replica's lag. 200 when all pass or only warn (a replica behind), 500 naming what failed (HTML, or
    JSON with Accept: application/json or ?format=json)."""

    def get_checks(self):
        self.checks = [
            "health_check.checks.Database",
            "health_check.checks.Cache",
            *([("health_check.contrib.redis.Redis", {"client_factory": _redis_client})] if settings.REDIS_URL else []),
            "config.health.CeleryBroker",
            "config.health.MigrationsApplied",
            "notifications.health.OutboxBacklog",
            *(["notifications.health.OutboxRelay"] if settings.WAYBILL_OUTBOX_RELAY else []),
            *(("config.health.ReplicaLag", {"alias": alias}) for alias in replica_aliases()),
        ]
        return super().get_checks()

    async def get(self, request, *args, **kwargs):
        return warnings_do_not_fail(await super().get(request, *args, **kwargs), self.results)


urlpatterns = [
    path("health/", HealthView.as_view(), name="health"),
    path("health/live/", HealthCheckView.as_view(checks=[]), name="health-live"),  # the process answers at all
    path("admin/login/", login_rate_limited(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/", include(api)),
    path("track/", include("shipping.urls")),
    path("support/", include("support.urls")),
    path("analytics/", include("analytics.urls")),
    path("accounts/login/", login_rate_limited(LoginView.as_view()), name="login"),
    path("accounts/password_reset/", PasswordResetView.as_view(), name="password_reset"),
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
