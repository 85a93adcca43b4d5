from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    """The Yellow Button: the IPS download (JSON and PDF); SMART Health Links arrive with their issue."""

    name = "sharing"
    verbose_name = _("Yellow Button")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sharing import kinds  # noqa: F401  (registers the export job kind)
