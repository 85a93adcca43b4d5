from django.urls import path

from portal.records import views

urlpatterns = [
    path("records/", views.records_overview, name="records"),
    path("records/pull/", views.records_pull, name="records_pull"),
    path("records/status/", views.records_status, name="records_status"),
    path("records/connect/<int:source_id>/", views.records_connect, name="records_connect"),
    path("records/connect/callback/", views.records_connect_callback, name="records_connect_callback"),
]
