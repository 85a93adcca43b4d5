from django.urls import path

from sharing.exports import views

urlpatterns = [
    path("exports/", views.exports, name="exports"),
    path("exports/<uuid:export_id>/download/", views.export_download, name="export_download"),
]
