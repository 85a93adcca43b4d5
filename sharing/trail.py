"""How the citizen's activity page names their links and summaries (the audit trail keeps only their ids)."""

from django.utils import formats, timezone
from django.utils.translation import gettext

from portal.accounts.models import User
from portal.audit.registry import target_describer, uuid_ids
from sharing.models import Export, Share


@target_describer("sharing.share")
def describe_shares(owner: User, ids: list[str]) -> dict[str, str]:
    return {
        str(share.id): share.label
        or gettext("Link made %(when)s")
        % {"when": formats.date_format(timezone.localtime(share.created_at), "SHORT_DATETIME_FORMAT")}
        for share in Share.objects.filter(owner=owner, id__in=uuid_ids(ids))
    }


@target_describer("sharing.export")
def describe_exports(owner: User, ids: list[str]) -> dict[str, str]:
    return {
        str(export.id): gettext("Summary: %(format)s") % {"format": export.get_format_display()}
        for export in Export.objects.filter(owner=owner, id__in=uuid_ids(ids))
    }
