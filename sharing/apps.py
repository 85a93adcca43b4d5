from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    """The Yellow Button, split by who it serves: the citizen's downloads (``exports``), the citizen's links
    (``links``), and the clinician's side (``clinician``: the public SHL server and the viewer). Models and
    migrations are the app's, in one place."""

    name = "sharing"
    verbose_name = _("Yellow Button")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the job kinds: a download, and the files of a link.
        from sharing import trail  # noqa: F401  (names links and summaries in the activity page)
        from sharing.exports import kinds as export_kinds  # noqa: F401
        from sharing.links import kinds as link_kinds  # noqa: F401
