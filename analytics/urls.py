app_name = "analytics"

urlpatterns: list = []
