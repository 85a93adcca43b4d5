import uuid

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.accounts.auth import request_citizen
from portal.accounts.services import profile_ensure
from portal.security import letting_data_out
from sharing.exports import selectors, services
from sharing.models import ExportFormat
from sharing.selection import SelectionForm, kept_selection, section_choices

# Plain words first; the technical name follows in small print.
FORMATS = (
    (ExportFormat.PDF, gettext_noop("Readable PDF"), gettext_noop("(to read and print)")),
    (ExportFormat.JSON, gettext_noop("Data file for other health systems"), gettext_noop("(FHIR JSON)")),
)


def _exports_page(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    owner = request_citizen(request)
    posted_format = request.POST.get("format") if request.method == "POST" else None
    return render(
        request,
        "sharing/exports.html",
        {
            "sections": section_choices(owner=owner),
            "exports": selectors.exports_of_owner(owner=owner)[:10],
            "activities": selectors.activities_of_owner(owner=owner),
            "formats": [(value, gettext(label), gettext(fine)) for value, label, fine in FORMATS],
            "kept_format": posted_format if posted_format in ExportFormat.values else FORMATS[0][0],
            "kept": kept_selection(request.POST) if request.method == "POST" else None,
            "error": error,
        },
        status=status,
    )


@letting_data_out("EXPORT_CREATE_RATE")
def exports(request: HttpRequest) -> HttpResponse:
    """GET: the Yellow Button page. POST: start a download (format, LOINC section codes, left-out items)."""
    if request.method == "GET":
        return _exports_page(request)
    owner = request_citizen(request)
    selection = SelectionForm(request.POST)
    if not selection.is_valid():
        return _exports_page(request, error=gettext(selection.first_error()), status=400)
    try:
        export = services.export_create(
            owner=owner,
            export_format=request.POST.get("format", ""),
            sections=selection.document_sections,
            excluded_items=selection.excluded_items,
            # The citizen's own language (kept in their profile), whatever this browser sends.
            language=profile_ensure(user=owner).preferred_language,
        )
    except ValueError as error:
        message = gettext(str(error)) if isinstance(error, services.ExportRequestError) else ""
        return _exports_page(
            request, error=message or gettext("That request could not be read. Please try again."), status=400
        )
    return redirect("job_detail", job_id=export.job_id)


@require_GET
@never_cache
@login_required
def export_download(request: HttpRequest, export_id: uuid.UUID) -> HttpResponseBase:
    export = get_object_or_404(selectors.exports_of_owner(owner=request_citizen(request)), id=export_id)
    if not services.export_is_downloadable(export):
        gone = render(request, "sharing/export_gone.html", {"export": export}, status=410)
        gone["Cache-Control"] = "no-store"
        return gone
    handle = default_storage.open(export.storage_name, "rb")
    services.export_record_download(export=export)
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=services.export_file_name(export),
        content_type=services.CONTENT_TYPES[ExportFormat(export.format)],
    )
    # Health data: no copy in any cache on the way, nor in the browser's.
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    return response
