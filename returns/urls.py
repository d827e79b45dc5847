from django.urls import path

from . import views

app_name = "returns"

urlpatterns = [
    path("<str:number>/label/", views.return_label, name="label"),
]
