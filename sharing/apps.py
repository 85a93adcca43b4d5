from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    """The Yellow Button: IPS export and SMART Health Links (models arrive with their issues)."""

    name = "sharing"
    verbose_name = _("Yellow Button")
