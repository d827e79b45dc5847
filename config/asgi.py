import os

from django.core.asgi import get_asgi_application

# Production unless told otherwise: a server started without DJANGO_SETTINGS_MODULE never runs with DEBUG.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
application = get_asgi_application()
