from django.urls import path

from . import views

app_name = "support"

urlpatterns = [
    path("", views.queue, name="home"),
    path("queue/<slug:view>/", views.queue, name="queue"),
    path("search/", views.search_page, name="search"),
    path("tickets/<str:number>/", views.ticket, name="ticket"),
    path("attachments/<int:pk>/", views.attachment, name="attachment"),
]
