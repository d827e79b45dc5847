from django.urls import path

from . import accounts, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("orders/", views.order_list, name="order-list"),
    path("orders/find/", views.order_lookup, name="order-lookup"),
    path("orders/<str:number>/", views.order_detail, name="order-detail"),
    path("orders/<str:number>/problem/", views.report_problem, name="report-problem"),
    path("orders/<str:number>/cancel/", views.order_cancel, name="order-cancel"),
    path("orders/<str:number>/address/", views.order_address, name="order-address"),
    path("orders/<str:number>/invoice/", views.order_invoice, name="order-invoice"),
    path("returns/", views.return_list_page, name="return-list"),
    path("returns/<str:number>/", views.return_detail_page, name="return-detail"),
    path("returns/<str:number>/label/", views.return_label_page, name="return-label"),
    path("help/", views.ticket_list_page, name="ticket-list"),
    path("help/new/", views.ticket_new, name="ticket-new"),
    path("help/<str:number>/", views.ticket_detail_page, name="ticket-detail"),
    path("account/emails/", views.notification_settings, name="notifications"),
    path("account/emails/<int:pk>/", views.notification_detail, name="notification"),
    path("account/signup/", accounts.signup, name="signup"),
    path("account/verify/<str:uidb64>/<str:token>/", accounts.verify, name="verify"),
]
