from django.urls import path

from .time_in_state.views import breach_list

app_name = "analytics"

urlpatterns: list = [
    path("breaches/", breach_list, name="breaches"),
]
