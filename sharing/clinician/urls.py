from django.urls import path

from sharing.clinician import views

urlpatterns = [
    # Public SMART Health Link endpoints: the manifest id is 43 base64url characters (256 random bits).
    path("shl/files/<str:token>", views.shl_file, name="shl_file"),
    path("shl/<str:manifest_id>", views.shl_manifest, name="shl_manifest"),
    path("viewer/", views.viewer, name="viewer"),
]
