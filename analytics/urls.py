from django.urls import path

from . import views

app_name = "analytics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("customers/list/", views.customers, name="customers"),
    path("<slug:key>/", views.panel, name="panel"),
    path("<slug:key>/export.csv", views.export, name="export"),
]
