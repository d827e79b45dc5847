from django.urls import path

from . import views

app_name = "shipping"

urlpatterns = [
    path("", views.track_search, name="track-search"),
    path("<str:tracking_number>/", views.track, name="track"),
]
