"""The portal's URLs and a trivial JSON view, served by the same server for the manifest bench's floor."""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def trivial_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/trivial-json", trivial_json), path("", include("portal.urls"))]
