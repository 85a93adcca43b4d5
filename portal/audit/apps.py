from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    """The one audit trail: every state change, with ids and outcomes only."""

    name = "portal.audit"
    label = "audit"
    verbose_name = _("Audit trail")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal.audit import signals  # noqa: F401  (connects the receivers)
