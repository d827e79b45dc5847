from django.urls import path

from . import views
from .time_in_state.views import breach_list

app_name = "analytics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("breaches/", breach_list, name="breaches"),
    path("customers/list/", views.customers, name="customers"),
    path("<slug:key>/", views.panel, name="panel"),
    path("<slug:key>/export.csv", views.export, name="export"),
]
