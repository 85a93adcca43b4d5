from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecordsConfig(AppConfig):
    name = "portal.records"
    label = "records"
    verbose_name = _("Records")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal.records import (
            kinds,  # noqa: F401  (registers the pull job kind)
            trail,  # noqa: F401  (names pulls and connections in the activity page)
        )
