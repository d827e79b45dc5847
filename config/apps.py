from django.apps import AppConfig


class WaybillConfig(AppConfig):
    """The project's shared pieces (config/): no models; installs the rules every app's input follows."""

    name = "config"
    label = "waybill"
    verbose_name = "Waybill"

    def ready(self) -> None:
        from django import forms

        from . import authentication
        from .text import NoControlCharactersValidator

        authentication.connect()  # cached API tokens are forgotten when their token or user changes

        # Every form's text field (portal, support workspace, admin, sign-in) refuses control characters with a
        # field error, as the API's parsers and the URL middleware do; Django's own rule refuses only NUL.
        # EmailField, URLField and the like keep their own validators, which refuse them too.
        if not any(isinstance(v, NoControlCharactersValidator) for v in forms.CharField.default_validators):
            forms.CharField.default_validators = [*forms.CharField.default_validators,
                                                  NoControlCharactersValidator()]
